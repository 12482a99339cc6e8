"""The throwaway PostgreSQL and Kafka servers start, serve, freeze, restart and clean up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaTimeoutError,
    RequestTimedOutError,
)

from firehook.devservers import (
    ENV_KAFKA_BOOTSTRAP,
    ENV_POSTGRES_URL,
    KafkaBroker,
    PostgresServer,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in {"Z", "X"}


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _refused(port: int) -> bool:
    """Whether a TCP connection to the loopback port is refused outright."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


@pytest.mark.postgres
async def test_postgres_select_one(postgres: PostgresServer) -> None:
    assert postgres.url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("select 1") == 1
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_create_database_is_isolated(postgres: PostgresServer) -> None:
    first, second = (f"iso_{uuid.uuid4().hex[:8]}" for _ in range(2))
    first_url = postgres.create_database(first)
    postgres.create_database(second, template=first)
    try:
        assert first_url == postgres.url_for(first)
        conn = await asyncpg.connect(first_url.replace("+asyncpg", ""))
        try:
            await conn.execute("create table only_here (id int)")
        finally:
            await conn.close()
        conn = await asyncpg.connect(postgres.url_for(second).replace("+asyncpg", ""))
        try:
            assert await conn.fetchval("select to_regclass('only_here')") is None
        finally:
            await conn.close()
    finally:
        postgres.drop_database(first)
        postgres.drop_database(second)


@pytest.mark.postgres
def test_postgres_env_override_starts_nothing(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_POSTGRES_URL, postgres.dsn)
    with PostgresServer() as external:
        assert external.external
        assert external.pid is None
        assert external.url == postgres.url
        name = f"ext_{uuid.uuid4().hex[:8]}"
        assert external.create_database(name) == postgres.url_for(name)
        external.drop_database(name)


@pytest.mark.postgres
@pytest.mark.skipif(bool(os.environ.get(ENV_POSTGRES_URL)), reason="external PostgreSQL")
async def test_postgres_pause_and_restart() -> None:
    with PostgresServer() as server:
        conn = await asyncpg.connect(server.dsn)
        try:
            await conn.execute("create table kept (id int); insert into kept values (7)")
        finally:
            await conn.close()

        server.pause()
        with pytest.raises(TimeoutError):
            await asyncpg.connect(server.dsn, timeout=1)
        server.resume()
        conn = await asyncpg.connect(server.dsn, timeout=10)
        await conn.close()

        port = server.port
        server.stop()
        assert not server.running
        assert _refused(port)
        server.start()
        assert server.port == port
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("select id from kept") == 7
        finally:
            await conn.close()
        data_dir = server.data_dir
    assert data_dir is not None and not data_dir.exists()


# --------------------------------------------------------------------------- #
# Kafka (tansu)
# --------------------------------------------------------------------------- #


def _producer(broker: KafkaBroker, **options: object) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        **options,
    )


@pytest.mark.kafka
async def test_kafka_round_trip_with_headers() -> None:
    topic = "devservers.roundtrip"
    with KafkaBroker(topics={topic: 2}) as broker:
        producer = _producer(broker)
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                topic, b"payload", key=b"k1", partition=1, headers=[("trace-id", b"abc")]
            )
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partition = TopicPartition(topic, 1)
            consumer.assign([partition])
            consumer.seek(partition, sent.offset)
            record = await asyncio.wait_for(consumer.getone(), 10)
        finally:
            await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"payload")
    assert list(record.headers) == [("trace-id", b"abc")]


@pytest.mark.kafka
@pytest.mark.slow
async def test_kafka_group_resumes_from_committed_offset() -> None:
    topic = "devservers.group"
    # tansu answers a first JoinGroup after about half the session timeout.
    group = {"group_id": "devservers", "session_timeout_ms": 2000, "heartbeat_interval_ms": 200}
    with KafkaBroker(topics={topic: 1}) as broker:
        producer = _producer(broker)
        await producer.start()
        try:
            for value in (b"a", b"b", b"c"):
                await producer.send_and_wait(topic, value)
        finally:
            await producer.stop()

        first = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **group,
        )
        await first.start()
        try:
            assert (await asyncio.wait_for(first.getone(), 30)).value == b"a"
            await first.commit({TopicPartition(topic, 0): 1})
        finally:
            await first.stop()

        second = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **group,
        )
        await second.start()
        try:
            assert (await asyncio.wait_for(second.getone(), 30)).value == b"b"
        finally:
            await second.stop()


@pytest.mark.kafka
@pytest.mark.skipif(bool(os.environ.get(ENV_KAFKA_BOOTSTRAP)), reason="external Kafka")
async def test_kafka_pause_hangs_clients_and_keeps_state() -> None:
    topic = "devservers.pause"
    with KafkaBroker(topics={topic: 1}) as broker:
        producer = _producer(broker, request_timeout_ms=1000)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"before")
            broker.pause()
            with pytest.raises((RequestTimedOutError, KafkaTimeoutError)):
                await producer.send_and_wait(topic, b"during")
            broker.resume()
            await producer.send_and_wait(topic, b"after")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            values = []
            while b"after" not in values:
                values.append((await asyncio.wait_for(consumer.getone(), 10)).value)
        finally:
            await consumer.stop()
    # The timed-out request stays in the socket and is usually written after
    # the thaw: a producer that retries it makes a duplicate.
    assert values[0] == b"before"
    assert set(values) <= {b"before", b"during", b"after"}


@pytest.mark.kafka
@pytest.mark.skipif(bool(os.environ.get(ENV_KAFKA_BOOTSTRAP)), reason="external Kafka")
async def test_kafka_restart_refuses_then_comes_back_empty() -> None:
    topic = "devservers.restart"
    with KafkaBroker(topics={topic: 3}) as broker:
        producer = _producer(broker)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"lost", partition=2)
        finally:
            await producer.stop()

        port = broker.port
        broker.stop()
        assert _refused(port)
        broker.start()
        assert broker.port == port

        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(3)]
            assert await consumer.end_offsets(partitions) == dict.fromkeys(partitions, 0)
        finally:
            await consumer.stop()


# --------------------------------------------------------------------------- #
# No process outlives the test run
# --------------------------------------------------------------------------- #

_CHILD = """
import os, signal, sys
from firehook.devservers import KafkaBroker, PostgresServer

server = {kind}(use_env=False).start()
print(server.pid, server.data_dir if {kind} is PostgresServer else "", flush=True)
if sys.argv[1] == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
raise RuntimeError("test crashed without closing the server")
"""


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("KafkaBroker", marks=pytest.mark.kafka),
        pytest.param("PostgresServer", marks=pytest.mark.postgres),
    ],
)
@pytest.mark.parametrize("death", ["sigkill", "exception"])
def test_server_dies_with_its_starter(kind: str, death: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD.format(kind=kind)), death],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    expected = -signal.SIGKILL if death == "sigkill" else 1
    assert child.returncode == expected, child.stderr
    pid, _, data_dir = child.stdout.strip().partition(" ")
    assert _wait_gone(int(pid))
    if kind == "PostgresServer" and death == "exception":
        assert not Path(data_dir).exists()
    if kind == "PostgresServer" and death == "sigkill":
        # Left behind by the killed run; the next server sweeps it away.
        assert Path(data_dir).exists()
        with PostgresServer(use_env=False):
            assert not Path(data_dir).parent.exists()
