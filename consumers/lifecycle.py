"""A run after its first status: delivery results, completion, cancel, timeout, retries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.chains import fire_successors
from consumers.failures import pause_after_failures
from consumers.overlap import start_next_waiting
from consumers.policy import retry_delay_sec
from consumers.records import StatusChanges, attempts_with, executor_context
from firehook.metrics import RUNS_BY_STATUS
from firehook.store import routines as routine_store
from firehook.store import runs as store
from firehook.store import tasks as task_store
from schemas.common import ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES, RunStatus, utc_iso
from schemas.errors import Conflict, NotFound

_ACTIVE = [status.value for status in ACTIVE_RUN_STATUSES]
_OPEN = [*_ACTIVE, RunStatus.RETRY_PENDING.value, RunStatus.RECEIVED.value]
_BATCH = 200
RUN_NOT_FOUND = "Run not found"


async def _link(
    conn: AsyncConnection, run: Mapping[Any, Any], issue_id: str | None, now: datetime
) -> Mapping[Any, Any]:
    if issue_id is None or run["linked_issue_id"] == issue_id:
        return run
    values = {"linked_issue_id": issue_id, "updated_at": now}
    await store.update_run(conn, run["id"], values)
    return dict(run) | values


async def link_issue(
    conn: AsyncConnection,
    run_id: str,
    issue_id: str | None,
    changes: StatusChanges,
    now: datetime,
    *,
    running: bool = False,
    attempt: int | None = None,
) -> dict[str, Any]:
    """The executor names the work item it made for the run (Firehook makes none itself);
    with `running`, it also reports that it started, moving a dispatched run to running."""
    run = await store.get_run(conn, run_id, for_update=True)
    if run is None:
        raise NotFound(RUN_NOT_FOUND)
    if attempt is not None and attempt != run["attempt"]:
        raise Conflict(f"attempt {attempt} is not the run's current attempt {run['attempt']}")
    linked = await _link(conn, run, issue_id, now)
    if running and linked["status"] == RunStatus.DISPATCHED:
        entry = {
            "attempt": run["attempt"],
            "status": RunStatus.RUNNING.value,
            "startedAt": utc_iso(run["dispatched_at"] or now),
        }
        values = {"status": RunStatus.RUNNING.value, "started_at": now}
        started = await _transition(
            conn, linked, values, entry, changes, now, from_statuses=[RunStatus.DISPATCHED.value]
        )
        if started is not None:
            return started
    return dict(linked)


async def _transition(
    conn: AsyncConnection,
    run: Mapping[Any, Any],
    values: dict[str, Any],
    attempt_entry: dict[str, Any] | None,
    changes: StatusChanges,
    now: datetime,
    *,
    from_statuses: list[str],
    executor: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Move a run to a new status if it is still in `from_statuses`; the new values, or None."""
    if attempt_entry is not None:
        values["attempts"] = attempts_with(run["attempts"], attempt_entry)
    values["updated_at"] = now
    if not await store.update_run(conn, run["id"], values, only_if_status=from_statuses):
        return None
    updated = dict(run) | values
    changes.record(updated, now, executor)
    RUNS_BY_STATUS.labels(status=updated["status"]).inc()
    return updated


async def _end_attempt(
    conn: AsyncConnection,
    run: Mapping[Any, Any],
    outcome: RunStatus,
    changes: StatusChanges,
    now: datetime,
    *,
    output: Any = None,
    error: str | None = None,
    http_status: int | None = None,
) -> dict[str, Any] | None:
    """Finish the current attempt: final status, or `retry_pending` if the policy allows."""
    entry: dict[str, Any] = {
        "attempt": run["attempt"],
        "status": outcome.value,
        "startedAt": utc_iso(run["dispatched_at"]) if run["dispatched_at"] else None,
        "finishedAt": utc_iso(now),
        "error": error,
        "httpStatus": http_status,
    }
    delay = None
    if outcome is not RunStatus.SUCCEEDED:
        routine = await routine_store.get_routine(conn, run["routine_id"])
        delay = retry_delay_sec(routine["retry"], run["attempt"]) if routine else None
    if delay is not None:
        values = {
            "status": RunStatus.RETRY_PENDING.value,
            "next_attempt_at": now + timedelta(seconds=delay),
            "deadline_at": None,
            "error": error,
        }
    else:
        values = {
            "status": outcome.value,
            "output": output,
            "error": error,
            "finished_at": now,
            "deadline_at": None,
            "next_attempt_at": None,
        }
    updated = await _transition(conn, run, values, entry, changes, now, from_statuses=_ACTIVE)
    if updated is not None and delay is None:
        # The run's final status: its chain successors fire in this same transaction.
        await fire_successors(conn, updated, changes, now)
        await pause_after_failures(conn, updated, changes, now)
        await start_next_waiting(conn, updated, changes, now)
    return updated


async def complete_run(
    conn: AsyncConnection,
    run_id: str,
    status: RunStatus,
    changes: StatusChanges,
    now: datetime,
    *,
    output: Any = None,
    error: str | None = None,
    attempt: int | None = None,
    linked_issue_id: str | None = None,
) -> dict[str, Any]:
    """An executor reports the end of a run (API call, run-results topic, or sync HTTP reply)."""
    run = await store.get_run(conn, run_id, for_update=True)
    if run is None:
        raise NotFound(RUN_NOT_FOUND)
    if attempt is not None and attempt != run["attempt"]:
        raise Conflict(f"attempt {attempt} is not the run's current attempt {run['attempt']}")
    if run["status"] not in _ACTIVE:
        raise Conflict(f"run is {run['status']}; only a dispatched or running run can complete")
    linked = await _link(conn, run, linked_issue_id, now)
    updated = await _end_attempt(conn, linked, status, changes, now, output=output, error=error)
    if updated is None:
        raise Conflict("run changed status concurrently; fetch it again")
    return updated


async def cancel_run(
    conn: AsyncConnection, run_id: str, changes: StatusChanges, now: datetime
) -> dict[str, Any]:
    run = await store.get_run(conn, run_id, for_update=True)
    if run is None:
        raise NotFound(RUN_NOT_FOUND)
    if run["status"] in FINAL_RUN_STATUSES:
        raise Conflict(f"run is already {run['status']}")
    entry = {
        "attempt": run["attempt"],
        "status": RunStatus.CANCELLED.value,
        "finishedAt": utc_iso(now),
    }
    values = {
        "status": RunStatus.CANCELLED.value,
        "finished_at": now,
        "deadline_at": None,
        "next_attempt_at": None,
    }
    updated = await _transition(conn, run, values, entry, changes, now, from_statuses=_OPEN)
    if updated is None:
        raise Conflict("run changed status concurrently; fetch it again")
    await start_next_waiting(conn, updated, changes, now)
    return updated


async def claim_run(
    conn: AsyncConnection, run_id: str, attempt: int, changes: StatusChanges, now: datetime
) -> dict[str, Any]:
    """An executor takes one attempt of a dispatched run: `running`, once. A second claim
    of the same attempt (another member of the group, a redelivery) is a Conflict."""
    run = await store.get_run(conn, run_id, for_update=True)
    if run is None:
        raise NotFound("run not found")
    if run["attempt"] != attempt or run["status"] != RunStatus.DISPATCHED.value:
        raise Conflict(
            f"attempt {attempt} cannot be claimed: the run is {run['status']} "
            f"at attempt {run['attempt']}"
        )
    entry = {
        "attempt": attempt,
        "status": RunStatus.RUNNING.value,
        "startedAt": utc_iso(run["dispatched_at"] or now),
    }
    values = {"status": RunStatus.RUNNING.value, "started_at": now}
    updated = await _transition(
        conn, run, values, entry, changes, now, from_statuses=[RunStatus.DISPATCHED.value]
    )
    if updated is None:
        raise Conflict("run changed status concurrently; fetch it again")
    return updated


async def mark_running(
    conn: AsyncConnection, run: RowMapping, changes: StatusChanges, now: datetime, http_status: int
) -> dict[str, Any] | None:
    """The executor accepted the run and will report completion later."""
    entry = {
        "attempt": run["attempt"],
        "status": RunStatus.RUNNING.value,
        "startedAt": utc_iso(run["dispatched_at"] or now),
        "httpStatus": http_status,
    }
    values = {"status": RunStatus.RUNNING.value, "started_at": now}
    return await _transition(
        conn, run, values, entry, changes, now, from_statuses=[RunStatus.DISPATCHED.value]
    )


async def record_undeliverable(
    conn: AsyncConnection,
    run: RowMapping,
    changes: StatusChanges,
    now: datetime,
    error: str,
    http_status: int | None,
) -> dict[str, Any] | None:
    return await _end_attempt(
        conn,
        run,
        RunStatus.FAILED,
        changes,
        now,
        error=f"undeliverable: {error}",
        http_status=http_status,
    )


async def expire_overdue_runs(conn: AsyncConnection, changes: StatusChanges, now: datetime) -> int:
    """Runs past their `runTimeoutSec` become `timed_out` (or wait for a retry)."""
    count = 0
    for run in await store.runs_past_deadline(conn, _ACTIVE, now, _BATCH):
        if (
            await _end_attempt(conn, run, RunStatus.TIMED_OUT, changes, now, error="run timed out")
            is not None
        ):
            count += 1
    return count


async def start_due_retries(conn: AsyncConnection, changes: StatusChanges, now: datetime) -> int:
    """Runs whose backoff has elapsed begin their next attempt."""
    count = 0
    for run in await store.runs_due_for_retry(conn, RunStatus.RETRY_PENDING.value, now, _BATCH):
        routine = await routine_store.get_routine(conn, run["routine_id"])
        if routine is None:
            continue
        attempt = run["attempt"] + 1
        entry = {
            "attempt": attempt,
            "status": RunStatus.DISPATCHED.value,
            "startedAt": utc_iso(now),
        }
        values = {
            "status": RunStatus.DISPATCHED.value,
            "attempt": attempt,
            "dispatched_at": now,
            "started_at": None,
            "next_attempt_at": None,
            "deadline_at": now + timedelta(seconds=routine["run_timeout_sec"]),
        }
        updated = await _transition(
            conn,
            dict(run) | {"attempt": attempt},
            values,
            entry,
            changes,
            now,
            from_statuses=[RunStatus.RETRY_PENDING.value],
            executor=executor_context(
                routine,
                await task_store.get_task(conn, routine["task_id"]) if routine["task_id"] else None,
                run["payload"],
            ),
        )
        if updated is not None:
            count += 1
            if routine["dispatch"].get("type") == "http":
                changes.dispatch_http(updated, now)
    return count
