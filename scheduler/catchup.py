"""Which ticks of a schedule to fire when the ticker reaches a trigger. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.timing import Schedule, fires_between, next_fire
from schemas.common import CatchUpPolicy

# A schedule with a one-second cadence and a day-long grace could otherwise yield
# 86,400 on-time ticks at once; past this many, the oldest are dropped.
MAX_TICKS_PER_CLAIM = 1000
# Missed ticks are listed (for the occurrence ledger) up to this many per claim.
MAX_MISSED_LISTED = 1000


@dataclass(frozen=True, slots=True)
class TickPlan:
    fire: list[datetime]
    skipped: int
    next_pointer: datetime | None
    missed: tuple[datetime, ...] = ()


def plan_ticks(
    schedule: Schedule,
    pointer: datetime,
    now: datetime,
    *,
    policy: CatchUpPolicy,
    cap: int,
    grace_sec: int,
    jitter_sec: float = 0.0,
) -> TickPlan:
    """The ticks from `pointer` (a tick of the schedule) up to `now` that fire, and the
    pointer after them.

    A tick later than `grace_sec` is missed. `skip_missed` fires none of the missed
    ticks; `enqueue_missed_with_cap` fires the earliest `cap` of them. Ticks within
    the grace period always fire. A jittered tick is late only by what exceeds its jitter.
    `missed` lists the late ticks that do not fire (the first MAX_MISSED_LISTED).
    """
    window_start = now - timedelta(seconds=grace_sec + jitter_sec)
    following = next_fire(schedule, pointer)
    if pointer >= window_start and (following is None or following > now):
        # The common case, one tick on time: a single next-fire computation.
        return TickPlan([pointer], 0, following)
    missed: list[datetime] = []
    late: list[datetime] = []
    if pointer < window_start:
        enqueue = policy is CatchUpPolicy.ENQUEUE_MISSED_WITH_CAP
        listed = MAX_MISSED_LISTED + (cap if enqueue else 0)
        late = [
            pointer,
            *fires_between(schedule, pointer, window_start - timedelta(microseconds=1), listed),
        ]
        late = [tick for tick in late if tick < window_start]
        if enqueue:
            missed, late = late[:cap], late[cap:]
    on_time: list[datetime] = []
    if pointer >= window_start:
        on_time.append(pointer)
        start = pointer
    else:
        start = window_start - timedelta(microseconds=1)
    on_time += fires_between(schedule, start, now, MAX_TICKS_PER_CLAIM)
    on_time = [tick for tick in on_time if tick <= now][-MAX_TICKS_PER_CLAIM:]
    skipped = (
        _count_missed(schedule, pointer, window_start) - len(missed)
        if pointer < window_start
        else 0
    )
    return TickPlan(
        missed + on_time, max(skipped, 0), next_fire(schedule, now), tuple(late[:MAX_MISSED_LISTED])
    )


def _count_missed(schedule: Schedule, pointer: datetime, window_start: datetime) -> int:
    # Counted only for logs and metrics; bounded so a long outage costs little.
    ticks = fires_between(schedule, pointer, window_start - timedelta(microseconds=1), 10_000)
    return 1 + len(ticks)


def jitter_delay(
    trigger_id: str, tick: datetime, jitter_sec: int | None, next_tick: datetime | None
) -> float:
    """Seconds to delay a tick: derived from (trigger, tick), so every replica agrees,
    and always less than the time to the next tick."""
    if not jitter_sec:
        return 0.0
    limit = jitter_sec
    if next_tick is not None:
        limit = min(limit, int((next_tick - tick).total_seconds()) - 1)
    if limit <= 0:
        return 0.0
    digest = hashlib.sha256(f"{trigger_id}:{tick.isoformat()}".encode()).digest()
    return float(int.from_bytes(digest[:8], "big") % (limit + 1))
