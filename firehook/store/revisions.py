"""Routine revisions: one row per change to a routine or its triggers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import routine_revisions


async def insert_revision(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(insert(routine_revisions).values(**values))


async def list_revisions(conn: AsyncConnection, routine_id: str) -> Sequence[RowMapping]:
    """A routine's revisions, newest first."""
    result = await conn.execute(
        select(routine_revisions)
        .where(routine_revisions.c.routine_id == routine_id)
        .order_by(routine_revisions.c.revision_number.desc())
    )
    return result.mappings().all()


async def get_revision(conn: AsyncConnection, revision_id: str) -> RowMapping | None:
    result = await conn.execute(
        select(routine_revisions).where(routine_revisions.c.id == revision_id)
    )
    return result.mappings().first()
