"""The Bus over Apache Kafka (aiokafka), for the production roles.

Only the production wiring imports this module, so the embedded default never
loads aiokafka.

Publishing returns once every in-sync replica acknowledged (acks=all), or raises
BusUnavailable after `kafka_publish_timeout_sec`, which the gateway answers with
503: a 202 is never sent for a fire the broker does not hold.

Consuming: one consumer group per `group` passed to `subscribe`, fetching
batches across the assigned partitions. A batch goes to its topic's handler,
and only after the handler returned are its offsets committed. A failing
handler is retried with backoff without committing and without moving on, so
nothing is skipped; a crash or a rebalance redelivers the uncommitted batch,
which the consumers make harmless (derived run ids, stable event ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    CommitFailedError,
    IllegalStateError,
    KafkaError,
)
from aiokafka.helpers import create_ssl_context  # type: ignore[import-untyped]
from aiokafka.partitioner import DefaultPartitioner, murmur2  # type: ignore[import-untyped]

from firehook.bus import BatchHandler, Bus, BusUnavailable, Message, dead_lettered
from firehook.metrics import CONSUMER_BATCH_SIZE, CONSUMER_LAG
from firehook.settings import Settings
from firehook.tracing import child_traceparent, current_traceparent

log = structlog.get_logger("firehook.kafka")

# No linger: a publish goes out at once, and the ones made while a produce
# request is in flight share the next request. A linger of even 1 ms costs each
# publish about 1.5 ms (on tansu: 0.25 ms instead of 1.8 ms per acknowledged publish).
_LINGER_MS = 0
_MAX_BATCH_BYTES = 256 * 1024
# The broker's wait for data on an empty fetch. Kept short because not every
# broker answers a waiting fetch as soon as data arrives, and this bounds the
# delay between a publish and its delivery.
_FETCH_MAX_WAIT_MS = 10
_POLL_TIMEOUT_MS = 250
_CONNECT_WAIT_SEC = 10.0
_RETRY_FIRST_SEC = 0.1
_RETRY_MAX_SEC = 5.0
# Failures of a batch before its messages are tried one by one, and failures of
# one message alone (with the store answering) before it is set aside.
_ISOLATE_AFTER = 3
_POISON_ATTEMPTS = 3

Probe = Callable[[], Awaitable[bool]]
# Within an orchestrator's usual 30 s grace period.
_DRAIN_SEC = 20.0
_READY_TIMEOUT_SEC = 2.0
_LAG_EVERY_SEC = 1.0
_TOPIC_ALREADY_EXISTS = 36


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by producer, consumers and admin client."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("FIREHOOK_KAFKA_BOOTSTRAP_SERVERS is required and has no default")
    options: dict[str, Any] = {
        "bootstrap_servers": [
            server.strip()
            for server in settings.kafka_bootstrap_servers.split(",")
            if server.strip()
        ],
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    if settings.kafka_security_protocol.startswith("SASL_"):
        if not settings.kafka_sasl_mechanism:
            raise ValueError(
                f"FIREHOOK_KAFKA_SASL_MECHANISM is required with "
                f"FIREHOOK_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}"
            )
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password,
        }
    return options


def topics_of(settings: Settings) -> list[str]:
    """Every topic Firehook uses (DESIGN.md, "Events")."""
    return [
        settings.topic_fires,
        settings.topic_runs,
        settings.topic_run_results,
        settings.topic_fires_dlq,
    ]


class KafkaBus(Bus):
    """Producer and consumer groups on one Kafka cluster."""

    def __init__(self, settings: Settings, *, connect_wait: float = _CONNECT_WAIT_SEC) -> None:
        """`connect_wait`: how long `start` waits for the broker before going on without it."""
        self._settings = settings
        self._connect_wait = connect_wait
        self._options = client_options(settings)
        self._publish_timeout = settings.kafka_publish_timeout_sec
        self._subscriptions: dict[str, dict[str, BatchHandler]] = defaultdict(dict)
        self.dead_letters: dict[str, tuple[str, Probe]] = {}
        self._groups: list[_GroupConsumer] = []
        self._producer: Any = None
        self._connected = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._closing = False

    # -- the Bus contract ---------------------------------------------------------------

    def subscribe(self, topic: str, group: str, handler: BatchHandler) -> None:
        if self._groups:
            raise RuntimeError("subscribe before the bus starts")
        if topic in self._subscriptions[group]:
            raise ValueError(f"{topic!r} already has a handler in group {group!r}")
        self._subscriptions[group][topic] = handler

    def dead_letter(self, topic: str, to: str, *, healthy: Probe) -> None:
        """Set aside a message of `topic` that its handler keeps refusing on its own.

        A failing batch is retried with backoff, as a store outage needs. After a
        few failures its messages are handled one by one, in order; one that still
        fails alone, `_POISON_ATTEMPTS` times in a row while `healthy()` (the store
        answers) holds, is published to `to` with the error in a
        `firehook_dlq_reason` header, and its partition moves on. While `healthy()`
        fails it is an outage, and nothing is set aside.
        """
        self.dead_letters[topic] = (to, healthy)

    async def start(self) -> None:
        """Connect (creating the topics if allowed) and start the consumer groups.

        An unreachable broker does not fail the start: connecting goes on in the
        background, and the process reports not ready until it succeeds.
        """
        self._closing = False
        self._connector = asyncio.create_task(self._connect(), name="kafka-connect")
        await asyncio.wait({self._connector}, timeout=self._connect_wait)
        if not self._connected.is_set():
            log.warning("Kafka is not reachable yet; still trying in the background")
        await self.start_consuming()

    async def start_consuming(self) -> None:
        """Start the consumer groups of the subscriptions (idempotent)."""
        if self._groups:
            return
        self._groups = [
            _GroupConsumer(self, group, dict(handlers))
            for group, handlers in self._subscriptions.items()
        ]
        for consumer in self._groups:
            consumer.start()

    async def stop_consuming(self) -> None:
        """Finish and commit the batches in hand, then leave the groups (idempotent)."""
        groups, self._groups = self._groups, []
        await asyncio.gather(*(group.stop() for group in groups))

    async def stop(self) -> None:
        """Stop consuming, wait for unacknowledged publishes (bounded), disconnect."""
        await self.stop_consuming()
        self._closing = True
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        producer, self._producer = self._producer, None
        self._connected.clear()
        if producer is not None:
            try:
                async with asyncio.timeout(self._publish_timeout + 1):
                    await producer.stop()
            except TimeoutError:
                # Their publishers were answered 503 already; nothing promised is dropped.
                log.warning("Kafka producer closed with unacknowledged messages")

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        producer = self._producer
        if producer is None or self._closing:
            raise BusUnavailable("not connected to Kafka")
        parent = current_traceparent.get()
        deadline = asyncio.get_running_loop().time() + self._publish_timeout
        acks: list[asyncio.Future[Any]] = []
        taken = False
        try:
            try:
                # One deadline, and one timer, for handing the messages over and for
                # their acknowledgements: the gateway publishes once per webhook.
                async with asyncio.timeout_at(deadline):
                    for message in messages:
                        acks.append(
                            await producer.send(
                                message.topic,
                                message.value,
                                key=message.key.encode() if message.key is not None else None,
                                headers=_headers(message, parent),
                            )
                        )
                    taken = True
                    await _acknowledged(acks)
            except BaseException:
                for ack in acks:
                    ack.add_done_callback(_retrieve)
                raise
        except KafkaError as exc:
            raise BusUnavailable(f"Kafka did not take the message: {exc!r}") from None
        except TimeoutError:
            if taken:
                raise BusUnavailable(
                    f"Kafka did not acknowledge within {self._publish_timeout:g} s"
                ) from None
            raise BusUnavailable("Kafka did not take the message in time") from None
        for ack in acks:
            error = ack.exception()
            if error is not None:
                raise BusUnavailable(f"Kafka refused the message: {error!r}")

    async def ready(self) -> bool:
        """Connected, and the cluster answers a metadata request."""
        producer = self._producer
        if producer is None or not self._connected.is_set():
            return False
        try:
            async with asyncio.timeout(_READY_TIMEOUT_SEC):
                await producer.client.fetch_all_metadata()
        except Exception:
            return False
        return all(group.healthy for group in self._groups)

    # -- connecting ------------------------------------------------------------------------

    async def _connect(self) -> None:

        delay = _RETRY_FIRST_SEC
        while True:
            producer = None
            try:
                if self._settings.kafka_create_topics:
                    await self._create_topics()
                producer = AIOKafkaProducer(
                    **self._options,
                    acks="all",
                    enable_idempotence=self._settings.kafka_enable_idempotence,
                    linger_ms=_LINGER_MS,
                    # A produce request outliving the publish timeout would only be retried
                    # for a client that was answered 503 already.
                    request_timeout_ms=max(1000, int(self._publish_timeout * 1000)),
                    max_batch_size=_MAX_BATCH_BYTES,
                    retry_backoff_ms=50,
                    partitioner=KeyHashCache(),
                )
                await producer.start()
            except Exception as exc:
                if producer is not None:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                hint = (
                    " (a broker without idempotent producers needs"
                    " FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE=false)"
                    if self._settings.kafka_enable_idempotence
                    else ""
                )
                log.warning(
                    f"cannot connect to Kafka; retrying{hint}", error=repr(exc), retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SEC)
                continue
            self._producer = producer
            self._connected.set()
            log.info("connected to Kafka", bootstrap=self._options["bootstrap_servers"])
            return

    async def _create_topics(self) -> None:
        """Create missing topics before any client asks for their metadata.

        Some brokers create an unknown topic on a metadata request, with their
        default partition count instead of ours.
        """
        admin = AIOKafkaAdminClient(**self._options)
        await admin.start()
        try:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        self._settings.kafka_partitions,
                        self._settings.kafka_replication_factor,
                    )
                    for name in topics_of(self._settings)
                ]
            )
        finally:
            await admin.close()
        for name, code, *_ in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"creating topic {name!r} failed with Kafka error {code}")

    async def wait_connected(self) -> None:
        await self._connected.wait()

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def options(self) -> Mapping[str, Any]:
        return self._options


class _GroupConsumer:
    """One consumer group's loop: fetch a batch, hand it over, commit, repeat."""

    def __init__(self, bus: KafkaBus, group: str, handlers: dict[str, BatchHandler]) -> None:
        self._bus = bus
        self._group = group
        self._handlers = handlers
        settings = bus.settings
        self._batch_size = settings.consumer_batch_size
        self._session_ms = settings.kafka_session_timeout_ms
        self._heartbeat_ms = settings.kafka_heartbeat_interval_ms
        self._lag_topic = settings.topic_fires
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Set while no batch is in hand: a revocation waits for it.
        self._idle = asyncio.Event()
        self._idle.set()
        # Interrupts a retry backoff (stop, revocation).
        self._wakeup = asyncio.Event()
        # Counts revocations: a batch fetched before one may no longer be ours.
        self._revocations = 0
        self._lag_reported_at = 0.0
        # Partitions whose lag this process reports, removed when they move away.
        self._reported: set[int] = set()
        self.healthy = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer:{self._group}")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=_DRAIN_SEC)
        if not done:
            log.error("consumer did not drain in time; its batch will be redelivered")
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        await self._bus.wait_connected()
        while not self._stopping:
            consumer = await self._open()
            if consumer is None:
                return
            try:
                await self._consume(consumer)
            except Exception as exc:
                # A consumer that silently stopped would look alive; rejoin instead.
                # What was not committed is redelivered, to this member or another.
                self.healthy = False
                log.error("consumer loop failed; rejoining the group", exc_info=exc)
                await asyncio.sleep(_RETRY_FIRST_SEC)
            finally:
                # Leaving the group hands our partitions to the others at once.
                with contextlib.suppress(Exception):
                    await consumer.stop()
                for partition in self._reported:
                    with contextlib.suppress(KeyError):
                        CONSUMER_LAG.remove(str(partition))
                self._reported.clear()

    async def _open(self) -> Any:
        group = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await group._on_revoked(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                log.info(
                    "partitions assigned",
                    group=group._group,
                    partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
                )

        delay = _RETRY_FIRST_SEC
        while not self._stopping:
            consumer = AIOKafkaConsumer(
                **self._bus.options,
                group_id=self._group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self._session_ms,
                heartbeat_interval_ms=self._heartbeat_ms,
                fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
            )
            try:
                await consumer.start()
                consumer.subscribe(list(self._handlers), listener=Listener())
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                log.warning("cannot join the consumer group; retrying", error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SEC)
                continue
            return consumer
        return None

    async def _consume(self, consumer: Any) -> None:

        while not self._stopping:
            try:
                batch = await consumer.getmany(
                    timeout_ms=_POLL_TIMEOUT_MS, max_records=self._batch_size
                )
            except KafkaError as exc:
                self.healthy = False
                log.warning("fetching from Kafka failed; retrying", error=repr(exc))
                await asyncio.sleep(_RETRY_FIRST_SEC)
                continue
            self.healthy = True
            if batch:
                self._idle.clear()
                try:
                    await self._process(consumer, batch)
                finally:
                    self._idle.set()
            await self._report_lag(consumer)

    async def _process(self, consumer: Any, batch: Mapping[Any, Sequence[Any]]) -> None:
        revocations = self._revocations
        by_topic: dict[str, list[tuple[Any, Sequence[Any]]]] = defaultdict(list)
        for partition, records in batch.items():
            if records:
                by_topic[partition.topic].append((partition, records))
        for topic, parts in by_topic.items():
            messages = [_message(record) for _, records in parts for record in records]
            if topic == self._lag_topic:
                CONSUMER_BATCH_SIZE.observe(len(messages))
            if not await self._handle(topic, messages, revocations):
                return
            await self._commit(consumer, {tp: records[-1].offset + 1 for tp, records in parts})

    async def _handle(self, topic: str, messages: list[Message], revocations: int) -> bool:
        """Run the handler until it succeeds; False if the batch must be left uncommitted."""
        handler = self._handlers[topic]
        poison = self._bus.dead_letters.get(topic)
        delay = _RETRY_FIRST_SEC
        attempt = 0
        while True:
            try:
                await handler(messages)
                return True
            except Exception as exc:
                attempt += 1
                log.error(
                    "batch handler failed; retrying without committing",
                    topic=topic,
                    messages=len(messages),
                    attempt=attempt,
                    retry_in=delay,
                    exc_info=exc,
                )
            if poison is not None and attempt >= _ISOLATE_AFTER:
                # One bad message must not hold its partition (and the batch) forever.
                return await self._one_by_one(topic, messages, revocations, *poison)
            if not await self._back_off(delay, topic, revocations):
                return False
            delay = min(delay * 2, _RETRY_MAX_SEC)

    async def _one_by_one(
        self, topic: str, messages: list[Message], revocations: int, to: str, healthy: Probe
    ) -> bool:
        handler = self._handlers[topic]
        for message in messages:
            delay = _RETRY_FIRST_SEC
            failures = 0
            reason = ""
            while True:
                try:
                    await handler([message])
                    break
                except Exception as exc:
                    # The first line only: SQLAlchemy adds the statement and its values.
                    first_line = next(iter(str(exc).splitlines()), "")
                    reason = f"{type(exc).__name__}: {first_line}"[:500]
                    failures = failures + 1 if await _answers(healthy) else 0
                    log.error(
                        "message handler failed",
                        topic=topic,
                        key=message.key,
                        failures_while_store_answers=failures,
                        exc_info=exc,
                    )
                if failures >= _POISON_ATTEMPTS and await self._set_aside(to, message, reason):
                    break
                if not await self._back_off(delay, topic, revocations):
                    return False
                delay = min(delay * 2, _RETRY_MAX_SEC)
        return True

    async def _set_aside(self, to: str, message: Message, reason: str) -> bool:
        try:
            await self._bus.publish([dead_lettered(message, to, reason)])
        except BusUnavailable as exc:
            log.warning("could not set a failing message aside; retrying", error=str(exc))
            return False
        log.error("message set aside on the dead-letter topic", topic=to, reason=reason)
        return True

    async def _back_off(self, delay: float, topic: str, revocations: int) -> bool:
        """Wait `delay` before a retry; False when the batch is no longer ours to retry."""
        # Give up only when these offsets can no longer be committed by us: the
        # next owner of the partitions (or this process, restarted) redelivers them.
        if self._stopping or self._revocations != revocations:
            log.warning("uncommitted batch left for redelivery", topic=topic)
            return False
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), delay)
        return True

    async def _commit(self, consumer: Any, offsets: dict[Any, int]) -> None:

        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning(
                "offsets not committed: the partitions moved to another consumer, "
                "which will redeliver the batch (harmless)",
                error=repr(exc),
            )
        except KafkaError as exc:
            log.warning("offsets not committed; the batch may be redelivered", error=repr(exc))

    async def _on_revoked(self, revoked: Any) -> None:
        """Before partitions move: finish the batch in hand, so its offsets get committed."""
        self._revocations += 1
        self._wakeup.set()
        grace = self._session_ms / 1000 * 0.8
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        for tp in revoked:
            if tp.topic == self._lag_topic and tp.partition in self._reported:
                self._reported.discard(tp.partition)
                with contextlib.suppress(KeyError):
                    CONSUMER_LAG.remove(str(tp.partition))

    async def _report_lag(self, consumer: Any) -> None:
        now = time.monotonic()
        if now - self._lag_reported_at < _LAG_EVERY_SEC:
            return
        self._lag_reported_at = now
        for tp in consumer.assignment():
            if tp.topic != self._lag_topic:
                continue
            end = consumer.highwater(tp)
            if end is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), 0.1)
            except Exception:
                continue
            CONSUMER_LAG.labels(partition=str(tp.partition)).set(max(0, end - position))
            self._reported.add(tp.partition)


def _headers(message: Message, parent: str | None) -> list[tuple[str, bytes]]:
    headers = list(message.headers)
    if not any(name == "traceparent" for name, _ in headers):
        headers.append(("traceparent", child_traceparent(parent).encode()))
    return headers


def _message(record: Any) -> Message:
    return Message(
        topic=record.topic,
        key=record.key.decode("utf-8", "replace") if record.key is not None else None,
        value=record.value if record.value is not None else b"",
        headers=tuple(record.headers or ()),
    )


def _retrieve(ack: asyncio.Future[Any]) -> None:
    # An ack abandoned by a timed-out publish must not log "exception never retrieved".
    if not ack.cancelled():
        ack.exception()


async def _answers(healthy: Probe) -> bool:
    try:
        return await healthy()
    except Exception:
        return False


async def _acknowledged(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Return once every future is done; cancelling this wait cancels none of them.

    What `asyncio.wait(futures)` answers, for the cost of one waiter: the gateway
    waits like this for every webhook, under the deadline of its publish.
    """
    pending = [future for future in futures if not future.done()]
    if not pending:
        return
    left = len(pending)
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def one_done(_future: asyncio.Future[Any]) -> None:
        nonlocal left
        left -= 1
        if not left and not waiter.done():
            waiter.set_result(None)

    for future in pending:
        future.add_done_callback(one_done)
    try:
        await waiter
    finally:
        for future in pending:
            future.remove_done_callback(one_done)


class KeyHashCache:
    """Kafka's default partitioner (murmur2 of the key), remembering each key's hash.

    Fires are keyed by routine, so a gateway sees the same few keys again and
    again, and aiokafka's murmur2 is pure Python: hashing a 36-byte key cost more
    than the rest of `send`. The partition chosen is the Java client's, exactly.
    """

    def __init__(self, max_keys: int = 65_536) -> None:
        self._hash = lru_cache(maxsize=max_keys)(murmur2)

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)  # type: ignore[no-any-return]
        index = (int(self._hash(key)) & 0x7FFFFFFF) % len(all_partitions)
        return all_partitions[index]
