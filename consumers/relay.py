"""The outbox relay: sends what committed transactions queued, and records how it went.

Rows are leased, not deleted, until their work is done, so a crash at any point
re-sends them after the lease runs out: at least once, with stable ids that make
the repeat harmless (`ce_id` for events, `webhook-id` for HTTP deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import orjson
import structlog

from consumers import lifecycle
from consumers.dispatch import HttpDispatcher
from consumers.records import CANCEL_HTTP_TOPIC, DISPATCH_HTTP_TOPIC, StatusChanges
from firehook.bus import Bus, Message
from firehook.context import Context
from firehook.ids import new_id
from firehook.poison import POISON_ERRORS, skip_record
from firehook.signal import Signal
from firehook.store import routines as routine_store
from firehook.store import runs as store
from schemas.common import RunStatus
from schemas.errors import Conflict

log = structlog.get_logger("firehook.relay")

LEASE = timedelta(seconds=330)  # longer than the longest dispatch timeout (300 s)


class OutboxRelay:
    def __init__(
        self,
        ctx: Context,
        bus: Bus,
        dispatcher: HttpDispatcher,
        *,
        wake: Signal,
        publish_run_events: bool,
        poll_interval: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._ctx = ctx
        self._bus = bus
        self._dispatcher = dispatcher
        self._wake = wake
        self._publish_run_events = publish_run_events
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(ctx.settings.dispatch_concurrency)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._deliveries:
            await asyncio.wait(self._deliveries, timeout=30)
        await self._dispatcher.close()

    async def _run(self) -> None:
        while True:
            # Listen before the pass: a commit that lands during it wakes the next one.
            woken = self._wake.wait(self._poll_interval)
            try:
                try:
                    handled = await self.relay_once()
                except Exception as exc:
                    log.error("outbox relay pass failed; retrying", exc_info=exc)
                    handled = 0
                if handled < self._batch_size:
                    await woken
            finally:
                woken.close()  # not awaited when there is more to do, or on stop

    async def relay_once(self) -> int:
        """Lease one batch, publish its events, start its deliveries. Returns the rows leased."""
        async with self._ctx.db.write() as conn:
            rows = await store.claim_outbox(
                conn, new_id(), self._ctx.clock(), LEASE, self._batch_size
            )
        if not rows:
            return 0
        messages, poison = _messages(rows)
        if poison:
            async with self._ctx.db.write() as conn:
                await store.remove_from_outbox(conn, poison)
        events = [row for row in rows if row["topic"] not in _DELIVERIES]
        events = [row for row in events if row["id"] not in poison]
        if events:
            try:
                await self._bus.publish([messages[row["id"]] for row in events])
            except Exception:
                # Give the rows back at once rather than when the lease ends: the bus
                # may be back in a second, and their events should follow then.
                async with self._ctx.db.write() as conn:
                    await store.release_outbox(conn, [row["id"] for row in events])
                raise
            async with self._ctx.db.write() as conn:
                await store.remove_from_outbox(conn, [row["id"] for row in events])
        for row in rows:
            if row["topic"] in _DELIVERIES and row["id"] not in poison:
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(row))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
        return len(rows)

    async def wait_idle(self) -> None:
        """Wait for the deliveries under way (tests and shutdown)."""
        while self._deliveries:
            await asyncio.wait(set(self._deliveries))

    async def _deliver(self, row: Mapping[Any, Any]) -> None:
        try:
            await self._deliver_row(row)
        except Exception as exc:
            log.error("dispatch failed; it will be retried when its lease ends", exc_info=exc)
        finally:
            self._slots.release()

    async def _deliver_cancel(self, row: Mapping[Any, Any]) -> None:
        """The signed cancel call of a run (cancel_other); one try, as the run is over."""
        async with self._ctx.db.read() as conn:
            run = await store.get_run(conn, row["body"]["runId"])
            routine = await routine_store.get_routine(conn, run["routine_id"]) if run else None
        if run is not None and routine is not None and routine["dispatch"].get("url"):
            delivery = await self._dispatcher.deliver_cancel(run, routine)
            if not delivery.delivered:
                log.info("cancel call not delivered", run_id=run["id"], error=delivery.error)
        async with self._ctx.db.write() as conn:
            await store.remove_from_outbox(conn, [row["id"]])

    async def _deliver_row(self, row: Mapping[Any, Any]) -> None:
        if row["topic"] == CANCEL_HTTP_TOPIC:
            await self._deliver_cancel(row)
            return
        run_id, attempt = _delivery_of(row)
        async with self._ctx.db.read() as conn:
            run = await store.get_run(conn, run_id)
            routine = await routine_store.get_routine(conn, run["routine_id"]) if run else None
        if (
            run is None
            or routine is None
            or run["attempt"] != attempt
            or run["status"] != RunStatus.DISPATCHED
        ):
            async with self._ctx.db.write() as conn:
                await store.remove_from_outbox(conn, [row["id"]])
            return
        try:
            delivery = await self._dispatcher.deliver(run, routine)
        except POISON_ERRORS as exc:
            # The run cannot be encoded for its executor: this delivery can never be made,
            # and its run ends by its timeout like any run that was not reported.
            skip_record("outbox_relay", row["id"], exc)
            async with self._ctx.db.write() as conn:
                await store.remove_from_outbox(conn, [row["id"]])
            return
        changes = StatusChanges(self._ctx.settings, publish_to_bus=self._publish_run_events)
        async with self._ctx.db.write() as conn:
            now = self._ctx.clock()
            current = await store.get_run(conn, run_id, for_update=True)
            if current is not None and current["attempt"] == attempt:
                if not delivery.delivered:
                    await lifecycle.record_undeliverable(
                        conn,
                        current,
                        changes,
                        now,
                        delivery.error or "failed",
                        delivery.http_status,
                    )
                elif delivery.result is not None:
                    with contextlib.suppress(Conflict):
                        await lifecycle.complete_run(
                            conn,
                            run_id,
                            RunStatus(delivery.result.status),
                            changes,
                            now,
                            output=delivery.result.output,
                            error=delivery.result.error,
                            linked_issue_id=delivery.result.linked_issue_id,
                        )
                else:
                    await lifecycle.mark_running(
                        conn, current, changes, now, delivery.http_status or 200
                    )
            await changes.save(conn)
            await store.remove_from_outbox(conn, [row["id"]])
        self._ctx.run_events.notify()
        self._wake.notify()


_DELIVERIES = frozenset({DISPATCH_HTTP_TOPIC, CANCEL_HTTP_TOPIC})


def _messages(rows: Sequence[Mapping[Any, Any]]) -> tuple[dict[int, Message], list[int]]:
    """The bus message of each event row, and the ids of rows that cannot be sent at all.

    A row that cannot be encoded (or an HTTP delivery whose body is unreadable) would
    fail every pass and hold back the rows after it; it is dropped, logged and counted.
    """
    messages: dict[int, Message] = {}
    poison: list[int] = []
    for row in rows:
        try:
            if row["topic"] in _DELIVERIES:
                _delivery_of(row)
            else:
                messages[row["id"]] = _message(row)
        except (*POISON_ERRORS, KeyError) as exc:
            skip_record("outbox_relay", row["id"], exc)
            poison.append(row["id"])
    return messages, poison


def _delivery_of(row: Mapping[Any, Any]) -> tuple[str, int]:
    body = row["body"]
    if not isinstance(body, dict) or not isinstance(body["runId"], str):
        raise TypeError("delivery row has no run id")
    if not isinstance(body["attempt"], int):
        raise TypeError("delivery row has no attempt")
    return body["runId"], body["attempt"]


def _message(row: Mapping[Any, Any]) -> Message:
    headers = tuple((name, value.encode()) for name, value in row["headers"])
    return Message(
        topic=row["topic"], key=row["key"], value=orjson.dumps(row["body"]), headers=headers
    )
