"""The overlap policies that act on other runs: buffered runs wait (status `received`)
and start, oldest first, when the routine's active run ends; `cancel_other` cancels the
active run in favour of the new one, and an HTTP executor gets a signed cancel call.

Lock order: a run's end holds its run row and then takes the routine's lock; applying
fires holds the routine's lock and never waits on a run row (a run being ended
concurrently is skipped, not waited for), so the two never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.records import StatusChanges, attempts_with, cancel_http
from firehook.metrics import RUNS_BY_STATUS
from firehook.store import runs as store
from firehook.store.tables import runs
from schemas.common import ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES, RunStatus, utc_iso

_ACTIVE = [status.value for status in ACTIVE_RUN_STATUSES]
_FINAL = {status.value for status in FINAL_RUN_STATUSES}
_WAITING = RunStatus.RECEIVED.value


async def waiting_runs(conn: AsyncConnection, routine_ids: Iterable[str]) -> dict[str, str]:
    """For each routine with runs waiting their turn, the oldest one's id."""
    ids = list(set(routine_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(runs.c.routine_id, runs.c.id)
        .where(runs.c.routine_id.in_(ids), runs.c.status == _WAITING)
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    )
    return {routine_id: run_id for routine_id, run_id in result.all()}


async def _update(
    conn: AsyncConnection,
    run: Mapping[Any, Any],
    values: dict[str, Any],
    entry: dict[str, Any],
    changes: StatusChanges,
    now: datetime,
    from_statuses: list[str],
) -> dict[str, Any] | None:
    values = values | {"attempts": attempts_with(run["attempts"], entry), "updated_at": now}
    if not await store.update_run(conn, run["id"], values, only_if_status=from_statuses):
        return None
    updated = dict(run) | values
    changes.record(updated, now)
    RUNS_BY_STATUS.labels(status=updated["status"]).inc()
    return updated


async def cancel_replaced_run(
    conn: AsyncConnection, run_id: str, replacement_id: str, changes: StatusChanges, now: datetime
) -> bool:
    """Cancel the active run `run_id` for `replacement_id` (cancel_other); its executor
    learns it from the run's `cancelled` event. False if it is ending concurrently."""
    query = select(runs).where(runs.c.id == run_id, runs.c.status.in_(_ACTIVE))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    run = (await conn.execute(query)).mappings().first()
    if run is None:
        return False
    values = {
        "status": RunStatus.CANCELLED.value,
        "reason": f"cancelled for run {replacement_id} (cancel_other)",
        "finished_at": now,
        "deadline_at": None,
        "next_attempt_at": None,
    }
    entry = {"attempt": run["attempt"], "status": RunStatus.CANCELLED.value}
    entry["finishedAt"] = utc_iso(now)
    cancelled = await _update(conn, run, values, entry, changes, now, _ACTIVE)
    if cancelled is None:
        return False
    dispatch = (await store.lock_routines(conn, [run["routine_id"]]))[run["routine_id"]]["dispatch"]
    if dispatch.get("type") == "http":
        cancel_http(changes, cancelled, now)
    return True


async def start_next_waiting(
    conn: AsyncConnection, ended: Mapping[str, Any], changes: StatusChanges, now: datetime
) -> dict[str, Any] | None:
    """After a run of a routine reached a final status: dispatch the routine's oldest
    waiting run, unless another run is active. The started run, or None.

    Routines without waiting runs are not locked, so ending runs costs what it did. A
    run made to wait by a fire applied concurrently with this end, and so not seen
    here, is started by the supervisor's next pass (`start_stranded_runs`)."""
    if ended["status"] not in _FINAL:
        return None
    if not await waiting_runs(conn, [ended["routine_id"]]):
        return None
    return await _start_oldest_waiting(conn, ended["routine_id"], changes, now)


async def start_stranded_runs(conn: AsyncConnection, changes: StatusChanges, now: datetime) -> int:
    """Dispatch the oldest waiting run of every routine that has no active run; how many."""
    waiting = runs.alias("waiting")
    active = runs.alias("active")
    query = (
        select(waiting.c.routine_id)
        .where(
            waiting.c.status == _WAITING,
            ~select(active.c.id)
            .where(active.c.routine_id == waiting.c.routine_id, active.c.status.in_(_ACTIVE))
            .exists(),
        )
        .distinct()
        .limit(200)
    )
    routine_ids = sorted((await conn.execute(query)).scalars())
    started = 0
    for routine_id in routine_ids:
        if await _start_oldest_waiting(conn, routine_id, changes, now) is not None:
            started += 1
    return started


async def _start_oldest_waiting(
    conn: AsyncConnection, routine_id: str, changes: StatusChanges, now: datetime
) -> dict[str, Any] | None:
    routine = (await store.lock_routines(conn, [routine_id])).get(routine_id)
    if routine is None:
        return None
    if await store.active_runs(conn, [routine["id"]], _ACTIVE):
        return None
    waiting_id = (await waiting_runs(conn, [routine["id"]])).get(routine["id"])
    if waiting_id is None:
        return None
    run = await store.get_run(conn, waiting_id)
    assert run is not None
    values = {
        "status": RunStatus.DISPATCHED.value,
        "reason": None,
        "dispatched_at": now,
        "deadline_at": now + timedelta(seconds=routine["run_timeout_sec"]),
    }
    entry = {"attempt": run["attempt"], "status": RunStatus.DISPATCHED.value}
    entry["startedAt"] = utc_iso(now)
    started = await _update(conn, run, values, entry, changes, now, [_WAITING])
    if started is not None and routine["dispatch"].get("type") == "http":
        changes.dispatch_http(started, now)
    return started
