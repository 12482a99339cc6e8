"""The public webhook endpoint: authentication in every signing mode, replays, redeliveries."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from firehook.context import Context
from firehook.store.tables import runs
from gateway.signatures import SIGNING_MODES, sign_webhook
from tests.conftest import FakeClock, Tenant, routine_body

SIGNED_MODES = [mode for mode in SIGNING_MODES if mode != "none"]
HMAC_MODES = [mode for mode in SIGNED_MODES if mode != "bearer"]
TIMESTAMPED_MODES = ["hmac_sha256", "standard_webhooks", "stripe", "slack"]
SECRET = "webhook-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER_WHSEC = "whsec_" + base64.b64encode(b"o" * 32).decode()
UNAUTHORIZED = {"error": "webhook authentication failed", "code": "UNAUTHORIZED", "details": {}}


def secret_for(mode: str, *, other: bool = False) -> str:
    if mode == "standard_webhooks":
        return OTHER_WHSEC if other else WHSEC
    return OTHER_SECRET if other else SECRET


def event_body(n: int = 1, **extra: Any) -> bytes:
    """A JSON object body; Stripe-shaped, so the Stripe mode finds an event id in it."""
    return orjson.dumps({"id": f"evt_{n}", "type": "invoice.paid", "n": n} | extra)


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(concurrencyPolicy="always_enqueue") | body,
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_webhook(
    client: httpx.AsyncClient,
    tenant: Tenant,
    mode: str,
    routine: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A webhook trigger (on a new routine unless one is given), with its secret."""
    routine = routine or await new_routine(client, tenant)
    body: dict[str, Any] = {"kind": "webhook", "signingMode": mode} | options
    if mode != "none":
        body.setdefault("secret", secret_for(mode))
    response = await client.post(
        f"/api/routines/{routine['id']}/triggers", json=body, headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["trigger"])


def fire_path(trigger: Mapping[str, Any]) -> str:
    return f"/api/routine-triggers/public/{trigger['publicId']}/fire"


def signed_headers(
    mode: str,
    body: bytes,
    at: float,
    *,
    secret: str | None = None,
    delivery_id: str | None = None,
    content_type: str | None = "application/json",
) -> dict[str, str]:
    headers = sign_webhook(mode, secret or secret_for(mode), body, at, delivery_id)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


async def fire(
    client: httpx.AsyncClient,
    trigger: Mapping[str, Any],
    body: bytes,
    headers: Mapping[str, str],
) -> httpx.Response:
    return await client.post(fire_path(trigger), content=body, headers=dict(headers))


async def fire_signed(
    client: httpx.AsyncClient,
    trigger: Mapping[str, Any],
    clock: FakeClock,
    body: bytes | None = None,
    **options: Any,
) -> httpx.Response:
    mode = trigger["signingMode"]
    body = event_body() if body is None else body
    return await fire(
        client, trigger, body, signed_headers(mode, body, clock.now.timestamp(), **options)
    )


async def run_count(ctx: Context) -> int:
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(runs))).scalar_one())


async def get_run(client: httpx.AsyncClient, tenant: Tenant, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- every mode: the valid request fires ------------------------------------------------


@pytest.mark.parametrize("mode", SIGNING_MODES)
async def test_valid_request_fires_a_run_with_the_body_as_payload(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    response = await fire_signed(client, trigger, clock)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert {"fireId", "runId", "idempotencyKey"} <= set(accepted)
    run = await get_run(client, tenant, accepted["runId"])
    assert run["source"] == "webhook" and run["triggerId"] == trigger["id"]
    assert run["payload"] == orjson.loads(event_body())
    assert run["status"] == "dispatched"


async def test_unsigned_mode_needs_no_headers_at_all(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    trigger = await new_webhook(client, tenant, "none")
    response = await client.post(fire_path(trigger))
    assert response.status_code == 202, response.text
    assert await run_count(ctx) == 1


# --- every signed mode: what does not verify is a uniform 401 ---------------------------


@pytest.mark.parametrize("mode", HMAC_MODES)
async def test_tampered_body_is_unauthorized(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    headers = signed_headers(mode, event_body(1), clock.now.timestamp())
    response = await fire(client, trigger, event_body(1, amount=10**6), headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert await run_count(ctx) == 0


@pytest.mark.parametrize("mode", SIGNED_MODES)
async def test_wrong_secret_is_unauthorized(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    response = await fire_signed(client, trigger, clock, secret=secret_for(mode, other=True))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert await run_count(ctx) == 0


@pytest.mark.parametrize("mode", TIMESTAMPED_MODES)
@pytest.mark.parametrize("offset", [-301, 301, -86_400, 10**9])
async def test_stale_and_future_timestamps_are_unauthorized(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    clock: FakeClock,
    mode: str,
    offset: int,
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    headers = signed_headers(mode, body, clock.now.timestamp() + offset)
    response = await fire(client, trigger, body, headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert await run_count(ctx) == 0


@pytest.mark.parametrize("mode", TIMESTAMPED_MODES)
async def test_timestamps_inside_the_window_are_accepted(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode, replayWindowSec=60)
    for n, offset in enumerate((-59, 59)):
        body = event_body(n)
        headers = signed_headers(mode, body, clock.now.timestamp() + offset)
        assert (await fire(client, trigger, body, headers)).status_code == 202


def _broken_variants(mode: str, headers: dict[str, str]) -> list[dict[str, str]]:
    """Each way a sender can get the headers wrong: every header missing, emptied, garbled."""
    variants: list[dict[str, str]] = []
    for name in headers:
        if name.lower() in {"content-type", "idempotency-key", "x-github-delivery"}:
            continue
        variants.append({k: v for k, v in headers.items() if k != name})
        for garbage in (
            "",
            " ",
            "garbage",
            "sha256=zz",
            "v1,!!!",
            "t=,v1=",
            "\u00e9\u00ff",
            "1" * 40,
        ):
            variants.append(headers | {name: garbage})
    if mode == "bearer":
        variants += [
            headers | {"Authorization": "Basic " + SECRET},
            headers | {"Authorization": "Bearer"},
            headers | {"Authorization": "Bearer " + SECRET[:-1]},
            headers | {"Authorization": "Bearer " + SECRET + "x"},
        ]
    return variants


@pytest.mark.parametrize("mode", SIGNED_MODES)
async def test_missing_and_malformed_headers_are_a_clean_401(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    good = signed_headers(mode, body, clock.now.timestamp())
    for headers in _broken_variants(mode, good):
        response = await client.post(
            fire_path(trigger),
            content=body,
            headers={name.encode(): value.encode("latin-1") for name, value in headers.items()},
        )
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == UNAUTHORIZED
    assert await run_count(ctx) == 0


@pytest.mark.parametrize("mode", SIGNED_MODES)
async def test_header_names_are_case_insensitive(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    headers = signed_headers(mode, body, clock.now.timestamp())
    shouted = {name.upper(): value for name, value in headers.items()}
    assert (await fire(client, trigger, body, shouted)).status_code == 202


async def test_standard_webhooks_accepts_any_matching_signature_of_several(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "standard_webhooks")
    body = event_body()
    headers = signed_headers("standard_webhooks", body, clock.now.timestamp())
    good = headers["webhook-signature"]
    bad = "v1," + base64.b64encode(b"x" * 32).decode()
    headers["webhook-signature"] = f"{bad} v1a,ignored {good}"
    assert (await fire(client, trigger, body, headers)).status_code == 202
    headers["webhook-id"] = "msg_other"
    headers["webhook-signature"] = f"{bad} {bad}"
    assert (await fire(client, trigger, body, headers)).status_code == 401


async def test_stripe_accepts_any_matching_v1_of_several(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "stripe")
    body = event_body()
    headers = signed_headers("stripe", body, clock.now.timestamp())
    timestamp, good = headers["Stripe-Signature"].split(",")
    headers["Stripe-Signature"] = f"{timestamp},v1={'0' * 64},{good},v0={'1' * 64}"
    assert (await fire(client, trigger, body, headers)).status_code == 202
    headers["Stripe-Signature"] = f"{timestamp},v1={'0' * 64},v0={good[3:]}"
    assert (await fire(client, trigger, event_body(2), headers)).status_code == 401


async def test_paperclip_header_aliases_verify_in_hmac_mode(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = event_body()
    headers = signed_headers("hmac_sha256", body, clock.now.timestamp())
    aliased = {
        "X-Paperclip-Signature": headers["X-Firehook-Signature"],
        "X-Paperclip-Timestamp": headers["X-Firehook-Timestamp"],
        "Content-Type": "application/json",
    }
    assert (await fire(client, trigger, body, aliased)).status_code == 202


# --- secret rotation --------------------------------------------------------------------


async def rotate(
    client: httpx.AsyncClient, tenant: Tenant, trigger: Mapping[str, Any], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/routine-triggers/{trigger['id']}/rotate-secret",
        json=body,
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["trigger"])


@pytest.mark.parametrize("mode", SIGNED_MODES)
async def test_rotation_without_grace_retires_the_old_secret_at_once(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    # Warm the cache: the rotation must reach a cached trigger too.
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    await rotate(client, tenant, trigger, secret=secret_for(mode, other=True))

    old = await fire_signed(client, trigger, clock, event_body(2))
    new = await fire_signed(
        client, trigger, clock, event_body(3), secret=secret_for(mode, other=True)
    )

    assert old.status_code == 401 and old.json() == UNAUTHORIZED
    assert new.status_code == 202


@pytest.mark.parametrize("mode", SIGNED_MODES)
async def test_rotation_with_grace_accepts_both_secrets_until_it_ends(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    await rotate(client, tenant, trigger, secret=secret_for(mode, other=True), gracePeriodSec=600)
    new_secret = secret_for(mode, other=True)

    assert (await fire_signed(client, trigger, clock, event_body(2))).status_code == 202
    assert (
        await fire_signed(client, trigger, clock, event_body(3), secret=new_secret)
    ).status_code == 202
    clock.advance(599)
    assert (await fire_signed(client, trigger, clock, event_body(4))).status_code == 202
    clock.advance(2)
    assert (await fire_signed(client, trigger, clock, event_body(5))).status_code == 401
    assert (
        await fire_signed(client, trigger, clock, event_body(6), secret=new_secret)
    ).status_code == 202


async def test_generated_secret_from_the_api_verifies(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    routine = await new_routine(client, tenant)
    response = await client.post(
        f"/api/routines/{routine['id']}/triggers",
        json={"kind": "webhook", "signingMode": "standard_webhooks"},
        headers=Tenant.auth(tenant.board),
    )
    trigger = response.json()["trigger"]
    secret = response.json()["secretMaterial"]["webhookSecret"]
    accepted = await fire_signed(client, trigger, clock, secret=secret)
    assert accepted.status_code == 202


# --- replays and redeliveries -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["hmac_sha256", "slack"])
async def test_signed_request_replayed_without_a_key_is_a_conflict(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    headers = signed_headers(mode, body, clock.now.timestamp())

    first = await fire(client, trigger, body, headers)
    clock.advance(30)
    replay = await fire(client, trigger, body, headers)

    assert first.status_code == 202
    assert first.json()["idempotencyKey"].startswith("sig:")
    assert replay.status_code == 409 and replay.json()["code"] == "CONFLICT"
    assert await run_count(ctx) == 1


async def test_replay_is_refused_even_when_this_process_forgot_it(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    # Another gateway process knows nothing of the first request: the runs table does.
    from gateway.webhooks import SeenSignatures, ingest_state

    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = event_body()
    headers = signed_headers("hmac_sha256", body, clock.now.timestamp())
    assert (await fire(client, trigger, body, headers)).status_code == 202
    ingest_state(ctx).signatures = SeenSignatures()

    assert (await fire(client, trigger, body, headers)).status_code == 409
    assert await run_count(ctx) == 1


async def test_replay_under_a_fresh_idempotency_key_is_a_conflict(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    # The Idempotency-Key header is not signed: a captured request must not fire
    # again just because someone changed it.
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = event_body()
    headers = signed_headers("hmac_sha256", body, clock.now.timestamp(), delivery_id="key-1")
    assert (await fire(client, trigger, body, headers)).status_code == 202

    tampered = headers | {"Idempotency-Key": "key-2"}
    assert (await fire(client, trigger, body, tampered)).status_code == 409
    assert await run_count(ctx) == 1


@pytest.mark.parametrize("mode", SIGNING_MODES)
async def test_redelivery_with_the_same_idempotency_key_answers_the_original_fire(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    first = await fire_signed(client, trigger, clock, body, delivery_id="delivery-42")
    clock.advance(5)
    # Senders sign each attempt afresh: a new timestamp, so a new signature.
    again = await fire_signed(client, trigger, clock, body, delivery_id="delivery-42")

    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json()["fireId"] == first.json()["fireId"]
    assert again.json()["id"] == again.json()["runId"] == first.json()["id"]
    assert await run_count(ctx) == 1


@pytest.mark.parametrize("mode", ["standard_webhooks", "github", "stripe"])
async def test_provider_delivery_id_is_the_idempotency_key(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    routine = await new_routine(client, tenant)
    trigger = await new_webhook(client, tenant, mode, routine)
    body = event_body(7)
    delivery = None if mode == "stripe" else "delivery-7"
    first = await fire_signed(client, trigger, clock, body, delivery_id=delivery)
    clock.advance(5)
    again = await fire_signed(client, trigger, clock, body, delivery_id=delivery)

    key = "evt_7" if mode == "stripe" else "delivery-7"
    assert first.status_code == 202, first.text
    assert first.json()["idempotencyKey"] == key
    assert first.json()["runId"] == str(uuid.uuid5(uuid.UUID(routine["id"]), key))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"


async def test_idempotency_key_header_wins_over_the_provider_delivery_id(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "standard_webhooks")
    body = event_body()
    headers = signed_headers("standard_webhooks", body, clock.now.timestamp())
    headers["Idempotency-Key"] = "my-own-key"
    response = await fire(client, trigger, body, headers)
    assert response.json()["idempotencyKey"] == "my-own-key"


@pytest.mark.parametrize("mode", ["bearer", "none"])
async def test_unkeyed_bearer_and_unsigned_requests_each_fire(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = event_body()
    headers = signed_headers(mode, body, clock.now.timestamp())
    answers = [await fire(client, trigger, body, headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert answers[0].json()["idempotencyKey"] is None
    assert len({a.json()["runId"] for a in answers}) == 3
    assert await run_count(ctx) == 3


@pytest.mark.parametrize("key", ["k" * 256, "tab\there"])
async def test_unusable_idempotency_key_is_a_validation_error_after_authentication(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, key: str
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = event_body()
    headers = signed_headers("hmac_sha256", body, clock.now.timestamp()) | {"Idempotency-Key": key}
    assert (await fire(client, trigger, body, headers)).status_code == 400
    unsigned = {"Idempotency-Key": key, "Content-Type": "application/json"}
    assert (await fire(client, trigger, body, unsigned)).status_code == 401


# --- trigger and routine state ----------------------------------------------------------


async def test_unknown_public_id_is_not_found(client: httpx.AsyncClient) -> None:
    for public_id in ("does-not-exist", "x" * 300, "%00", "..%2F..%2Fetc"):
        response = await client.post(f"/api/routine-triggers/public/{public_id}/fire", json={})
        assert response.status_code == 404, public_id
        assert response.json()["code"] == "NOT_FOUND"


async def test_disabled_trigger_is_a_conflict_only_after_authentication(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    patched = await client.patch(
        f"/api/routine-triggers/{trigger['id']}",
        json={"enabled": False},
        headers=Tenant.auth(tenant.board),
    )
    assert patched.status_code == 200

    forged = await fire_signed(client, trigger, clock, event_body(2), secret=OTHER_SECRET)
    genuine = await fire_signed(client, trigger, clock, event_body(3))

    assert forged.status_code == 401 and forged.json() == UNAUTHORIZED
    assert genuine.status_code == 409 and genuine.json()["code"] == "CONFLICT"
    assert await run_count(ctx) == 1


@pytest.mark.parametrize("action", ["pause", "archive"])
async def test_inactive_routine_is_a_conflict_only_after_authentication(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, action: str
) -> None:
    routine = await new_routine(client, tenant)
    trigger = await new_webhook(client, tenant, "hmac_sha256", routine)
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    board = Tenant.auth(tenant.board)
    if action == "pause":
        response = await client.post(f"/api/routines/{routine['id']}/pause", headers=board)
    else:
        response = await client.delete(f"/api/routines/{routine['id']}", headers=board)
    assert response.status_code == 200

    forged = await fire_signed(client, trigger, clock, event_body(2), secret=OTHER_SECRET)
    genuine = await fire_signed(client, trigger, clock, event_body(3))

    assert forged.status_code == 401
    assert genuine.status_code == 409
    assert await run_count(ctx) == 1
    if action == "pause":
        await client.post(f"/api/routines/{routine['id']}/resume", headers=board)
        assert (await fire_signed(client, trigger, clock, event_body(4))).status_code == 202


async def test_deleted_trigger_is_not_found_at_once(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    deleted = await client.delete(
        f"/api/routine-triggers/{trigger['id']}", headers=Tenant.auth(tenant.board)
    )
    assert deleted.status_code == 204
    assert (await fire_signed(client, trigger, clock, event_body(2))).status_code == 404


async def test_endpoint_is_in_the_openapi_document_without_bearer_auth(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/routine-triggers/public/{publicId}/fire"]["post"]
    # No API key: an empty security requirement, not an absent one.
    assert operation["security"] == []
    assert {"202", "401", "404", "409", "413", "415", "429", "500", "503"} <= set(
        operation["responses"]
    )
    # A repeat answers 202 as well, with the original run and the header.
    accepted = operation["responses"]["202"]
    assert accepted["headers"]["Idempotent-Replayed"]["schema"] == {"const": "true"}
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {
        "Idempotency-Key",
        "Authorization",
        "X-Firehook-Signature",
        "X-Firehook-Timestamp",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Hub-Signature-256",
        "Stripe-Signature",
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
    } <= headers
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert operation["requestBody"]["required"] is False
