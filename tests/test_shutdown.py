"""Stopping: every command ends on SIGTERM, and a served role's drain keeps to its budget."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from firehook.app import build_app, build_context
from firehook.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_migrate_stops_on_sigterm_while_it_waits_for_the_database(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")  # migrate now waits on SQLite's busy timeout
    env = {name: value for name, value in os.environ.items() if not name.startswith("FIREHOOK_")}
    env["FIREHOOK_DATABASE_URL"] = f"sqlite:///{path}"
    env["PYTHONPATH"] = str(ROOT)
    child = subprocess.Popen(
        [sys.executable, "-m", "firehook.cli", "migrate"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=10)
    finally:
        child.kill()
        holder.execute("ROLLBACK")
        holder.close()
    assert child.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr
    assert "Traceback" not in stderr


class _Stuck:
    """A service whose drain never ends."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await asyncio.sleep(3600)


class _Quick:
    stopped = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True


async def test_a_stuck_service_cannot_hold_the_shutdown_past_its_budget(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'stop.db'}",
        secret_key_file=str(tmp_path / "key"),
        shutdown_timeout_sec=2,
    )
    ctx = build_context(settings, dev=True)
    quick = _Quick()
    # Stopped in reverse: the stuck one first, then the quick one still gets its turn.
    app = build_app(ctx, [quick, _Stuck()], migrate=True)
    started = time.monotonic()
    async with app.router.lifespan_context(app):
        pass
    elapsed = time.monotonic() - started
    assert quick.stopped
    assert elapsed < 3.0, elapsed
