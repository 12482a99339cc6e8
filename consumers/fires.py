"""Fire → run: dedupe, routine state, concurrency policy, the run row and its first event.

A batch of fires is applied in one transaction; the batch's messages count as
consumed only after it committed, so a crash anywhere redelivers them, and the
derived run ids make the redelivery harmless.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers import overlap
from consumers.conditions import condition_skip_reason
from consumers.parameters import payload_params_problem
from consumers.policy import Decision, decide_first_status
from consumers.records import StatusChanges, batch_iso, executor_context
from consumers.templating import RenderedRun, render_run
from firehook.bus import Message
from firehook.cloudevents import UndecodableEvent, decode_event
from firehook.context import Context
from firehook.metrics import FIRES_CONSUMED, RUNS_BY_STATUS
from firehook.poison import skip_record
from firehook.store import occurrences
from firehook.store import runs as store
from firehook.store import tasks as task_store
from schemas.common import (
    ACTIVE_RUN_STATUSES,
    ConcurrencyPolicy,
    RoutineStatus,
    RunSource,
    RunStatus,
)
from schemas.events import FIRE_REQUESTED, FireRequested

log = structlog.get_logger("firehook.consumers")

# Bound once: a labelled child costs a lookup per call, and these count every fire.
_CONSUMED = {
    outcome: FIRES_CONSUMED.labels(outcome=outcome)
    for outcome in ("undecodable", "duplicate", "refused", "run_created")
}
_BUFFERING = {ConcurrencyPolicy.BUFFER_ONE.value, ConcurrencyPolicy.BUFFER_ALL.value}
_RUNS = {status: RUNS_BY_STATUS.labels(status=status.value) for status in RunStatus}

DeadLetter = Callable[[Message, str], Awaitable[None]]


class AppliedRuns:
    """The runs this process's consumer just committed, by id, for the gateway's answer.

    In embedded mode a webhook's publish returns once its run is committed: the gateway
    takes the run from here instead of reading it back, which would cost a query per
    webhook. Rows are kept without a payload that is the fire's own (the gateway has
    it), and only the newest `max_entries` stay: fires nobody answers (schedules) age out.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._rows: dict[str, dict[str, Any]] = {}

    def remember(self, rows: Sequence[dict[str, Any]], fires: Sequence[FireRequested]) -> None:
        own_payloads = {fire.run_id: fire.payload for fire in fires}
        for row in rows:
            kept = dict(row)
            if kept["payload"] is own_payloads.get(row["id"]):
                del kept["payload"]
            self._rows[row["id"]] = kept
        while len(self._rows) > self._max_entries:
            del self._rows[next(iter(self._rows))]

    def take(self, fire: FireRequested) -> dict[str, Any] | None:
        """The run of `fire` if this process just made it from that very fire."""
        row = self._rows.pop(fire.run_id, None)
        if row is None or row["fire_id"] != fire.fire_id:
            return None
        row.setdefault("payload", fire.payload)
        return row


_APPLIED_RUNS: Final = "applied_runs"


def applied_runs_of(ctx: Context) -> AppliedRuns | None:
    """This process's memory of runs just made; None unless its consumer keeps one."""
    applied = ctx.services.get(_APPLIED_RUNS)
    assert applied is None or isinstance(applied, AppliedRuns)
    return applied


class FireProcessor:
    """Applies batches of FireRequested messages to the store."""

    def __init__(
        self,
        ctx: Context,
        *,
        publish_run_events: bool,
        dead_letter: DeadLetter,
        on_commit: Callable[[bool], None] = lambda _wrote_outbox: None,
        remember_runs: bool = False,
    ) -> None:
        self._ctx = ctx
        self._publish_run_events = publish_run_events
        self._dead_letter = dead_letter
        self._on_commit = on_commit
        self._applied = AppliedRuns() if remember_runs else None
        if self._applied is not None:
            ctx.services[_APPLIED_RUNS] = self._applied

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        fires: list[FireRequested] = []
        for message in messages:
            try:
                _, fire = decode_event(
                    message,
                    FireRequested,
                    expected_type=FIRE_REQUESTED,
                    max_depth=self._ctx.settings.json_max_depth,
                )
            except UndecodableEvent as exc:
                _CONSUMED["undecodable"].inc()
                skip_record("fires", message.key, exc)
                await self._dead_letter(message, str(exc))
                continue
            fires.append(fire)
        if not fires:
            return
        changes = StatusChanges(self._ctx.settings, publish_to_bus=self._publish_run_events)
        async with self._ctx.db.write() as conn:
            now = self._ctx.clock()
            rows = await apply_fires(conn, fires, now, changes)
            await changes.save(conn)
        if self._applied is not None:
            self._applied.remember(rows, fires)
        self._on_commit(bool(changes.outbox))


async def apply_fires(
    conn: AsyncConnection, fires: Sequence[FireRequested], now: datetime, changes: StatusChanges
) -> list[dict[str, Any]]:
    """Create the runs of `fires` that do not exist yet, in order, under the routines' policies;
    the rows made."""
    # Lock first, then look: a copy of the same fire applied concurrently by another
    # consumer has then either committed its run (and we see it) or not started.
    routines = await store.lock_routines(conn, (fire.routine_id for fire in fires))
    fires = [with_default_payload(fire, routines.get(fire.routine_id)) for fire in fires]
    existing = await store.existing_run_ids(conn, (fire.run_id for fire in fires))
    overridden = {f.routine_id for f in fires if f.overlap_policy is not None}
    overlaps = {f.routine_id: f.overlap_policy for f in fires if f.overlap_policy is not None}
    active = await store.active_runs(
        conn,
        (
            rid
            for rid, r in routines.items()
            if r["concurrency_policy"] != ConcurrencyPolicy.ALWAYS_ENQUEUE or rid in overridden
        ),
        ACTIVE_RUN_STATUSES,
    )
    waiting = await overlap.waiting_runs(
        conn,
        (
            rid
            for rid, r in routines.items()
            if (overlaps.get(rid) or r["concurrency_policy"]) in _BUFFERING
        ),
    )
    # A task checks the init params a payload asks for and resolves a dispatched run's
    # parameters for its executor.
    tasks = await task_store.get_tasks(
        conn, (r["task_id"] for r in routines.values() if r["task_id"])
    )
    rows: list[dict[str, Any]] = []
    origins = {f.fire_id: "backfill" for f in fires if f.backfill_id is not None}
    written: list[dict[str, Any]] = []
    routines_fired: dict[str, datetime] = {}
    triggers_fired: dict[str, datetime] = {}
    # Counted per batch once its runs are written: a counter takes a lock per call.
    created: dict[RunStatus, int] = {}
    for fire in fires:
        if fire.run_id in existing:
            _CONSUMED["duplicate"].inc()
            continue
        existing.add(fire.run_id)
        routine = routines.get(fire.routine_id)
        if routine is None or routine["status"] == RoutineStatus.ARCHIVED:
            _CONSUMED["refused"].inc()
            log.info(
                "fire refused: routine archived or gone",
                routine_id=fire.routine_id,
                fire_id=fire.fire_id,
            )
            continue
        decision = decide_first_status(
            RoutineStatus(routine["status"]),
            fire.overlap_policy or ConcurrencyPolicy(routine["concurrency_policy"]),
            fire.source,
            active.get(fire.routine_id),
            waiting.get(fire.routine_id),
        )
        rendered = render_run(fire, routine, now)
        if decision.status is not RunStatus.SKIPPED or decision.coalesced_into_run_id:
            # A paused routine's skip says so; otherwise a condition that does not hold,
            # init params the task refuses, or a variable without a fitting value skip
            # the fire before any policy applies.
            trigger_condition = (routine["trigger_conditions"] or {}).get(fire.trigger_id or "")
            reason = (
                condition_skip_reason(fire, routine["condition"], trigger_condition)
                or payload_params_problem(
                    tasks.get(routine["task_id"] or ""), routine, fire.payload
                )
                or rendered.problem
            )
            if reason is not None:
                decision = Decision(RunStatus.SKIPPED, reason)
        row = _run_row(fire, routine, decision.status, now, rendered)
        row |= {"reason": decision.reason, "coalesced_into_run_id": decision.coalesced_into_run_id}
        if decision.cancels_run_id is not None:
            if any(pending["id"] == decision.cancels_run_id for pending in rows):
                # The run to cancel was made earlier in this batch: write it first.
                await store.insert_runs(conn, rows)
                written.extend(rows)
                rows.clear()
            await overlap.cancel_replaced_run(
                conn, decision.cancels_run_id, row["id"], changes, now
            )
        if decision.status is RunStatus.RECEIVED:
            waiting.setdefault(fire.routine_id, row["id"])
        if decision.dispatches:
            active[fire.routine_id] = row["id"]
            if routine["dispatch"].get("type") == "http":
                changes.dispatch_http(row, now)
        rows.append(row)
        executor = (
            executor_context(routine, tasks.get(routine["task_id"] or ""), fire.payload)
            if decision.dispatches
            else None
        )
        changes.record(row, now, executor)
        created[decision.status] = created.get(decision.status, 0) + 1
        if fire.source is not RunSource.CHAIN:
            routines_fired[fire.routine_id] = fire.requested_at
            if fire.trigger_id is not None:
                triggers_fired[fire.trigger_id] = fire.requested_at
    await store.insert_runs(conn, rows)
    written.extend(rows)
    if created:
        _CONSUMED["run_created"].inc(sum(created.values()))
        for status, count in created.items():
            _RUNS[status].inc(count)
    await store.mark_fired(conn, routines_fired, triggers_fired)
    # Last: the trigger rows mark_fired updates are also the scheduler's to update, so
    # the time between locking the routines and updating them is kept as short as before.
    await occurrences.record_runs(conn, written, origins)
    return written


def with_default_payload(fire: FireRequested, routine: Any) -> FireRequested:
    """The fire with its routine's default payload merged under its own payload."""
    defaults = routine["default_payload"] if routine is not None else None
    if not defaults:
        return fire
    return fire.model_copy(update={"payload": {**defaults, **(fire.payload or {})}})


def _run_row(
    fire: FireRequested, routine: Any, status: RunStatus, now: datetime, rendered: RenderedRun
) -> dict[str, Any]:
    dispatched = status is RunStatus.DISPATCHED
    final = not dispatched and status is not RunStatus.RECEIVED
    return {
        "id": fire.run_id,
        "company_id": routine["company_id"],
        "routine_id": routine["id"],
        "trigger_id": fire.trigger_id,
        "source": fire.source.value,
        "status": status.value,
        "idempotency_key": fire.idempotency_key,
        "fire_id": fire.fire_id,
        "payload": rendered.payload,
        "title": rendered.title,
        "description": rendered.description,
        "scheduled_for": fire.scheduled_for,
        # Seed 000 tags every run with the routine whose fire made it: the upstream
        # routine for a chain fire, the routine itself otherwise; a task's direct run
        # (its one-shot routine) was fired by no routine.
        "triggered_by_routine_id": fire.triggered_by_routine_id
        or (None if routine.get("one_shot") else routine["id"]),
        "attempt": 1,
        "attempts": [
            {
                "attempt": 1,
                "status": status.value,
                "startedAt": batch_iso(now) if dispatched else None,
                "finishedAt": batch_iso(now) if final else None,
            }
        ],
        "output": None,
        "error": None,
        "created_at": now,
        "updated_at": now,
        "dispatched_at": now if dispatched else None,
        "finished_at": now if final else None,
        "deadline_at": now + timedelta(seconds=routine["run_timeout_sec"]) if dispatched else None,
        "started_at": None,
        "next_attempt_at": None,
        "linked_issue_id": None,
    }
