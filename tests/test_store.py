"""The store's own machinery: SQLite driven on the loop, and how timestamps are bound."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, select, text
from sqlalchemy.dialects import sqlite

from firehook.store import Database, sqlite_inline, upgrade_to_head_async
from firehook.store.database import engine_url
from firehook.store.tables import UtcDateTime

_metadata = MetaData()
stamps = Table(
    "stamps", _metadata, Column("id", String, primary_key=True), Column("at", UtcDateTime())
)

STAMPS = [
    datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 15, 7, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2))),
]


@pytest.mark.parametrize("stamp", STAMPS)
def test_sqlite_binds_the_text_sqlalchemy_datetime_stores(stamp: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(stamp) == theirs(stamp.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None


def test_a_naive_timestamp_never_reaches_sqlite() -> None:
    process = UtcDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 1, 1))


async def test_timestamps_round_trip_and_compare_through_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stamps.db'}")
    try:
        async with db.write() as conn:
            await conn.run_sync(_metadata.create_all)
            await conn.execute(
                stamps.insert(), [{"id": f"s{n}", "at": stamp} for n, stamp in enumerate(STAMPS)]
            )
        async with db.read() as conn:
            rows = (await conn.execute(select(stamps))).all()
            assert {row.id: row.at for row in rows} == {
                f"s{n}": stamp for n, stamp in enumerate(STAMPS)
            }
            after = datetime(2026, 3, 29, 1, 30, 15, 7, tzinfo=UTC)
            later = await conn.execute(
                select(stamps.c.id).where(stamps.c.at > after).order_by(stamps.c.at)
            )
            assert list(later.scalars()) == ["s3", "s0"]
    finally:
        await db.close()


async def test_sqlite_statements_do_not_wait_on_another_thread(tmp_path: Path) -> None:
    """A statement completes within the awaiting task's own step: no loop turn is spent.

    (The engine used to hand each call to a worker thread and wait for the loop to
    bring the answer back, which cost more than SQLite itself.)
    """
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    turns = 0
    stop = asyncio.Event()

    async def count_turns() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    try:
        async with db.read() as conn:
            await conn.execute(text("select 1"))  # the connection is open now
            counter = asyncio.create_task(count_turns())
            await asyncio.sleep(0)
            before = turns
            for _ in range(50):
                assert (await conn.execute(text("select 1"))).scalar_one() == 1
            during = turns - before
            stop.set()
            await counter
        assert during == 0
    finally:
        await db.close()


@pytest.mark.parametrize("driver", ["sqlite", "sqlite+aiosqlite"])
async def test_either_sqlite_url_migrates_and_runs_on_the_loop(tmp_path: Path, driver: str) -> None:
    url = f"{driver}:///{tmp_path / 'either.db'}"
    await upgrade_to_head_async(url)
    db = Database(url)
    try:
        assert db.engine.dialect.driver == "inline"
        async with db.read() as conn:
            tables = (await conn.execute(text("select name from sqlite_master"))).scalars().all()
        assert {"runs", "routines", "outbox"} <= set(tables)
    finally:
        await db.close()


def test_other_urls_are_left_as_they_are() -> None:
    url = "postgresql+asyncpg://user:secret@db.example:5432/firehook"
    assert engine_url(url).render_as_string(hide_password=False) == url


class _SlowCommit:
    """Makes every COMMIT of the inline SQLite connections take `seconds` and notes where
    and when it ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
        self.threads: list[int] = []
        self.ended: list[float] = []
        self.started = threading.Event()
        slow = self

        def commit(connection: sqlite3.Connection) -> None:
            slow.threads.append(threading.get_ident())
            slow.started.set()
            time.sleep(seconds)
            sqlite3.Connection.commit(connection)
            slow.ended.append(time.monotonic())

        monkeypatch.setattr(sqlite_inline._Connection, "commit", commit)


async def _stamped_writes(db: Database, count: int) -> None:
    async with db.write() as conn:
        await conn.run_sync(_metadata.create_all)
    for n in range(count):
        await _insert_stamp(db, f"s{n}")


async def _insert_stamp(db: Database, stamp_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(stamps.insert(), {"id": stamp_id, "at": STAMPS[0]})


async def test_a_syncing_commit_leaves_the_loop_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With synchronous=FULL the commit (and its fsync) runs on another thread: the loop
    keeps turning while a writer waits for it, and the row is there once the writer is on."""
    slow = _SlowCommit(monkeypatch, 0.05)
    db = Database(f"sqlite:///{tmp_path / 'full.db'}", sqlite_synchronous="FULL")
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    try:
        await _stamped_writes(db, 3)
        async with db.read() as conn:
            stored = (await conn.execute(select(stamps.c.id))).scalars().all()
    finally:
        counter.cancel()
        await db.close()
    assert sorted(stored) == ["s0", "s1", "s2"]
    assert slow.threads and threading.get_ident() not in slow.threads
    assert turns > 10 * len(slow.threads)


async def test_a_commit_that_does_not_sync_stays_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = _SlowCommit(monkeypatch, 0)
    db = Database(f"sqlite:///{tmp_path / 'normal.db'}", sqlite_synchronous="NORMAL")
    try:
        await _stamped_writes(db, 2)
    finally:
        await db.close()
    assert slow.threads and set(slow.threads) == {threading.get_ident()}


async def test_a_writer_cancelled_during_its_commit_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling a writer whose commit is running on the thread cannot hand its connection
    to anyone before the commit ended; the next writer then finds a usable connection."""
    db = Database(f"sqlite:///{tmp_path / 'cancel.db'}", sqlite_synchronous="FULL")
    try:
        await _stamped_writes(db, 0)
        slow = _SlowCommit(monkeypatch, 0.3)
        writer = asyncio.create_task(_insert_stamp(db, "s0"))
        await asyncio.to_thread(slow.started.wait, 10)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        cancelled_at = time.monotonic()
        assert slow.ended and slow.ended[0] <= cancelled_at
        await _insert_stamp(db, "after")
        async with db.read() as conn:
            stored = (await conn.execute(select(stamps.c.id))).scalars().all()
        assert sorted(stored) == ["after", "s0"]
    finally:
        await db.close()
