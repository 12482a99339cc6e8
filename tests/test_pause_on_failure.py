"""Pause on failure: N consecutive failed runs pause the routine, with the reason and an event."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import run_events
from tests.conftest import Tenant, routine_body


async def finish(client: httpx.AsyncClient, tenant: Tenant, routine_id: str, status: str) -> None:
    board = Tenant.auth(tenant.board)
    run = await client.post(f"/api/routines/{routine_id}/run", json={}, headers=board)
    assert run.status_code == 202, run.text
    run_id = run.json()["runId"]
    done = await client.post(f"/api/runs/{run_id}/complete", json={"status": status}, headers=board)
    assert done.status_code == 200, done.text


async def status_of(client: httpx.AsyncClient, tenant: Tenant, routine_id: str) -> dict[str, str]:
    got = await client.get(f"/api/routines/{routine_id}", headers=Tenant.auth(tenant.board))
    body = got.json()
    return {"status": body["status"], "pausedReason": body["pausedReason"]}


async def test_consecutive_failures_pause_the_routine(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    board = Tenant.auth(tenant.board)
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(pauseAfterFailures=3, concurrencyPolicy="always_enqueue"),
        headers=board,
    )
    assert created.json()["pauseAfterFailures"] == 3
    routine_id = created.json()["id"]
    for status in ("failed", "failed", "succeeded", "failed", "failed"):
        await finish(client, tenant, routine_id, status)
    # A success in between broke the streak: two in a row is not three.
    assert (await status_of(client, tenant, routine_id))["status"] == "active"
    await finish(client, tenant, routine_id, "failed")
    state = await status_of(client, tenant, routine_id)
    assert state["status"] == "paused"
    assert state["pausedReason"].startswith("paused after 3 consecutive failed runs")
    async with ctx.db.read() as conn:
        events = (
            (
                await conn.execute(
                    select(run_events).where(run_events.c.type == "dev.firehook.routine.paused")
                )
            )
            .mappings()
            .all()
        )
    assert len(events) == 1
    assert events[0]["data"]["routineId"] == routine_id
    assert events[0]["data"]["consecutiveFailures"] == 3
    resumed = await client.post(f"/api/routines/{routine_id}/resume", headers=board)
    assert resumed.json()["status"] == "active" and resumed.json()["pausedReason"] is None


async def test_without_the_setting_failures_never_pause(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(concurrencyPolicy="always_enqueue"),
        headers=Tenant.auth(tenant.board),
    )
    routine_id = created.json()["id"]
    for _ in range(4):
        await finish(client, tenant, routine_id, "failed")
    assert (await status_of(client, tenant, routine_id))["status"] == "active"


async def test_the_setting_is_validated(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for value in (0, -1, "x", 1001):
        response = await client.post(
            f"/api/companies/{tenant.company_id}/routines",
            json=routine_body(pauseAfterFailures=value),
            headers=Tenant.auth(tenant.board),
        )
        assert response.status_code == 400
        assert "pauseAfterFailures" in response.json()["details"]
