"""Tasks, and the routine's copy of its triggers' conditions (read when a fire is applied)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import routines, tasks, triggers


async def insert_task(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(insert(tasks).values(**values))


async def get_task(conn: AsyncConnection, task_id: str) -> RowMapping | None:
    return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).mappings().first()


async def get_tasks(conn: AsyncConnection, task_ids: Iterable[str | None]) -> dict[str, RowMapping]:
    ids = sorted({task_id for task_id in task_ids if task_id is not None})
    if not ids:
        return {}
    result = await conn.execute(select(tasks).where(tasks.c.id.in_(ids)))
    return {row["id"]: row for row in result.mappings()}


async def find_task(
    conn: AsyncConnection, company_id: str, collection: str | None, name: str
) -> RowMapping | None:
    """The company's task of this name in this collection (None: outside any collection)."""
    in_collection = (
        tasks.c.collection.is_(None) if collection is None else tasks.c.collection == collection
    )
    result = await conn.execute(
        select(tasks).where(tasks.c.company_id == company_id, in_collection, tasks.c.name == name)
    )
    return result.mappings().first()


async def list_tasks(
    conn: AsyncConnection, company_id: str, *, collection: str | None, limit: int, offset: int
) -> tuple[Sequence[RowMapping], int]:
    where = and_(
        tasks.c.company_id == company_id,
        *([tasks.c.collection == collection] if collection is not None else []),
    )
    total = (await conn.execute(select(func.count()).select_from(tasks).where(where))).scalar_one()
    rows = await conn.execute(
        select(tasks)
        .where(where)
        .order_by(tasks.c.collection.asc().nulls_first(), tasks.c.name, tasks.c.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.mappings().all(), int(total)


async def update_task(conn: AsyncConnection, task_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))


async def delete_task(conn: AsyncConnection, task_id: str) -> None:
    await conn.execute(delete(tasks).where(tasks.c.id == task_id))


async def routines_of_task(
    conn: AsyncConnection, task_id: str, *, statuses: Sequence[str]
) -> Sequence[RowMapping]:
    """Id and title of the routines in `statuses` that reference the task."""
    result = await conn.execute(
        select(routines.c.id, routines.c.title)
        .where(routines.c.task_id == task_id, routines.c.status.in_(list(statuses)))
        .order_by(routines.c.created_at, routines.c.id)
    )
    return result.mappings().all()


async def find_routine_of_task(
    conn: AsyncConnection, task_id: str, title: str, *, lock: bool = False
) -> RowMapping | None:
    """The task's routine (not archived, not its one-shot routine) with this title; with
    `lock`, first take the task row's lock (PostgreSQL) so that two writers naming
    routines of one task queue behind each other."""
    if lock and conn.dialect.name == "postgresql":
        await conn.execute(select(tasks.c.id).where(tasks.c.id == task_id).with_for_update())
    result = await conn.execute(
        select(routines)
        .where(
            routines.c.task_id == task_id,
            routines.c.title == title,
            routines.c.status != "archived",
            routines.c.one_shot.is_not(True),
        )
        .order_by(routines.c.created_at, routines.c.id)
    )
    return result.mappings().first()


async def list_routines_of_task(conn: AsyncConnection, task_id: str) -> Sequence[RowMapping]:
    """The task's routines that are not archived, oldest first, without its one-shot routine."""
    result = await conn.execute(
        select(routines)
        .where(
            routines.c.task_id == task_id,
            routines.c.status != "archived",
            routines.c.one_shot.is_not(True),
        )
        .order_by(routines.c.created_at, routines.c.id)
    )
    return result.mappings().all()


async def find_one_shot_routine(conn: AsyncConnection, task_id: str) -> RowMapping | None:
    """The task's one-shot routine, taking the task row's lock first (PostgreSQL) so that
    two first one-shot runs of a task make one such routine."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(tasks.c.id).where(tasks.c.id == task_id).with_for_update())
    result = await conn.execute(
        select(routines)
        .where(
            routines.c.task_id == task_id,
            routines.c.one_shot.is_(True),
            routines.c.status != "archived",
        )
        .order_by(routines.c.created_at, routines.c.id)
    )
    return result.mappings().first()


async def refresh_trigger_conditions(conn: AsyncConnection, routine_id: str) -> None:
    """Copy the conditions of a routine's triggers onto the routine (`trigger_conditions`)."""
    if conn.dialect.name == "postgresql":
        # Two trigger changes of one routine at once must not each write a copy that
        # misses the other's: the second waits here, then reads the first's commit.
        await conn.execute(
            select(routines.c.id).where(routines.c.id == routine_id).with_for_update()
        )
    result = await conn.execute(
        select(triggers.c.id, triggers.c.condition).where(
            triggers.c.routine_id == routine_id, triggers.c.condition.is_not(None)
        )
    )
    copied = {trigger_id: condition for trigger_id, condition in result.all() if condition}
    await conn.execute(
        update(routines)
        .where(routines.c.id == routine_id)
        .values(trigger_conditions=copied or None)
    )
