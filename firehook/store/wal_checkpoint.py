"""WAL checkpoints of a SQLite file database, kept out of the commit path.

SQLite's auto-checkpoint runs inside the COMMIT that crosses its threshold
(1000 pages): that commit copies the WAL into the database and fsyncs it. With
`synchronous=NORMAL` the commit runs on the event loop, so every request waits
for it (commits took 0.5 ms at p50 and 11 ms at p90); with `FULL` it runs on the
commit thread but still holds back the answers of its batch.

So the engine's connections only checkpoint as a backstop, at `backstop_pages`,
and a thread of its own checkpoints from a connection of its own once the WAL
holds `threshold_pages` frames not yet copied (SQLite's own threshold), or
`interval` seconds after the last checkpoint if it holds any. Its checkpoint
is PASSIVE: it never takes a lock the writer needs, and the writer appends to
the WAL meanwhile; once it has copied every frame, the writer's next
transaction starts the WAL over from its beginning, so the file does not grow
past what is written between two checkpoints.
A reader holding an old snapshot can keep a PASSIVE checkpoint from finishing;
the backstop then bounds the WAL as SQLite always did, and `journal_size_limit`
shrinks the file again once it restarts.

Durability does not change: a commit's own WAL write and fsync (`FULL`) happen
in the COMMIT as before; a checkpoint only copies committed frames into the
database file, syncing both.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from pathlib import Path

# About 40 MiB of WAL with 4 KiB pages before a commit checkpoints by itself.
BACKSTOP_PAGES = 10_000
THRESHOLD_PAGES = 1000
CHECKPOINT_INTERVAL = 1.0
# How often the WAL-index is looked at: a read of 100 bytes, no lock.
POLL_INTERVAL = 0.02

# The WAL-index header (https://www.sqlite.org/walformat.html), in native byte
# order: mxFrame (the last frame committed) at byte 16, nBackfill (the frames
# already copied into the database) at byte 96.
_MX_FRAME = struct.Struct("=I")


def uncopied_frames(path: str) -> int | None:
    """How many committed WAL frames of the database at `path` wait for a checkpoint,
    read from its WAL-index; None when there is none to read."""
    try:
        with open(f"{path}-shm", "rb") as shm:
            header = shm.read(100)
    except OSError:
        return None
    if len(header) < 100:
        return None
    (mx_frame,) = _MX_FRAME.unpack_from(header, 16)
    (backfilled,) = _MX_FRAME.unpack_from(header, 96)
    return max(0, int(mx_frame) - int(backfilled))


class WalCheckpointer:
    """Checkpoints the WAL of the database at `path` on a thread until `stop()`."""

    def __init__(
        self,
        path: str,
        *,
        threshold_pages: int = THRESHOLD_PAGES,
        interval: float = CHECKPOINT_INTERVAL,
    ) -> None:
        self.path = path
        self.threshold_pages = threshold_pages
        self.interval = interval
        self.checkpoints = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the thread after a last checkpoint that empties the WAL (nothing writes now)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._checkpoint("TRUNCATE")
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Run one PASSIVE checkpoint now: (busy, frames in the WAL, frames copied),
        or None while the database file does not exist yet."""
        with self._lock:
            return self._checkpoint("PASSIVE")

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(POLL_INTERVAL):
            frames = uncopied_frames(self.path)
            due = time.monotonic() - last >= self.interval
            if frames == 0 or (not due and (frames is None or frames < self.threshold_pages)):
                continue
            last = time.monotonic()
            try:
                self.checkpoint()
            except sqlite3.Error:
                # A busy or failing checkpoint is retried at the next turn; the
                # backstop keeps the WAL bounded meanwhile.
                continue

    def _checkpoint(self, mode: str) -> tuple[int, int, int] | None:
        connection = self._connect()
        if connection is None:
            return None
        row = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.checkpoints += 1
        return int(row[0]), int(row[1]), int(row[2])

    def _connect(self) -> sqlite3.Connection | None:
        if self._connection is None:
            if not Path(self.path).exists():
                # Opening the file would create it; the engine creates it, in WAL mode.
                return None
            self._connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            # A PASSIVE checkpoint never waits; the last one (TRUNCATE) may wait
            # on this thread for a reader the engine is still closing.
            self._connection.execute("PRAGMA busy_timeout=1000")
        return self._connection
