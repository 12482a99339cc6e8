"""Backfill rows: their range, state and progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import backfills


async def insert_backfill(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(insert(backfills).values(**values))


async def get_backfill(conn: AsyncConnection, backfill_id: str) -> RowMapping | None:
    result = await conn.execute(select(backfills).where(backfills.c.id == backfill_id))
    return result.mappings().first()


async def record_progress(
    conn: AsyncConnection, backfill_id: str, fired: int, now: datetime, *, done: bool
) -> bool:
    """Save how many ticks went out (and, when `done`, that it completed); False when the
    backfill was cancelled meanwhile."""
    await conn.execute(
        update(backfills).where(backfills.c.id == backfill_id).values(fired=fired, updated_at=now)
    )
    if done:
        await conn.execute(
            update(backfills)
            .where(backfills.c.id == backfill_id, backfills.c.status == "running")
            .values(status="completed", finished_at=now)
        )
    status = (
        await conn.execute(select(backfills.c.status).where(backfills.c.id == backfill_id))
    ).scalar_one_or_none()
    return status in ("running", "completed")


async def cancel_backfill(conn: AsyncConnection, backfill_id: str, now: datetime) -> bool:
    """Stop a running backfill; False if it had already finished."""
    result = await conn.execute(
        update(backfills)
        .where(backfills.c.id == backfill_id, backfills.c.status == "running")
        .values(status="cancelled", updated_at=now, finished_at=now)
    )
    return bool(result.rowcount)
