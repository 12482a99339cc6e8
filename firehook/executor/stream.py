"""Embedded mode: the run-event stream (SSE) of a gateway, and its API for claims and results.

Every member of an executor group reads the whole stream, so each attempt is claimed
(`POST /api/runs/{id}/claim`) before its handler starts: the core lets one claim of an
attempt succeed. The stream resumes after a disconnect with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import structlog

from firehook.executor.api import RunsApi
from firehook.executor.attempts import Attempts
from firehook.executor.handlers import Handler, Registry
from firehook.executor.runs import MovedOn, Run

log = structlog.get_logger("firehook.executor")

DISPATCHED = "dev.firehook.run.dispatched"
CANCELLED = "dev.firehook.run.cancelled"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    id: str | None
    event: str | None
    data: str


async def server_sent_events(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """The events of a text/event-stream, as the HTML specification parses them."""
    event_id: str | None = None
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield ServerSentEvent(event_id, event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value


class StreamRuns:
    """One member of an embedded-mode executor group."""

    def __init__(
        self,
        registry: Registry,
        attempts: Attempts,
        *,
        base_url: str,
        api_key: str,
        company_id: str,
        routine_id: str | None = None,
        last_event_id: str | None = None,
        reconnect_delay: float = 1.0,
        max_pending: int = 1000,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._registry = registry
        self._attempts = attempts
        self._company_id = company_id
        self._routine_id = routine_id
        self.last_event_id = last_event_id
        self._reconnect_delay = reconnect_delay
        self._max_pending = max_pending
        self._api = RunsApi(base_url, api_key, http)
        self._http = self._api.http
        self._headers = self._api.headers
        self._queue: deque[tuple[Run, Handler]] = deque()
        self._moved_on = MovedOn()
        self._queued = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.reconnects = 0

    async def run(self, stop: asyncio.Event, drain_timeout: float) -> None:
        """Until `stop` is set; then drain the attempts in flight."""
        tasks = [
            asyncio.create_task(self._read_forever()),
            asyncio.create_task(self._start_queued()),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            cut = await self._attempts.drain(drain_timeout)
            if cut:
                log.warning("handlers cut short at shutdown", count=cut)
            await self._api.close()

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read_stream()
            except (httpx.HTTPError, StreamRefused) as exc:
                log.info("event stream lost; reconnecting", error=repr(exc)[:200])
            self.reconnects += 1
            await asyncio.sleep(self._reconnect_delay)

    async def _read_stream(self) -> None:
        headers = dict(self._headers, Accept="text/event-stream")
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        params = {"routineId": self._routine_id} if self._routine_id else None
        path = f"/api/companies/{self._company_id}/events"
        async with self._http.stream("GET", path, headers=headers, params=params) as response:
            if response.status_code != 200:
                raise StreamRefused(f"HTTP {response.status_code}")
            async for event in server_sent_events(response.aiter_lines()):
                await self._room.wait()
                self._read_event(event)
                if event.id is not None:
                    self.last_event_id = event.id

    def _read_event(self, event: ServerSentEvent) -> None:
        try:
            cloudevent = orjson.loads(event.data)
            ce_type, data = cloudevent["type"], cloudevent["data"]
            run_id = str(data["runId"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("undecodable stream event skipped", id=event.id)
            return
        if ce_type != DISPATCHED:
            # Claimed by another member, ended or cancelled: not to start if still queued.
            if isinstance(data.get("attempt"), int):
                self._moved_on.note(run_id, data["attempt"])
            if ce_type == CANCELLED:
                self._attempts.cancel_run(run_id)
            return
        try:
            run = Run.from_event(data, cloudevent.get("traceparent"))
        except (KeyError, TypeError, ValueError):
            log.warning("undecodable dispatched event skipped", id=event.id)
            return
        run.link_issue = self._api.link_issue
        handler = self._registry.handler_for(run)
        left = run.seconds_left()
        if handler is None or (left is not None and left <= 0):
            return
        if self._attempts.seen(run.key):
            return
        self._queue.append((run, handler))
        self._queued.set()
        if len(self._queue) >= self._max_pending:
            self._room.clear()

    async def _start_queued(self) -> None:
        while True:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            run, handler = self._queue.popleft()
            if len(self._queue) < self._max_pending // 2:
                self._room.set()
            if self._moved_on.covers(run):
                continue  # saves a claim the core would refuse
            await self._attempts.start(run, handler, self._api.complete, claim=self._api.claim)


class StreamRefused(Exception):
    """The gateway refused the event stream (wrong key or company)."""
