"""Routines with exactly one schedule trigger, each with that trigger (seed 003's jobs)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import routines, triggers

_SCHEDULE = "schedule"


async def single_schedule_routines(
    conn: AsyncConnection,
    *,
    company_id: str | None = None,
    routine_id: str | None = None,
    statuses: list[str],
) -> list[tuple[RowMapping, RowMapping]]:
    """(routine, its schedule trigger) for routines in `statuses` that have exactly one
    schedule trigger, newest first; of one company, or the one routine."""
    single = (
        select(triggers.c.routine_id)
        .where(triggers.c.kind == _SCHEDULE)
        .group_by(triggers.c.routine_id)
        .having(func.count() == 1)
    )
    where: list[ColumnElement[bool]] = [
        routines.c.status.in_(statuses),
        routines.c.id.in_(single),
    ]
    if company_id is not None:
        where.append(routines.c.company_id == company_id)
    if routine_id is not None:
        where.append(routines.c.id == routine_id)
    found = (
        (
            await conn.execute(
                select(routines)
                .where(and_(*where))
                .order_by(routines.c.created_at.desc(), routines.c.id)
            )
        )
        .mappings()
        .all()
    )
    if not found:
        return []
    schedule_of: dict[str, RowMapping] = {}
    ids = [row["id"] for row in found]
    # Bounded batches: a company may have more routines than a statement takes parameters.
    for start in range(0, len(ids), 500):
        result = await conn.execute(
            select(triggers).where(
                triggers.c.routine_id.in_(ids[start : start + 500]), triggers.c.kind == _SCHEDULE
            )
        )
        schedule_of |= {row["routine_id"]: row for row in result.mappings()}
    return [(row, schedule_of[row["id"]]) for row in found if row["id"] in schedule_of]
