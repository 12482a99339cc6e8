"""KafkaBus against a real Kafka-protocol broker (tansu): publish, batches, commits, rebalances."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

from firehook.bus import BusUnavailable, Message
from firehook.devservers import ENV_KAFKA_BOOTSTRAP, free_port
from firehook.kafka import KafkaBus, client_options
from firehook.settings import Settings
from firehook.tracing import current_traceparent
from tests.processes import shared_broker

pytestmark = pytest.mark.kafka

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def kafka_settings(name: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap_servers": shared_broker().bootstrap_servers,
        "kafka_enable_idempotence": False,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 200,
        "kafka_partitions": 4,
        "kafka_consumer_group": f"{name}.group",
        "kafka_publish_timeout_sec": 1.0,
        "topic_fires": f"{name}.fires",
        "topic_runs": f"{name}.runs",
        "topic_run_results": f"{name}.run-results",
        "topic_fires_dlq": f"{name}.fires.dlq",
        "consumer_batch_size": 50,
    }
    return Settings(**(values | overrides), _env_file=None)  # type: ignore[arg-type,call-arg]


@pytest.fixture
def settings() -> Settings:
    return kafka_settings(f"b{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def publisher(settings: Settings) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(settings)
    await bus.start()
    yield bus
    await bus.stop()


class Recorder:
    """A batch handler that records what it got, optionally failing or dawdling first."""

    def __init__(self, *, failures: int = 0, delay: float = 0.0) -> None:
        self.batches: list[list[Message]] = []
        self.calls = 0
        self._failures = failures
        self._delay = delay
        self.changed = asyncio.Event()
        self.called = asyncio.Event()

    async def wait_calls(self, count: int) -> None:
        while self.calls < count:
            self.called.clear()
            await asyncio.wait_for(self.called.wait(), 30)

    async def __call__(self, messages: Sequence[Message]) -> None:
        self.calls += 1
        self.called.set()
        if self._delay:
            await asyncio.sleep(self._delay)
        if self.calls <= self._failures:
            raise RuntimeError("store unavailable")
        self.batches.append(list(messages))
        self.changed.set()

    @property
    def values(self) -> list[bytes]:
        return [m.value for batch in self.batches for m in batch]

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(set(self.values)) < count:
            assert time.monotonic() < deadline, f"got {len(set(self.values))} of {count}"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)


def messages(topic: str, count: int, keys: int = 5) -> list[Message]:
    return [Message(topic, f"routine-{n % keys}", b"%d" % n) for n in range(count)]


async def committed_offsets(settings: Settings, topic: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.kafka_consumer_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        return {
            p: await consumer.committed(TopicPartition(topic, p))
            for p in range(settings.kafka_partitions)
        }
    finally:
        await consumer.stop()


def subscriber(settings: Settings, handler: Recorder) -> KafkaBus:
    bus = KafkaBus(settings)
    bus.subscribe(settings.topic_fires, settings.kafka_consumer_group, handler)
    return bus


async def test_topics_are_created_with_the_configured_partitions(
    settings: Settings, publisher: KafkaBus
) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()
        for topic in (
            settings.topic_fires,
            settings.topic_runs,
            settings.topic_run_results,
            settings.topic_fires_dlq,
        ):
            assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}, topic
    finally:
        await consumer.stop()
    assert await publisher.ready()


async def test_batches_arrive_in_key_order_and_are_committed_after_the_handler(
    settings: Settings, publisher: KafkaBus
) -> None:
    sent = messages(settings.topic_fires, 200)
    token = current_traceparent.set(PARENT)
    try:
        await publisher.publish(sent)
    finally:
        current_traceparent.reset(token)
    handler = Recorder()
    bus = subscriber(settings, handler)
    await bus.start()
    try:
        await handler.wait_for(200)
    finally:
        await bus.stop()
    received = [m for batch in handler.batches for m in batch]
    assert sorted(m.value for m in received) == sorted(m.value for m in sent)
    for key in {m.key for m in sent}:
        # One routine's fires keep their order: one key, one partition.
        assert [m.value for m in received if m.key == key] == [
            m.value for m in sent if m.key == key
        ]
    trace = received[0].header("traceparent") or ""
    assert trace.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and PARENT not in trace
    assert max(len(batch) for batch in handler.batches) <= settings.consumer_batch_size
    # Offsets start at 0: the committed offsets add up to the messages handled.
    assert (
        sum(o or 0 for o in (await committed_offsets(settings, settings.topic_fires)).values())
        == 200
    )
    # Caught up: no lag left on any partition.
    for partition in range(4):
        lag = REGISTRY.get_sample_value("firehook_consumer_lag", {"partition": str(partition)})
        assert lag in (None, 0.0)


async def test_a_failing_handler_is_retried_and_nothing_is_skipped_or_committed(
    settings: Settings, publisher: KafkaBus
) -> None:
    await publisher.publish(messages(settings.topic_fires, 20, keys=1))
    handler = Recorder(failures=3)
    bus = subscriber(settings, handler)
    await bus.start()
    try:
        await handler.wait_calls(2)
        # While the handler fails, the group commits nothing.
        assert set((await committed_offsets(settings, settings.topic_fires)).values()) == {None}
        await handler.wait_for(20)
    finally:
        await bus.stop()
    assert handler.calls >= 4
    assert sorted(handler.values, key=int) == [b"%d" % n for n in range(20)]
    offsets = await committed_offsets(settings, settings.topic_fires)
    assert sum(o or 0 for o in offsets.values()) == 20


async def test_stop_finishes_and_commits_the_batch_in_hand(
    settings: Settings, publisher: KafkaBus
) -> None:
    await publisher.publish(messages(settings.topic_fires, 30))
    handler = Recorder(delay=1.0)
    bus = subscriber(settings, handler)
    await bus.start()
    await handler.wait_calls(1)
    await bus.stop()
    assert handler.batches, "the batch in hand was abandoned"
    committed = await committed_offsets(settings, settings.topic_fires)
    delivered: Counter[str | None] = Counter()
    for batch in handler.batches:
        for message in batch:
            delivered[message.key] += 1
    assert sum(o or 0 for o in committed.values()) == sum(delivered.values())


async def test_a_rebalance_hands_partitions_over_without_losing_messages(
    settings: Settings, publisher: KafkaBus
) -> None:
    first, second = Recorder(delay=0.05), Recorder(delay=0.05)
    one, two = subscriber(settings, first), subscriber(settings, second)
    await one.start()
    await publisher.publish(messages(settings.topic_fires, 300, keys=40))
    await asyncio.sleep(0.3)
    await two.start()
    await publisher.publish(
        [Message(settings.topic_fires, f"routine-{n % 40}", b"%d" % n) for n in range(300, 600)]
    )
    try:
        deadline = time.monotonic() + 60
        while len(set(first.values) | set(second.values)) < 600:
            assert time.monotonic() < deadline, len(set(first.values) | set(second.values))
            await asyncio.sleep(0.1)
    finally:
        await two.stop()
        await one.stop()
    assert second.values, "the second consumer never got a partition"
    assert (
        sum(o or 0 for o in (await committed_offsets(settings, settings.topic_fires)).values())
        == 600
    )


@pytest.mark.skipif(
    bool(os.environ.get(ENV_KAFKA_BOOTSTRAP)), reason="cannot pause an external broker"
)
async def test_a_frozen_broker_makes_publish_unavailable_then_recovers(
    settings: Settings, publisher: KafkaBus
) -> None:
    broker = shared_broker()
    await publisher.publish(messages(settings.topic_fires, 1))
    broker.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BusUnavailable):
            await publisher.publish(messages(settings.topic_fires, 3))
        assert time.monotonic() - started < 3
        assert not await publisher.ready()
    finally:
        broker.resume()
    deadline = time.monotonic() + 30
    while True:
        try:
            await publisher.publish(messages(settings.topic_fires, 1))
            break
        except BusUnavailable:
            assert time.monotonic() < deadline
    assert await publisher.ready()


async def test_an_unreachable_broker_does_not_block_start_and_publish_fails_fast() -> None:
    settings = kafka_settings("unreachable", kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    bus = KafkaBus(settings, connect_wait=0.5)
    started = time.monotonic()
    await bus.start()
    try:
        assert time.monotonic() - started < 3
        with pytest.raises(BusUnavailable):
            await bus.publish(messages(settings.topic_fires, 1))
        assert not await bus.ready()
    finally:
        await bus.stop()


def test_client_options_carry_security_settings() -> None:
    settings = Settings(
        kafka_bootstrap_servers="b-1:9094, b-2:9094",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="firehook",
        kafka_sasl_password="secret",
        _env_file=None,  # type: ignore[call-arg]
    )
    options = client_options(settings)
    assert options["bootstrap_servers"] == ["b-1:9094", "b-2:9094"]
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "firehook"
    assert options["ssl_context"] is not None
    with pytest.raises(ValueError, match="FIREHOOK_KAFKA_SASL_MECHANISM"):
        client_options(
            Settings(
                kafka_bootstrap_servers="b:9092",
                kafka_security_protocol="SASL_PLAINTEXT",
                _env_file=None,  # type: ignore[call-arg]
            )
        )
    with pytest.raises(ValueError, match="FIREHOOK_KAFKA_BOOTSTRAP_SERVERS"):
        client_options(Settings(_env_file=None))  # type: ignore[call-arg]


def test_the_partitioner_places_keys_as_kafkas_default_does() -> None:
    from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]

    from firehook.kafka import KeyHashCache

    ours, theirs = KeyHashCache(max_keys=8), DefaultPartitioner()
    partitions = list(range(12))
    keys = [str(uuid.UUID(int=n)).encode() for n in range(50)] + [b"", b"a", bytes(range(256))]
    for _ in range(2):  # the second round is answered from the cache
        for key in keys:
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)
            assert ours(key, partitions[:5], partitions) == theirs(key, partitions[:5], partitions)
    assert ours(None, partitions, [3]) == 3


async def test_waiting_for_acknowledgements_stops_at_the_deadline_and_cancels_nothing() -> None:
    from firehook.kafka import _acknowledged

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    done.set_result(None)
    async with asyncio.timeout_at(loop.time()):
        await _acknowledged([done])

    late: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.02, late.set_result, None)
    async with asyncio.timeout_at(loop.time() + 5):
        await _acknowledged([done, late])

    never: asyncio.Future[None] = loop.create_future()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout_at(started + 0.05):
            await _acknowledged([done, never])
    assert loop.time() >= started + 0.04  # it waited (timers may run a hair early)
    assert not never.cancelled() and not never.done()
    never.set_result(None)  # resolved later, as aiokafka resolves an ack


class RefusesSome(Recorder):
    """A handler that refuses any batch holding one of `poison`, or everything while down."""

    def __init__(self, poison: set[bytes]) -> None:
        super().__init__()
        self.poison = poison
        self.down = False

    async def __call__(self, messages: Sequence[Message]) -> None:
        self.calls += 1
        self.called.set()
        if self.down:
            raise RuntimeError("store unavailable")
        if any(m.value in self.poison for m in messages):
            raise ValueError("the store refuses this message")
        self.batches.append(list(messages))
        self.changed.set()

    async def store_answers(self) -> bool:
        return not self.down


async def test_a_message_refused_on_its_own_is_set_aside_and_its_partition_moves_on(
    settings: Settings, publisher: KafkaBus
) -> None:
    from tests.processes import read_topic

    await publisher.publish(messages(settings.topic_fires, 20, keys=1))
    handler = RefusesSome({b"7"})
    bus = subscriber(settings, handler)
    bus.dead_letter(settings.topic_fires, settings.topic_fires_dlq, healthy=handler.store_answers)
    await bus.start()
    try:
        await handler.wait_for(19)
        [dead] = await read_topic(
            settings.kafka_bootstrap_servers, settings.topic_fires_dlq, until=bool
        )
    finally:
        await bus.stop()
    # Every other message was handled, in order, and the refused one is on the DLQ.
    assert handler.values == [b"%d" % n for n in range(20) if n != 7]
    assert dead.value == b"7" and dead.key == "routine-0"
    assert dead.header("firehook_dlq_reason") == "ValueError: the store refuses this message"
    offsets = await committed_offsets(settings, settings.topic_fires)
    assert sum(o or 0 for o in offsets.values()) == 20


async def test_while_the_store_is_down_nothing_is_set_aside(
    settings: Settings, publisher: KafkaBus
) -> None:
    from tests.processes import read_topic

    await publisher.publish(messages(settings.topic_fires, 10, keys=1))
    handler = RefusesSome(set())
    handler.down = True
    bus = subscriber(settings, handler)
    bus.dead_letter(settings.topic_fires, settings.topic_fires_dlq, healthy=handler.store_answers)
    await bus.start()
    try:
        # Well past the batch's isolation and every message's attempts.
        await handler.wait_calls(3 + 5)
        assert set((await committed_offsets(settings, settings.topic_fires)).values()) == {None}
        handler.down = False
        await handler.wait_for(10)
    finally:
        await bus.stop()
    assert sorted(handler.values, key=int) == [b"%d" % n for n in range(10)]
    with pytest.raises(AssertionError):  # the DLQ stays empty (it may not even exist)
        await read_topic(
            settings.kafka_bootstrap_servers, settings.topic_fires_dlq, until=bool, timeout=2
        )
