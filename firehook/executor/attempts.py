"""Running attempts: a concurrency limit, the run's deadline, cancellation, and draining.

Whatever a handler does, its attempt ends in an `Outcome` that is reported: a return is
`succeeded`, an exception (a crash) or the deadline is `failed`, and the run's retry
policy decides what comes next. Only a run cancelled by the core reports nothing, as
it has already ended.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from firehook.executor.handlers import Handler
from firehook.executor.runs import Run

log = structlog.get_logger("firehook.executor")

_ERROR_LIMIT = 10_000
_REMEMBERED = 100_000


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["succeeded", "failed"]
    output: Any = None
    error: str | None = None


Report = Callable[[Run, Outcome], Awaitable[None]]
Claim = Callable[[Run], Awaitable[bool]]


class Attempts:
    """The attempts in flight in one executor process."""

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._reasons: dict[tuple[str, int], str] = {}
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.concurrency = concurrency

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def free(self) -> bool:
        return len(self._tasks) < self.concurrency

    def running(self, key: tuple[str, int]) -> bool:
        return key in self._tasks

    def seen(self, key: tuple[str, int]) -> bool:
        """Whether this process already took (run, attempt); remembers it from now on."""
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return False

    async def start(
        self,
        run: Run,
        handler: Handler,
        report: Report,
        on_done: Callable[[Run], None] = lambda _run: None,
        claim: Claim | None = None,
    ) -> None:
        """Wait for a free slot, then run `handler` in its own task (after `claim`, if given,
        says this process may take the attempt)."""
        await self._slots.acquire()
        task = asyncio.create_task(self._attempt(run, handler, report, on_done, claim))
        self._tasks[run.key] = task

    async def run_inline(self, run: Run, handler: Handler) -> Outcome | None:
        """Run `handler` in the caller's task, within the concurrency limit; its outcome."""
        async with self._slots:
            return await self._outcome(run, handler)

    def cancel_run(self, run_id: str, reason: str = "cancelled") -> bool:
        """Cancel the handler of any attempt of `run_id` in flight; whether there was one."""
        found = False
        for key, task in list(self._tasks.items()):
            if key[0] == run_id and not task.done():
                self._reasons[key] = reason
                task.cancel()
                found = True
        return found

    async def drain(self, timeout: float) -> int:
        """Wait for the attempts in flight, at most `timeout` seconds; the handlers still
        running then are cancelled and reported failed. How many were cut short."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(
                list(self._tasks.values()), timeout=max(0.0, deadline - time.monotonic())
            )
        cut = 0
        for key, task in list(self._tasks.items()):
            if not task.done():
                self._reasons[key] = "shutdown"
                task.cancel()
                cut += 1
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))
        return cut

    async def _attempt(
        self,
        run: Run,
        handler: Handler,
        report: Report,
        on_done: Callable[[Run], None],
        claim: Claim | None,
    ) -> None:
        taken = claim is None
        outcome: Outcome | None = None
        try:
            if claim is not None and not await claim(run):
                return
            taken = True
            outcome = await self._outcome(run, handler)
            if outcome is not None:
                await report(run, outcome)
        except asyncio.CancelledError:
            reason = self._reasons.get(run.key)
            if reason == "shutdown" and taken:
                # Report it (the run retries or fails by its policy), and let the stop go on;
                # a handler that had finished keeps its own outcome.
                cut = Outcome("failed", error="executor stopped before the end")
                await report(run, outcome or cut)
            elif reason is None:
                raise
        except Exception:
            log.exception("run result not reported", run_id=run.id, attempt=run.attempt)
        finally:
            self._tasks.pop(run.key, None)
            self._reasons.pop(run.key, None)
            self._slots.release()
            on_done(run)

    async def _outcome(self, run: Run, handler: Handler) -> Outcome | None:
        left = run.seconds_left(datetime.now(UTC))
        if left is not None and left <= 0:
            return Outcome("failed", error="deadline exceeded before the handler started")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(None if left is None else loop.time() + left):
                output = await handler(run)
        except TimeoutError as exc:
            if run.deadline is not None and datetime.now(UTC) >= run.deadline:
                log.info("handler cut at the run's deadline", run_id=run.id, attempt=run.attempt)
                return Outcome("failed", error="deadline exceeded")
            return _failed(exc)
        except asyncio.CancelledError:
            if self._reasons.get(run.key) == "cancelled":
                log.info("handler cancelled with its run", run_id=run.id, attempt=run.attempt)
                return None
            raise
        except Exception as exc:
            log.info("handler failed", run_id=run.id, attempt=run.attempt, error=repr(exc)[:200])
            return _failed(exc)
        if run.linked_issue_id is not None and isinstance(output, dict):
            output = {"linkedIssueId": run.linked_issue_id} | output
        return Outcome("succeeded", output=output)


def _failed(exc: BaseException) -> Outcome:
    return Outcome("failed", error=f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT])
