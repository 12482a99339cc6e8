"""Embedded mode's 202: the fire's run is committed with a full fsync before the answer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from firehook.devservers import free_port
from firehook.store import Database
from tests.processes import HttpLoad, RoleProcess, create_tenant, run_rows

SYNCHRONOUS_LEVELS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


async def synchronous_of(db: Database) -> str:
    async with db.read() as conn:
        level = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    return SYNCHRONOUS_LEVELS[int(level)]


async def test_sqlite_commits_are_fully_synchronous_by_default(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        assert await synchronous_of(db) == "FULL"
    finally:
        await db.close()


async def test_normal_is_a_setting(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'normal.db'}", sqlite_synchronous="NORMAL")
    try:
        assert await synchronous_of(db) == "NORMAL"
    finally:
        await db.close()
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        Database(f"sqlite:///{tmp_path / 'off.db'}", sqlite_synchronous="OFF")


@pytest.mark.slow
async def test_every_202_survives_a_sigkill_under_concurrent_load(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'firehook.db'}"
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("FIREHOOK_")}
    env |= {
        "FIREHOOK_DATABASE_URL": database_url,
        "FIREHOOK_SECRET_KEY_FILE": str(tmp_path / "firehook.key"),
        "FIREHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "FIREHOOK_WEBHOOK_RATE_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_RATE_PER_TRIGGER": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_TRIGGER": "1000000",
    }
    argv = ["dev", "--host", "127.0.0.1", "--port", str(port)]
    dev = RoleProcess(argv, env, port, tmp_path / "dev.log", tmp_path).start()
    try:
        await dev.wait_ready()
        tenant = await create_tenant(dev.url, database_url)
        load = HttpLoad(dev.url, tenant, senders=16)
        load.start()
        await asyncio.sleep(1.5)
        dev.kill()
        await load.stop()
    finally:
        dev.kill()

    accepted = load.accepted_run_ids()
    assert len(accepted) > 50, load.statuses()
    assert any(a.status is None for a in load.attempts), "the kill cut no request short"
    stored = {row["id"]: row for row in await run_rows(database_url, tenant.routine_id)}
    assert accepted <= stored.keys()
    assert all(stored[run_id]["status"] == "dispatched" for run_id in accepted)
