"""A trigger's schedule and its next run, as stored on the trigger row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store import occurrences
from firehook.store import routines as store
from firehook.store.occurrences import Outcome, tick_record
from scheduler.catchup import MAX_MISSED_LISTED
from scheduler.timing import Schedule, fires_between, next_fire
from schemas.common import CatchUpPolicy, TriggerKind
from schemas.schedule_rules import DstPolicy


def schedule_of(trigger: Mapping[Any, Any]) -> Schedule | None:
    """The schedule of a schedule trigger's stored values; None for other kinds."""
    if trigger.get("cron_expression"):
        dst = trigger.get("dst_policy")
        return _cron_schedule(
            trigger["cron_expression"],
            trigger.get("timezone") or "UTC",
            DstPolicy.model_validate(dst) if dst else None,
        )
    if trigger.get("cadence"):
        cadence = trigger["cadence"]
        return _cadence_schedule(
            cadence["type"],
            cadence.get("hour_utc"),
            cadence.get("minute_utc"),
            cadence.get("day_of_week"),
        )
    if trigger.get("every_sec"):
        return _interval_schedule(int(trigger["every_sec"]))
    if trigger.get("at"):
        return Schedule.from_datetime(trigger["at"])
    return None


# Schedules are immutable and many triggers share an expression: each is parsed once.
@lru_cache(maxsize=65_536)
def _cron_schedule(expression: str, timezone: str, dst: DstPolicy | None) -> Schedule:
    return Schedule.from_cron(expression, timezone, dst)


@lru_cache(maxsize=4_096)
def _cadence_schedule(
    kind: str, hour: int | None, minute: int | None, day: int | str | None
) -> Schedule:
    return Schedule.from_cadence(kind, hour, minute, day)


@lru_cache(maxsize=4_096)
def _interval_schedule(seconds: int) -> Schedule:
    return Schedule.from_interval(seconds)


def next_run_for_trigger(trigger: Mapping[Any, Any], after: datetime) -> datetime | None:
    """The first fire of the trigger's schedule strictly after `after`."""
    schedule = schedule_of(trigger)
    return next_fire(schedule, after) if schedule is not None else None


async def _record_paused_ticks(
    conn: AsyncConnection, trigger: Mapping[Any, Any], pointer: datetime, now: datetime
) -> None:
    """Record in the ledger the ticks a resume under `skip_missed` passes over."""
    schedule = schedule_of(trigger)
    if schedule is None:
        return
    ticks = [pointer, *fires_between(schedule, pointer, now, MAX_MISSED_LISTED)]
    reason = "the routine was paused"
    await occurrences.record_ticks(
        conn,
        [
            tick_record(trigger, tick, Outcome.SKIPPED, reason, now)
            for tick in ticks[:MAX_MISSED_LISTED]
            if tick <= now
        ],
    )


async def reschedule_routine_triggers(
    conn: AsyncConnection, routine: Mapping[Any, Any], now: datetime, *, resumed: bool
) -> None:
    """After a resume: under `skip_missed` nothing missed while paused is fired, so each
    schedule's pointer moves past now; under `enqueue_missed_with_cap` the ticker catches up.
    """
    if not resumed or routine["catch_up_policy"] != CatchUpPolicy.SKIP_MISSED:
        return
    triggers = (await store.list_triggers(conn, [routine["id"]]))[routine["id"]]
    for trigger in triggers:
        if trigger["kind"] != TriggerKind.SCHEDULE or not trigger["enabled"]:
            continue
        pointer = trigger["next_run_at"]
        if pointer is not None and pointer <= now:
            await store.update_trigger(
                conn, trigger["id"], {"next_run_at": next_run_for_trigger(trigger, now)}
            )
            await _record_paused_ticks(conn, trigger, pointer, now)
    await store.refresh_routine_next_run(conn, routine["id"], now)
