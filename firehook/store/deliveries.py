"""The delivery inspector's records: the last deliveries of each webhook trigger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import deliveries, runs, triggers


async def insert_deliveries(
    conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], keep: int
) -> None:
    """Insert deliveries, then keep only the last `keep` of each trigger they touch.

    Rows of a trigger deleted meanwhile are dropped rather than failing the batch.
    """
    trigger_ids = {row["trigger_id"] for row in rows}
    if not trigger_ids:
        return
    found = await conn.execute(select(triggers.c.id).where(triggers.c.id.in_(trigger_ids)))
    alive = set(found.scalars())
    kept = [row for row in rows if row["trigger_id"] in alive]
    if kept:
        await conn.execute(insert(deliveries), kept)
    if not alive:
        return
    # One statement trims every trigger of the batch, whatever their number: the rows
    # ranked past `keep`, newest first, as the inspector lists them.
    rank = (
        func.row_number()
        .over(
            partition_by=deliveries.c.trigger_id,
            order_by=(deliveries.c.received_at.desc(), deliveries.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(deliveries.c.id, rank).where(deliveries.c.trigger_id.in_(alive)).subquery()
    await conn.execute(
        delete(deliveries).where(
            deliveries.c.id.in_(select(ranked.c.id).where(ranked.c.rank > keep))
        )
    )


async def list_deliveries(
    conn: AsyncConnection, trigger_id: str, *, limit: int, outcome: str | None = None
) -> list[RowMapping]:
    """The trigger's deliveries, newest first."""
    query = select(deliveries).where(deliveries.c.trigger_id == trigger_id)
    if outcome is not None:
        query = query.where(deliveries.c.outcome == outcome)
    query = query.order_by(deliveries.c.received_at.desc(), deliveries.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).mappings())


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> RowMapping | None:
    result = await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))
    return result.mappings().first()


async def all_deliveries(conn: AsyncConnection) -> list[RowMapping]:
    """Every stored delivery (for audits and tests)."""
    return list((await conn.execute(select(deliveries))).mappings())


async def runs_to_retry(
    conn: AsyncConnection,
    company_id: str,
    *,
    statuses: Sequence[str],
    routine_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[RowMapping]:
    """A company's runs in `statuses`, created in [since, until), oldest first."""
    query = select(runs).where(runs.c.company_id == company_id, runs.c.status.in_(statuses))
    if routine_id is not None:
        query = query.where(runs.c.routine_id == routine_id)
    if since is not None:
        query = query.where(runs.c.created_at >= since)
    if until is not None:
        query = query.where(runs.c.created_at < until)
    query = query.order_by(runs.c.created_at, runs.c.id).limit(limit)
    return list((await conn.execute(query)).mappings())
