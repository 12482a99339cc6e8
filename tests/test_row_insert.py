"""Rows written by `RowInsert` (sqlite3 directly on SQLite) are stored exactly as
SQLAlchemy's own insert stores them, so every reader reads them back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.context import Context
from firehook.store import runs as store
from firehook.store.tables import run_events, runs
from tests.conftest import Tenant, routine_body

NOW = datetime(2026, 3, 29, 1, 30, 15, 7, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))


def run_rows(routine_id: str, company_id: str, prefix: str) -> list[dict[str, Any]]:
    """Runs whose values exercise every column type: JSON null, nested JSON, text outside
    ASCII, datetimes in another zone or with microseconds, absent datetimes."""
    base = {
        "company_id": company_id,
        "routine_id": routine_id,
        "trigger_id": None,
        "source": "webhook",
        "status": "dispatched",
        "reason": None,
        "fire_id": "f-1",
        "scheduled_for": None,
        "coalesced_into_run_id": None,
        "triggered_by_routine_id": routine_id,
        "attempt": 1,
        "attempts": [{"attempt": 1, "status": "dispatched", "startedAt": "2026-03-29T01:30:15Z"}],
        "output": None,
        "error": None,
        "created_at": NOW,
        "updated_at": NOW.astimezone(PARIS),
        "dispatched_at": NOW,
        "started_at": None,
        "finished_at": None,
        "deadline_at": NOW + timedelta(hours=1),
        "next_attempt_at": None,
        "linked_issue_id": None,
        "title": "Rapport « nocturne » ☾",
        "description": None,
    }
    variants: list[dict[str, Any]] = [
        {"payload": {"ref": "main", "n": [1, 2.5, None, True], "deep": {"é": 'ü\n"q"'}}},
        {"payload": None, "output": {"ok": True}, "error": "boom", "status": "failed"},
        {"payload": {}, "scheduled_for": datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        {"payload": [1, "two"], "finished_at": NOW.astimezone(timezone(timedelta(hours=-5)))},
    ]
    return [
        base | variant | {"id": f"{prefix}-{n}", "idempotency_key": f"{prefix}-key-{n}"}
        for n, variant in enumerate(variants)
    ]


async def stored(conn: AsyncConnection, table: Any, key: str, value: str) -> tuple[Any, ...]:
    """The row as the database holds it: on SQLite the very text or number in the file."""
    if conn.dialect.name == "sqlite":
        result = await conn.exec_driver_sql(f"select * from {table.name} where {key} = ?", (value,))
    else:
        result = await conn.execute(select(table).where(table.c[key] == value))
    row = result.one()
    return tuple(row)


async def sqlalchemy_insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


async def make_routine(client: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(),
        headers=tenant.auth(tenant.admin),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_runs_are_stored_as_sqlalchemy_stores_them(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    routine_id = await make_routine(client, tenant)
    ours = run_rows(routine_id, tenant.company_id, "ours")
    theirs = run_rows(routine_id, tenant.company_id, "theirs")
    async with ctx.db.write() as conn:
        await store.insert_runs(conn, ours)
        await sqlalchemy_insert(conn, runs, theirs)
    positions = [
        n for n, column in enumerate(runs.columns) if column.key not in {"id", "idempotency_key"}
    ]
    async with ctx.db.read() as conn:
        for mine, reference in zip(ours, theirs, strict=True):
            got = await stored(conn, runs, "id", mine["id"])
            expected = await stored(conn, runs, "id", reference["id"])
            assert [got[n] for n in positions] == [expected[n] for n in positions]
        read_back = await store.get_runs(conn, [row["id"] for row in ours])
    for row in ours:
        assert dict(read_back[row["id"]]) == row | {
            "updated_at": NOW,
            "finished_at": row["finished_at"] and row["finished_at"].astimezone(UTC),
        }


async def test_run_events_are_stored_as_sqlalchemy_stores_them(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    routine_id = await make_routine(client, tenant)

    def events(prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "company_id": tenant.company_id,
                "routine_id": routine_id,
                "run_id": f"{prefix}-run-{n}",
                "ce_id": f"{prefix}-ce-{n}",
                "type": "dev.firehook.run.dispatched",
                "data": data,
                "created_at": NOW.astimezone(PARIS),
            }
            for n, data in enumerate([{"id": "r", "payload": None, "title": "☾"}, {"a": [1, {}]}])
        ]

    ours, theirs = events("ours"), events("theirs")
    async with ctx.db.write() as conn:
        await store.add_run_events(conn, ours)
        await sqlalchemy_insert(conn, run_events, theirs)
        # A repeated event id is left alone, as before.
        await store.add_run_events(conn, [ours[0] | {"data": {"changed": True}}])
    positions = [
        n
        for n, column in enumerate(run_events.columns)
        if column.key not in {"seq", "run_id", "ce_id"}
    ]
    async with ctx.db.read() as conn:
        for mine, reference in zip(ours, theirs, strict=True):
            got = await stored(conn, run_events, "ce_id", mine["ce_id"])
            expected = await stored(conn, run_events, "ce_id", reference["ce_id"])
            assert [got[n] for n in positions] == [expected[n] for n in positions]
        first = await store.run_events_after(conn, tenant.company_id, 0, 10)
    assert [row["data"] for row in first if row["ce_id"].startswith("ours")] == [
        event["data"] for event in ours
    ]


async def test_a_repeated_run_is_left_alone_and_a_broken_one_raises_as_before(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    routine_id = await make_routine(client, tenant)
    [first, *_] = run_rows(routine_id, tenant.company_id, "run")
    async with ctx.db.write() as conn:
        await store.insert_runs(conn, [first])
        await store.insert_runs(conn, [first | {"status": "failed"}])
    async with ctx.db.read() as conn:
        kept = await store.get_runs(conn, [first["id"]])
    assert kept[first["id"]]["status"] == "dispatched"
    with pytest.raises(IntegrityError):
        async with ctx.db.write() as conn:
            await store.insert_runs(conn, [first | {"id": "orphan", "routine_id": "no-such"}])
