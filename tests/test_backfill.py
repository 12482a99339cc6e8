"""Backfill: the ticks of a past range fire with the live key, so nothing runs twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import runs
from scheduler import Ticker
from scheduler.backfill import backfills_of
from tests.conftest import FakeClock, Tenant, routine_body

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def late_clock(clock: FakeClock) -> FakeClock:
    clock.now = T0 + timedelta(days=1)
    return clock


async def routine_with(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **routine: Any
) -> tuple[str, str]:
    board = Tenant.auth(tenant.board)
    fields = {"concurrencyPolicy": "always_enqueue"} | routine
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines", json=routine_body(**fields), headers=board
    )
    assert created.status_code == 201, created.text
    added = await client.post(
        f"/api/routines/{created.json()['id']}/triggers",
        json={"kind": "schedule"} | trigger,
        headers=board,
    )
    assert added.status_code == 201, added.text
    return created.json()["id"], added.json()["trigger"]["id"]


async def backfill(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/routines/{routine_id}/backfill", json=body, headers=Tenant.auth(tenant.board)
    )


async def finished(client: httpx.AsyncClient, tenant: Tenant, ctx: Context, bid: str) -> Any:
    await backfills_of(ctx).wait(bid)
    response = await client.get(f"/api/backfills/{bid}", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    return response.json()


async def scheduled(ctx: Context, routine_id: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(runs).where(runs.c.routine_id == routine_id).order_by(runs.c.scheduled_for)
        )
        return [dict(r) for r in rows.mappings()]


async def test_backfill_fires_each_tick_with_the_live_key(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"cronExpression": "0 * * * *"})
    start, end = T0, T0 + timedelta(hours=5)
    response = await backfill(client, tenant, routine_id, {"from": iso(start), "to": iso(end)})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] in ("running", "completed") and body["total"] == 6
    assert body["from"] == iso(start) and body["to"] == iso(end)
    done = await finished(client, tenant, ctx, body["id"])
    assert done["status"] == "completed" and done["fired"] == 6 and done["finishedAt"]
    fired = await scheduled(ctx, routine_id)
    assert [r["scheduled_for"] for r in fired] == [start + timedelta(hours=h) for h in range(6)]
    assert fired[0]["idempotency_key"] == f"schedule:{trigger_id}:2026-03-02T12:00:00Z"
    ledger = await client.get(
        f"/api/routines/{routine_id}/occurrences", headers=Tenant.auth(tenant.board)
    )
    assert {(r["outcome"], r["origin"]) for r in ledger.json()} == {("fired", "backfill")}


async def test_repeated_and_overlapping_backfills_make_no_second_run(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    clock.now = T0 + timedelta(seconds=5)
    routine_id, _ = await routine_with(client, tenant, {"cronExpression": "*/10 * * * *"})
    ticker = Ticker(ctx)
    await ticker.load()
    for minutes in (10, 20, 30):  # live ticks
        clock.now = T0 + timedelta(minutes=minutes, seconds=1)
        await ticker.fire_due()
    clock.now = T0 + timedelta(hours=2)
    first = await backfill(
        client, tenant, routine_id, {"from": iso(T0), "to": iso(T0 + timedelta(hours=1))}
    )
    await finished(client, tenant, ctx, first.json()["id"])
    again = await backfill(
        client,
        tenant,
        routine_id,
        {"from": iso(T0 + timedelta(minutes=30)), "to": iso(T0 + timedelta(minutes=90))},
    )
    await finished(client, tenant, ctx, again.json()["id"])
    fired = [r["scheduled_for"] for r in await scheduled(ctx, routine_id)]
    assert fired == [T0 + timedelta(minutes=m) for m in range(0, 100, 10)]


async def test_overlap_policy_of_a_backfill_applies_to_its_fires(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"cronExpression": "0 * * * *"})
    response = await backfill(
        client,
        tenant,
        routine_id,
        {
            "from": iso(T0),
            "to": iso(T0 + timedelta(hours=3)),
            "overlapPolicy": "skip_if_active",
        },
    )
    assert response.json()["overlapPolicy"] == "skip_if_active"
    await finished(client, tenant, ctx, response.json()["id"])
    statuses = [r["status"] for r in await scheduled(ctx, routine_id)]
    # No run completes in between: the first dispatches, the others find it active.
    assert statuses == ["dispatched", "skipped", "skipped", "skipped"]


async def test_excluded_ticks_of_the_range_are_recorded_not_fired(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    clock.now = T0 + timedelta(days=5)
    routine_id, _ = await routine_with(
        client, tenant, {"cronExpression": "0 12 * * *", "excludeDates": ["2026-03-03"]}
    )
    response = await backfill(
        client, tenant, routine_id, {"from": iso(T0), "to": iso(T0 + timedelta(days=2))}
    )
    done = await finished(client, tenant, ctx, response.json()["id"])
    assert (done["total"], done["fired"], done["excluded"]) == (3, 2, 1)
    ledger = await client.get(
        f"/api/routines/{routine_id}/occurrences", headers=Tenant.auth(tenant.board)
    )
    assert [r["outcome"] for r in ledger.json()] == ["fired", "excluded", "fired"]


async def test_refused_ranges_are_422(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"every": 60})
    now = late_clock.now
    future = await backfill(
        client, tenant, routine_id, {"from": iso(now), "to": iso(now + timedelta(hours=1))}
    )
    assert future.status_code == 422 and "to" in future.json()["details"]
    days = ctx.settings.backfill_max_range_days
    too_long = await backfill(
        client,
        tenant,
        routine_id,
        {"from": iso(now - timedelta(days=days + 1)), "to": iso(now - timedelta(hours=1))},
    )
    assert too_long.status_code == 422
    ctx.settings = ctx.settings.model_copy(update={"backfill_max_ticks": 100})
    too_many = await backfill(
        client,
        tenant,
        routine_id,
        {"from": iso(now - timedelta(hours=3)), "to": iso(now - timedelta(hours=1))},
    )
    assert too_many.status_code == 422
    for body in (
        {"from": iso(now), "to": iso(now - timedelta(hours=1))},
        {"from": "2026-03-01T00:00:00", "to": iso(now)},
        {"from": iso(now)},
        {"from": iso(now), "to": iso(now), "overlapPolicy": "sometimes"},
    ):
        response = await backfill(client, tenant, routine_id, body)
        assert response.status_code == 400, body
    webhook_only = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(),
        headers=Tenant.auth(tenant.board),
    )
    none = await backfill(
        client,
        tenant,
        webhook_only.json()["id"],
        {"from": iso(now - timedelta(hours=2)), "to": iso(now - timedelta(hours=1))},
    )
    assert none.status_code == 422


async def test_a_backfill_goes_at_a_bounded_rate_and_can_be_cancelled(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"backfill_rate_per_sec": 5.0})
    routine_id, _ = await routine_with(client, tenant, {"every": 60})
    response = await backfill(
        client, tenant, routine_id, {"from": iso(T0), "to": iso(T0 + timedelta(minutes=59))}
    )
    backfill_id = response.json()["id"]
    await asyncio.sleep(1.2)
    board = Tenant.auth(tenant.board)
    progress = (await client.get(f"/api/backfills/{backfill_id}", headers=board)).json()
    assert progress["status"] == "running" and 5 <= progress["fired"] <= 15
    cancelled = await client.post(f"/api/backfills/{backfill_id}/cancel", headers=board)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    after = len(await scheduled(ctx, routine_id))
    await asyncio.sleep(1.2)
    assert len(await scheduled(ctx, routine_id)) == after < 60
    again = await client.post(f"/api/backfills/{backfill_id}/cancel", headers=board)
    assert again.status_code == 409
    unknown = await client.get("/api/backfills/nope", headers=board)
    assert unknown.status_code == 404


async def test_bulk_backfill_starts_one_per_matching_routine(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    first, _ = await routine_with(client, tenant, {"every": 3600}, labels={"env": "prod"})
    second, _ = await routine_with(client, tenant, {"every": 3600}, labels={"env": "prod"})
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines/bulk",
        json={
            "selector": "env=prod",
            "action": "backfill",
            "from": iso(T0),
            "to": iso(T0 + timedelta(hours=2)),
        },
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert {r["outcome"] for r in results} == {"applied"}
    for result in results:
        await finished(client, tenant, ctx, result["backfillId"])
    assert len(await scheduled(ctx, first)) == len(await scheduled(ctx, second)) == 3


async def test_extreme_ranges_are_refused_not_failed(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, late_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"cronExpression": "0 * * * *"})
    for body in (
        {"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T05:00:00Z"},
        {"from": "1969-12-31T00:00:00Z", "to": "1970-01-01T05:00:00Z"},
    ):
        response = await backfill(client, tenant, routine_id, body)
        assert response.status_code == 400, response.text
    future = await backfill(
        client, tenant, routine_id, {"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T00:00:00Z"}
    )
    assert future.status_code == 422
    bulk = await client.post(
        f"/api/companies/{tenant.company_id}/routines/bulk",
        json={"selector": "x", "action": "backfill", "from": "0001-01-01T00:00:00Z", "to": iso(T0)},
        headers=Tenant.auth(tenant.board),
    )
    assert bulk.status_code == 400
