"""The scheduler's queries: schedule triggers with their routine's state, and the claim."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import routines, triggers

_COLUMNS = (
    triggers,
    routines.c.status.label("routine_status"),
    routines.c.catch_up_policy,
    routines.c.catch_up_cap,
    routines.c.misfire_grace_sec,
)
_JOIN = triggers.join(routines, routines.c.id == triggers.c.routine_id)


# A schedule trigger the ticker tracks: enabled, of an active routine, with a next tick.
_FIREABLE = and_(
    triggers.c.kind == "schedule",
    triggers.c.enabled.is_(True),
    routines.c.status == "active",
    triggers.c.next_run_at.is_not(None),
)


async def changed_schedule_triggers(conn: AsyncConnection, since: datetime) -> Sequence[RowMapping]:
    """Schedule triggers, with their routine's state, whose trigger or routine changed
    since `since` (whatever their state now)."""
    query = (
        select(*_COLUMNS)
        .select_from(_JOIN)
        .where(
            triggers.c.kind == "schedule",
            or_(triggers.c.updated_at > since, routines.c.updated_at > since),
        )
    )
    return (await conn.execute(query)).mappings().all()


_POINTER_COLUMNS = (
    triggers.c.id,
    triggers.c.enabled,
    triggers.c.next_run_at,
    triggers.c.jitter_sec,
    triggers.c.cron_expression,
    triggers.c.timezone,
    triggers.c.cadence,
    triggers.c.every_sec,
    triggers.c.at,
    routines.c.status.label("routine_status"),
)


async def stream_fireable_pointers(
    conn: AsyncConnection, partition: int = 5_000
) -> AsyncIterator[Sequence[RowMapping]]:
    """Every trigger that can fire, with only what the ticker's heap needs, in partitions,
    so that loading a hundred thousand triggers never holds them all as full rows."""
    query = (
        select(*_POINTER_COLUMNS)
        .select_from(_JOIN)
        .where(_FIREABLE)
        .execution_options(yield_per=partition)
    )
    result = await conn.stream(query)
    async for rows in result.mappings().partitions(partition):
        yield rows


async def schedule_triggers_by_id(
    conn: AsyncConnection, ids: Iterable[str]
) -> dict[str, RowMapping]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    result = await conn.execute(
        select(*_COLUMNS).select_from(_JOIN).where(triggers.c.id.in_(wanted))
    )
    return {row["id"]: row for row in result.mappings()}


# Built once: the ticker claims ticks in bulk. The WHERE on the old pointer is the
# compare-and-set that makes a second replica's claim of the same tick a no-op.
_ADVANCE = (
    update(triggers)
    .where(
        triggers.c.id == bindparam("b_id"),
        triggers.c.next_run_at == bindparam("b_old", type_=triggers.c.next_run_at.type),
    )
    .values(
        next_run_at=bindparam("b_new", type_=triggers.c.next_run_at.type),
        enabled=bindparam("b_enabled"),
    )
)
_EARLIEST = (
    select(func.min(triggers.c.next_run_at))
    .where(triggers.c.routine_id == routines.c.id, triggers.c.enabled.is_(True))
    .scalar_subquery()
)
# Only routines whose earliest tick was one just claimed need recomputing.
_REFRESH_ROUTINE = (
    update(routines)
    .where(
        routines.c.id == bindparam("b_routine"),
        or_(
            routines.c.next_run_at.is_(None),
            routines.c.next_run_at <= bindparam("b_old", type_=routines.c.next_run_at.type),
        ),
    )
    .values(next_run_at=_EARLIEST)
)


async def _lock_routines(conn: AsyncConnection, routine_ids: set[str]) -> None:
    # SQLite has one writer at a time: its transaction is the lock.
    if conn.dialect.name == "postgresql":
        await conn.execute(
            select(routines.c.id)
            .where(routines.c.id.in_(sorted(routine_ids)))
            .order_by(routines.c.id)
            .with_for_update()
        )


async def advance_triggers(conn: AsyncConnection, advances: Sequence[dict[str, Any]]) -> None:
    """Move each trigger's pointer from `old` to `new` (compare-and-set), then refresh
    the `nextRunAt` of their routines. `advances`: dicts with id, old, new, enabled, routine_id."""
    if not advances:
        return
    # The routines first, in id order, as a consumer applying their fires locks them:
    # taking a trigger row before its routine's would let the two deadlock.
    await _lock_routines(conn, {advance["routine_id"] for advance in advances})
    await conn.execute(
        _ADVANCE,
        [
            {"b_id": a["id"], "b_old": a["old"], "b_new": a["new"], "b_enabled": a["enabled"]}
            for a in advances
        ],
    )
    oldest: dict[str, datetime] = {}
    for advance in advances:
        rid = advance["routine_id"]
        oldest[rid] = min(oldest.get(rid, advance["old"]), advance["old"])
    await conn.execute(
        _REFRESH_ROUTINE, [{"b_routine": rid, "b_old": old} for rid, old in sorted(oldest.items())]
    )


async def due_summary(conn: AsyncConnection, now: datetime) -> tuple[int, int, datetime | None]:
    """(triggers that can fire, of which due now, the earliest pointer) for the status endpoint."""
    loaded, earliest = (
        await conn.execute(
            select(func.count(), func.min(triggers.c.next_run_at))
            .select_from(_JOIN)
            .where(_FIREABLE)
        )
    ).one()
    due = (
        await conn.execute(
            select(func.count()).select_from(_JOIN).where(_FIREABLE, triggers.c.next_run_at <= now)
        )
    ).scalar_one()
    return int(loaded), int(due), earliest
