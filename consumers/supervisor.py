"""Time-driven run changes: timeouts and retries, run when their moment comes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from consumers import lifecycle
from consumers.overlap import start_stranded_runs
from consumers.records import StatusChanges
from firehook.context import Context
from firehook.store import runs as store
from schemas.common import ACTIVE_RUN_STATUSES, RunStatus

log = structlog.get_logger("firehook.supervisor")


class RunSupervisor:
    """Wakes at the earliest deadline or retry time (at least every `max_sleep` seconds)."""

    def __init__(self, ctx: Context, *, publish_run_events: bool, max_sleep: float = 1.0) -> None:
        self._ctx = ctx
        self._publish = publish_run_events
        self._max_sleep = max_sleep
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="run-supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                next_due = await self.run_once()
            except Exception as exc:
                log.error("supervisor pass failed; retrying", exc_info=exc)
                next_due = None
            delay = self._max_sleep
            if next_due is not None:
                delay = min(delay, max(0.0, (next_due - self._ctx.clock()).total_seconds()))
            await asyncio.sleep(delay)

    async def run_once(self, now: datetime | None = None) -> datetime | None:
        """Time out overdue runs and start due retries; the next moment something is due."""
        changes = StatusChanges(self._ctx.settings, publish_to_bus=self._publish)
        async with self._ctx.db.write() as conn:
            now = now or self._ctx.clock()
            expired = await lifecycle.expire_overdue_runs(conn, changes, now)
            retried = await lifecycle.start_due_retries(conn, changes, now)
            retried += await start_stranded_runs(conn, changes, now)
            await changes.save(conn)
            next_due = await store.earliest_deadline(
                conn, [s.value for s in ACTIVE_RUN_STATUSES], RunStatus.RETRY_PENDING.value
            )
        if expired or retried:
            log.info("runs timed out or retried", timed_out=expired, retried=retried)
            self._ctx.run_events.notify()
            self._ctx.outbox.notify()
        return next_due
