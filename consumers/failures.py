"""Pause on failure: a routine with `pauseAfterFailures: N` pauses itself after N
consecutive failed runs, says why on the routine, and announces it on the event stream."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.records import StatusChanges
from firehook.store.tables import routines, runs
from schemas.common import RoutineStatus, RunStatus, utc_iso

ROUTINE_PAUSED = "dev.firehook.routine.paused"
_FAILED = frozenset({RunStatus.FAILED.value, RunStatus.TIMED_OUT.value})
# Runs that executed and ended: skipped, coalesced and cancelled ones neither break
# nor extend a streak of failures.
_ENDED = [RunStatus.SUCCEEDED.value, *_FAILED]


async def pause_after_failures(
    conn: AsyncConnection, run: Mapping[str, Any], changes: StatusChanges, now: datetime
) -> bool:
    """After `run` reached its final status: pause its routine if this made N failures in a
    row; True when it did."""
    if run["status"] not in _FAILED:
        return False
    routine = (
        (
            await conn.execute(
                select(routines.c.status, routines.c.pause_after_failures).where(
                    routines.c.id == run["routine_id"]
                )
            )
        )
        .mappings()
        .first()
    )
    if routine is None or routine["status"] != RoutineStatus.ACTIVE:
        return False
    limit = routine["pause_after_failures"]
    if not limit:
        return False
    latest = (
        (
            await conn.execute(
                select(runs.c.status)
                .where(
                    runs.c.routine_id == run["routine_id"],
                    runs.c.status.in_(_ENDED),
                    runs.c.finished_at.is_not(None),
                )
                .order_by(runs.c.finished_at.desc(), runs.c.id.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if len(latest) < limit or not all(status in _FAILED for status in latest):
        return False
    reason = f"paused after {limit} consecutive failed runs; the last was run {run['id']}"
    await conn.execute(
        update(routines)
        .where(routines.c.id == run["routine_id"], routines.c.status == RoutineStatus.ACTIVE)
        .values(status=RoutineStatus.PAUSED.value, paused_reason=reason, updated_at=now)
    )
    changes.events.append(
        {
            "company_id": run["company_id"],
            "routine_id": run["routine_id"],
            "run_id": run["id"],
            "ce_id": f"{run['id']}:routine.paused",
            "type": ROUTINE_PAUSED,
            "data": {
                "routineId": run["routine_id"],
                "companyId": run["company_id"],
                "runId": run["id"],
                "reason": reason,
                "consecutiveFailures": limit,
                "pausedAt": utc_iso(now),
            },
            "created_at": now,
        }
    )
    return True
