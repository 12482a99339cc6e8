"""The ticker: holds due times in a heap, sleeps until the next one, claims and fires it.

Each tick is published before its trigger's pointer moves on (compare-and-set on
`next_run_at`). Two replicas that reach the same tick both publish it, with the
same idempotency key `schedule:{triggerId}:{scheduledFor}`, and the consumer
keeps one run; a replica that dies between publishing and moving the pointer
publishes the tick again after restart, and again only one run results. So any
number of replicas fire each tick exactly once, and a crash loses no tick.

The heap is filled from the store at start, kept current by an incremental
resync of changed triggers (woken at once by this process's management API,
and every `scheduler_resync_sec` for changes made elsewhere), and checked
against the store before every claim, so a stale entry never fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from firehook.context import Context
from firehook.fires import publish_fires
from firehook.ids import new_id, run_id_for
from firehook.metrics import SCHEDULER_LATENESS
from firehook.store import occurrences
from firehook.store import schedules as store
from firehook.store.occurrences import Outcome, tick_record
from scheduler.catchup import TickPlan, jitter_delay, plan_ticks
from scheduler.exclusions import exclusions_of, is_excluded
from scheduler.plan import schedule_of
from scheduler.timing import Schedule, next_fire
from schemas.common import CatchUpPolicy, RoutineStatus, RunSource, utc_iso
from schemas.errors import Unavailable
from schemas.events import FireRequested

log = structlog.get_logger("firehook.scheduler")

_RESYNC_OVERLAP = timedelta(seconds=5)  # tolerate clock skew between writers
_PUBLISH_RETRY_SEC = 1.0
# A burst of due triggers is read and planned this long before it is due, and
# published at its time: its lateness is then the publish alone.
_PREPARE_AHEAD_SEC = 1.0
_PRUNE_EVERY = timedelta(hours=1)


def schedule_key(trigger_id: str, scheduled_for: datetime) -> str:
    """The idempotency key of a scheduled fire: the same on every replica."""
    return f"schedule:{trigger_id}:{utc_iso(scheduled_for)}"


def _fireable(row: Mapping[Any, Any]) -> bool:
    return (
        bool(row["enabled"])
        and row["routine_status"] == RoutineStatus.ACTIVE
        and row["next_run_at"] is not None
    )


@dataclass(slots=True)
class _Prepared:
    due_ts: float
    fires: list[FireRequested]
    claim: dict[str, Any]


def _jitter(row: Mapping[Any, Any], tick: datetime) -> float:
    if not row["jitter_sec"]:
        return 0.0
    schedule = schedule_of(row)
    following = next_fire(schedule, tick) if schedule is not None else None
    return jitter_delay(row["id"], tick, row["jitter_sec"], following)


def _unfired_records(
    row: Mapping[Any, Any], schedule: Schedule, plan: TickPlan, now: datetime
) -> tuple[list[datetime], list[dict[str, Any]]]:
    """The plan's ticks that fire, and ledger records of those that do not: missed ones,
    and ones on the trigger's exclusion dates."""
    if CatchUpPolicy(row["catch_up_policy"]) is CatchUpPolicy.SKIP_MISSED:
        why = f"later than misfireGraceSec ({row['misfire_grace_sec']}s) under skip_missed"
    else:
        why = f"beyond catchUpCap ({row['catch_up_cap']}) under enqueue_missed_with_cap"
    records = [tick_record(row, tick, Outcome.MISSED, why, now) for tick in plan.missed]
    exclusions = exclusions_of(row["exclude_dates"])
    if not exclusions:
        return plan.fire, records
    ticks: list[datetime] = []
    for tick in plan.fire:
        if is_excluded(tick, schedule.zone, exclusions):
            records.append(tick_record(row, tick, Outcome.EXCLUDED, "an excluded date", now))
        else:
            ticks.append(tick)
    return ticks, records


class Ticker:
    """The scheduler of one process (a replica)."""

    def __init__(self, ctx: Context, *, batch_size: int = 1000) -> None:
        self._ctx = ctx
        self._batch_size = batch_size
        self._heap: list[tuple[float, str, datetime]] = []
        self._pointers: dict[str, datetime] = {}
        self._synced_at: datetime | None = None
        self._pruned_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_tick_at: datetime | None = None
        self.fired_last_tick = 0

    # -- the service ----------------------------------------------------------------

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._run(), name="scheduler-ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        resync_every = self._ctx.settings.scheduler_resync_sec
        next_resync = time.monotonic() + resync_every
        while True:
            try:
                await self.fire_due(horizon_sec=_PREPARE_AHEAD_SEC)
                if time.monotonic() >= next_resync:
                    await self.resync()
                    next_resync = time.monotonic() + resync_every
            except Exception as exc:
                log.error("scheduler pass failed; retrying", exc_info=exc)
                await asyncio.sleep(_PUBLISH_RETRY_SEC)
                continue
            wait = next_resync - time.monotonic()
            due = self.next_due()
            if due is not None:
                ahead = due - timedelta(seconds=_PREPARE_AHEAD_SEC)
                wait = min(wait, (ahead - self._ctx.clock()).total_seconds())
            if wait > 0 and await self._ctx.schedules_changed.wait(wait):
                await self.resync()

    # -- the heap -------------------------------------------------------------------

    async def load(self) -> int:
        """Fill the heap with every trigger that can fire; returns how many."""
        now = self._ctx.clock()
        self._heap.clear()
        self._pointers.clear()
        async with self._ctx.db.read() as conn:
            async for rows in store.stream_fireable_pointers(conn):
                for row in rows:
                    self._track(row)
        self._synced_at = now
        log.info("scheduler loaded triggers", count=len(self._pointers))
        return len(self._pointers)

    async def resync(self) -> int:
        """Pick up triggers and routines changed since the last sync."""
        now = self._ctx.clock()
        since = (self._synced_at or now) - _RESYNC_OVERLAP
        async with self._ctx.db.read() as conn:
            rows = await store.changed_schedule_triggers(conn, since)
        if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
            await self.prune_ledger(now)
        for row in rows:
            self._track(row)
        self._synced_at = now
        return len(rows)

    def _track(self, row: Mapping[Any, Any]) -> None:
        trigger_id = row["id"]
        if not _fireable(row):
            self._pointers.pop(trigger_id, None)
            return
        pointer: datetime = row["next_run_at"]
        if self._pointers.get(trigger_id) == pointer:
            return
        self._pointers[trigger_id] = pointer
        due = pointer + timedelta(seconds=_jitter(row, pointer))
        heapq.heappush(self._heap, (due.timestamp(), trigger_id, pointer))

    def _drop_stale(self) -> None:
        while self._heap and self._pointers.get(self._heap[0][1]) != self._heap[0][2]:
            heapq.heappop(self._heap)

    def next_due(self) -> datetime | None:
        """When the earliest tracked tick is due (jitter included)."""
        self._drop_stale()
        if not self._heap:
            return None
        return datetime.fromtimestamp(self._heap[0][0], tz=self._ctx.clock().tzinfo)

    def due_count(self, now: datetime) -> int:
        cutoff = now.timestamp()
        return sum(
            1
            for due, tid, pointer in self._heap
            if due <= cutoff and self._pointers.get(tid) == pointer
        )

    async def prune_ledger(self, now: datetime) -> int:
        """Forget occurrences older than the retention setting; returns how many."""
        retention = timedelta(days=self._ctx.settings.occurrence_retention_days)
        async with self._ctx.db.write() as conn:
            pruned = await occurrences.prune_occurrences(conn, now - retention)
        self._pruned_at = now
        return pruned

    @property
    def triggers_loaded(self) -> int:
        return len(self._pointers)

    # -- firing ---------------------------------------------------------------------

    async def fire_due(self, now: datetime | None = None, *, horizon_sec: float = 0.0) -> int:
        """Claim and publish every tick due by `now` (plus `horizon_sec`, published when
        due); returns the fires published.

        All due ticks are published before any pointer moves, so a burst of due
        triggers reaches the bus without waiting on the store's writes.
        """
        now = now or self._ctx.clock()
        cutoff = now.timestamp() + horizon_sec
        ready: list[_Prepared] = []
        while True:
            chunk: list[tuple[float, str, datetime]] = []
            while self._heap and self._heap[0][0] <= cutoff and len(chunk) < self._batch_size:
                due_ts, trigger_id, pointer = heapq.heappop(self._heap)
                if self._pointers.get(trigger_id) == pointer:
                    chunk.append((due_ts, trigger_id, pointer))
            if not chunk:
                break
            ready.extend(await self._prepare(chunk, now))
        published, advances = await self._publish_when_due(ready)
        if advances:
            async with self._ctx.db.write() as conn:
                await store.advance_triggers(conn, advances)
                records = [record for advance in advances for record in advance["records"]]
                if records:
                    await occurrences.record_ticks(conn, records)
            for advance in advances:
                self._pointers.pop(advance["id"], None)
                moved = dict(advance["row"]) | {
                    "next_run_at": advance["new"],
                    "enabled": advance["enabled"],
                }
                self._track(moved)
        self.last_tick_at = now
        self.fired_last_tick = published
        return published

    async def _prepare(
        self, chunk: Sequence[tuple[float, str, datetime]], now: datetime
    ) -> list[_Prepared]:
        """Check each entry against the store and plan its fires (as of its due time)."""
        async with self._ctx.db.read() as conn:
            rows = await store.schedule_triggers_by_id(conn, (tid for _, tid, _ in chunk))
        prepared: list[_Prepared] = []
        for due_ts, trigger_id, pointer in chunk:
            row = rows.get(trigger_id)
            if row is None or not _fireable(row):
                self._pointers.pop(trigger_id, None)
                continue
            if row["next_run_at"] != pointer:
                self._pointers.pop(trigger_id, None)
                self._track(row)  # changed elsewhere: follow the store
                continue
            schedule = schedule_of(row)
            if schedule is None:
                continue
            as_of = max(now, datetime.fromtimestamp(due_ts, tz=now.tzinfo))
            plan = plan_ticks(
                schedule,
                pointer,
                as_of,
                policy=CatchUpPolicy(row["catch_up_policy"]),
                cap=row["catch_up_cap"],
                grace_sec=row["misfire_grace_sec"],
                jitter_sec=_jitter(row, pointer),
            )
            if plan.skipped:
                log.info("missed ticks skipped", trigger_id=trigger_id, skipped=plan.skipped)
            ticks, records = _unfired_records(row, schedule, plan, as_of)
            one_shot = row["at"] is not None
            claim = {
                "id": trigger_id,
                "routine_id": row["routine_id"],
                "old": pointer,
                "new": plan.next_pointer,
                "enabled": bool(row["enabled"]) and not (one_shot and plan.next_pointer is None),
                "row": row,
                "records": records,
            }
            fires = [self._fire(row, tick, as_of) for tick in ticks]
            prepared.append(_Prepared(due_ts, fires, claim))
        return prepared

    async def _publish_when_due(self, ready: list[_Prepared]) -> tuple[int, list[dict[str, Any]]]:
        """Publish prepared fires at their due times; the claims whose fires went out."""
        ready.sort(key=lambda item: item.due_ts)
        published = 0
        advances: list[dict[str, Any]] = []
        index = 0
        while index < len(ready):
            wait = ready[index].due_ts - self._ctx.clock().timestamp()
            if wait > 0:
                await asyncio.sleep(wait)
            cutoff = self._ctx.clock().timestamp()
            group: list[_Prepared] = []
            while index < len(ready) and ready[index].due_ts <= cutoff:
                group.append(ready[index])
                index += 1
            fires = [fire for item in group for fire in item.fires]
            if fires:
                try:
                    await publish_fires(self._ctx.bus, self._ctx.settings, fires)
                except Unavailable as exc:
                    log.warning("fires not published; retrying", error=str(exc), count=len(fires))
                    retry_at = cutoff + _PUBLISH_RETRY_SEC
                    for item in ready[index - len(group) :]:
                        heapq.heappush(self._heap, (retry_at, item.claim["id"], item.claim["old"]))
                    return published, advances
                published_at = self._ctx.clock()
                for fire in fires:
                    assert fire.scheduled_for is not None
                    lateness = (published_at - fire.scheduled_for).total_seconds()
                    SCHEDULER_LATENESS.observe(max(0.0, lateness))
            published += len(fires)
            advances.extend(item.claim for item in group)
        return published, advances

    def _fire(self, row: Mapping[Any, Any], tick: datetime, now: datetime) -> FireRequested:
        key = schedule_key(row["id"], tick)
        # Built from validated store values on the ticker's hot path: skip re-validation.
        return FireRequested.model_construct(
            fire_id=new_id(),
            run_id=run_id_for(row["routine_id"], key),
            routine_id=row["routine_id"],
            company_id=row["company_id"],
            source=RunSource.SCHEDULE,
            trigger_id=row["id"],
            idempotency_key=key,
            scheduled_for=tick,
            requested_at=now,
        )

    def status(self) -> dict[str, Any]:
        now = self._ctx.clock()
        due = self.next_due()
        return {
            "running": self.running,
            "triggersLoaded": self.triggers_loaded,
            "dueCount": self.due_count(now),
            "nextTickAt": due,
            "tickerLagSeconds": max(0.0, (now - due).total_seconds()) if due else 0.0,
            "lastTickAt": self.last_tick_at,
            "firesLastTick": self.fired_last_tick,
            "resyncIntervalSeconds": self._ctx.settings.scheduler_resync_sec,
        }
