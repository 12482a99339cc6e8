"""The webhook's answer, built without the models, and its route served without the router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from firehook.bus import Bus
from firehook.context import Context
from firehook.fires import fire_message, publish_fires
from firehook.settings import Settings
from firehook.tracing import RequestContext
from gateway import create_app
from gateway import webhooks as webhooks_module
from gateway.http import document_response, model_response
from gateway.views import created_run_document, received_document, received_view, run_view
from schemas.common import RunSource
from schemas.events import FireRequested
from schemas.runs import TriggerRef
from tests.conftest import FakeClock, Tenant
from tests.test_webhooks import event_body, fire, fire_signed, new_webhook, signed_headers

REF = {"id": "7c0a3c0e-7c1b-4d5b-9f57-2f7f0e4b6a11", "kind": "webhook", "label": "deploys"}
NOW = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)


def _same_response(fast: Any, model: Any) -> None:
    assert fast.body == model.body
    assert fast.status_code == model.status_code
    assert fast.raw_headers == model.raw_headers


def _run_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "5f6e0a52-1b7a-5c2e-8f3e-0d9b7b0c4a21",
        "company_id": "c0d3c0d3-0000-4000-8000-000000000001",
        "routine_id": "9a8b7c6d-0000-4000-8000-000000000002",
        "trigger_id": REF["id"],
        "source": "webhook",
        "status": "dispatched",
        "reason": None,
        "idempotency_key": "delivery-1",
        "fire_id": "1e2d3c4b-0000-4000-8000-000000000003",
        "payload": {"n": 1, "nested": {"list": [1, 2.5, "x", None, True]}},
        "title": "Nightly report",
        "description": None,
        "scheduled_for": None,
        "coalesced_into_run_id": None,
        "triggered_by_routine_id": "9a8b7c6d-0000-4000-8000-000000000002",
        "attempt": 1,
        "attempts": [
            {"attempt": 1, "status": "dispatched", "startedAt": NOW.isoformat()[:-6] + "Z"}
            | {"finishedAt": None}
        ],
        "output": None,
        "error": None,
        "created_at": NOW,
        "updated_at": NOW,
        "dispatched_at": NOW,
        "finished_at": None,
        "deadline_at": NOW + timedelta(seconds=600),
        "started_at": None,
        "next_attempt_at": None,
        "linked_issue_id": None,
    }
    return row | changes


ROWS = {
    "dispatched": _run_row(),
    "received, no payload, no key": _run_row(
        status="received", payload=None, idempotency_key=None, dispatched_at=None, attempts=[]
    ),
    "skipped with a reason": _run_row(
        status="skipped",
        reason="routine is paused",
        finished_at=NOW + timedelta(milliseconds=1500),
        attempts=[{"attempt": 1, "status": "skipped", "finishedAt": "2026-11-30T01:02:05Z"}],
    ),
    "failed with an error and an issue": _run_row(
        status="failed",
        error="executor refused",
        output={"log": ["a", "b"]},
        linked_issue_id="ISS-7",
        finished_at=NOW.replace(microsecond=0) + timedelta(seconds=3),
    ),
    "scheduled, whole seconds": _run_row(
        scheduled_for=NOW.replace(microsecond=0), created_at=NOW.replace(microsecond=0)
    ),
    "another zone": _run_row(created_at=NOW.astimezone(timezone(timedelta(hours=2)))),
    "attempts as the model reads them only": _run_row(
        attempts=[
            {"attempt": 1, "status": "failed", "started_at": "2026-11-30T01:02:03+00:00"},
            {"attempt": 2, "status": "dispatched", "startedAt": "2026-11-30T03:02:03+02:00"},
        ]
    ),
    "attempt with an http status": _run_row(
        attempts=[{"attempt": 1, "status": "failed", "error": "502", "httpStatus": 502}]
    ),
    "title and description": _run_row(title="Deploy web", description="from main"),
}


@pytest.mark.parametrize("case", ROWS)
def test_created_run_document_is_the_model_answer_byte_for_byte(case: str) -> None:
    row = ROWS[case]
    _same_response(
        document_response(created_run_document(row, REF), 202),
        model_response(run_view(row, REF), 202),
    )


def _fire(**changes: Any) -> FireRequested:
    values: dict[str, Any] = {
        "fire_id": "1e2d3c4b-0000-4000-8000-000000000003",
        "run_id": "5f6e0a52-1b7a-5c2e-8f3e-0d9b7b0c4a21",
        "routine_id": "9a8b7c6d-0000-4000-8000-000000000002",
        "company_id": "c0d3c0d3-0000-4000-8000-000000000001",
        "source": RunSource.WEBHOOK,
        "trigger_id": REF["id"],
        "idempotency_key": "delivery-1",
        "payload": {"a": [1, {"b": None}]},
        "requested_at": NOW,
    }
    return FireRequested(**(values | changes))


FIRES = {
    "keyed": _fire(),
    "no key, no payload": _fire(idempotency_key=None, payload=None),
    "scheduled": _fire(scheduled_for=NOW.replace(microsecond=0), source=RunSource.SCHEDULE),
    "whole seconds": _fire(requested_at=NOW.replace(microsecond=0)),
}


@pytest.mark.parametrize("case", FIRES)
@pytest.mark.parametrize("label", ["deploys", None])
def test_received_document_is_the_model_answer_byte_for_byte(case: str, label: str | None) -> None:
    ref = REF | {"label": label}
    _same_response(
        document_response(received_document(FIRES[case], ref), 202),
        model_response(received_view(FIRES[case], TriggerRef.model_validate(ref)), 202),
    )


# --- through the endpoint: every answer compared with the model's -----------------------


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each answer the endpoint builds is checked against the model-built one."""
    checked: list[str] = []

    def created(row: Mapping[str, Any], trigger: Mapping[str, Any]) -> dict[str, Any]:
        document = created_run_document(row, trigger)
        _same_response(
            document_response(document, 202), model_response(run_view(row, trigger), 202)
        )
        checked.append("created")
        return document

    def received(fire_: FireRequested, trigger: Mapping[str, Any]) -> dict[str, Any]:
        document = received_document(fire_, trigger)
        model = received_view(fire_, TriggerRef.model_validate(trigger))
        _same_response(document_response(document, 202), model_response(model, 202))
        checked.append("received")
        return document

    async def publish(
        bus: Bus | None, settings: Settings, fires: Sequence[FireRequested], *args: Any
    ) -> None:
        for made in fires:
            # The fire as validation would have made it: the same message on the bus.
            valid = FireRequested.model_validate(made.model_dump(include=made.model_fields_set))
            assert made == valid and made.model_fields_set == valid.model_fields_set
            assert fire_message(settings, made) == fire_message(settings, valid)
        checked.append("published")
        await publish_fires(bus, settings, fires, *args)

    monkeypatch.setattr(webhooks_module, "publish_fires", publish)
    monkeypatch.setattr(webhooks_module, "created_run_document", created)
    monkeypatch.setattr(webhooks_module, "received_document", received)
    return checked


async def _fire_several(client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock) -> None:
    hmac = await new_webhook(client, tenant, "hmac_sha256", label="signed")
    for n in range(3):
        response = await fire_signed(client, hmac, clock, event_body(n, extra={"k": [n, 1.5]}))
        assert response.status_code == 202, response.text
    keyed = await fire_signed(client, hmac, clock, event_body(9), delivery_id=None)
    assert keyed.status_code == 202
    unsigned = await new_webhook(client, tenant, "none")
    for body, content_type in ((b"", None), (b"a=1&a=2&b=x", "application/x-www-form-urlencoded")):
        headers = {"Idempotency-Key": f"key-{len(body)}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await fire(client, unsigned, body, headers)
        assert response.status_code == 202, response.text


async def test_each_created_run_answer_equals_the_model_answer(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, compared: list[str]
) -> None:
    await _fire_several(client, tenant, clock)
    assert compared == ["published", "created"] * 6


async def test_each_received_answer_equals_the_model_answer(
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FakeClock,
    compared: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a gateway publishing to a broker: no run is handed over, the fire is the answer.
    monkeypatch.setattr(webhooks_module, "applied_runs_of", lambda _ctx: None)
    await _fire_several(client, tenant, clock)
    assert compared == ["published", "received"] * 6


# --- the route served without the router --------------------------------------------------


class _Seen:
    """A middleware that notes the paths it saw: the app's own middleware must run."""

    paths: list[str]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths = _Seen.paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
async def served(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """The app as `firehook dev` and the gateway role build it: middleware added to it."""
    app = create_app(ctx)
    app.add_middleware(_Seen)
    app.add_middleware(RequestContext)
    _Seen.paths = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://firehook.test") as http:
        yield http


async def test_webhook_passes_through_the_apps_middleware_with_its_request_id(
    served: httpx.AsyncClient, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    path = f"/api/routine-triggers/public/{trigger['publicId']}/fire"
    body = event_body()
    headers = signed_headers("hmac_sha256", body, clock.now.timestamp())
    sent = await served.post(path, content=body, headers=headers | {"X-Request-Id": "req-7"})
    assert sent.status_code == 202, sent.text
    assert sent.headers["X-Request-Id"] == "req-7"
    assert sent.headers["content-type"] == "application/json"
    made = await served.post(path, content=body, headers=headers)
    assert made.status_code == 409  # the same signature again, without a key
    assert len(made.headers["X-Request-Id"]) == 16
    assert made.json() == {
        "error": "this signed request was already received",
        "code": "CONFLICT",
        "details": {},
    }
    assert _Seen.paths == [path, path]


async def test_webhook_unexpected_error_is_500_with_only_a_request_id(
    served: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(webhooks_module, "publish_fires", broken)
    for http, sent_id in ((served, "req-500"), (served, None), (client, None)):
        body = event_body(hash((id(http), sent_id)) % 1000)
        headers = signed_headers("hmac_sha256", body, clock.now.timestamp())
        if sent_id is not None:
            headers["X-Request-Id"] = sent_id
        response = await fire(http, trigger, body, headers)
        assert response.status_code == 500
        request_id = response.headers["X-Request-Id"]
        assert sent_id in (None, request_id)
        assert response.json() == {
            "error": "internal error",
            "code": "INTERNAL",
            "details": {"requestId": request_id},
        }
        assert "secret" not in response.text


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("PUT", "method not allowed"),
        ("DELETE", "method not allowed"),
        # The challenge route: this trigger is no Dropbox one.
        ("GET", "webhook trigger not found"),
    ],
)
async def test_other_methods_on_the_webhook_path_go_through_the_router(
    served: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: Tenant,
    method: str,
    error: str,
) -> None:
    trigger = await new_webhook(client, tenant, "none")
    path = f"/api/routine-triggers/public/{trigger['publicId']}/fire"
    for http in (served, client):
        response = await http.request(method, path)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": error, "code": "NOT_FOUND", "details": {}}


async def test_a_path_beyond_the_webhook_route_is_not_taken_for_it(
    served: httpx.AsyncClient,
) -> None:
    for path in (
        "/api/routine-triggers/public/a/b/fire",
        "/api/routine-triggers/public//fire",
    ):
        response = await served.post(path, content=b"{}")
        assert response.status_code == 404, (path, response.text)
        assert orjson.loads(response.content)["code"] == "NOT_FOUND"
