"""Faults with real processes: killed gateways and consumers, a frozen broker, scaled roles.

Every test runs `firehook gateway|consumer|scheduler` as subprocesses over the
session's tansu broker and PostgreSQL server; nothing on these paths is mocked.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from firehook.devservers import ENV_KAFKA_BOOTSTRAP
from firehook.fires import fire_message
from firehook.ids import new_id, run_id_for
from firehook.settings import Settings
from schemas.common import RunSource
from schemas.events import FireRequested
from tests.processes import (
    HttpLoad,
    RoleProcess,
    Tenant,
    Topology,
    create_routine,
    create_tenant,
    producer,
    run_rows,
    scalar,
    send,
    send_webhook,
    shared_broker,
    topology,
    wait_for_runs,
)

__all__ = ["topology"]

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

DISPATCHED = "dev.firehook.run.dispatched"


def fires_for(
    topology: Topology, tenant: Tenant, routine_ids: list[str], count: int
) -> list[FireRequested]:
    now = datetime.now(UTC)
    fires = []
    for n in range(count):
        fire_id = new_id()
        routine_id = routine_ids[n % len(routine_ids)]
        fires.append(
            FireRequested(
                fire_id=fire_id,
                run_id=run_id_for(routine_id, f"fire:{fire_id}"),
                routine_id=routine_id,
                company_id=tenant.company_id,
                source=RunSource.MANUAL,
                requested_at=now,
                payload={"n": n},
            )
        )
    return fires


def topic_settings(topology: Topology) -> Settings:
    return Settings(topic_fires=topology.topics["fires"], _env_file=None)  # type: ignore[call-arg]


async def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_gateway_killed_under_load_every_202_has_exactly_one_run(topology: Topology) -> None:
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await gateway.wait_ready()
    await consumer.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url)

    load = HttpLoad(gateway.url, tenant, senders=16)
    load.start()
    await asyncio.sleep(2.0)
    gateway.kill()
    await asyncio.sleep(0.3)
    await load.stop()

    accepted = load.accepted_run_ids()
    unanswered = [a.n for a in load.attempts if a.status is None]
    assert len(accepted) > 50, load.statuses()
    assert unanswered, "the kill cut no request short"
    assert not await wait_for_runs(topology.database_url, accepted)

    # Clients retry what got no answer, with the same delivery ids, on a new gateway.
    restarted = topology.role("gateway").start()
    await restarted.wait_ready()
    async with httpx.AsyncClient(base_url=restarted.url, timeout=15) as http:
        retried = [await send_webhook(http, tenant, n) for n in unanswered]
    assert {a.status for a in retried} <= {200, 202}, Counter(a.status for a in retried)
    retried_ids = {a.body["runId"] for a in retried if a.body}
    assert not await wait_for_runs(topology.database_url, retried_ids)

    rows = await run_rows(topology.database_url, tenant.routine_id)
    per_key = Counter(row["idempotency_key"] for row in rows)
    assert max(per_key.values()) == 1
    assert len(rows) <= len(load.attempts)
    assert accepted | retried_ids <= {row["id"] for row in rows}


async def test_consumer_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    topology: Topology,
) -> None:
    gateway = topology.role("gateway").start()
    await gateway.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url, webhook=False)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        routine_ids = [tenant.routine_id] + [await create_routine(http, tenant) for _ in range(7)]
    gateway.terminate()

    total = 4000
    fires = fires_for(topology, tenant, routine_ids, total)
    kafka = await producer(topology.bootstrap)
    try:
        await send(kafka, [fire_message(topic_settings(topology), fire) for fire in fires])
    finally:
        await kafka.stop()

    batch = {"FIREHOOK_CONSUMER_BATCH_SIZE": "200"}
    first = topology.role("consumer", **batch).start()
    count = "select count(*) from runs"

    async def some_runs() -> bool:
        return bool(await scalar(topology.database_url, count) >= 400)

    await wait_until(some_runs, 60, "the first consumer made no runs")
    first.kill()
    done_before_kill = await scalar(topology.database_url, count)
    assert done_before_kill < total, "the consumer finished before it was killed"

    second = topology.role("consumer", **batch).start()

    async def all_runs() -> bool:
        return bool(await scalar(topology.database_url, count) >= total)

    await wait_until(all_runs, 90, "fires were lost")
    await asyncio.sleep(1.0)  # anything redelivered late would show up now
    rows = await run_rows(topology.database_url)
    assert len(rows) == total
    assert {row["id"] for row in rows} == {fire.run_id for fire in fires}
    # Redelivered fires made neither a run nor a second status event.
    events = await scalar(
        topology.database_url, "select count(*) from run_events where type = :t", t=DISPATCHED
    )
    assert events == total
    second.terminate()


@pytest.mark.skipif(
    bool(os.environ.get(ENV_KAFKA_BOOTSTRAP)), reason="cannot freeze an external broker"
)
async def test_broker_frozen_under_load_answers_503_and_recovers_without_restart(
    topology: Topology,
) -> None:
    timeout = {"FIREHOOK_KAFKA_PUBLISH_TIMEOUT_SEC": "2"}
    gateway = topology.role("gateway", **timeout).start()
    consumer = topology.role("consumer", **timeout).start()
    await gateway.wait_ready()
    await consumer.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url)
    broker = shared_broker()

    load = HttpLoad(gateway.url, tenant, senders=8, interval=0.02)
    load.start()
    await asyncio.sleep(2.0)
    paused_at = time.monotonic()
    broker.pause()
    try:
        await asyncio.sleep(4.0)
        async with httpx.AsyncClient(timeout=10) as http:
            readiness = await http.get(f"{gateway.url}/readyz")
        await asyncio.sleep(6.0)
    finally:
        broker.resume()
    resumed_at = time.monotonic()
    await asyncio.sleep(8.0)
    await load.stop()

    assert readiness.status_code == 503 and readiness.json()["checks"]["broker"] is False
    frozen = [a for a in load.attempts if paused_at + 0.1 < a.started and a.finished < resumed_at]
    assert frozen and {a.status for a in frozen} == {503}, Counter(a.status for a in frozen)
    assert all(a.headers.get("retry-after") for a in frozen)
    recovered = [a for a in load.attempts if a.started > resumed_at + 5.0]
    assert recovered and {a.status for a in recovered} == {202}, Counter(
        a.status for a in recovered
    )
    assert gateway.alive and consumer.alive

    accepted = load.accepted_run_ids()
    assert not await wait_for_runs(topology.database_url, accepted, timeout=60)
    rows = await run_rows(topology.database_url, tenant.routine_id)
    assert max(Counter(row["idempotency_key"] for row in rows).values()) == 1


async def test_two_consumers_keep_the_concurrency_policy_of_one_routine(topology: Topology) -> None:
    gateway = topology.role("gateway").start()
    await gateway.wait_ready()
    tenant = await create_tenant(
        gateway.url, topology.database_url, webhook=False, concurrencyPolicy="coalesce_if_active"
    )
    gateway.terminate()
    consumers = [topology.role("consumer").start() for _ in range(2)]
    await _spread_over(consumers)

    total = 400
    fires = fires_for(topology, tenant, [tenant.routine_id], total)
    settings = topic_settings(topology)
    kafka = await producer(topology.bootstrap)
    try:
        # One routine's fires on every partition, so both processes decide for it at once.
        await asyncio.gather(
            *(
                send(kafka, [fire_message(settings, f) for f in fires[p::4]], partition=p)
                for p in range(4)
            )
        )
    finally:
        await kafka.stop()
    assert not await wait_for_runs(topology.database_url, [f.run_id for f in fires])
    rows = await run_rows(topology.database_url, tenant.routine_id)
    statuses = Counter(row["status"] for row in rows)
    assert statuses == {"dispatched": 1, "coalesced": total - 1}, statuses
    [active] = [row["id"] for row in rows if row["status"] == "dispatched"]
    assert {row["coalesced_into_run_id"] for row in rows if row["status"] == "coalesced"} == {
        active
    }
    for consumer in consumers:
        consumer.terminate()


async def test_the_same_fires_on_two_consumers_at_once_make_each_run_once(
    topology: Topology,
) -> None:
    # As after a rebalance whose previous owner did not finish in time: every fire
    # is on every partition, so both processes apply each one, concurrently.
    gateway = topology.role("gateway").start()
    await gateway.wait_ready()
    tenant = await create_tenant(
        gateway.url, topology.database_url, webhook=False, concurrencyPolicy="coalesce_if_active"
    )
    gateway.terminate()
    consumers = [topology.role("consumer").start() for _ in range(2)]
    await _spread_over(consumers)

    total = 300
    fires = fires_for(topology, tenant, [tenant.routine_id], total)
    settings = topic_settings(topology)
    kafka = await producer(topology.bootstrap)
    try:
        await asyncio.gather(
            *(
                send(kafka, [fire_message(settings, f) for f in fires], partition=p)
                for p in range(4)
            )
        )
    finally:
        await kafka.stop()
    assert not await wait_for_runs(topology.database_url, [f.run_id for f in fires])
    await asyncio.sleep(2.0)  # the later copies of each fire are applied by now
    rows = await run_rows(topology.database_url, tenant.routine_id)
    assert len(rows) == total
    assert Counter(row["status"] for row in rows) == {"dispatched": 1, "coalesced": total - 1}
    stray = await scalar(
        topology.database_url,
        "select count(*) from run_events e join runs r on r.id = e.run_id"
        " where e.type <> 'dev.firehook.run.' || r.status",
    )
    for consumer in consumers:
        consumer.terminate()
    # Each run has only the status events of the consumer that created it.
    assert stray == 0


async def _spread_over(consumers: list[RoleProcess]) -> None:
    """Until the group's partitions are spread over all `consumers`, and settled."""
    for consumer in consumers:
        await consumer.wait_ready()

    async def all_assigned() -> bool:
        return all(
            any('"partitions assigned"' in line and ".fires:" in line for line in c.log_lines())
            for c in consumers
        )

    await wait_until(all_assigned, 30, "the group did not spread over every consumer")
    await asyncio.sleep(2.5)  # a rebalance after the last join settles


async def test_two_schedulers_and_two_consumers_fire_each_tick_once(topology: Topology) -> None:
    gateway = topology.role("gateway").start()
    await gateway.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url, webhook=False)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        trigger = await http.post(
            f"/api/routines/{tenant.routine_id}/triggers",
            json={"kind": "schedule", "every": 1},
            headers=tenant.auth,
        )
    assert trigger.status_code == 201, trigger.text
    gateway.terminate()

    consumers = [topology.role("consumer").start() for _ in range(2)]
    schedulers = [topology.role("scheduler").start() for _ in range(2)]
    for process in consumers + schedulers:
        await process.wait_ready()
    await asyncio.sleep(4.0)
    # A consumer leaves mid-period: its partitions move to the other.
    consumers[0].terminate()
    await asyncio.sleep(4.0)
    for scheduler in schedulers:
        scheduler.terminate()
    await asyncio.sleep(2.0)

    rows = await run_rows(topology.database_url, tenant.routine_id)
    ticks = Counter(row["scheduled_for"] for row in rows)
    assert len(ticks) >= 5, ticks
    assert max(ticks.values()) == 1, [tick for tick, n in ticks.items() if n > 1]
    consumers[1].terminate()
