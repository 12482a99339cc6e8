"""A fire and a schedule tick of one routine, in two concurrent transactions, never deadlock.

The consumer locks the routines of its batch, then records lastFiredAt on routines and
triggers; the ticker moves trigger pointers and refreshes its routines' nextRunAt. On
PostgreSQL both must take the routine's lock before touching its triggers, or each
waits for a row the other holds until the server aborts one of them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select

from firehook.context import Context
from firehook.store import runs, schedules
from firehook.store.tables import triggers
from tests.conftest import Tenant
from tests.test_occurrences import routine_with


async def test_a_fire_and_a_tick_of_one_routine_do_not_deadlock(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    routine_id, trigger_id = await routine_with(
        client, tenant, {"cronExpression": "*/5 * * * *", "timezone": "UTC"}
    )
    async with ctx.db.read() as conn:
        old = (
            await conn.execute(select(triggers.c.next_run_at).where(triggers.c.id == trigger_id))
        ).scalar_one()
    advance = {
        "id": trigger_id,
        "old": old,
        "new": old + timedelta(minutes=5),
        "enabled": True,
        "routine_id": routine_id,
    }

    async def tick() -> None:
        async with ctx.db.write() as conn:
            await schedules.advance_triggers(conn, [advance])

    now = ctx.clock()
    async with ctx.db.write() as conn:
        await runs.lock_routines(conn, [routine_id])
        ticking = asyncio.create_task(tick())
        # Long enough for the tick to take every lock it can before this fire goes on.
        await asyncio.sleep(0.5)
        await runs.mark_fired(conn, {routine_id: now}, {trigger_id: now})
    await asyncio.wait_for(ticking, timeout=30)

    async with ctx.db.read() as conn:
        moved = (
            await conn.execute(
                select(triggers.c.next_run_at, triggers.c.last_fired_at).where(
                    triggers.c.id == trigger_id
                )
            )
        ).one()
    assert moved.next_run_at == advance["new"]
    assert moved.last_fired_at == now


async def test_a_fire_and_a_trigger_change_of_one_routine_do_not_deadlock(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    routine_id, trigger_id = await routine_with(
        client, tenant, {"cronExpression": "*/5 * * * *", "timezone": "UTC"}
    )
    now = ctx.clock()
    async with ctx.db.write() as conn:
        await runs.lock_routines(conn, [routine_id])
        patching = asyncio.create_task(
            client.patch(
                f"/api/routine-triggers/{trigger_id}",
                json={"cronExpression": "*/10 * * * *"},
                headers=Tenant.auth(tenant.board),
            )
        )
        await asyncio.sleep(0.5)
        await runs.mark_fired(conn, {routine_id: now}, {trigger_id: now})
    patched = await asyncio.wait_for(patching, timeout=30)
    assert patched.status_code == 200, patched.text
    assert patched.json()["cronExpression"] == "*/10 * * * *"
