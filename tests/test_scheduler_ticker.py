"""The ticker on a simulated clock: claims, catch-up, replicas, pause/resume, patch, one-shots."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import runs
from scheduler import Ticker
from scheduler.catchup import jitter_delay, plan_ticks
from scheduler.timing import Schedule
from schemas.common import CatchUpPolicy
from tests.conftest import FakeClock, Tenant, routine_body

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# -- catch-up, pure ------------------------------------------------------------------------


def test_skip_missed_fires_only_ticks_within_grace() -> None:
    minutely = Schedule.from_cron("* * * * *")
    plan = plan_ticks(
        minutely,
        T0 - timedelta(minutes=10),
        T0 + timedelta(seconds=30),
        policy=CatchUpPolicy.SKIP_MISSED,
        cap=25,
        grace_sec=60,
    )
    assert plan.fire == [T0]
    assert plan.skipped == 10
    assert plan.next_pointer == T0 + timedelta(minutes=1)


def test_skip_missed_fires_nothing_when_every_tick_is_late() -> None:
    hourly = Schedule.from_cron("0 * * * *")
    plan = plan_ticks(
        hourly,
        T0,
        T0 + timedelta(minutes=5),
        policy=CatchUpPolicy.SKIP_MISSED,
        cap=25,
        grace_sec=60,
    )
    assert plan.fire == []
    assert plan.next_pointer == T0 + timedelta(hours=1)


def test_tick_late_by_exactly_the_grace_is_not_missed() -> None:
    hourly = Schedule.from_cron("0 * * * *")
    plan = plan_ticks(
        hourly,
        T0,
        T0 + timedelta(seconds=60),
        policy=CatchUpPolicy.SKIP_MISSED,
        cap=25,
        grace_sec=60,
    )
    assert plan.fire == [T0]


def test_enqueue_missed_fires_the_earliest_missed_up_to_the_cap() -> None:
    minutely = Schedule.from_cron("* * * * *")
    start = T0 - timedelta(minutes=100)
    plan = plan_ticks(
        minutely, start, T0, policy=CatchUpPolicy.ENQUEUE_MISSED_WITH_CAP, cap=25, grace_sec=60
    )
    missed = [start + timedelta(minutes=i) for i in range(25)]
    assert plan.fire == [*missed, T0 - timedelta(minutes=1), T0]
    assert plan.skipped == 99 - 25
    assert len(set(plan.fire)) == len(plan.fire)


def test_enqueue_missed_below_the_cap_fires_them_all() -> None:
    every_ten = Schedule.from_interval(600)
    start = T0 - timedelta(minutes=30)
    plan = plan_ticks(
        every_ten,
        start,
        T0 + timedelta(seconds=5),
        policy=CatchUpPolicy.ENQUEUE_MISSED_WITH_CAP,
        cap=25,
        grace_sec=60,
    )
    assert plan.fire == [start, start + timedelta(minutes=10), start + timedelta(minutes=20), T0]
    assert plan.skipped == 0


def test_jitter_is_deterministic_and_before_the_next_tick() -> None:
    tick = T0
    delays = {jitter_delay("trigger-a", tick, 3600, tick + timedelta(seconds=60)) for _ in range(3)}
    assert len(delays) == 1
    assert 0 <= delays.pop() <= 59
    spread = {jitter_delay(f"t{i}", tick, 30, None) for i in range(50)}
    assert len(spread) > 5 and max(spread) <= 30
    assert jitter_delay("t", tick, None, None) == 0.0


# -- the ticker on a simulated clock ---------------------------------------------------------


async def routine_with(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **routine: Any
) -> tuple[str, str]:
    board = Tenant.auth(tenant.board)
    created = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(concurrencyPolicy="always_enqueue", **routine),
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


async def scheduled_runs(ctx: Context, routine_id: str) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(runs).where(runs.c.routine_id == routine_id).order_by(runs.c.scheduled_for)
        )
        return [dict(r) for r in rows.mappings()]


@pytest.fixture
def start_clock(clock: FakeClock) -> FakeClock:
    clock.now = T0 + timedelta(seconds=5)
    return clock


async def test_ticker_fires_a_due_tick_once(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"cronExpression": "*/5 * * * *"})
    ticker = Ticker(ctx)
    assert await ticker.load() == 1
    assert ticker.next_due() == T0 + timedelta(minutes=5)
    assert await ticker.fire_due() == 0
    start_clock.now = T0 + timedelta(minutes=5, seconds=1)
    assert await ticker.fire_due() == 1
    assert await ticker.fire_due() == 0
    fired = await scheduled_runs(ctx, routine_id)
    assert len(fired) == 1
    run = fired[0]
    assert run["source"] == "schedule" and run["trigger_id"] == trigger_id
    assert run["scheduled_for"] == T0 + timedelta(minutes=5)
    assert run["idempotency_key"] == f"schedule:{trigger_id}:2026-03-02T12:05:00Z"
    trigger = (
        await client.get(f"/api/routines/{routine_id}", headers=Tenant.auth(tenant.board))
    ).json()["triggers"][0]
    assert trigger["nextRunAt"] == "2026-03-02T12:10:00Z"
    assert trigger["lastFiredAt"] is not None


async def test_skip_missed_at_startup_fires_nothing_missed(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"cronExpression": "* * * * *"})
    start_clock.advance(3600)  # the scheduler was down for an hour
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    fired = await scheduled_runs(ctx, routine_id)
    # Only the tick inside the grace period (60 s) fires, not one of the 59 missed ones.
    assert [r["scheduled_for"] for r in fired] == [T0 + timedelta(minutes=60)]


async def test_enqueue_missed_with_cap_at_startup(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(
        client,
        tenant,
        {"cronExpression": "* * * * *"},
        catchUpPolicy="enqueue_missed_with_cap",
        catchUpCap=5,
    )
    start_clock.advance(3600)
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    fired = [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)]
    assert fired == [T0 + timedelta(minutes=m) for m in (1, 2, 3, 4, 5, 60)]


async def test_pause_and_resume_never_backfills_under_skip_missed(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"every": 60})
    ticker = Ticker(ctx)
    await ticker.load()
    board = Tenant.auth(tenant.board)
    start_clock.now = T0 + timedelta(minutes=1, seconds=1)
    await ticker.fire_due()
    await client.post(f"/api/routines/{routine_id}/pause", headers=board)
    await ticker.resync()
    for minute in range(2, 30):
        start_clock.now = T0 + timedelta(minutes=minute, seconds=1)
        await ticker.fire_due()
    await client.post(f"/api/routines/{routine_id}/resume", headers=board)
    await ticker.resync()
    await ticker.fire_due()
    start_clock.now = T0 + timedelta(minutes=30, seconds=1)
    await ticker.fire_due()
    fired = [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)]
    assert fired == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=30)]


async def test_resume_under_enqueue_missed_catches_up_to_the_cap(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(
        client, tenant, {"every": 60}, catchUpPolicy="enqueue_missed_with_cap", catchUpCap=3
    )
    board = Tenant.auth(tenant.board)
    await client.post(f"/api/routines/{routine_id}/pause", headers=board)
    start_clock.now = T0 + timedelta(minutes=10, seconds=1)
    await client.post(f"/api/routines/{routine_id}/resume", headers=board)
    ticker = Ticker(ctx)
    await ticker.load()
    await ticker.fire_due()
    fired = [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)]
    assert fired == [T0 + timedelta(minutes=m) for m in (1, 2, 3, 10)]


async def test_patched_schedule_is_followed_and_the_old_tick_never_fires(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"cronExpression": "*/10 * * * *"})
    ticker = Ticker(ctx)
    await ticker.load()
    patched = await client.patch(
        f"/api/routine-triggers/{trigger_id}",
        json={"cronExpression": "30 12 * * *"},
        headers=Tenant.auth(tenant.board),
    )
    assert patched.json()["nextRunAt"] == "2026-03-02T12:30:00Z"
    start_clock.now = T0 + timedelta(minutes=10, seconds=1)  # the old schedule's tick
    await ticker.fire_due()  # the stale heap entry is checked against the store
    assert await scheduled_runs(ctx, routine_id) == []
    start_clock.now = T0 + timedelta(minutes=30, seconds=1)
    await ticker.fire_due()
    assert [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)] == [
        T0 + timedelta(minutes=30)
    ]


async def test_disabled_trigger_does_not_fire(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(client, tenant, {"every": 60})
    ticker = Ticker(ctx)
    await ticker.load()
    await client.patch(
        f"/api/routine-triggers/{trigger_id}",
        json={"enabled": False},
        headers=Tenant.auth(tenant.board),
    )
    start_clock.advance(120)
    await ticker.fire_due()
    assert await scheduled_runs(ctx, routine_id) == []


async def test_at_fires_once_and_disables_itself(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, _ = await routine_with(client, tenant, {"at": "2026-03-02T12:07:00Z"})
    ticker = Ticker(ctx)
    await ticker.load()
    start_clock.now = T0 + timedelta(minutes=7, seconds=2)
    assert await ticker.fire_due() == 1
    start_clock.advance(86400)
    assert await ticker.fire_due() == 0
    await ticker.load()
    assert ticker.triggers_loaded == 0
    trigger = (
        await client.get(f"/api/routines/{routine_id}", headers=Tenant.auth(tenant.board))
    ).json()["triggers"][0]
    assert trigger["enabled"] is False and trigger["nextRunAt"] is None
    assert len(await scheduled_runs(ctx, routine_id)) == 1


async def test_jittered_tick_fires_late_but_keeps_its_scheduled_time(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock
) -> None:
    routine_id, trigger_id = await routine_with(
        client, tenant, {"cronExpression": "0 13 * * *", "jitterSec": 600}
    )
    ticker = Ticker(ctx)
    await ticker.load()
    tick = T0 + timedelta(hours=1)
    delay = jitter_delay(trigger_id, tick, 600, tick + timedelta(days=1))
    assert ticker.next_due() == tick + timedelta(seconds=delay)
    start_clock.now = tick + timedelta(seconds=delay) - timedelta(milliseconds=1)
    assert await ticker.fire_due() == 0
    start_clock.now = tick + timedelta(seconds=delay)
    assert await ticker.fire_due() == 1
    assert [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)] == [tick]


@pytest.mark.parametrize("replicas", [2, 3])
async def test_replicas_fire_every_tick_exactly_once_over_a_day(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, start_clock: FakeClock, replicas: int
) -> None:
    schedules = [
        {"cronExpression": "* * * * *"},
        {"every": 60},
        {"cronExpression": "*/15 * * * *", "timezone": "Europe/Berlin"},
    ]
    routines = [await routine_with(client, tenant, s) for s in schedules]
    tickers = [Ticker(ctx) for _ in range(replicas)]
    for ticker in tickers:
        await ticker.load()
    rng = random.Random(7)
    start = start_clock.now
    for minute in range(1, 24 * 60 + 1):
        start_clock.now = start + timedelta(minutes=minute)
        order = tickers[:]
        rng.shuffle(order)
        if minute % 2:
            await asyncio.gather(*(t.fire_due() for t in order))  # racing replicas
        else:
            for ticker in order:
                await ticker.fire_due()
    expected = {0: 1440, 1: 1440, 2: 96}
    for index, (routine_id, _) in enumerate(routines):
        fired = [r["scheduled_for"] for r in await scheduled_runs(ctx, routine_id)]
        assert len(fired) == expected[index], index
        assert len(set(fired)) == len(fired)


async def test_running_ticker_picks_up_a_new_trigger_at_once(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    """On the real clock: a trigger created through the API fires without waiting for a resync."""
    ticker = Ticker(ctx)
    await ticker.start()
    try:
        routine_id, _ = await routine_with(client, tenant, {"every": 1})
        for _ in range(300):
            if await scheduled_runs(ctx, routine_id):
                break
            await asyncio.sleep(0.01)
    finally:
        await ticker.stop()
    fired = await scheduled_runs(ctx, routine_id)
    assert fired, "no scheduled run within 3 s"
    assert ctx.settings.scheduler_resync_sec >= 5  # so the resync cannot be what found it
