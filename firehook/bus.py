"""The bus: how fires and run events travel between roles.

Two implementations honour one small contract: Kafka in production
(`firehook.kafka`), and an in-process call in embedded mode. `publish` returns
only once the message is durable: acknowledged by the in-sync replicas, or, in
process, handled by the subscriber whose transaction committed. Subscribers get
batches, and a batch counts as consumed only after its handler returned.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from firehook.store.database import store_unreachable

log = structlog.get_logger("firehook.bus")


class Message:
    """One record: a topic, a partitioning key, headers and a value, as Kafka has them.

    `decoded` is the object `value` was encoded from, when the publisher had one.
    Only the in-process bus carries it to subscribers (Kafka carries bytes), so that
    embedded mode does not parse back what it serialised a moment before. A message
    made with `encode` instead of `value` serialises on the first read of `value`:
    in embedded mode a fire is handed over as an object and its bytes are never built.
    """

    __slots__ = ("_encode", "_value", "decoded", "headers", "key", "topic")

    def __init__(
        self,
        topic: str,
        key: str | None,
        value: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        decoded: object | None = None,
        *,
        encode: Callable[[], bytes] | None = None,
    ) -> None:
        if (value is None) == (encode is None):
            raise TypeError("a message needs exactly one of value and encode")
        self.topic = topic
        self.key = key
        self.headers = headers
        self.decoded = decoded
        self._value = value
        self._encode = encode

    @property
    def value(self) -> bytes:
        if self._value is None:
            assert self._encode is not None
            self._value = self._encode()
            self._encode = None
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.topic, self.key, self.value, self.headers) == (
            other.topic,
            other.key,
            other.value,
            other.headers,
        )

    def __hash__(self) -> int:
        return hash((self.topic, self.key, self.value, self.headers))

    def __repr__(self) -> str:
        return (
            f"Message(topic={self.topic!r}, key={self.key!r}, value={self.value!r}, "
            f"headers={self.headers!r})"
        )

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None


BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


def dead_lettered(message: Message, topic: str, reason: str) -> Message:
    """`message` as received, for the dead-letter `topic`, with why in a header."""
    headers = (*message.headers, ("firehook_dlq_reason", reason.encode()))
    return Message(topic, message.key, message.value, headers)


class BusUnavailable(Exception):
    """The bus could not make a message durable; nothing can be promised to the client."""


class Bus(ABC):
    @abstractmethod
    async def publish(self, messages: Sequence[Message]) -> None:
        """Make `messages` durable, or raise BusUnavailable."""

    @abstractmethod
    def subscribe(self, topic: str, group: str, handler: BatchHandler) -> None:
        """Deliver batches of `topic` to `handler`, once per consumer group."""

    async def start(self) -> None:
        """Connect (Kafka) or start the delivery tasks (in process)."""

    async def stop(self) -> None:
        """Deliver or fail what is pending, then disconnect."""

    async def ready(self) -> bool:
        return True


@dataclass
class _Pending:
    message: Message
    done: asyncio.Future[None]


@dataclass
class _Topic:
    queue: list[_Pending] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    handlers: list[BatchHandler] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class InProcessBus(Bus):
    """Embedded mode: `publish` awaits the subscribers themselves.

    Concurrent publishes to one topic are gathered into one batch, so the
    subscriber commits them in one transaction (group commit). A topic nobody
    subscribes to drops its messages, as a Kafka topic without consumers would
    keep them unread.
    """

    def __init__(self, max_batch: int = 500) -> None:
        self._topics: dict[str, _Topic] = defaultdict(_Topic)
        self._max_batch = max_batch
        self._running = False

    def subscribe(self, topic: str, group: str, handler: BatchHandler) -> None:
        self._topics[topic].handlers.append(handler)
        if self._running:
            self._start_topic(topic)

    async def start(self) -> None:
        self._running = True
        for topic in list(self._topics):
            self._start_topic(topic)

    def _start_topic(self, topic: str) -> None:
        state = self._topics[topic]
        if state.task is None and state.handlers:
            state.task = asyncio.create_task(self._deliver(topic, state), name=f"bus:{topic}")

    async def stop(self) -> None:
        self._running = False
        for state in self._topics.values():
            if state.task is not None:
                state.task.cancel()
                await asyncio.gather(state.task, return_exceptions=True)
                state.task = None
            for pending in state.queue:
                if not pending.done.done():
                    pending.done.set_exception(BusUnavailable("bus stopped"))
            state.queue.clear()

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[None]] = []
        for message in messages:
            state = self._topics[message.topic]
            if not state.handlers:
                continue
            if not self._running:
                raise BusUnavailable("bus is not running")
            pending = _Pending(message, loop.create_future())
            state.queue.append(pending)
            state.wakeup.set()
            waits.append(pending.done)
        if len(waits) == 1:
            # A webhook publishes one fire: awaited as it is, it skips gather's
            # bookkeeping, several microseconds a request.
            await waits[0]
        elif waits:
            await asyncio.gather(*waits)

    async def _deliver(self, topic: str, state: _Topic) -> None:
        while True:
            await state.wakeup.wait()
            state.wakeup.clear()
            while state.queue:
                batch = state.queue[: self._max_batch]
                del state.queue[: self._max_batch]
                await self._handle(topic, state, batch)

    async def _handle(self, topic: str, state: _Topic, batch: list[_Pending]) -> None:
        try:
            for handler in state.handlers:
                await handler([pending.message for pending in batch])
        except Exception as exc:
            if len(batch) > 1:
                # One bad message must not fail the fires that happened to share its
                # batch: deliver them one by one, so only the bad one fails.
                for pending in batch:
                    await self._handle(topic, state, [pending])
                return
            log.error("in-process delivery failed", topic=topic, exc_info=exc)
            if not batch[0].done.done():
                # Unavailable (503) only when retrying can succeed: the store was not
                # reached. Anything else is the publisher's unexpected error (500).
                failure = BusUnavailable("delivery failed") if store_unreachable(exc) else exc
                batch[0].done.set_exception(failure)
            return
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(None)
