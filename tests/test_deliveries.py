"""The delivery inspector, redrive and test deliveries."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from firehook.app import build_app
from firehook.context import Context
from firehook.store import deliveries as store
from gateway import deliveries as inspector
from gateway.deliveries import delivery_log_of, redact_headers
from tests.conftest import Tenant
from tests.test_webhooks_presets import (
    HMAC_CONFIG,
    SECRET,
    add_webhook,
    fire_signed,
    local_path,
)

JSON = {"Content-Type": "application/json"}


async def deliveries_of(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/routine-triggers/{trigger['id']}/deliveries",
        params=params,
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


def tune(ctx: Context, **changes: Any) -> None:
    ctx.settings = ctx.settings.model_copy(update=changes)


async def test_inspector_shows_accepted_refused_and_handshakes(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await add_webhook(client, tenant, "slack")
    path = local_path(trigger["publicUrl"])
    accepted = await fire_signed(client, trigger, b'{"n":1}', delivery_id="d-1")
    forged = await client.post(
        path,
        content=b'{"n":2}',
        headers=JSON | {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": "1"},
    )
    unsigned = await client.post(path, content=b'{"n":3}', headers=JSON)
    challenge = await fire_signed(client, trigger, b'{"type":"url_verification","challenge":"abc"}')

    # The sender learns nothing: the same 401 whatever failed.
    assert forged.json() == unsigned.json()
    assert forged.status_code == unsigned.status_code == 401
    assert accepted.status_code == 202 and challenge.status_code == 200
    rows = await deliveries_of(client, tenant, trigger)
    by_body = {row["body"]: row for row in rows}
    assert [row["outcome"] for row in rows] == ["handshake", "refused", "refused", "accepted"]
    assert by_body['{"n":1}']["runId"] == accepted.json()["runId"]
    assert by_body['{"n":1}']["status"] == 202
    assert by_body['{"n":2}']["failedCheck"] == "timestamp outside replay window"
    assert by_body['{"n":3}']["failedCheck"] == "missing signature header"
    assert by_body['{"n":2}']["headers"]["x-slack-signature"] == "[redacted]"
    assert by_body['{"n":2}']["headers"]["x-slack-request-timestamp"] == "1"
    refused = await deliveries_of(client, tenant, trigger, outcome="refused")
    assert len(refused) == 2
    one = await client.get(f"/api/deliveries/{rows[0]['id']}", headers=Tenant.auth(tenant.board))
    assert one.status_code == 200
    assert one.json()["answer"] == {"challenge": "abc"}


async def test_a_redelivery_is_shown_as_replayed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "github")
    first = await fire_signed(client, trigger, b'{"n":1}', delivery_id="gh-7")
    again = await fire_signed(client, trigger, b'{"n":1}', delivery_id="gh-7")
    assert again.headers["Idempotent-Replayed"] == "true"

    rows = await deliveries_of(client, tenant, trigger)

    assert [row["outcome"] for row in rows] == ["replayed", "accepted"]
    assert {row["runId"] for row in rows} == {first.json()["runId"]}
    assert rows[0]["idempotencyKey"] == rows[1]["idempotencyKey"]


async def test_inspector_is_for_board_and_admin_only(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    trigger = await add_webhook(client, tenant, "github")
    await client.post(local_path(trigger["publicUrl"]), content=b"{}", headers=JSON)
    url = f"/api/routine-triggers/{trigger['id']}/deliveries"

    agent = await client.get(url, headers=Tenant.auth(tenant.agent))
    admin = await client.get(url, headers=Tenant.auth(admin_key))

    assert agent.status_code == 403
    assert admin.status_code == 200
    delivery_id = admin.json()[0]["id"]
    assert (
        await client.get(f"/api/deliveries/{delivery_id}", headers=Tenant.auth(tenant.agent))
    ).status_code == 403
    from tests.conftest import make_tenant

    other = await make_tenant(client, admin_key, "Other")
    assert (await client.get(url, headers=Tenant.auth(other.board))).status_code == 404
    assert (
        await client.get(f"/api/deliveries/{delivery_id}", headers=Tenant.auth(other.board))
    ).status_code == 404


async def test_inspector_keeps_the_last_n_and_truncates_bodies(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    tune(ctx, webhook_deliveries_kept=3, webhook_delivery_body_bytes=8)
    trigger = await add_webhook(client, tenant, "github")
    for n in range(5):
        await client.post(
            local_path(trigger["publicUrl"]), content=b'{"n":%d,"pad":"xxxx"}' % n, headers=JSON
        )
        await delivery_log_of(ctx).flush()

    rows = await deliveries_of(client, tenant, trigger)

    assert len(rows) == 3
    assert [row["body"] for row in rows] == ['{"n":4,"', '{"n":3,"', '{"n":2,"']
    assert all(row["bodyTruncated"] and row["bodySize"] == 20 for row in rows)


def unlimited(ctx: Context) -> None:
    tune(
        ctx,
        webhook_rate_per_trigger=1e6,
        webhook_burst_per_trigger=1_000_000,
        webhook_rate_per_ip=1e6,
        webhook_burst_per_ip=1_000_000,
    )


async def stored_of(ctx: Context, trigger: dict[str, Any]) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        rows = await store.all_deliveries(conn)
    return [dict(row) for row in rows if row["trigger_id"] == trigger["id"]]


async def fire_numbered(client: httpx.AsyncClient, trigger: dict[str, Any], numbers: range) -> None:
    for n in numbers:
        # The secret thrown into every body: each record must be redacted when written.
        answer = await fire_signed(client, trigger, orjson.dumps({"n": n, "note": SECRET}))
        assert answer.status_code == 202, answer.text


async def test_a_burst_keeps_exactly_the_newest_n_each_redacted(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlimited(ctx)
    # No timed flush during the burst: every record waits in memory until a reader asks.
    monkeypatch.setattr(inspector, "_FLUSH_INTERVAL_SEC", 3600.0)
    trigger = await add_webhook(client, tenant, "github")
    other = await add_webhook(client, tenant, "github")
    await fire_numbered(client, other, range(5))

    await fire_numbered(client, trigger, range(1000))

    # Memory holds the newest 100 of the trigger only, not the 1,000 it received.
    waiting = delivery_log_of(ctx).pending
    assert len(waiting[trigger["id"]]) == 100 and len(waiting[other["id"]]) == 5
    rows = await deliveries_of(client, tenant, trigger, limit=200)
    assert [orjson.loads(row["body"])["n"] for row in rows] == list(range(999, 899, -1))
    assert all(row["outcome"] == "accepted" and row["runId"] for row in rows)
    assert all(orjson.loads(row["body"])["note"] == "[redacted]" for row in rows)
    assert all(row["headers"]["x-hub-signature-256"] == "[redacted]" for row in rows)
    stored = await stored_of(ctx, trigger)
    assert len(stored) == 100 and SECRET not in repr(stored)

    # Stored rows are trimmed by later batches, another trigger's rows untouched.
    await fire_numbered(client, trigger, range(1000, 1030))
    rows = await deliveries_of(client, tenant, trigger, limit=200)
    assert [orjson.loads(row["body"])["n"] for row in rows] == list(range(1029, 929, -1))
    assert len(await stored_of(ctx, trigger)) == 100
    assert len(await deliveries_of(client, tenant, other)) == 5

    # A stored delivery replays as any other: as the fire it was, into a new run.
    first = await fire_signed(client, trigger, b'{"n":"plain"}')
    (row,) = await deliveries_of(client, tenant, trigger, limit=1)
    assert row["runId"] == first.json()["runId"]
    auth = Tenant.auth(tenant.board)
    replay = await client.post(f"/api/deliveries/{row['id']}/replay", headers=auth)
    assert replay.status_code == 202, replay.text
    assert replay.json()["runId"] != first.json()["runId"]
    redacted = await client.post(f"/api/deliveries/{rows[0]['id']}/replay", headers=auth)
    assert redacted.status_code == 409  # its body held the secret, cut out when recorded


async def test_a_burst_of_refusals_keeps_each_failed_check(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlimited(ctx)
    monkeypatch.setattr(inspector, "_FLUSH_INTERVAL_SEC", 3600.0)
    tune(ctx, webhook_deliveries_kept=10)
    trigger = await add_webhook(client, tenant, "github")
    path = local_path(trigger["publicUrl"])
    for n in range(50):
        signed = n % 2 == 0
        if signed:
            answer = await fire_signed(client, trigger, orjson.dumps({"n": n}))
        else:
            answer = await client.post(
                path,
                content=orjson.dumps({"n": n}),
                headers=JSON | {"X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
        assert answer.status_code == (202 if signed else 401)

    rows = await deliveries_of(client, tenant, trigger)

    assert [orjson.loads(row["body"])["n"] for row in rows] == list(range(49, 39, -1))
    for row in rows:
        accepted = orjson.loads(row["body"])["n"] % 2 == 0
        assert row["outcome"] == ("accepted" if accepted else "refused")
        assert (row["failedCheck"] is None) == accepted
        assert row["headers"]["x-hub-signature-256"] == "[redacted]"


async def test_a_stop_writes_the_deliveries_still_waiting(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspector, "_FLUSH_INTERVAL_SEC", 3600.0)
    trigger = await add_webhook(client, tenant, "github")
    await fire_numbered(client, trigger, range(3))
    assert await stored_of(ctx, trigger) == []

    app = build_app(ctx)
    async with app.router.lifespan_context(app):
        pass

    stored = await stored_of(ctx, trigger)
    assert sorted(orjson.loads(row["body"])["n"] for row in stored) == [0, 1, 2]
    assert delivery_log_of(ctx).pending == {}


def test_proof_carrying_header_names_are_hidden_whatever_their_length() -> None:
    long_name = "X-" + "a" * 100 + "-Token"
    headers = [
        (long_name, "v1"),
        ("X-Short-Token", "v2"),
        ("X-Short-Token", "v3"),
        ("Idempotency-Key", "k-1"),
        ("X-" + "b" * 100, "has s3cret inside"),
    ]

    for _ in range(2):  # the second time from what was learnt about each name
        shown = redact_headers(headers, ["s3cret"])

        assert shown == {
            long_name.lower(): "[redacted]",
            "x-short-token": "[redacted], [redacted]",
            "idempotency-key": "k-1",
            "x-" + "b" * 100: "has [redacted] inside",
        }


async def test_no_secret_is_ever_stored(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    secrets: list[str] = []
    for mode, options in [
        ("bearer", {"secret": "bearer-secret-0123456789abcdef"}),
        ("gitlab", {}),
        ("microsoft_graph", {}),
        ("hmac_sha256", {}),
        ("custom_hmac", {"hmac": HMAC_CONFIG}),
        ("svix", {}),
        ("twitch", {}),
    ]:
        trigger = await add_webhook(client, tenant, mode, **options)
        secret = options.get("secret") or (
            "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="
            if mode == "svix"
            else "preset-secret-0123456789abcdefgh"
        )
        if mode == "bearer":
            secrets.append(secret)
        path = local_path(trigger["publicUrl"])
        # Signed and accepted, then the secret itself thrown in every place a sender could.
        config = HMAC_CONFIG if mode == "custom_hmac" else None
        body = orjson.dumps({"value": [{"clientState": secret}], "note": secret})
        if mode == "bearer":
            ok = await client.post(
                path, content=body, headers=JSON | {"Authorization": f"Bearer {secret}"}
            )
        else:
            ok = await fire_signed(client, trigger, body, config=config)
        assert ok.status_code == 202, (mode, ok.text)
        await client.post(
            path,
            params={"token": secret, "validationToken": secret},
            content=body,
            headers=JSON
            | {
                "Authorization": f"Bearer {secret}",
                "X-Gitlab-Token": secret,
                "X-Custom": f"prefix {secret} suffix",
                "Cookie": f"s={secret}",
            },
        )
        rotated = await client.post(
            f"/api/routine-triggers/{trigger['id']}/rotate-secret",
            json={"gracePeriodSec": 60},
            headers=Tenant.auth(tenant.board),
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secretMaterial"]["webhookSecret"]
        secrets += [secret, new_secret]
        await client.post(path, content=orjson.dumps({"s": new_secret}), headers=JSON)

    await delivery_log_of(ctx).flush()
    async with ctx.db.read() as conn:
        rows = await store.all_deliveries(conn)
    assert len(rows) >= 21
    stored = repr([dict(row) for row in rows])
    for secret in secrets:
        assert secret not in stored
    assert "[redacted]" in stored


async def test_replay_makes_a_new_run_unless_keyed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await add_webhook(client, tenant, "github")
    first = await fire_signed(client, trigger, b'{"order":7}', delivery_id="gh-1")
    assert first.status_code == 202
    (row,) = await deliveries_of(client, tenant, trigger)
    url = f"/api/deliveries/{row['id']}/replay"
    auth = Tenant.auth(tenant.board)

    fresh = await client.post(url, headers=auth)
    fresh_again = await client.post(url, headers=auth)
    keyed = await client.post(url, json={"idempotencyKey": "redo-1"}, headers=auth)
    keyed_again = await client.post(url, json={"idempotencyKey": "redo-1"}, headers=auth)
    original = await client.post(url, json={"reuseKey": True}, headers=auth)

    assert fresh.status_code == fresh_again.status_code == 202
    run_ids = {fresh.json()["runId"], fresh_again.json()["runId"], first.json()["runId"]}
    assert len(run_ids) == 3
    assert keyed.status_code == keyed_again.status_code == 202
    assert keyed_again.json()["runId"] == keyed.json()["runId"]
    assert keyed_again.headers["Idempotent-Replayed"] == "true"
    assert original.status_code == 202 and original.headers["Idempotent-Replayed"] == "true"
    assert original.json()["runId"] == first.json()["runId"]
    run = await client.get(f"/api/runs/{fresh.json()['runId']}", headers=auth)
    assert run.json()["payload"] == {"order": 7}
    assert (await client.post(url, headers=Tenant.auth(tenant.agent))).status_code == 403


async def test_refused_delivery_cannot_be_replayed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await add_webhook(client, tenant, "github")
    await client.post(local_path(trigger["publicUrl"]), content=b'{"evil":1}', headers=JSON)
    (row,) = await deliveries_of(client, tenant, trigger)

    response = await client.post(
        f"/api/deliveries/{row['id']}/replay", headers=Tenant.auth(tenant.board)
    )

    assert response.status_code == 409


async def failed_run(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], n: int
) -> str:
    fired = await fire_signed(client, trigger, b'{"n":%d}' % n)
    assert fired.status_code == 202, fired.text
    run_id: str = fired.json()["runId"]
    done = await client.post(
        f"/api/runs/{run_id}/complete",
        json={"status": "failed", "error": "boom"},
        headers=Tenant.auth(tenant.board),
    )
    assert done.status_code == 200, done.text
    return run_id


async def test_retry_a_failed_run_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "github")
    run_id = await failed_run(client, tenant, trigger, 1)
    auth = Tenant.auth(tenant.board)

    retried = await client.post(f"/api/runs/{run_id}/retry", headers=auth)
    again = await client.post(f"/api/runs/{run_id}/retry", headers=auth)

    assert retried.status_code == 202, retried.text
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["runId"] == retried.json()["runId"] != run_id
    new_run = (await client.get(f"/api/runs/{retried.json()['runId']}", headers=auth)).json()
    assert new_run["payload"] == {"n": 1}
    assert new_run["triggerId"] == trigger["id"]
    not_failed = await client.post(f"/api/runs/{retried.json()['runId']}/retry", headers=auth)
    assert not_failed.status_code == 409


async def test_bulk_retry_reports_each_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "github")
    first = await failed_run(client, tenant, trigger, 1)
    second = await failed_run(client, tenant, trigger, 2)
    auth = Tenant.auth(tenant.board)
    await client.post(f"/api/runs/{first}/retry", headers=auth)
    url = f"/api/companies/{tenant.company_id}/runs/retry"

    response = await client.post(url, json={"routineId": trigger["routineId"]}, headers=auth)

    assert response.status_code == 200, response.text
    outcomes = {item["runId"]: item["outcome"] for item in response.json()["results"]}
    assert outcomes == {first: "already_retried", second: "retried"}
    again = await client.post(url, json={"routineId": trigger["routineId"]}, headers=auth)
    assert {item["outcome"] for item in again.json()["results"]} == {"already_retried"}
    bad = await client.post(url, json={"status": ["succeeded"]}, headers=auth)
    assert bad.status_code == 400


@pytest.mark.parametrize("mode", ["github", "custom_hmac", "twilio", "mailgun"])
async def test_test_delivery_reports_each_step(
    client: httpx.AsyncClient, tenant: Tenant, mode: str
) -> None:
    options = {"hmac": HMAC_CONFIG} if mode == "custom_hmac" else {}
    trigger = await add_webhook(client, tenant, mode, **options)
    url = f"/api/routine-triggers/{trigger['id']}/test"
    auth = Tenant.auth(tenant.board)

    dry = await client.post(url, headers=auth)
    fired = await client.post(url, json={"fire": True, "payload": {"hello": 1}}, headers=auth)

    assert dry.status_code == 200, dry.text
    assert dry.json()["ok"] is True
    assert [step["step"] for step in dry.json()["steps"]] == ["sign", "verify"]
    assert fired.json()["ok"] is True, fired.text
    assert [step["step"] for step in fired.json()["steps"]] == ["sign", "verify", "deliver"]
    assert fired.json()["status"] == 202
    assert "preset-secret" not in dry.text + fired.text


async def test_test_delivery_for_a_public_key_preset(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await add_webhook(client, tenant, "discord", secret="ab" * 32)

    report = await client.post(
        f"/api/routine-triggers/{trigger['id']}/test", headers=Tenant.auth(tenant.board)
    )

    assert report.status_code == 200
    assert report.json()["ok"] is False
    assert report.json()["steps"][0]["step"] == "sign"
    assert "private key" in report.json()["steps"][0]["detail"]
