"""Backfill: fire the past ticks of a routine's schedules, as the ticker would have.

Each tick is fired with its own `scheduledFor` and the ticker's idempotency key
`schedule:{triggerId}:{scheduledFor}`, so a tick that already ran live, or in an
earlier or overlapping backfill, makes no second run. Fires go out at a bounded
rate; progress is saved after each batch, and a cancelled backfill stops before
its next batch. A backfill runs in the process that accepted it: if that process
stops, asking for the same range again is safe and finishes the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from firehook.context import Context
from firehook.fires import publish_fires
from firehook.ids import new_id, run_id_for
from firehook.store import backfills as store
from scheduler.exclusions import exclusions_of, is_excluded
from scheduler.plan import schedule_of
from scheduler.ticker import schedule_key
from scheduler.timing import fires_between
from schemas.common import ConcurrencyPolicy, RunSource
from schemas.errors import Unavailable
from schemas.events import FireRequested

log = structlog.get_logger("firehook.scheduler")

_RETRY_SEC = 1.0


@dataclass(frozen=True, slots=True)
class BackfillTicks:
    """The ticks of a range: (trigger row, tick) to fire, and those on exclusion dates."""

    fire: list[tuple[Mapping[Any, Any], datetime]]
    excluded: list[tuple[Mapping[Any, Any], datetime]]


def backfill_ticks(
    triggers: Sequence[Mapping[Any, Any]], start: datetime, end: datetime, limit: int
) -> BackfillTicks | None:
    """Every tick of the schedule triggers in `[start, end]`, in time order; None when
    there are more than `limit`."""
    fire: list[tuple[Mapping[Any, Any], datetime]] = []
    excluded: list[tuple[Mapping[Any, Any], datetime]] = []
    for trigger in triggers:
        schedule = schedule_of(trigger)
        if schedule is None:
            continue
        remaining = limit - len(fire) - len(excluded)
        ticks = fires_between(
            schedule, start - timedelta(microseconds=1), end, max(remaining, 0) + 1
        )
        if len(ticks) > remaining:
            return None
        exclusions = exclusions_of(trigger["exclude_dates"])
        for tick in ticks:
            target = excluded if is_excluded(tick, schedule.zone, exclusions) else fire
            target.append((trigger, tick))
    fire.sort(key=lambda item: (item[1], item[0]["id"]))
    return BackfillTicks(fire, excluded)


def backfill_fire(
    trigger: Mapping[Any, Any],
    tick: datetime,
    now: datetime,
    backfill_id: str,
    overlap_policy: ConcurrencyPolicy | None,
) -> FireRequested:
    """The fire of one past tick: the live tick's key and run id, marked as backfilled."""
    key = schedule_key(trigger["id"], tick)
    return FireRequested(
        fire_id=new_id(),
        run_id=run_id_for(trigger["routine_id"], key),
        routine_id=trigger["routine_id"],
        company_id=trigger["company_id"],
        source=RunSource.SCHEDULE,
        trigger_id=trigger["id"],
        idempotency_key=key,
        scheduled_for=tick,
        requested_at=now,
        overlap_policy=overlap_policy,
        backfill_id=backfill_id,
    )


@dataclass
class Backfills:
    """The backfills this process is running."""

    ctx: Context
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(
        self,
        backfill_id: str,
        ticks: list[tuple[Mapping[Any, Any], datetime]],
        overlap_policy: ConcurrencyPolicy | None,
    ) -> None:
        task = asyncio.create_task(
            self._run(backfill_id, ticks, overlap_policy), name=f"backfill-{backfill_id}"
        )
        self.tasks[backfill_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(backfill_id, None))

    async def wait(self, backfill_id: str) -> None:
        """Until the backfill's task ends (at once when it is not running here)."""
        task = self.tasks.get(backfill_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(
        self,
        backfill_id: str,
        ticks: list[tuple[Mapping[Any, Any], datetime]],
        overlap_policy: ConcurrencyPolicy | None,
    ) -> None:
        settings = self.ctx.settings
        rate = settings.backfill_rate_per_sec
        batch = max(1, math.floor(rate))
        fired = 0
        try:
            while True:
                chunk = ticks[fired : fired + batch]
                now = self.ctx.clock()
                fires = [
                    backfill_fire(trigger, tick, now, backfill_id, overlap_policy)
                    for trigger, tick in chunk
                ]
                if fires:
                    try:
                        await publish_fires(self.ctx.bus, settings, fires)
                    except Unavailable as exc:
                        log.warning("backfill fires not published; retrying", error=str(exc))
                        await asyncio.sleep(_RETRY_SEC)
                        continue
                fired += len(fires)
                done = fired >= len(ticks)
                async with self.ctx.db.write() as conn:
                    running = await store.record_progress(
                        conn, backfill_id, fired, self.ctx.clock(), done=done
                    )
                if done or not running:
                    return
                await asyncio.sleep(len(fires) / rate)
        except Exception as exc:
            log.error("backfill stopped", backfill_id=backfill_id, exc_info=exc)


def backfills_of(ctx: Context) -> Backfills:
    """This process's backfill runner, made on first use."""
    runner = ctx.services.get("backfills")
    if not isinstance(runner, Backfills):
        runner = Backfills(ctx)
        ctx.services["backfills"] = runner
    return runner


async def stop_backfills(ctx: Context) -> None:
    """Stop the backfills this process runs (at shutdown); their progress is saved."""
    runner = ctx.services.get("backfills")
    if isinstance(runner, Backfills):
        await runner.stop()
