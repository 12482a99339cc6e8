"""The webhook endpoint's batched run lookup: which keyed fires already have a run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from firehook.context import Context
from firehook.ids import run_id_for
from gateway.webhooks import RunLookup
from tests.conftest import FakeClock, Tenant
from tests.test_webhooks import event_body, fire_signed, new_webhook


@contextmanager
def statements(ctx: Context) -> Iterator[list[str]]:
    """The SQL statements reading the runs table on `ctx`'s database inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if "FROM runs" in args[2]:
            seen.append(args[2])

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_concurrent_lookups_share_one_query_that_reads_the_runs_that_exist(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    made = []
    for n in range(3):
        answer = await fire_signed(client, trigger, clock, event_body(n), delivery_id=f"d-{n}")
        assert answer.status_code == 202, answer.text
        made.append(answer.json()["id"])
    routine_id = answer.json()["routineId"]
    missing = [run_id_for(routine_id, f"never-fired-{n}") for n in range(5)]
    asked = [*made, *missing, made[0]]

    lookup = RunLookup(ctx.db)
    with statements(ctx) as ran:
        found = await asyncio.gather(*(lookup.find(run_id) for run_id in asked))

    assert [row["id"] if row is not None else None for row in found] == [
        *made,
        *([None] * len(missing)),
        made[0],
    ]
    # Whole rows, as the replayed answer needs them.
    assert all(row is not None and row["routine_id"] == routine_id for row in found[:3])
    # One statement for the eight ids asked together (a repeated id is asked once).
    assert len(ran) == 1, ran


async def test_lookups_of_new_runs_share_one_query(ctx: Context, tenant: Tenant) -> None:
    lookup = RunLookup(ctx.db)
    with statements(ctx) as ran:
        found = await asyncio.gather(
            *(lookup.find(run_id_for(str(uuid.uuid4()), f"sig:{n}")) for n in range(20))
        )
    assert found == [None] * 20
    assert len(ran) == 1, ran
