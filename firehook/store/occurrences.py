"""The occurrence ledger: one row per tick of a schedule trigger, whatever became of it.

The scheduler records the ticks it does not fire (missed, excluded, skipped while
paused) with insert-or-ignore; the consumer records the ticks that became runs in
the transaction that creates the run, overwriting what a scheduler wrote. So every
replica writes the same row for a tick, and a tick that has a run says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.metrics import SCHEDULE_OCCURRENCES
from firehook.store.tables import schedule_occurrences as ledger
from schemas.common import RunSource, RunStatus


class Outcome(StrEnum):
    FIRED = "fired"
    SKIPPED = "skipped"
    COALESCED = "coalesced"
    MISSED = "missed"
    EXCLUDED = "excluded"


_OUTCOME_OF_STATUS = {
    RunStatus.DISPATCHED.value: Outcome.FIRED,
    RunStatus.SKIPPED.value: Outcome.SKIPPED,
    RunStatus.COALESCED.value: Outcome.COALESCED,
}
_COUNTERS = {outcome: SCHEDULE_OCCURRENCES.labels(outcome=outcome.value) for outcome in Outcome}
# Rows per statement: ten parameters each stays far below either backend's limit.
_CHUNK = 500
_UPDATED = ("outcome", "reason", "run_id", "handled_at", "lateness_sec", "origin")


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(ledger)


def tick_record(
    trigger: Any,
    scheduled_for: datetime,
    outcome: Outcome,
    reason: str,
    now: datetime,
    origin: str = "scheduler",
) -> dict[str, Any]:
    """A ledger row for a tick of `trigger` (a trigger row) that made no run."""
    return {
        "trigger_id": trigger["id"],
        "scheduled_for": scheduled_for,
        "routine_id": trigger["routine_id"],
        "company_id": trigger["company_id"],
        "outcome": outcome.value,
        "reason": reason[:500],
        "run_id": None,
        "handled_at": now,
        "lateness_sec": max(0.0, (now - scheduled_for).total_seconds()),
        "origin": origin,
    }


async def record_ticks(conn: AsyncConnection, records: Sequence[dict[str, Any]]) -> int:
    """Record ticks that made no run, unless the tick is recorded already; returns how many
    were new (only those are counted, so replicas recording the same tick count it once)."""
    written = 0
    for start in range(0, len(records), _CHUNK):
        chunk = records[start : start + _CHUNK]
        statement = (
            _insert(conn).values(list(chunk)).on_conflict_do_nothing().returning(ledger.c.outcome)
        )
        for outcome in (await conn.execute(statement)).scalars():
            _COUNTERS[Outcome(outcome)].inc()
            written += 1
    return written


async def record_runs(
    conn: AsyncConnection, rows: Iterable[dict[str, Any]], origins: dict[str, str]
) -> None:
    """Record the ticks that just became runs (new run rows of schedule fires).

    `origins` maps a fire id to where it came from (`scheduler` when absent)."""
    records = [
        {
            "trigger_id": row["trigger_id"],
            "scheduled_for": row["scheduled_for"],
            "routine_id": row["routine_id"],
            "company_id": row["company_id"],
            "outcome": _OUTCOME_OF_STATUS.get(row["status"], Outcome.FIRED).value,
            "reason": row["reason"],
            "run_id": row["id"],
            "handled_at": row["created_at"],
            "lateness_sec": max(0.0, (row["created_at"] - row["scheduled_for"]).total_seconds()),
            "origin": origins.get(row["fire_id"], "scheduler"),
        }
        for row in rows
        if row["source"] == RunSource.SCHEDULE
        and row["trigger_id"] is not None
        and row["scheduled_for"] is not None
    ]
    if not records:
        return
    statement = _insert(conn)
    statement = statement.on_conflict_do_update(
        index_elements=[ledger.c.trigger_id, ledger.c.scheduled_for],
        set_={name: statement.excluded[name] for name in _UPDATED},
    )
    await conn.execute(statement, records)
    for record in records:
        _COUNTERS[Outcome(record["outcome"])].inc()


async def list_occurrences(
    conn: AsyncConnection,
    *,
    trigger_id: str | None = None,
    routine_id: str | None = None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> tuple[Sequence[RowMapping], int]:
    """Occurrences of a trigger or of a routine's triggers with `start <= scheduledFor < end`,
    oldest first (the first `limit`), and how many there are."""
    where = []
    if trigger_id is not None:
        where.append(ledger.c.trigger_id == trigger_id)
    if routine_id is not None:
        where.append(ledger.c.routine_id == routine_id)
    if start is not None:
        where.append(ledger.c.scheduled_for >= start)
    if end is not None:
        where.append(ledger.c.scheduled_for < end)
    total = (
        await conn.execute(select(func.count()).select_from(ledger).where(*where))
    ).scalar_one()
    query = (
        select(ledger)
        .where(*where)
        .order_by(ledger.c.scheduled_for, ledger.c.trigger_id)
        .limit(limit)
    )
    return (await conn.execute(query)).mappings().all(), int(total)


async def prune_occurrences(conn: AsyncConnection, handled_before: datetime) -> int:
    """Forget occurrences handled before `handled_before` (the retention setting)."""
    result = await conn.execute(delete(ledger).where(ledger.c.handled_at < handled_before))
    return int(result.rowcount or 0)
