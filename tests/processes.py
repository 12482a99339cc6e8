"""The production topology for tests and the benchmark: role processes over tansu and PostgreSQL.

`firehook gateway|consumer|scheduler` run as real subprocesses configured by
environment, as in a deployment; the helpers here start them, wait for their
readiness, kill them, and read what they left in the store and on the topics.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import orjson
import pytest
from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from sqlalchemy import text

from firehook.bootstrap import issue_api_key
from firehook.bus import Message
from firehook.cloudevents import structured
from firehook.crypto import generate_secret_key
from firehook.devservers import KafkaBroker, free_port
from firehook.store import Database
from gateway.signatures import sign_webhook
from schemas.common import Role
from tests.conftest import _admin_sql, _with_database

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "kafka-tests-webhook-secret-0123456789"

_broker: KafkaBroker | None = None


def shared_broker() -> KafkaBroker:
    """One tansu broker for the whole test session (closed at interpreter exit)."""
    global _broker
    if _broker is None or not (_broker.external or _broker.running):
        _broker = KafkaBroker().start()
    return _broker


@dataclass
class Topology:
    """Settings shared by the processes of one test: its own database, topics and group."""

    database_url: str
    bootstrap: str
    workdir: Path
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    secret_key: str = field(default_factory=generate_secret_key)
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[RoleProcess] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        return {
            "fires": f"{self.name}.fires",
            "runs": f"{self.name}.runs",
            "run_results": f"{self.name}.run-results",
            "fires_dlq": f"{self.name}.fires.dlq",
        }

    def env(self, port: int, **overrides: str) -> dict[str, str]:
        """The environment of one role process listening on `port`."""
        env = {
            name: value for name, value in os.environ.items() if not name.startswith("FIREHOOK_")
        }
        # No FIREHOOK_LOG_FORMAT: the roles are to log JSON lines by default.
        env |= {
            "FIREHOOK_DATABASE_URL": self.database_url,
            "FIREHOOK_SECRET_KEY": self.secret_key,
            "FIREHOOK_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            # tansu has no idempotent producer; joins are quick with a short session.
            "FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE": "false",
            "FIREHOOK_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "FIREHOOK_KAFKA_HEARTBEAT_INTERVAL_MS": "200",
            "FIREHOOK_KAFKA_PARTITIONS": str(self.partitions),
            "FIREHOOK_KAFKA_CONSUMER_GROUP": f"{self.name}.consumer",
            "FIREHOOK_HOST": "127.0.0.1",
            "FIREHOOK_PORT": str(port),
            "FIREHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "FIREHOOK_WEBHOOK_RATE_PER_IP": "1000000",
            "FIREHOOK_WEBHOOK_BURST_PER_IP": "1000000",
            "FIREHOOK_WEBHOOK_RATE_PER_TRIGGER": "1000000",
            "FIREHOOK_WEBHOOK_BURST_PER_TRIGGER": "1000000",
        }
        env |= {f"FIREHOOK_TOPIC_{key.upper()}": topic for key, topic in self.topics.items()}
        return env | self.extra_env | overrides

    def role(self, role: str, *args: str, **overrides: str) -> RoleProcess:
        """A role process of this topology on a free port (not started)."""
        port = free_port()
        log = self.workdir / f"{role}-{port}.log"
        env = self.env(port, **overrides)
        process = RoleProcess([role, *args], env, port, log, self.workdir)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Kill every process still running (a test that failed half-way)."""
        for process in self.processes:
            process.kill()


class RoleProcess:
    """`python -m firehook.cli <role>` in its own process group, logging to a file."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        cwd: Path,
        *,
        command: list[str] | None = None,
    ) -> None:
        self.role = argv[0]
        self._command = command or [sys.executable, "-m", "firehook.cli", *argv]
        self.env = env
        self.port = port
        self.log_path = log
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> Self:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self._command,
                env=self.env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 (store and broker reachable)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while True:
                if not self.alive:
                    raise RuntimeError(f"{self.role} exited:\n{self.log_tail()}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.role} not ready after {timeout} s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM, as an orchestrator stops a pod; the exit code."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"{self.role} did not stop on SIGTERM:\n{self.log_tail()}"
                ) from None
        return self._proc.returncode

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:])


@dataclass
class Tenant:
    """A company with a board key, a routine and (optionally) a signed webhook trigger."""

    company_id: str
    board_key: str
    routine_id: str
    trigger: dict[str, Any] | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.board_key}"}

    def fire_path(self) -> str:
        assert self.trigger is not None
        return f"/api/routine-triggers/public/{self.trigger['publicId']}/fire"


async def create_tenant(
    gateway_url: str, database_url: str, *, webhook: bool = True, **routine: Any
) -> Tenant:
    """Through the gateway's API: a company, a board key, a routine, a webhook trigger."""
    db = Database(database_url)
    try:
        admin = (await issue_api_key(db, Role.ADMIN)).key
    finally:
        await db.close()
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10.0) as http:
        headers = {"Authorization": f"Bearer {admin}"}
        company = (await http.post("/api/companies", json={"name": "Acme"}, headers=headers)).json()
        key = await http.post(
            f"/api/companies/{company['id']}/api-keys", json={"role": "board"}, headers=headers
        )
        assert key.status_code == 201, key.text
        tenant = Tenant(company["id"], key.json()["key"], "")
        tenant.routine_id = await create_routine(http, tenant, **routine)
        if webhook:
            response = await http.post(
                f"/api/routines/{tenant.routine_id}/triggers",
                json={"kind": "webhook", "signingMode": "hmac_sha256", "secret": WEBHOOK_SECRET},
                headers=tenant.auth,
            )
            assert response.status_code == 201, response.text
            tenant.trigger = response.json()["trigger"]
    return tenant


async def create_routine(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    body = {
        "title": "Kafka test routine",
        "assigneeAgentId": "agent-1",
        "projectId": "tests",
        "concurrencyPolicy": "always_enqueue",
    } | fields
    response = await http.post(
        f"/api/companies/{tenant.company_id}/routines", json=body, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def signed_webhook(n: int, *, delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A JSON body and its hmac_sha256 headers, with an Idempotency-Key of its own."""
    body = orjson.dumps({"event": "invoice.paid", "n": n})
    headers = sign_webhook(
        "hmac_sha256", WEBHOOK_SECRET, body, time.time(), delivery_id or f"delivery-{n}"
    )
    headers["Content-Type"] = "application/json"
    return body, headers


async def run_rows(database_url: str, routine_id: str | None = None) -> list[dict[str, Any]]:
    """The runs in the store (of one routine, or all)."""
    db = Database(database_url)
    try:
        async with db.read() as conn:
            query = "select id, status, idempotency_key, scheduled_for, coalesced_into_run_id, routine_id from runs"
            params: dict[str, Any] = {}
            if routine_id is not None:
                query += " where routine_id = :routine_id"
                params["routine_id"] = routine_id
            result = await conn.execute(text(query), params)
            return [dict(row) for row in result.mappings()]
    finally:
        await db.close()


async def scalar(database_url: str, sql: str, **params: Any) -> Any:
    db = Database(database_url)
    try:
        async with db.read() as conn:
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await db.close()


async def wait_for_runs(
    database_url: str, run_ids: Iterable[str], timeout: float = 60.0
) -> set[str]:
    """Wait until every run in `run_ids` exists; the ids still missing at the timeout."""
    wanted = set(run_ids)
    deadline = time.monotonic() + timeout
    while True:
        present = {row["id"] for row in await run_rows(database_url)}
        missing = wanted - present
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.25)


async def read_topic(
    bootstrap: str, topic: str, *, until: Any, timeout: float = 30.0
) -> list[Message]:
    """Every message of `topic` from the start, until `until(messages)` is true."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    messages: list[Message] = []
    try:
        await consumer.topics()  # metadata of every topic, creating none
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        assert partitions, f"topic {topic} does not exist"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while not until(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met; got {len(messages)} messages")
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                messages += [
                    Message(
                        topic=r.topic,
                        key=r.key.decode() if r.key is not None else None,
                        value=r.value,
                        headers=tuple(r.headers),
                    )
                    for r in records
                ]
    finally:
        await consumer.stop()
    return messages


def events(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Binary-mode CloudEvents in structured form."""
    return [structured(message) for message in messages]


async def producer(bootstrap: str) -> AIOKafkaProducer:
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await kafka.start()
    return kafka


async def send(
    kafka: AIOKafkaProducer, messages: Iterable[Message], partition: int | None = None
) -> None:
    acks = [
        await kafka.send(
            m.topic,
            m.value,
            key=m.key.encode() if m.key is not None else None,
            headers=list(m.headers),
            partition=partition,
        )
        for m in messages
    ]
    await asyncio.gather(*acks)


def metric_value(exposition: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample of the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
    sample = f"{name}{{{wanted}}}" if wanted else name
    for line in exposition.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass
class Attempt:
    """One webhook request of a load and its answer (status None: no answer)."""

    n: int
    started: float
    finished: float
    status: int | None
    body: dict[str, Any] | None
    headers: dict[str, str]


class HttpLoad:
    """Signed webhooks from a few concurrent senders, recording every answer."""

    def __init__(
        self, url: str, tenant: Tenant, *, senders: int = 8, interval: float = 0.0
    ) -> None:
        self._url = url
        self._tenant = tenant
        self._senders = senders
        self._interval = interval
        self._stop = asyncio.Event()
        self._next = 0
        self.attempts: list[Attempt] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sender()) for _ in range(self._senders)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _sender(self) -> None:
        async with httpx.AsyncClient(base_url=self._url, timeout=15.0) as http:
            while not self._stop.is_set():
                n = self._next
                self._next += 1
                self.attempts.append(await send_webhook(http, self._tenant, n))
                if self._interval:
                    await asyncio.sleep(self._interval)

    def accepted_run_ids(self) -> set[str]:
        return {a.body["runId"] for a in self.attempts if a.status == 202 and a.body}

    def statuses(self) -> Counter[int | None]:
        return Counter(a.status for a in self.attempts)


async def send_webhook(http: httpx.AsyncClient, tenant: Tenant, n: int) -> Attempt:
    """POST the signed webhook number `n` (its delivery id derives from `n`)."""
    body, headers = signed_webhook(n)
    started = time.monotonic()
    try:
        response = await http.post(tenant.fire_path(), content=body, headers=headers)
    except httpx.TransportError:
        await asyncio.sleep(0.05)
        return Attempt(n, started, time.monotonic(), None, None, {})
    payload = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else None
    )
    return Attempt(
        n, started, time.monotonic(), response.status_code, payload, dict(response.headers)
    )


@pytest.fixture
def topology(postgres_url: str, postgres_template: str, tmp_path: Path) -> Iterator[Topology]:
    """A fresh migrated database and topic names on the shared broker; kills its processes after."""
    broker = shared_broker()
    name = f"k_{uuid.uuid4().hex[:12]}"
    _admin_sql(postgres_url, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    topo = Topology(_with_database(postgres_url, name), broker.bootstrap_servers, tmp_path)
    try:
        yield topo
    finally:
        topo.close()
        _admin_sql(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
