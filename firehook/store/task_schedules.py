"""Task schedules: routines bound to a task whose only schedule trigger is a cron expression.

Seed 004 calls them schedules of a workflow. A routine is one while it is not archived,
names a task, and has exactly one schedule trigger, with a cron expression (webhook and
api triggers beside it do not matter). Each row is the routine's columns plus its cron
trigger's as `trigger_id`, `cron_expression`, `timezone`, `trigger_enabled` and
`trigger_next_run_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, not_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from firehook.store.tables import routines, runs, tasks, triggers

_cron = triggers.alias("cron_trigger")
_other = triggers.alias("other_schedule")
_COLUMNS = (
    routines,
    _cron.c.id.label("trigger_id"),
    _cron.c.cron_expression,
    _cron.c.timezone,
    _cron.c.enabled.label("trigger_enabled"),
    _cron.c.next_run_at.label("trigger_next_run_at"),
)
_JOIN = routines.join(
    _cron,
    and_(
        _cron.c.routine_id == routines.c.id,
        _cron.c.kind == "schedule",
        _cron.c.cron_expression.is_not(None),
    ),
)
_IS_TASK_SCHEDULE = and_(
    routines.c.task_id.is_not(None),
    routines.c.status != "archived",
    not_(
        exists().where(
            _other.c.routine_id == routines.c.id,
            _other.c.kind == "schedule",
            _other.c.id != _cron.c.id,
        )
    ),
)
# Enabled: the routine is active and its cron trigger enabled, so the schedule fires.
_ENABLED = and_(routines.c.status == "active", _cron.c.enabled.is_(True))


def _select(*where: ColumnElement[bool]) -> Any:
    return select(*_COLUMNS).select_from(_JOIN).where(_IS_TASK_SCHEDULE, *where)


async def get_task_schedule(conn: AsyncConnection, routine_id: str) -> RowMapping | None:
    """The routine as a task schedule, or None if it is not one."""
    result = await conn.execute(_select(routines.c.id == routine_id))
    return result.mappings().first()


async def schedule_of_task(
    conn: AsyncConnection, task_id: str, *, other_than: str | None = None
) -> RowMapping | None:
    """The task's schedule (other than routine `other_than`), if it has one."""
    where = [routines.c.task_id == task_id]
    if other_than is not None:
        where.append(routines.c.id != other_than)
    result = await conn.execute(_select(*where).order_by(routines.c.created_at).limit(1))
    return result.mappings().first()


async def list_task_schedules(
    conn: AsyncConnection,
    company_id: str,
    *,
    task_id: str | None,
    enabled: bool | None,
    limit: int,
    offset: int,
    collection: str | None = None,
) -> tuple[Sequence[RowMapping], int]:
    """A page of the company's task schedules, newest first, and their total; with
    `collection`, only those of that collection's tasks."""
    where: list[ColumnElement[bool]] = [routines.c.company_id == company_id]
    if collection is not None:
        where.append(
            routines.c.task_id.in_(
                select(tasks.c.id).where(
                    tasks.c.company_id == company_id, tasks.c.collection == collection
                )
            )
        )
    if task_id is not None:
        where.append(routines.c.task_id == task_id)
    if enabled is not None:
        where.append(_ENABLED if enabled else not_(_ENABLED))
    query = _select(*where)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(routines.c.created_at.desc(), routines.c.id).limit(limit).offset(offset)
    )
    return rows.mappings().all(), int(total)


async def lock_task(conn: AsyncConnection, task_id: str) -> RowMapping | None:
    """The task, row-locked on PostgreSQL: two requests making the task's one schedule
    at once are serialised here. (SQLite has one writer at a time.)"""
    query = select(tasks).where(tasks.c.id == task_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


@dataclass(frozen=True, slots=True)
class LatestRun:
    """A routine's latest run that executed: the tick it was fired for, and its status."""

    tick: datetime
    status: str


async def latest_executed_runs(
    conn: AsyncConnection, routine_ids: Sequence[str], *, not_executed: Sequence[str]
) -> dict[str, LatestRun]:
    """Each routine's newest run whose status is not in `not_executed`."""
    if not routine_ids:
        return {}
    candidate = runs.alias("candidate")
    newest = (
        select(candidate.c.id)
        .where(
            candidate.c.routine_id == routines.c.id,
            candidate.c.status.not_in(list(not_executed)),
        )
        .order_by(candidate.c.created_at.desc(), candidate.c.id.desc())
        .limit(1)
        .correlate(routines)
        .scalar_subquery()
    )
    result = await conn.execute(
        select(runs.c.routine_id, runs.c.scheduled_for, runs.c.created_at, runs.c.status)
        .select_from(routines.join(runs, runs.c.id == newest))
        .where(routines.c.id.in_(list(routine_ids)))
    )
    return {
        routine_id: LatestRun(scheduled_for or created_at, status)
        for routine_id, scheduled_for, created_at, status in result.all()
    }
