"""WAL checkpoints of a SQLite file database run on their own thread, not in a commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from firehook.store import Database
from firehook.store.wal_checkpoint import WalCheckpointer, uncopied_frames

_metadata = MetaData()
notes = Table("notes", _metadata, Column("id", Integer, primary_key=True), Column("body", String))
BODY = "x" * 3000


def wal_pages(path: Path) -> int:
    """The frames the WAL file has room for: a 32-byte header, then 24 bytes and a page each."""
    wal = path.with_name(path.name + "-wal")
    return (wal.stat().st_size - 32) // (24 + 4096) if wal.exists() else 0


async def _create(db: Database) -> None:
    async with db.write() as conn:
        await conn.run_sync(_metadata.create_all)


async def _note(db: Database, note_id: int) -> None:
    async with db.write() as conn:
        await conn.execute(notes.insert(), {"id": note_id, "body": BODY})


class _CheckpointThreads:
    """Records the thread of every checkpoint the checkpointer runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[int] = []
        original = WalCheckpointer._checkpoint

        def recorded(checkpointer: WalCheckpointer, mode: str) -> tuple[int, int, int] | None:
            result = original(checkpointer, mode)
            if result is not None:
                self.threads.append(threading.get_ident())
            return result

        monkeypatch.setattr(WalCheckpointer, "_checkpoint", recorded)


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_commits_leave_checkpoints_to_the_checkpointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synchronous: str
) -> None:
    """Below the backstop a commit never copies the WAL into the database: the frames
    wait for the checkpointer's connection to copy them."""
    path = tmp_path / "commits.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous=synchronous)
    assert db.checkpointer is not None
    db.checkpointer.interval = 3600.0
    try:
        await _create(db)
        for note_id in range(1500):
            await _note(db, note_id)
        async with db.read() as conn:
            backstop = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert backstop == 10_000
        # SQLite's own threshold (1000 pages) is long passed, yet nothing was copied.
        assert wal_pages(path) > 1500
        with sqlite3.connect(path) as reader:
            assert reader.execute("select count(*) from notes").fetchone() == (1500,)
        result = db.checkpointer.checkpoint()
        assert result is not None
        busy, frames, copied = result
        assert busy == 0 and frames > 1500 and copied == frames
    finally:
        await db.close()


async def test_the_wal_stays_bounded_over_many_commits(tmp_path: Path) -> None:
    """Once the checkpointer has copied the WAL, the writer starts it over: its file
    never grows past what was written between two checkpoints."""
    path = tmp_path / "bounded.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous="NORMAL")
    assert db.checkpointer is not None
    db.checkpointer.interval = 3600.0
    try:
        await _create(db)
        sizes = []
        for round_ in range(8):
            for note_id in range(200):
                await _note(db, round_ * 200 + note_id)
            assert db.checkpointer.checkpoint() is not None
            sizes.append(wal_pages(path))
        # Without the checkpoints the WAL would hold all eight rounds.
        assert sizes[0] > 200 and max(sizes) < 2 * sizes[0]
    finally:
        await db.close()


async def test_the_backstop_bounds_the_wal_when_no_checkpointer_runs(tmp_path: Path) -> None:
    path = tmp_path / "backstop.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous="NORMAL", wal_backstop_pages=300)
    assert db.checkpointer is not None
    db.checkpointer.interval = 3600.0
    try:
        await _create(db)
        largest = 0
        for note_id in range(2000):
            await _note(db, note_id)
            largest = max(largest, wal_pages(path))
        assert 300 <= largest < 600
    finally:
        await db.close()


async def test_the_checkpointer_copies_the_wal_from_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = _CheckpointThreads(monkeypatch)
    path = tmp_path / "itself.db"
    db = Database(f"sqlite:///{path}")
    assert db.checkpointer is not None
    db.checkpointer.interval = 3600.0
    db.checkpointer.threshold_pages = 60
    try:
        await _create(db)
        for note_id in range(10):
            await _note(db, note_id)
        # Below the threshold the WAL waits (for the interval, an hour here).
        assert uncopied_frames(str(path)) == wal_pages(path) > 0
        for note_id in range(10, 40):
            await _note(db, note_id)
        for _ in range(3000):
            if threads.threads:
                break
            await asyncio.sleep(0.01)
        with sqlite3.connect(path) as probe:
            # Every frame written so far is in the database file: nothing is left to copy.
            _, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames == copied
        assert uncopied_frames(str(path)) == 0
        assert threading.get_ident() not in threads.threads
    finally:
        await db.close()


async def test_stopping_checkpoints_the_whole_wal(tmp_path: Path) -> None:
    """Closing the database ends the thread after a last checkpoint: the database file
    alone holds every committed row, and the WAL is gone."""
    path = tmp_path / "stop.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous="FULL")
    assert db.checkpointer is not None
    checkpointer = db.checkpointer
    checkpointer.interval = 3600.0
    await _create(db)
    for note_id in range(50):
        await _note(db, note_id)
    assert wal_pages(path) > 50
    await db.close()
    assert checkpointer.checkpoints >= 1
    assert not any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
    assert wal_pages(path) == 0
    with sqlite3.connect(path) as reader:
        assert reader.execute("select count(*) from notes").fetchone() == (50,)


async def test_in_memory_databases_have_no_checkpointer() -> None:
    db = Database("sqlite://")
    try:
        assert db.checkpointer is None
        async with db.read() as conn:
            backstop = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert backstop == 1000
    finally:
        await db.close()
