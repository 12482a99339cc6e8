"""Firehook driven as Paperclip's own clients drive Paperclip's routines.

`PaperclipUi` makes the requests of Paperclip's UI client (`ui/src/api/routines.ts`)
and reads the answers as its pages do; the scenarios follow Paperclip's routine
end-to-end tests (`server/src/__tests__/routines-e2e.test.ts`) and the seed documents
001/002. One test per point of the compatibility issue, in its order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from consumers.dispatch import dispatch_body
from consumers.results import RunResultProcessor
from firehook.bus import BatchHandler, Bus, Message
from firehook.cloudevents import encode_event
from firehook.context import Context
from firehook.store import routines as routine_store
from firehook.store import runs as run_store
from gateway.signatures import sign_webhook
from schemas.events import RUN_RESULT, RunResult
from tests.conftest import FakeClock, Tenant, make_tenant

AGENT_ID = str(uuid.uuid4())
PROJECT_ID = str(uuid.uuid4())


class ApiError(Exception):
    """What Paperclip's `api` client throws for a non-2xx answer: status and body."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.text)
        self.status = response.status_code
        self.body: dict[str, Any] = response.json()


class PaperclipUi:
    """`routinesApi` of Paperclip's UI: the same paths, bodies and reads of the answers."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {key}"}
        self.last: httpx.Response | None = None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._client.request(
            method, f"/api{path}", json=body, headers=self._headers
        )
        self.last = response
        if not response.is_success:
            raise ApiError(response)
        return response.json() if response.content else None

    async def list(self, company_id: str) -> list[dict[str, Any]]:
        return list(await self._call("GET", f"/companies/{company_id}/routines"))

    async def create(self, company_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", f"/companies/{company_id}/routines", data))

    async def get(self, routine_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/routines/{routine_id}"))

    async def update(self, routine_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("PATCH", f"/routines/{routine_id}", data))

    async def list_revisions(self, routine_id: str) -> list[dict[str, Any]]:
        return list(await self._call("GET", f"/routines/{routine_id}/revisions"))

    async def restore_revision(self, routine_id: str, revision_id: str) -> dict[str, Any]:
        path = f"/routines/{routine_id}/revisions/{revision_id}/restore"
        return dict(await self._call("POST", path, {}))

    async def list_runs(self, routine_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return list(await self._call("GET", f"/routines/{routine_id}/runs?limit={limit}"))

    async def create_trigger(self, routine_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", f"/routines/{routine_id}/triggers", data))

    async def update_trigger(self, trigger_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("PATCH", f"/routine-triggers/{trigger_id}", data))

    async def delete_trigger(self, trigger_id: str) -> None:
        await self._call("DELETE", f"/routine-triggers/{trigger_id}")

    async def rotate_trigger_secret(self, trigger_id: str) -> dict[str, Any]:
        return dict(await self._call("POST", f"/routine-triggers/{trigger_id}/rotate-secret", {}))

    async def run(self, routine_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(await self._call("POST", f"/routines/{routine_id}/run", data or {}))


@pytest.fixture
def ui(client: httpx.AsyncClient, tenant: Tenant) -> PaperclipUi:
    return PaperclipUi(client, tenant.board)


async def standup(ui: PaperclipUi, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """The routine of Paperclip's first e2e scenario."""
    body = {
        "projectId": PROJECT_ID,
        "title": "Daily standup prep",
        "description": "Summarize blockers and open PRs",
        "assigneeAgentId": AGENT_ID,
        "priority": "high",
        "concurrencyPolicy": "coalesce_if_active",
        "catchUpPolicy": "skip_missed",
    } | fields
    return await ui.create(tenant.company_id, body)


async def fire_webhook(
    client: httpx.AsyncClient,
    url: str,
    mode: str,
    secret: str,
    body: dict[str, Any],
    at: float,
    delivery_id: str | None = None,
) -> httpx.Response:
    raw = orjson.dumps(body)
    headers = sign_webhook(mode, secret, raw, at, delivery_id) | {
        "Content-Type": "application/json"
    }
    return await client.post(
        url.removeprefix("https://hooks.example.test"), content=raw, headers=headers
    )


# --- 1. create and rotate answer {trigger, secretMaterial} ------------------------------


async def test_trigger_create_and_rotate_answer_secret_material(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant)
    scheduled = await ui.create_trigger(
        routine["id"],
        {
            "kind": "schedule",
            "label": "Weekday morning",
            "cronExpression": "0 10 * * 1-5",
            "timezone": "UTC",
        },
    )
    created_trigger = scheduled.get("trigger") or scheduled
    assert created_trigger["kind"] == "schedule" and created_trigger["enabled"] is True
    assert scheduled["secretMaterial"] is None

    hook = await ui.create_trigger(routine["id"], {"kind": "webhook", "signingMode": "hmac_sha256"})
    material = hook["secretMaterial"]
    assert set(material) == {"webhookUrl", "webhookSecret"}
    assert material["webhookUrl"] == hook["trigger"]["publicUrl"]
    fired = await fire_webhook(
        client,
        material["webhookUrl"],
        "hmac_sha256",
        material["webhookSecret"],
        {"a": 1},
        clock.now.timestamp(),
    )
    assert fired.status_code == 202, fired.text

    rotated = await ui.rotate_trigger_secret(hook["trigger"]["id"])
    assert rotated["trigger"]["id"] == hook["trigger"]["id"]
    assert rotated["secretMaterial"]["webhookSecret"] != material["webhookSecret"]
    stale = await fire_webhook(
        client,
        material["webhookUrl"],
        "hmac_sha256",
        material["webhookSecret"],
        {"a": 2},
        clock.now.timestamp(),
    )
    assert stale.status_code == 401
    # Shown once: reading the routine never shows a secret again.
    detail = await ui.get(routine["id"])
    assert all(t.get("secret") is None for t in detail["triggers"])


# --- 2. runs are answered as run objects ------------------------------------------------


async def test_manual_run_answers_the_run_and_a_repeat_the_same_run(
    ui: PaperclipUi, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant)
    body = {"source": "manual", "payload": {"origin": "e2e-test"}, "idempotencyKey": "k-1"}
    run = await ui.run(routine["id"], body)
    assert ui.last is not None and ui.last.status_code == 202
    assert "Idempotent-Replayed" not in ui.last.headers
    assert run["id"] == str(uuid.uuid5(uuid.UUID(routine["id"]), "k-1")) == run["runId"]
    assert run["companyId"] == tenant.company_id and run["routineId"] == routine["id"]
    assert run["source"] == "manual" and run["status"] == "dispatched"
    assert run["triggerId"] is None and run["coalescedIntoRunId"] is None
    assert run["idempotencyKey"] == "k-1" and run["fireId"]
    assert run["triggerPayload"] == {"origin": "e2e-test"}
    assert datetime.fromisoformat(run["triggeredAt"]).tzinfo is not None

    again = await ui.run(routine["id"], body | {"payload": {"origin": "second"}})
    assert ui.last.status_code == 202 and ui.last.headers["Idempotent-Replayed"] == "true"
    assert again["id"] == run["id"] and again["triggerPayload"] == {"origin": "e2e-test"}


async def test_webhook_fire_answers_the_run(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant, concurrencyPolicy="always_enqueue")
    hook = await ui.create_trigger(routine["id"], {"kind": "webhook", "label": "CI"})
    material = hook["secretMaterial"]
    first = await fire_webhook(
        client,
        material["webhookUrl"],
        "bearer",
        material["webhookSecret"],
        {"ref": "main"},
        clock.now.timestamp(),
        delivery_id="d-1",
    )
    assert first.status_code == 202, first.text
    run = first.json()
    assert run["id"] == run["runId"] and run["status"] == "dispatched"
    assert run["source"] == "webhook" and run["triggerId"] == hook["trigger"]["id"]
    assert run["trigger"] == {"id": hook["trigger"]["id"], "kind": "webhook", "label": "CI"}
    assert run["triggerPayload"] == {"ref": "main"}
    raw = orjson.dumps({"ref": "main"})
    again = await client.post(
        material["webhookUrl"].removeprefix("https://hooks.example.test"),
        content=raw,
        headers={
            "Authorization": f"Bearer {material['webhookSecret']}",
            "Idempotency-Key": "d-1",
            "Content-Type": "application/json",
        },
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == run["id"]


class _Broker(Bus):
    """A bus that acknowledges and keeps fires, as a Kafka broker does: nothing consumes."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        self.messages.extend(messages)

    def subscribe(self, topic: str, group: str, handler: BatchHandler) -> None:
        raise AssertionError("the gateway subscribes to nothing")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_fire_acknowledged_by_a_broker_answers_the_derived_id_as_received(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant)
    hook = await ui.create_trigger(routine["id"], {"kind": "webhook"})
    material = hook["secretMaterial"]
    embedded, broker = ctx.bus, _Broker()
    ctx.bus = broker
    try:
        fired = await fire_webhook(
            client,
            material["webhookUrl"],
            "bearer",
            material["webhookSecret"],
            {"n": 1},
            clock.now.timestamp(),
            delivery_id="k-7",
        )
        manual = await ui.run(routine["id"], {"idempotencyKey": "m-1"})
    finally:
        ctx.bus = embedded
    assert fired.status_code == 202
    run = fired.json()
    assert run["status"] == "received" and run["id"] == run["runId"]
    assert run["id"] == str(uuid.uuid5(uuid.UUID(routine["id"]), "k-7"))
    assert run["triggerPayload"] == {"n": 1} and run["source"] == "webhook"
    assert manual["status"] == "received"
    assert manual["id"] == str(uuid.uuid5(uuid.UUID(routine["id"]), "m-1"))
    assert len(broker.messages) == 2


# --- 3. collections are bare arrays -----------------------------------------------------


async def test_collections_are_arrays_with_the_total_in_a_header(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routines = [await standup(ui, tenant, title=f"r{i}") for i in range(3)]
    listed = await ui.list(tenant.company_id)
    assert isinstance(listed, list) and {r["id"] for r in listed} == {r["id"] for r in routines}
    assert ui.last is not None and ui.last.headers["X-Total-Count"] == "3"
    for n in range(3):
        await ui.run(routines[0]["id"], {"idempotencyKey": f"k{n}"})
    runs = await ui.list_runs(routines[0]["id"], limit=2)
    assert len(runs) == 2 and ui.last.headers["X-Total-Count"] == "3"
    board = Tenant.auth(tenant.board)
    for path in ("tasks", "chains"):
        page = await client.get(f"/api/companies/{tenant.company_id}/{path}", headers=board)
        assert page.json() == [] and page.headers["X-Total-Count"] == "0"


# --- 4. list items and details are enriched ---------------------------------------------


async def test_list_items_and_detail_are_enriched(
    ui: PaperclipUi, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant)
    trigger = (
        await ui.create_trigger(
            routine["id"], {"kind": "schedule", "cronExpression": "0 10 * * 1-5", "timezone": "UTC"}
        )
    )["trigger"]
    fresh = next(r for r in await ui.list(tenant.company_id) if r["id"] == routine["id"])
    assert fresh["lastRun"] is None and fresh["activeIssue"] is None
    run = await ui.run(routine["id"], {"source": "manual", "payload": {"origin": "e2e-test"}})

    listed = next(r for r in await ui.list(tenant.company_id) if r["id"] == routine["id"])
    assert len(listed["triggers"]) == 1
    summary = listed["triggers"][0]
    assert summary["id"] == trigger["id"] and summary["kind"] == "schedule"
    assert summary["cronExpression"] == "0 10 * * 1-5" and summary["timezone"] == "UTC"
    assert {"label", "enabled", "nextRunAt", "lastFiredAt"} <= set(summary)
    assert listed["lastRun"]["id"] == run["id"]
    # Paperclip's list page calls string methods on lastRun.status.
    assert listed["lastRun"]["status"].replace("_", " ") == "dispatched"
    assert listed["lastRun"]["triggeredAt"] == run["triggeredAt"]

    detail = await ui.get(routine["id"])
    assert [t["id"] for t in detail["triggers"]] == [trigger["id"]]
    assert [r["id"] for r in detail["recentRuns"]] == [run["id"]]
    assert detail["activeIssue"] is None


# --- 5. run fields under Paperclip's names ----------------------------------------------


async def test_runs_carry_paperclips_field_names(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant, concurrencyPolicy="always_enqueue")
    api_trigger = (await ui.create_trigger(routine["id"], {"kind": "api", "label": "Deploys"}))[
        "trigger"
    ]
    run = await ui.run(routine["id"], {"triggerId": api_trigger["id"], "payload": {"v": 2}})
    board = Tenant.auth(tenant.board)
    failed = await client.post(
        f"/api/runs/{run['id']}/complete",
        json={"status": "failed", "error": "disk full"},
        headers=board,
    )
    assert failed.status_code == 200
    (listed,) = await ui.list_runs(routine["id"])
    assert listed["id"] == run["id"] and listed["source"] == "api"
    assert listed["trigger"] == {"id": api_trigger["id"], "kind": "api", "label": "Deploys"}
    assert listed["triggerPayload"] == {"v": 2} and listed["payload"] == {"v": 2}
    assert listed["failureReason"] == "disk full" and listed["status"] == "failed"
    assert listed["triggeredAt"] == listed["createdAt"]
    assert listed["completedAt"] == listed["finishedAt"] is not None
    assert listed["linkedIssueId"] is None and listed["linkedIssue"] is None


# --- 6. linking runs to the executor's work item ----------------------------------------


async def test_executor_links_its_issue_by_patch_and_at_completion(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant)
    run = await ui.run(routine["id"], {"source": "manual"})
    issue = str(uuid.uuid4())
    agent = Tenant.auth(tenant.board)
    linked = await client.patch(
        f"/api/runs/{run['id']}", json={"linkedIssueId": issue}, headers=agent
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["linkedIssueId"] == issue and linked.json()["linkedIssue"] == {"id": issue}
    detail = await ui.get(routine["id"])
    assert detail["activeIssue"] == {"id": issue}
    assert detail["recentRuns"][0]["linkedIssue"] == {"id": issue}
    listed = next(r for r in await ui.list(tenant.company_id) if r["id"] == routine["id"])
    assert listed["activeIssue"] == {"id": issue}

    other = str(uuid.uuid4())
    done = await client.post(
        f"/api/runs/{run['id']}/complete",
        json={"status": "succeeded", "linkedIssueId": other},
        headers=agent,
    )
    assert done.status_code == 200 and done.json()["linkedIssueId"] == other
    # Done: the routine has no active run, so no active issue.
    assert (await ui.get(routine["id"]))["activeIssue"] is None
    missing = await client.patch(
        f"/api/runs/{uuid.uuid4()}", json={"linkedIssueId": issue}, headers=agent
    )
    assert missing.status_code == 404 and missing.json()["error"] == "Run not found"


async def test_a_running_report_on_the_results_topic_links_the_issue(
    ui: PaperclipUi, tenant: Tenant, ctx: Context
) -> None:
    routine = await standup(ui, tenant)
    run = await ui.run(routine["id"])
    issue = "ISS-42"
    message = encode_event(
        topic=ctx.settings.topic_run_results,
        key=routine["id"],
        event_id=str(uuid.uuid4()),
        event_type=RUN_RESULT,
        time=datetime.now(UTC),
        data=RunResult(run_id=run["id"], status="running", linked_issue_id=issue),
        subject=run["id"],
    )
    await RunResultProcessor(ctx, publish_run_events=False).handle_batch([message])
    detail = await ui.get(routine["id"])
    assert detail["recentRuns"][0]["status"] == "running"
    assert detail["recentRuns"][0]["linkedIssue"] == {"id": issue}
    assert detail["activeIssue"] == {"id": issue}


# --- 7. status codes and messages -------------------------------------------------------


async def test_semantic_errors_are_422_and_not_found_reads_as_paperclip(
    ui: PaperclipUi, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant)
    for body, field in (
        ({"kind": "schedule", "cronExpression": "61 * * * *"}, "cronExpression"),
        (
            {"kind": "schedule", "cronExpression": "0 9 * * *", "timezone": "Mars/Phobos"},
            "timezone",
        ),
    ):
        with pytest.raises(ApiError) as invalid:
            await ui.create_trigger(routine["id"], body)
        assert invalid.value.status == 422 and field in invalid.value.body["details"]
    api_trigger = (await ui.create_trigger(routine["id"], {"kind": "api"}))["trigger"]
    with pytest.raises(ApiError) as rotate:
        await ui.rotate_trigger_secret(api_trigger["id"])
    assert rotate.value.status == 422
    with pytest.raises(ApiError) as shape:
        await ui.create_trigger(routine["id"], {"kind": "schedule", "cronExpression": 5})
    assert shape.value.status == 400
    for call, message in (
        (ui.get(str(uuid.uuid4())), "Routine not found"),
        (ui.update_trigger(str(uuid.uuid4()), {"enabled": False}), "Routine trigger not found"),
    ):
        with pytest.raises(ApiError) as missing:
            await call
        assert missing.value.status == 404 and missing.value.body["error"] == message


async def test_another_companys_routine_is_404_not_403(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant)
    other = await make_tenant(client, tenant.admin, name="Other")
    with pytest.raises(ApiError) as hidden:
        await PaperclipUi(client, other.board).get(routine["id"])
    assert hidden.value.status == 404 and hidden.value.body["error"] == "Routine not found"


# --- 8. variables -----------------------------------------------------------------------


async def test_variables_resolve_into_the_payload_and_render_the_title(
    ui: PaperclipUi, tenant: Tenant, ctx: Context
) -> None:
    created = await ui.create(
        tenant.company_id,
        {
            "projectId": PROJECT_ID,
            "title": "Triage {{repo}}",
            "description": "Review {{repo}} for {{priority}} bugs",
            "assigneeAgentId": AGENT_ID,
            "variables": [
                {"name": "repo", "type": "text", "required": True},
                {
                    "name": "priority",
                    "type": "select",
                    "required": True,
                    "defaultValue": "high",
                    "options": ["high", "low"],
                },
            ],
        },
    )
    assert [v["name"] for v in created["variables"]] == ["repo", "priority"]
    assert created["variables"][1]["defaultValue"] == "high"
    run = await ui.run(created["id"], {"source": "manual", "variables": {"repo": "paperclip"}})
    assert ui.last is not None and ui.last.status_code == 202
    assert run["triggerPayload"] == {"variables": {"repo": "paperclip", "priority": "high"}}
    (stored,) = await ui.list_runs(created["id"])
    assert stored["title"] == "Triage paperclip"
    assert stored["description"] == "Review paperclip for high bugs"
    async with ctx.db.read() as conn:
        row = await run_store.get_run(conn, run["id"])
        routine = await routine_store.get_routine(conn, created["id"])
        events = await run_store.run_events_after(conn, tenant.company_id, 0, 100)
    assert row is not None and routine is not None
    sent = orjson.loads(dispatch_body(row, routine))
    assert sent["routine"]["title"] == "Triage paperclip"
    assert sent["routine"]["description"] == "Review paperclip for high bugs"
    assert events[-1]["data"]["title"] == "Triage paperclip"

    with pytest.raises(ApiError) as missing:
        await ui.run(created["id"], {"source": "manual"})
    assert missing.value.status == 422
    assert missing.value.body["error"] == "Missing routine variables: repo"
    with pytest.raises(ApiError) as wrong:
        await ui.run(created["id"], {"variables": {"repo": "x", "priority": "urgent"}})
    assert wrong.value.status == 422 and "priority" in wrong.value.body["error"]


async def test_webhook_payload_keys_fill_variables(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(
        ui,
        tenant,
        title="Deploy {{service}}",
        variables=[{"name": "service", "type": "text"}],
        concurrencyPolicy="always_enqueue",
    )
    hook = await ui.create_trigger(routine["id"], {"kind": "webhook"})
    material = hook["secretMaterial"]
    fired = await fire_webhook(
        client,
        material["webhookUrl"],
        "bearer",
        material["webhookSecret"],
        {"service": "billing", "sha": "abc"},
        clock.now.timestamp(),
    )
    assert fired.json()["triggerPayload"] == {
        "service": "billing",
        "sha": "abc",
        "variables": {"service": "billing"},
    }
    unfilled = await fire_webhook(
        client,
        material["webhookUrl"],
        "bearer",
        material["webhookSecret"],
        {"sha": "def"},
        clock.now.timestamp(),
    )
    assert unfilled.json()["status"] == "skipped"
    assert unfilled.json()["failureReason"] == "Missing routine variables: service"


async def test_a_schedule_needs_defaults_for_required_variables(
    ui: PaperclipUi, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant, title="Report on {{team}}")
    with pytest.raises(ApiError) as refused:
        await ui.create_trigger(routine["id"], {"kind": "schedule", "cronExpression": "0 9 * * 1"})
    assert refused.value.status == 422
    assert refused.value.body["error"] == (
        "Scheduled routines require defaults for required variables: team"
    )
    await ui.update(routine["id"], {"variables": [{"name": "team", "defaultValue": "core"}]})
    await ui.create_trigger(routine["id"], {"kind": "schedule", "cronExpression": "0 9 * * 1"})
    with pytest.raises(ApiError) as unset:
        await ui.update(routine["id"], {"variables": [{"name": "team"}]})
    assert unset.value.status == 422


# --- 9. signing mode names --------------------------------------------------------------


async def test_github_hmac_is_paperclips_name_for_github_signatures(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant)
    hook = await ui.create_trigger(routine["id"], {"kind": "webhook", "signingMode": "github_hmac"})
    assert hook["trigger"]["signingMode"] == "github_hmac"
    material = hook["secretMaterial"]
    raw = b'{"action":"opened"}'
    digest = sign_webhook("github", material["webhookSecret"], raw, clock.now.timestamp(), "g-1")
    fired = await client.post(
        material["webhookUrl"].removeprefix("https://hooks.example.test"),
        content=raw,
        headers=digest | {"Content-Type": "application/json"},
    )
    assert fired.status_code == 202 and fired.json()["idempotencyKey"] == "g-1"


# --- 10. revisions ----------------------------------------------------------------------


async def test_every_change_is_a_revision_and_a_stale_base_is_a_conflict(
    ui: PaperclipUi, tenant: Tenant
) -> None:
    routine = await standup(ui, tenant)
    assert routine["latestRevisionNumber"] == 1 and routine["latestRevisionId"]
    base = routine["latestRevisionId"]
    updated = await ui.update(routine["id"], {"title": "Standup", "baseRevisionId": base})
    assert updated["latestRevisionNumber"] == 2
    await ui.create_trigger(routine["id"], {"kind": "schedule", "cronExpression": "0 9 * * 1"})
    with pytest.raises(ApiError) as stale:
        await ui.update(routine["id"], {"title": "Mine", "baseRevisionId": base})
    assert stale.value.status == 409
    assert stale.value.body["details"]["currentRevisionId"] != base
    revisions = await ui.list_revisions(routine["id"])
    assert [r["revisionNumber"] for r in revisions] == [3, 2, 1]
    assert [r["changeSummary"] for r in revisions] == [
        "Created schedule trigger",
        "Updated routine",
        "Created routine",
    ]
    assert revisions[1]["changedFields"] == ["title"]
    assert revisions[1]["createdByKeyId"] and revisions[1]["createdAt"]
    assert revisions[0]["snapshot"]["triggers"][0]["cronExpression"] == "0 9 * * 1"


async def test_restoring_a_revision_brings_back_fields_and_triggers(
    ui: PaperclipUi, client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await standup(ui, tenant)
    hook = await ui.create_trigger(routine["id"], {"kind": "webhook"})
    with_hook = (await ui.list_revisions(routine["id"]))[0]
    await ui.update(routine["id"], {"title": "Renamed", "priority": "low"})
    await ui.delete_trigger(hook["trigger"]["id"])
    restored = await ui.restore_revision(routine["id"], with_hook["id"])
    assert restored["routine"]["title"] == "Daily standup prep"
    assert restored["routine"]["priority"] == "high"
    assert restored["restoredFromRevisionId"] == with_hook["id"]
    assert restored["restoredFromRevisionNumber"] == with_hook["revisionNumber"]
    assert restored["revision"]["restoredFromRevisionId"] == with_hook["id"]
    (material,) = restored["secretMaterials"]
    assert material["triggerId"] == hook["trigger"]["id"]
    assert material["webhookUrl"] == hook["secretMaterial"]["webhookUrl"]
    fired = await fire_webhook(
        client,
        material["webhookUrl"],
        "bearer",
        material["webhookSecret"],
        {},
        clock.now.timestamp(),
    )
    assert fired.status_code == 202
    with pytest.raises(ApiError) as latest:
        await ui.restore_revision(routine["id"], restored["revision"]["id"])
    assert latest.value.status == 409


# --- 11. drafts -------------------------------------------------------------------------


async def test_a_routine_without_assignee_or_project_is_a_paused_draft(
    ui: PaperclipUi, tenant: Tenant
) -> None:
    draft = await ui.create(tenant.company_id, {"title": "Someday"})
    assert draft["projectId"] is None and draft["assigneeAgentId"] is None
    assert draft["status"] == "paused" and draft["draft"] is True
    with pytest.raises(ApiError) as blocked:
        await ui.update(draft["id"], {"status": "active"})
    assert blocked.value.status == 409
    assert "assigneeAgentId" in blocked.value.body["error"]
    assert "projectId" in blocked.value.body["error"]
    half = await ui.update(draft["id"], {"assigneeAgentId": AGENT_ID})
    assert half["status"] == "paused" and half["draft"] is True
    ready = await ui.update(draft["id"], {"projectId": PROJECT_ID, "status": "active"})
    assert ready["status"] == "active" and ready["draft"] is False


# --- 12. a PATCH changes only what it sends ---------------------------------------------


async def test_patch_changes_only_what_it_sends(ui: PaperclipUi, tenant: Tenant) -> None:
    routine = await standup(ui, tenant, goalId="goal-1")
    trigger = (
        await ui.create_trigger(
            routine["id"],
            {"kind": "schedule", "cronExpression": "0 9 * * 1", "timezone": "Europe/Amsterdam"},
        )
    )["trigger"]
    # The seed's own example.
    patched = await ui.update_trigger(
        trigger["id"], {"enabled": False, "cronExpression": "0 10 * * 1"}
    )
    assert patched["timezone"] == "Europe/Amsterdam" and patched["label"] == trigger["label"]
    assert patched["enabled"] is False and patched["cronExpression"] == "0 10 * * 1"
    enabled = await ui.update_trigger(trigger["id"], {"enabled": True})
    local = datetime.fromisoformat(enabled["nextRunAt"]).astimezone(ZoneInfo("Europe/Amsterdam"))
    assert (local.weekday(), local.hour) == (0, 10)

    renamed = await ui.update(routine["id"], {"title": "Standup"})
    kept = ("description", "assigneeAgentId", "projectId", "goalId", "priority", "status")
    assert {k: renamed[k] for k in kept} == {k: routine[k] for k in kept}
    assert renamed["concurrencyPolicy"] == routine["concurrencyPolicy"]


# --- the seed documents' examples (002; 001 is the same API) ---------------------------


async def test_seed_examples_verbatim(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    board = Tenant.auth(tenant.board)
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json={
            "title": "Weekly CEO briefing",
            "description": "Compile status report and email Founder",
            "assigneeAgentId": tenant.agent_id,
            "projectId": PROJECT_ID,
            "goalId": "goal-1",
            "priority": "medium",
            "status": "active",
            "concurrencyPolicy": "coalesce_if_active",
            "catchUpPolicy": "skip_missed",
        },
        headers=board,
    )
    assert created.status_code == 201
    routine_id = created.json()["id"]
    base = f"/api/routines/{routine_id}"
    schedule = await client.post(
        f"{base}/triggers",
        json={"kind": "schedule", "cronExpression": "0 9 * * 1", "timezone": "Europe/Amsterdam"},
        headers=board,
    )
    webhook = await client.post(
        f"{base}/triggers",
        json={"kind": "webhook", "signingMode": "hmac_sha256", "replayWindowSec": 300},
        headers=board,
    )
    api = await client.post(f"{base}/triggers", json={"kind": "api"}, headers=board)
    assert [r.status_code for r in (schedule, webhook, api)] == [201, 201, 201]
    trigger_id = schedule.json()["trigger"]["id"]
    updated = await client.patch(
        f"/api/routine-triggers/{trigger_id}",
        json={"enabled": False, "cronExpression": "0 10 * * 1"},
        headers=board,
    )
    assert updated.status_code == 200 and updated.json()["timezone"] == "Europe/Amsterdam"
    run = await client.post(
        f"{base}/run",
        json={
            "source": "manual",
            "triggerId": api.json()["trigger"]["id"],
            "payload": {"context": "..."},
            "idempotencyKey": "my-unique-key",
        },
        headers=board,
    )
    assert run.status_code == 202 and run.json()["triggerPayload"] == {"context": "..."}
    material = webhook.json()["secretMaterial"]
    fired = await fire_webhook(
        client,
        material["webhookUrl"],
        "hmac_sha256",
        material["webhookSecret"],
        {"x": 1},
        clock.now.timestamp(),
    )
    assert fired.status_code == 202
    runs = await client.get(f"{base}/runs?limit=50", headers=board)
    assert runs.status_code == 200 and len(runs.json()) == 2
    paused = await client.patch(base, json={"status": "paused"}, headers=board)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    rotated = await client.post(
        f"/api/routine-triggers/{webhook.json()['trigger']['id']}/rotate-secret", headers=board
    )
    assert rotated.status_code == 200 and rotated.json()["secretMaterial"]["webhookSecret"]
    deleted = await client.delete(f"/api/routine-triggers/{trigger_id}", headers=board)
    assert deleted.status_code == 204
    # Archived is terminal (the seed's lifecycle), unlike Paperclip's code.
    assert (await client.delete(base, headers=board)).status_code == 200
    again = await client.patch(base, json={"status": "active"}, headers=board)
    assert again.status_code == 409
