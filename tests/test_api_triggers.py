"""Triggers of each kind: create, patch, delete, rotate-secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import triggers
from tests.conftest import Tenant, routine_body


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def add(
    client: httpx.AsyncClient,
    tenant: Tenant,
    routine_id: str,
    body: dict[str, Any],
    key: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/routines/{routine_id}/triggers", json=body, headers=Tenant.auth(key or tenant.board)
    )


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


async def test_schedule_trigger_gets_next_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    response = await add(
        client,
        tenant,
        routine["id"],
        {"kind": "schedule", "cronExpression": "0 9 * * 1", "timezone": "Europe/Amsterdam"},
    )
    assert response.status_code == 201, response.text
    trigger = response.json()["trigger"]
    assert response.json()["secretMaterial"] is None
    assert trigger["kind"] == "schedule" and trigger["timezone"] == "Europe/Amsterdam"
    next_run = parse(trigger["nextRunAt"])
    assert next_run > datetime.now(UTC)
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam"))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    fetched = (
        await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.board))
    ).json()
    assert fetched["nextRunAt"] == trigger["nextRunAt"]


async def test_each_schedule_shape(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    shapes = [
        {"cadence": {"type": "daily", "hour_utc": 13, "minute_utc": 30}},
        {"cadence": {"type": "manual"}},
        {"every": 3600},
        {"at": "2099-04-01T09:00:00Z"},
        {"cronExpression": "*/15 * * * * *"},
    ]
    for shape in shapes:
        response = await add(client, tenant, routine["id"], {"kind": "schedule"} | shape)
        assert response.status_code == 201, (shape, response.text)
        body = response.json()["trigger"]
        if shape.get("cadence", {}).get("type") == "manual":
            assert body["nextRunAt"] is None
        else:
            assert body["nextRunAt"] is not None
    at_trigger = response = await add(
        client, tenant, routine["id"], {"kind": "schedule", "at": "2099-04-01T09:00:00+02:00"}
    )
    assert at_trigger.json()["trigger"]["nextRunAt"] == "2099-04-01T07:00:00Z"


async def test_paused_routine_shows_no_next_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    await add(client, tenant, routine["id"], {"kind": "schedule", "every": 60})
    board = Tenant.auth(tenant.board)
    paused = (await client.post(f"/api/routines/{routine['id']}/pause", headers=board)).json()
    assert paused["nextRunAt"] is None and paused["triggers"][0]["nextRunAt"] is None
    resumed = (await client.post(f"/api/routines/{routine['id']}/resume", headers=board)).json()
    assert resumed["nextRunAt"] is not None


async def test_webhook_trigger_secret_shown_once(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine = await new_routine(client, tenant)
    response = await add(
        client, tenant, routine["id"], {"kind": "webhook", "signingMode": "hmac_sha256"}
    )
    assert response.status_code == 201
    trigger = response.json()["trigger"]
    assert trigger["signingMode"] == "hmac_sha256" and trigger["replayWindowSec"] == 300
    assert (
        trigger["publicUrl"]
        == f"https://hooks.example.test/api/routine-triggers/public/{trigger['publicId']}/fire"
    )
    secret = trigger["secret"]
    assert response.json()["secretMaterial"] == {
        "webhookUrl": trigger["publicUrl"],
        "webhookSecret": secret,
    }
    assert len(secret) >= 32
    fetched = (
        await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.board))
    ).json()
    assert fetched["triggers"][0]["secret"] is None
    async with ctx.db.read() as conn:
        stored = (await conn.execute(select(triggers.c.secret_enc))).scalar_one()
    assert secret not in stored
    assert ctx.secrets.decrypt(stored, trigger["id"].encode()) == secret


async def test_standard_webhooks_secret_and_user_secret(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant)
    generated = (
        await add(
            client, tenant, routine["id"], {"kind": "webhook", "signingMode": "standard_webhooks"}
        )
    ).json()["trigger"]
    assert generated["secret"].startswith("whsec_")
    pasted = await add(
        client,
        tenant,
        routine["id"],
        {"kind": "webhook", "signingMode": "stripe", "secret": "whsec_" + "a" * 32},
    )
    assert pasted.status_code == 201 and pasted.json()["trigger"]["secret"] == "whsec_" + "a" * 32


async def test_unsigned_webhook_carries_warning(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    created = (
        await add(client, tenant, routine["id"], {"kind": "webhook", "signingMode": "none"})
    ).json()["trigger"]
    assert created["warnings"] and "none" in created["warnings"][0]
    fetched = (
        await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.board))
    ).json()
    assert fetched["triggers"][0]["warnings"] == created["warnings"]


async def test_patch_trigger_recomputes_next_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    trigger = (
        await add(
            client, tenant, routine["id"], {"kind": "schedule", "cronExpression": "0 9 * * *"}
        )
    ).json()["trigger"]
    url = f"/api/routine-triggers/{trigger['id']}"
    board = Tenant.auth(tenant.board)
    moved = (
        await client.patch(
            url, json={"cronExpression": "30 10 * * *", "timezone": "Asia/Tokyo"}, headers=board
        )
    ).json()
    assert moved["cronExpression"] == "30 10 * * *" and moved["timezone"] == "Asia/Tokyo"
    assert (
        parse(moved["nextRunAt"]).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).hour
        == 10
    )
    disabled = (await client.patch(url, json={"enabled": False}, headers=board)).json()
    assert disabled["enabled"] is False and disabled["nextRunAt"] is None
    routine_now = (await client.get(f"/api/routines/{routine['id']}", headers=board)).json()
    assert routine_now["nextRunAt"] is None
    enabled = (await client.patch(url, json={"enabled": True}, headers=board)).json()
    assert enabled["nextRunAt"] is not None


async def test_delete_trigger(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    trigger = (await add(client, tenant, routine["id"], {"kind": "api"})).json()["trigger"]
    board = Tenant.auth(tenant.board)
    assert (
        await client.delete(f"/api/routine-triggers/{trigger['id']}", headers=board)
    ).status_code == 204
    assert (
        await client.delete(f"/api/routine-triggers/{trigger['id']}", headers=board)
    ).status_code == 404
    fetched = (await client.get(f"/api/routines/{routine['id']}", headers=board)).json()
    assert fetched["triggers"] == []


async def test_rotate_secret(client: httpx.AsyncClient, tenant: Tenant, ctx: Context) -> None:
    routine = await new_routine(client, tenant)
    trigger = (await add(client, tenant, routine["id"], {"kind": "webhook"})).json()["trigger"]
    url = f"/api/routine-triggers/{trigger['id']}/rotate-secret"
    board = Tenant.auth(tenant.board)
    rotated = await client.post(url, headers=board)
    assert rotated.status_code == 200
    body = rotated.json()["trigger"]
    assert body["secret"] and body["secret"] != trigger["secret"]
    assert rotated.json()["secretMaterial"]["webhookSecret"] == body["secret"]
    assert parse(body["lastRotatedAt"]) >= parse(trigger["lastRotatedAt"])
    with_grace = (
        await client.post(url, json={"gracePeriodSec": 600, "secret": "s" * 20}, headers=board)
    ).json()["trigger"]
    assert with_grace["secret"] == "s" * 20
    async with ctx.db.read() as conn:
        row = (
            (await conn.execute(select(triggers).where(triggers.c.id == trigger["id"])))
            .mappings()
            .one()
        )
    assert ctx.secrets.decrypt(row["previous_secret_enc"], trigger["id"].encode()) == body["secret"]
    assert row["previous_secret_expires_at"] is not None


async def test_agent_triggers_on_own_routine_only(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    mine = await new_routine(client, tenant)
    theirs = await new_routine(client, tenant, assigneeAgentId="agent-2")
    assert (
        await add(client, tenant, mine["id"], {"kind": "api"}, key=tenant.agent)
    ).status_code == 201
    theirs_trigger = (await add(client, tenant, theirs["id"], {"kind": "webhook"})).json()[
        "trigger"
    ]
    me = Tenant.auth(tenant.agent)
    for method, path, body in (
        ("PATCH", f"/api/routine-triggers/{theirs_trigger['id']}", {"enabled": False}),
        ("DELETE", f"/api/routine-triggers/{theirs_trigger['id']}", None),
        ("POST", f"/api/routine-triggers/{theirs_trigger['id']}/rotate-secret", None),
    ):
        assert (await client.request(method, path, json=body, headers=me)).status_code == 403


def test_public_ids_never_look_like_command_line_options() -> None:
    from firehook.ids import new_public_id

    ids = [new_public_id() for _ in range(2000)]
    assert not any(public_id.startswith("-") for public_id in ids)
    assert len(set(ids)) == len(ids)
