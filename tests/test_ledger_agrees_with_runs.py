"""A simulated day: three scheduler replicas, a paused hour, a catch-up after downtime
and a backfill over an already-fired range; afterwards the occurrence ledger and the
runs tell the same story, and every tick of the day has exactly one record."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import runs, schedule_occurrences, triggers
from scheduler import Ticker, schedule_of
from scheduler.backfill import backfills_of
from scheduler.timing import fires_between
from tests.conftest import FakeClock, Tenant, routine_body

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
# A run made by a tick that fired may since have moved on (running, timed out, ...).
_OUTCOME = {"coalesced": "coalesced", "skipped": "skipped"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def routine_with(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **routine: Any
) -> str:
    board = Tenant.auth(tenant.board)
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines", json=routine_body(**routine), headers=board
    )
    assert created.status_code == 201, created.text
    added = await client.post(
        f"/api/routines/{created.json()['id']}/triggers",
        json={"kind": "schedule"} | trigger,
        headers=board,
    )
    assert added.status_code == 201, added.text
    return str(created.json()["id"])


async def test_the_ledger_agrees_with_the_runs_after_a_day(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    clock.now = T0 + timedelta(seconds=5)
    board = Tenant.auth(tenant.board)
    paused = await routine_with(
        client, tenant, {"cronExpression": "*/5 * * * *"}, concurrencyPolicy="always_enqueue"
    )
    await routine_with(
        client,
        tenant,
        {"every": 600},
        concurrencyPolicy="always_enqueue",
        catchUpPolicy="enqueue_missed_with_cap",
        catchUpCap=3,
    )
    await routine_with(
        client,
        tenant,
        {"cronExpression": "0 * * * *", "timezone": "Europe/Berlin"},
        concurrencyPolicy="coalesce_if_active",
    )
    tickers = [Ticker(ctx) for _ in range(3)]
    for ticker in tickers:
        await ticker.load()
    rng = random.Random(11)
    end = T0 + timedelta(days=1)
    minute = 0
    while T0 + timedelta(minutes=minute) < end:
        minute += 1
        clock.now = T0 + timedelta(minutes=minute, seconds=rng.choice((0, 1, 20)))
        hour = minute / 60
        if minute == 5 * 60:
            assert (
                await client.post(f"/api/routines/{paused}/pause", headers=board)
            ).status_code == 200
        if minute == 6 * 60:
            assert (
                await client.post(f"/api/routines/{paused}/resume", headers=board)
            ).status_code == 200
        if 10 <= hour < 12:
            continue  # every replica is down: the catch-up happens at noon
        order = tickers[:]
        rng.shuffle(order)
        for ticker in order:
            await ticker.resync()
        await asyncio.gather(*(t.fire_due() for t in order))
    clock.now = end + timedelta(minutes=1, seconds=30)
    for start, stop in (
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3)),
        (T0 + timedelta(hours=10), T0 + timedelta(hours=12)),
    ):
        response = await client.post(
            f"/api/routines/{paused}/backfill",
            json={"from": iso(start), "to": iso(stop)},
            headers=board,
        )
        assert response.status_code == 202, response.text
        await backfills_of(ctx).wait(response.json()["id"])

    async with ctx.db.read() as conn:
        ledger = (await conn.execute(select(schedule_occurrences))).mappings().all()
        made = (
            (await conn.execute(select(runs).where(runs.c.source == "schedule"))).mappings().all()
        )
        schedule_triggers = (await conn.execute(select(triggers))).mappings().all()

    by_tick = {(r["trigger_id"], r["scheduled_for"]): r for r in ledger}
    assert len(by_tick) == len(ledger)
    runs_by_id = {run["id"]: run for run in made}
    # Every run of a schedule has its record, with its outcome.
    for run in made:
        record = by_tick[(run["trigger_id"], run["scheduled_for"])]
        assert record["run_id"] == run["id"]
        assert record["outcome"] == _OUTCOME.get(run["status"], "fired")
    # Every record with a run points at that run; every other record has none.
    for record in ledger:
        if record["outcome"] in ("fired", "coalesced"):
            run = runs_by_id[record["run_id"]]
            assert (run["trigger_id"], run["scheduled_for"]) == (
                record["trigger_id"],
                record["scheduled_for"],
            )
        elif record["run_id"] is None:
            assert record["outcome"] in ("missed", "excluded", "skipped")
    # Every tick of the day has exactly one record.
    for trigger in schedule_triggers:
        schedule = schedule_of(trigger)
        assert schedule is not None
        ticks = fires_between(schedule, T0, end)
        recorded = {tick for (tid, tick) in by_tick if tid == trigger["id"]}
        assert set(ticks) <= recorded, trigger["id"]

    paused_trigger = next(t for t in schedule_triggers if t["routine_id"] == paused)
    paused_schedule = schedule_of(paused_trigger)
    assert paused_schedule is not None
    outcomes = {
        tick: by_tick[(paused_trigger["id"], tick)]
        for tick in fires_between(paused_schedule, T0, end)
    }
    hour_of = {tick: (tick - T0) / timedelta(hours=1) for tick in outcomes}
    # The paused hour: skipped, the reason given, no run.
    in_pause = [r for tick, r in outcomes.items() if 5 < hour_of[tick] < 6]
    assert in_pause and all(r["outcome"] == "skipped" and r["run_id"] is None for r in in_pause)
    # The downtime was missed live (skip_missed), then fired by the backfill.
    downtime = [r for tick, r in outcomes.items() if 10 <= hour_of[tick] < 12]
    assert downtime and all(r["outcome"] == "fired" and r["origin"] == "backfill" for r in downtime)
    # The backfill over hours 1-3 found every tick fired live: no second run, records kept.
    early = [r for tick, r in outcomes.items() if 1 <= hour_of[tick] <= 3]
    assert early and all(r["origin"] == "scheduler" and r["outcome"] == "fired" for r in early)
    keys = [run["idempotency_key"] for run in made]
    assert len(keys) == len(set(keys))
