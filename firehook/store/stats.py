"""Aggregates over runs and schedules, computed from the rows by indexed queries.

Which statuses count as executed, succeeded or failed is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import routines, runs, triggers


@dataclass(frozen=True, slots=True)
class RunCounts:
    """A routine's runs by status, and its latest run that executed."""

    by_status: dict[str, int] = field(default_factory=dict)
    last_run: datetime | None = None
    last_status: str | None = None
    last_run_id: str | None = None


async def routine_run_counts(
    conn: AsyncConnection, routine_ids: Sequence[str], *, not_executed: Sequence[str]
) -> dict[str, RunCounts]:
    """Run counts of each routine (index routine_id, status) and its latest executed run."""
    if not routine_ids:
        return {}
    by_status: dict[str, dict[str, int]] = {routine_id: {} for routine_id in routine_ids}
    result = await conn.execute(
        select(runs.c.routine_id, runs.c.status, func.count())
        .where(runs.c.routine_id.in_(list(routine_ids)))
        .group_by(runs.c.routine_id, runs.c.status)
    )
    for routine_id, status, count in result.all():
        by_status[routine_id][status] = int(count)
    # One index probe per routine (routine_id, created_at), newest first.
    latest = (
        select(runs.c.created_at, runs.c.status)
        .where(runs.c.routine_id == routines.c.id, runs.c.status.not_in(list(not_executed)))
        .order_by(runs.c.created_at.desc(), runs.c.id.desc())
        .limit(1)
    )
    latest_at = latest.with_only_columns(runs.c.created_at).scalar_subquery()
    latest_status = latest.with_only_columns(runs.c.status).scalar_subquery()
    latest_id = latest.with_only_columns(runs.c.id).scalar_subquery()
    rows = await conn.execute(
        select(
            routines.c.id,
            latest_at.label("last_run"),
            latest_status.label("last_status"),
            latest_id.label("last_run_id"),
        ).where(routines.c.id.in_(list(routine_ids)))
    )
    counts: dict[str, RunCounts] = {}
    for routine_id, last_run, last_status, last_run_id in rows.all():
        counts[routine_id] = RunCounts(
            by_status[routine_id], _as_utc(last_run), last_status, last_run_id
        )
    return counts


async def routine_counts_by_status(conn: AsyncConnection, company_id: str) -> dict[str, int]:
    result = await conn.execute(
        select(routines.c.status, func.count())
        .where(routines.c.company_id == company_id)
        .group_by(routines.c.status)
    )
    return {status: int(count) for status, count in result.all()}


async def count_runs_since(
    conn: AsyncConnection, company_id: str, since: datetime, *, not_executed: Sequence[str]
) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(runs)
        .where(
            runs.c.company_id == company_id,
            runs.c.created_at >= since,
            runs.c.status.not_in(list(not_executed)),
        )
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Ended runs by status, and their mean duration in seconds."""

    by_status: dict[str, int]
    avg_duration_sec: float | None


async def outcomes(
    conn: AsyncConnection,
    *,
    statuses: Sequence[str],
    company_id: str | None = None,
    routine_id: str | None = None,
    since: datetime | None = None,
) -> Outcomes:
    """Runs that ended in one of `statuses`, of a company or a routine, created since `since`."""
    where: list[ColumnElement[bool]] = [runs.c.status.in_(list(statuses))]
    if company_id is not None:
        where.append(runs.c.company_id == company_id)
    if routine_id is not None:
        where.append(runs.c.routine_id == routine_id)
    if since is not None:
        where.append(runs.c.created_at >= since)
    seconds = _duration_seconds(conn.dialect.name)
    result = await conn.execute(
        select(runs.c.status, func.count(), func.sum(seconds), func.count(seconds))
        .where(and_(*where))
        .group_by(runs.c.status)
    )
    by_status: dict[str, int] = {}
    total_seconds, timed = 0.0, 0
    for status, count, summed, measured in result.all():
        by_status[status] = int(count)
        total_seconds += float(summed or 0.0)
        timed += int(measured)
    return Outcomes(by_status, total_seconds / timed if timed else None)


def _duration_seconds(dialect: str) -> ColumnElement[Any]:
    # From creation (the first dispatch) to the end, as a run's durationMs.
    if dialect == "postgresql":
        return func.extract("epoch", runs.c.finished_at - runs.c.created_at)
    return (func.julianday(runs.c.finished_at) - func.julianday(runs.c.created_at)) * 86_400.0


async def hourly_run_counts(
    conn: AsyncConnection,
    company_id: str,
    since: datetime,
    until: datetime,
    *,
    not_executed: Sequence[str],
) -> list[tuple[datetime, int]]:
    """Executed runs per UTC hour (the hour's start, count) in [since, until)."""
    if conn.dialect.name == "postgresql":
        hour = func.to_char(func.timezone("UTC", runs.c.created_at), "YYYY-MM-DD HH24")
    else:
        hour = func.strftime("%Y-%m-%d %H", runs.c.created_at)
    result = await conn.execute(
        select(hour.label("hour"), func.count())
        .where(
            runs.c.company_id == company_id,
            runs.c.created_at >= since,
            runs.c.created_at < until,
            runs.c.status.not_in(list(not_executed)),
        )
        .group_by(hour)
    )
    return [
        (datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC), int(count))
        for text, count in result.all()
    ]


async def schedule_triggers(
    conn: AsyncConnection,
    company_id: str,
    *,
    routine_statuses: Iterable[str],
    routine_id: str | None = None,
) -> Sequence[RowMapping]:
    """Enabled schedule triggers of the company's routines in `routine_statuses`, with the
    routine's title, ordered by routine."""
    where = [
        routines.c.company_id == company_id,
        routines.c.status.in_(list(routine_statuses)),
        triggers.c.kind == "schedule",
        triggers.c.enabled.is_(True),
    ]
    if routine_id is not None:
        where.append(routines.c.id == routine_id)
    result = await conn.execute(
        select(triggers, routines.c.title.label("routine_title"))
        .join(routines, routines.c.id == triggers.c.routine_id)
        .where(and_(*where))
        .order_by(routines.c.created_at, routines.c.id, triggers.c.created_at, triggers.c.id)
    )
    return result.mappings().all()


def _as_utc(value: datetime | str | None) -> datetime | None:
    # Scalar subqueries lose the column type on SQLite: the value comes back as text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
