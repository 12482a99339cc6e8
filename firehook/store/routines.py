"""Routines and their triggers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.labels import selector_clause
from firehook.store.tables import routines, tasks, triggers
from schemas.labels import Selector


async def insert_routine(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(insert(routines).values(**values))


async def get_routine(
    conn: AsyncConnection, routine_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(routines).where(routines.c.id == routine_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    result = await conn.execute(query)
    return result.mappings().first()


async def list_routines(
    conn: AsyncConnection,
    company_id: str,
    *,
    filters: Mapping[str, Any],
    order_by: str,
    descending: bool,
    limit: int,
    offset: int,
    collection: str | None = None,
    label_selector: Selector = (),
) -> tuple[Sequence[RowMapping], int]:
    """A page of a company's routines matching `filters` (column → value) and
    `label_selector`, and the total; with `collection`, only the routines of that
    collection's tasks."""
    in_collection = (
        [
            routines.c.task_id.in_(
                select(tasks.c.id).where(
                    tasks.c.company_id == company_id, tasks.c.collection == collection
                )
            )
        ]
        if collection is not None
        else []
    )
    where = and_(
        routines.c.company_id == company_id,
        *(routines.c[name] == value for name, value in filters.items()),
        *in_collection,
        selector_clause(routines.c.labels, label_selector),
    )
    total = (
        await conn.execute(select(func.count()).select_from(routines).where(where))
    ).scalar_one()
    column = routines.c[order_by]
    ordering = column.desc() if descending else column.asc()
    rows = await conn.execute(
        select(routines)
        .where(where)
        .order_by(ordering.nulls_last(), routines.c.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.mappings().all(), int(total)


async def update_routine(conn: AsyncConnection, routine_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(update(routines).where(routines.c.id == routine_id).values(**values))


async def insert_trigger(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(insert(triggers).values(**values))


async def get_trigger(conn: AsyncConnection, trigger_id: str) -> RowMapping | None:
    result = await conn.execute(select(triggers).where(triggers.c.id == trigger_id))
    return result.mappings().first()


async def get_trigger_by_public_id(conn: AsyncConnection, public_id: str) -> RowMapping | None:
    result = await conn.execute(select(triggers).where(triggers.c.public_id == public_id))
    return result.mappings().first()


async def list_triggers(
    conn: AsyncConnection, routine_ids: Sequence[str]
) -> dict[str, list[RowMapping]]:
    """Triggers of each routine, oldest first."""
    grouped: dict[str, list[RowMapping]] = {routine_id: [] for routine_id in routine_ids}
    if not routine_ids:
        return grouped
    result = await conn.execute(
        select(triggers)
        .where(triggers.c.routine_id.in_(routine_ids))
        .order_by(triggers.c.created_at, triggers.c.id)
    )
    for row in result.mappings():
        grouped[row["routine_id"]].append(row)
    return grouped


async def update_trigger(conn: AsyncConnection, trigger_id: str, values: Mapping[str, Any]) -> None:
    """Update a trigger and bump its version, which invalidates cached copies."""
    await conn.execute(
        update(triggers)
        .where(triggers.c.id == trigger_id)
        .values(version=triggers.c.version + 1, **values)
    )


async def delete_trigger(conn: AsyncConnection, trigger_id: str) -> None:
    await conn.execute(delete(triggers).where(triggers.c.id == trigger_id))


async def refresh_routine_next_run(conn: AsyncConnection, routine_id: str, now: datetime) -> None:
    """Set the routine's `next_run_at` to the earliest of its enabled triggers'."""
    earliest = (
        select(func.min(triggers.c.next_run_at))
        .where(triggers.c.routine_id == routine_id, triggers.c.enabled.is_(True))
        .scalar_subquery()
    )
    await conn.execute(
        update(routines)
        .where(routines.c.id == routine_id)
        .values(next_run_at=earliest, updated_at=now)
    )
