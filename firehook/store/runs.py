"""Runs, the outbox and the run-event log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.row_insert import RowInsert
from firehook.store.tables import outbox, routines, run_events, runs, triggers

# The consumer writes a run and its first event for every fire.
_INSERT_RUNS = RowInsert(runs)
_INSERT_RUN_EVENTS = RowInsert(run_events)


async def insert_runs(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert runs; one already there (same id, or same routine and key) is left alone."""
    await _INSERT_RUNS.execute(conn, rows)


# Built once, with the ids bound at execution: building a statement and its cache key
# costs more than running it, and these run for every batch of fires.
_EXISTING_RUN_IDS = select(runs.c.id).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_RUNS_BY_ID = select(runs).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_ROUTINES_BY_ID = (
    select(routines)
    .where(routines.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(routines.c.id)
)
_LOCKED_ROUTINES_BY_ID = _ROUTINES_BY_ID.with_for_update()
_ACTIVE_RUNS = (
    select(runs.c.routine_id, runs.c.id)
    .where(
        runs.c.routine_id.in_(bindparam("ids", expanding=True)),
        runs.c.status.in_(bindparam("statuses", expanding=True)),
    )
    .order_by(runs.c.created_at.desc())
)


async def existing_run_ids(conn: AsyncConnection, run_ids: Iterable[str]) -> set[str]:
    ids = list(set(run_ids))
    if not ids:
        return set()
    result = await conn.execute(_EXISTING_RUN_IDS, {"ids": ids})
    return set(result.scalars())


async def get_run(
    conn: AsyncConnection, run_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(runs).where(runs.c.id == run_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def get_run_by_key(conn: AsyncConnection, routine_id: str, key: str) -> RowMapping | None:
    result = await conn.execute(
        select(runs).where(runs.c.routine_id == routine_id, runs.c.idempotency_key == key)
    )
    return result.mappings().first()


async def lock_routines(conn: AsyncConnection, routine_ids: Iterable[str]) -> dict[str, RowMapping]:
    """The routines, row-locked on PostgreSQL so that policy decisions never race.

    Locks are taken in id order, so two consumers never deadlock on them. (SQLite
    has one writer at a time: its transaction is the lock.)
    """
    ids = sorted(set(routine_ids))
    if not ids:
        return {}
    query = _LOCKED_ROUTINES_BY_ID if conn.dialect.name == "postgresql" else _ROUTINES_BY_ID
    return {row["id"]: row for row in (await conn.execute(query, {"ids": ids})).mappings()}


async def active_runs(
    conn: AsyncConnection, routine_ids: Iterable[str], statuses: Iterable[str]
) -> dict[str, str]:
    """For each routine with an active run, the oldest such run's id."""
    ids = list(set(routine_ids))
    if not ids:
        return {}
    result = await conn.execute(_ACTIVE_RUNS, {"ids": ids, "statuses": list(statuses)})
    return {routine_id: run_id for routine_id, run_id in result.all()}


async def get_runs(conn: AsyncConnection, run_ids: Iterable[str]) -> dict[str, RowMapping]:
    ids = list(set(run_ids))
    if not ids:
        return {}
    result = await conn.execute(_RUNS_BY_ID, {"ids": ids})
    return {row["id"]: row for row in result.mappings()}


async def active_linked_issues(
    conn: AsyncConnection, routine_ids: Iterable[str], statuses: Iterable[str]
) -> dict[str, str]:
    """For each routine whose active run reported a work item, that item's id (newest run)."""
    ids = list(set(routine_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(runs.c.routine_id, runs.c.linked_issue_id)
        .where(
            runs.c.routine_id.in_(ids),
            runs.c.status.in_(list(statuses)),
            runs.c.linked_issue_id.is_not(None),
        )
        .order_by(runs.c.created_at)
    )
    return {routine_id: issue_id for routine_id, issue_id in result.all()}


async def update_run(
    conn: AsyncConnection,
    run_id: str,
    values: Mapping[str, Any],
    *,
    only_if_status: Iterable[str] | None = None,
) -> bool:
    """Update a run, optionally only while it is in one of `only_if_status`; True if it was."""
    query = update(runs).where(runs.c.id == run_id)
    if only_if_status is not None:
        query = query.where(runs.c.status.in_(list(only_if_status)))
    result = await conn.execute(query.values(**values))
    return result.rowcount == 1


async def list_runs(
    conn: AsyncConnection,
    routine_id: str,
    *,
    status: str | None,
    source: str | None,
    limit: int,
    offset: int,
    statuses: Sequence[str] | None = None,
) -> tuple[Sequence[RowMapping], int]:
    """A page of the routine's runs, newest first, and the total; `statuses` narrows to
    any of several statuses."""
    where = and_(
        runs.c.routine_id == routine_id,
        *([runs.c.status == status] if status else []),
        *([runs.c.status.in_(list(statuses))] if statuses is not None else []),
        *([runs.c.source == source] if source else []),
    )
    total = (await conn.execute(select(func.count()).select_from(runs).where(where))).scalar_one()
    rows = await conn.execute(
        select(runs)
        .where(where)
        .order_by(runs.c.created_at.desc(), runs.c.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.mappings().all(), int(total)


async def runs_past_deadline(
    conn: AsyncConnection, statuses: Iterable[str], now: datetime, limit: int
) -> Sequence[RowMapping]:
    result = await conn.execute(
        select(runs)
        .where(runs.c.status.in_(list(statuses)), runs.c.deadline_at <= now)
        .order_by(runs.c.deadline_at)
        .limit(limit)
    )
    return result.mappings().all()


async def runs_due_for_retry(
    conn: AsyncConnection, status: str, now: datetime, limit: int
) -> Sequence[RowMapping]:
    result = await conn.execute(
        select(runs)
        .where(runs.c.status == status, runs.c.next_attempt_at <= now)
        .order_by(runs.c.next_attempt_at)
        .limit(limit)
    )
    return result.mappings().all()


async def earliest_deadline(
    conn: AsyncConnection, active: Iterable[str], retry_status: str
) -> datetime | None:
    """The next instant at which a run times out or is due for a retry."""
    deadline = (
        await conn.execute(
            select(func.min(runs.c.deadline_at)).where(runs.c.status.in_(list(active)))
        )
    ).scalar_one()
    retry = (
        await conn.execute(
            select(func.min(runs.c.next_attempt_at)).where(runs.c.status == retry_status)
        )
    ).scalar_one()
    candidates = [value for value in (deadline, retry) if value is not None]
    return min(candidates) if candidates else None


def _mark_fired_statement(table: Any) -> Any:
    at = bindparam("b_at", type_=table.c.last_fired_at.type)
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            or_(table.c.last_fired_at.is_(None), table.c.last_fired_at < at),
        )
        .values(last_fired_at=at)
    )


# Built once: the consumer runs these for every batch.
_MARK_ROUTINE_FIRED = _mark_fired_statement(routines)
_MARK_TRIGGER_FIRED = _mark_fired_statement(triggers)


async def mark_fired(
    conn: AsyncConnection,
    routines_fired: Mapping[str, datetime],
    triggers_fired: Mapping[str, datetime],
) -> None:
    """Record `lastFiredAt` on routines and triggers, never moving it back."""
    if routines_fired:
        await conn.execute(
            _MARK_ROUTINE_FIRED, [{"b_id": k, "b_at": at} for k, at in routines_fired.items()]
        )
    if triggers_fired:
        await conn.execute(
            _MARK_TRIGGER_FIRED, [{"b_id": k, "b_at": at} for k, at in triggers_fired.items()]
        )


# -- the outbox -------------------------------------------------------------------------


async def add_to_outbox(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(outbox), list(rows))


async def claim_outbox(
    conn: AsyncConnection, claimant: str, now: datetime, lease: timedelta, limit: int
) -> Sequence[RowMapping]:
    """Lease up to `limit` messages that nobody holds; a crashed holder's lease runs out.

    One statement: the oldest free rows are leased and returned. On PostgreSQL, rows
    another relay is leasing at this moment are skipped rather than waited for.
    """
    free = or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)
    oldest = select(outbox.c.id).where(free).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(oldest), free)
        .values(claimed_by=claimant, claimed_until=now + lease)
        .returning(*outbox.c)
    )
    return sorted(result.mappings().all(), key=lambda row: int(row["id"]))


async def release_outbox(conn: AsyncConnection, ids: Sequence[int]) -> None:
    """End the lease of messages that could not be sent, so the next pass retries them."""
    if ids:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .values(claimed_by=None, claimed_until=None)
        )


async def remove_from_outbox(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(delete(outbox).where(outbox.c.id.in_(list(ids))))


async def outbox_size(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


# -- run events, for Server-Sent Events -------------------------------------------------


async def add_run_events(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _INSERT_RUN_EVENTS.execute(conn, rows)


async def run_events_after(
    conn: AsyncConnection, company_id: str, after_seq: int, limit: int
) -> Sequence[RowMapping]:
    result = await conn.execute(
        select(run_events)
        .where(run_events.c.company_id == company_id, run_events.c.seq > after_seq)
        .order_by(run_events.c.seq)
        .limit(limit)
    )
    return result.mappings().all()
