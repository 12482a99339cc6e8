"""The executor: handlers registered once, served in Kafka mode, embedded mode or over HTTP."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.applications import Starlette

from firehook.executor.asgi import dispatch_app
from firehook.executor.attempts import Attempts
from firehook.executor.handlers import Handler, Registry, Selector

H = TypeVar("H", bound=Handler)


class Executor:
    """Runs Firehook runs with async handlers, chosen by routine id, title, task or labels.

    A handler takes a `Run` and returns its output (the run succeeds) or raises (the
    attempt fails with the error, and the routine's retry policy decides what follows).
    """

    def __init__(self, *, concurrency: int = 16, drain_timeout: float = 30.0) -> None:
        self.registry = Registry()
        self.attempts = Attempts(concurrency)
        self.drain_timeout = drain_timeout

    def handler(
        self,
        *,
        routine_id: str | None = None,
        title: str | None = None,
        task: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Callable[[H], H]:
        """Register the decorated coroutine function for the runs the selector matches."""

        def register(function: H) -> H:
            self.registry.add(Selector(routine_id, title, task, labels), function)
            return function

        return register

    async def serve_kafka(
        self,
        *,
        bootstrap_servers: str | list[str],
        group_id: str,
        stop: asyncio.Event | None = None,
        **options: Any,
    ) -> None:
        """Kafka mode: a member of consumer group `group_id` on the runs topic; results go
        to the run-results topic. Returns once `stop` is set (or SIGTERM/SIGINT arrives)
        and the work in hand is drained. `options`: see `KafkaRuns`."""
        from firehook.executor.kafka import KafkaRuns

        worker = KafkaRuns(
            self.registry,
            self.attempts,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            **options,
        )
        await worker.run(stop or _stop_on_signals(), self.drain_timeout)

    async def serve_stream(
        self,
        *,
        base_url: str,
        api_key: str,
        company_id: str,
        stop: asyncio.Event | None = None,
        **options: Any,
    ) -> None:
        """Embedded mode: the gateway's run-event stream (SSE, resumed with Last-Event-ID);
        attempts are claimed and completed through its API. `options`: see `StreamRuns`."""
        from firehook.executor.stream import StreamRuns

        worker = StreamRuns(
            self.registry,
            self.attempts,
            base_url=base_url,
            api_key=api_key,
            company_id=company_id,
            **options,
        )
        await worker.run(stop or _stop_on_signals(), self.drain_timeout)

    def run_kafka(self, **options: Any) -> None:
        """`serve_kafka` in a new event loop, until SIGTERM or SIGINT."""
        asyncio.run(self.serve_kafka(**options))

    def run_stream(self, **options: Any) -> None:
        """`serve_stream` in a new event loop, until SIGTERM or SIGINT."""
        asyncio.run(self.serve_stream(**options))

    def asgi_app(self, secret: str, *, path: str = "/") -> Starlette:
        """An ASGI app for HTTP dispatch: verifies the Standard Webhooks signature made with
        the routine's `dispatchSigningSecret` and answers each run's result inline."""
        return dispatch_app(self.registry, self.attempts, secret, path=path)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
