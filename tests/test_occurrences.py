"""The occurrence ledger: every tick of a schedule trigger gets one record saying what
became of it, written once whatever the number of scheduler replicas."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from firehook.context import Context
from firehook.store.tables import runs, schedule_occurrences
from scheduler import Ticker
from tests.conftest import FakeClock, Tenant, routine_body

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def start_clock(clock: FakeClock) -> FakeClock:
    clock.now = T0 + timedelta(seconds=5)
    return clock


async def routine_with(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **routine: Any
) -> tuple[str, str]:
    board = Tenant.auth(tenant.board)
    fields = {"concurrencyPolicy": "always_enqueue"} | routine
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**fields),
        headers=board,
    )
    assert created.status_code == 201, created.text
    added = await client.post(
        f"/api/routines/{created.json()['id']}/triggers",
        json={"kind": "schedule"} | trigger,
        headers=board,
    )
    assert added.status_code == 201, added.text
    return created.json()["id"], added.json()["trigger"]["id"]


async def ledger(
    client: httpx.AsyncClient, tenant: Tenant, path: str, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(path, params=params, headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    assert int(response.headers["X-Total-Count"]) >= len(body)
    return body


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def test_fired_ticks_are_recorded_with_their_run_and_lateness(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"every": 60})
    ticker = Ticker(ctx)
    await ticker.load()
    for minute in (1, 2, 3):
        start_clock.now = T0 + timedelta(minutes=minute, seconds=2)
        await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routine-triggers/{trigger_id}/occurrences")
    assert [r["scheduledFor"] for r in records] == [at(1), at(2), at(3)]
    assert {r["outcome"] for r in records} == {"fired"}
    assert all(r["latenessSec"] == pytest.approx(2.0) for r in records)
    assert all(r["origin"] == "scheduler" for r in records)
    async with ctx.db.read() as conn:
        run_ids = set((await conn.execute(select(runs.c.id))).scalars())
    assert {r["runId"] for r in records} == run_ids
    window = await ledger(
        client, tenant, f"/api/routines/{routine_id}/occurrences", **{"from": at(2), "to": at(3)}
    )
    assert [r["scheduledFor"] for r in window] == [at(2)]


async def test_missed_ticks_under_skip_missed_are_recorded_with_the_reason(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"cronExpression": "* * * * *"})
    start_clock.advance(10 * 60)  # the scheduler was down for ten minutes
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routines/{routine_id}/occurrences")
    missed = [r for r in records if r["outcome"] == "missed"]
    fired = [r for r in records if r["outcome"] == "fired"]
    assert [r["scheduledFor"] for r in missed] == [at(m) for m in range(1, 10)]
    assert "misfireGraceSec (60s)" in missed[0]["reason"]
    assert [r["scheduledFor"] for r in fired] == [at(10)]


async def test_ticks_beyond_the_catch_up_cap_are_missed(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(
        client,
        tenant,
        {"cronExpression": "* * * * *"},
        catchUpPolicy="enqueue_missed_with_cap",
        catchUpCap=3,
    )
    start_clock.advance(8 * 60)
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routines/{routine_id}/occurrences")
    by_outcome: dict[str, list[str]] = {}
    for record in records:
        by_outcome.setdefault(record["outcome"], []).append(record["scheduledFor"])
    assert by_outcome == {
        "fired": [at(1), at(2), at(3), at(8)],
        "missed": [at(4), at(5), at(6), at(7)],
    }
    assert "catchUpCap (3)" in next(r for r in records if r["outcome"] == "missed")["reason"]


async def test_paused_ticks_are_skipped_with_the_reason(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"every": 60})
    board = Tenant.auth(tenant.board)
    ticker = Ticker(ctx)
    await ticker.load()
    await client.post(f"/api/routines/{routine_id}/pause", headers=board)
    await ticker.resync()
    for minute in range(1, 5):
        start_clock.now = T0 + timedelta(minutes=minute, seconds=1)
        await ticker.fire_due()
    await client.post(f"/api/routines/{routine_id}/resume", headers=board)
    await ticker.resync()
    start_clock.now = T0 + timedelta(minutes=5, seconds=1)
    await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routines/{routine_id}/occurrences")
    assert [(r["scheduledFor"], r["outcome"]) for r in records] == [
        (at(1), "skipped"),
        (at(2), "skipped"),
        (at(3), "skipped"),
        (at(4), "skipped"),
        (at(5), "fired"),
    ]
    assert records[0]["reason"] == "the routine was paused"


async def test_excluded_dates_are_not_fired_and_are_recorded(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    # T0 is 2026-03-02 12:00 UTC: 2026-03-02 in New York; the range excludes the 3rd too.
    routine_id, trigger_id = await routine_with(
        client,
        tenant,
        {
            "cronExpression": "0 8 * * *",
            "timezone": "America/New_York",
            "excludeDates": ["2026-03-03..2026-03-04", "2026-03-06"],
        },
    )
    got = await client.get(f"/api/routines/{routine_id}", headers=Tenant.auth(tenant.board))
    assert got.json()["triggers"][0]["excludeDates"] == ["2026-03-03..2026-03-04", "2026-03-06"]
    ticker = Ticker(ctx)
    await ticker.load()
    for day in range(6):
        start_clock.now = datetime(2026, 3, 2 + day, 13, 0, 1, tzinfo=UTC)  # 08:00 EST
        await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routine-triggers/{trigger_id}/occurrences")
    assert [(r["scheduledFor"][:10], r["outcome"]) for r in records] == [
        ("2026-03-02", "fired"),
        ("2026-03-03", "excluded"),
        ("2026-03-04", "excluded"),
        ("2026-03-05", "fired"),
        ("2026-03-06", "excluded"),
        ("2026-03-07", "fired"),
    ]
    async with ctx.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(runs))).scalar_one()
    assert count == 3


async def test_false_conditions_and_overlaps_are_recorded_as_the_run_says(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    _, trigger_id = await routine_with(
        client, tenant, {"every": 60}, concurrencyPolicy="coalesce_if_active"
    )
    ticker = Ticker(ctx)
    await ticker.load()
    for minute in (1, 2):
        start_clock.now = T0 + timedelta(minutes=minute, seconds=1)
        await ticker.fire_due()
    records = await ledger(client, tenant, f"/api/routine-triggers/{trigger_id}/occurrences")
    assert [r["outcome"] for r in records] == ["fired", "coalesced"]
    assert records[1]["reason"] == "a run of this routine is active"
    assert records[1]["runId"] is not None


async def test_malformed_queries_and_unknown_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"every": 60})
    board = Tenant.auth(tenant.board)
    for params in (
        {"from": "yesterday"},
        {"from": "2026-03-02T12:00:00"},
        {"from": at(5), "to": at(1)},
        {"limit": "0"},
        {"other": "1"},
        {"from": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-01:00"},
    ):
        response = await client.get(
            f"/api/routines/{routine_id}/occurrences", params=params, headers=board
        )
        assert response.status_code == 400, params
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/routines/{missing}/occurrences", "/api/routine-triggers/x/occurrences"):
        assert (await client.get(path, headers=board)).status_code == 404
    other = await client.get(
        f"/api/routine-triggers/{trigger_id}/occurrences", headers=Tenant.auth(tenant.admin)
    )
    assert other.status_code == 200


async def test_retention_forgets_old_records(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"every": 60})
    ticker = Ticker(ctx)
    await ticker.load()
    start_clock.now = T0 + timedelta(minutes=1, seconds=1)
    await ticker.fire_due()
    retention = ctx.settings.occurrence_retention_days
    assert await ticker.prune_ledger(start_clock.now + timedelta(days=retention - 1)) == 0
    assert await ticker.prune_ledger(start_clock.now + timedelta(days=retention + 1)) == 1
    assert await ledger(client, tenant, f"/api/routines/{routine_id}/occurrences") == []


async def test_outcomes_are_counted_for_prometheus(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "firehook_schedule_occurrences_total", {"outcome": outcome}
        )
        return value or 0.0

    fired, missed = count("fired"), count("missed")
    await routine_with(client, tenant, {"cronExpression": "* * * * *"})
    start_clock.advance(5 * 60)
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    assert count("fired") - fired == 1
    assert count("missed") - missed == 4


async def test_replicas_write_one_record_per_tick(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    await routine_with(client, tenant, {"cronExpression": "* * * * *"})
    await routine_with(client, tenant, {"every": 60}, catchUpPolicy="enqueue_missed_with_cap")
    tickers = [Ticker(ctx) for _ in range(3)]
    for ticker in tickers:
        await ticker.load()
    rng = random.Random(3)
    start = start_clock.now
    for minute in range(1, 121):
        # Now and then every replica is late: the missed ticks race too.
        start_clock.now = start + timedelta(minutes=minute, seconds=90 if minute % 17 == 0 else 0)
        order = tickers[:]
        rng.shuffle(order)
        await asyncio.gather(*(t.fire_due() for t in order))
    async with ctx.db.read() as conn:
        rows = (await conn.execute(select(schedule_occurrences))).mappings().all()
        fired_runs = (await conn.execute(select(runs.c.id))).scalars().all()
    keys = [(r["trigger_id"], r["scheduled_for"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert {r["run_id"] for r in rows if r["outcome"] == "fired"} == set(fired_runs)
