"""The production roles as real processes: gateway and consumer over tansu and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from firehook.cloudevents import encode_event
from schemas.events import RUN_RESULT, RunResult
from schemas.export import schema_path
from tests.processes import (
    Topology,
    create_tenant,
    events,
    metric_value,
    producer,
    read_topic,
    send,
    signed_webhook,
    topology,
)

__all__ = ["topology"]

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


def _schema(stem: str) -> dict[str, Any]:
    return dict(json.loads(schema_path(stem).read_text()))


def _run_events(messages: list[Any], run_id: str, event_type: str) -> list[dict[str, Any]]:
    return [e for e in events(messages) if e["subject"] == run_id and e["type"] == event_type]


async def test_webhook_to_run_event_across_processes(topology: Topology) -> None:
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await gateway.wait_ready()
    await consumer.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url)

    body, headers = signed_webhook(1)
    headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        response = await http.post(tenant.fire_path(), content=body, headers=headers)
    assert response.status_code == 202, response.text
    run_id = response.json()["runId"]
    assert response.headers["x-request-id"]

    runs = topology.topics["runs"]
    dispatched = "dev.firehook.run.dispatched"
    messages = await read_topic(
        topology.bootstrap, runs, until=lambda got: _run_events(got, run_id, dispatched)
    )
    [event] = _run_events(messages, run_id, dispatched)
    jsonschema.validate(event, _schema("run-event"))
    assert event["data"]["runId"] == run_id and event["data"]["source"] == "webhook"
    assert event["data"]["payload"] == {"event": "invoice.paid", "n": 1}
    [record] = [m for m in messages if m.header("ce_subject") == run_id]
    assert record.key == tenant.routine_id

    # The fire on the fires topic continues the caller's trace.
    fires = await read_topic(topology.bootstrap, topology.topics["fires"], until=bool)
    [fire] = [f for f in events(fires) if f["subject"] == run_id]
    jsonschema.validate(fire, _schema("fire-requested"))
    assert fire["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")

    # An executor reports the result on the run-results topic.
    kafka = await producer(topology.bootstrap)
    try:
        result = encode_event(
            topic=topology.topics["run_results"],
            key=tenant.routine_id,
            event_id=str(uuid.uuid4()),
            event_type=RUN_RESULT,
            time=datetime.now(UTC),
            data=RunResult(run_id=run_id, status="succeeded", output={"rows": 3}),
        )
        # Redelivered twice: the second changes nothing.
        await send(kafka, [result, result])
    finally:
        await kafka.stop()
    jsonschema.validate(events([result])[0], _schema("run-result"))
    succeeded = "dev.firehook.run.succeeded"
    messages = await read_topic(
        topology.bootstrap, runs, until=lambda got: _run_events(got, run_id, succeeded)
    )
    [event] = _run_events(messages, run_id, succeeded)
    jsonschema.validate(event, _schema("run-event"))
    assert event["data"]["output"] == {"rows": 3}

    async with httpx.AsyncClient(timeout=10) as http:
        gateway_metrics = (await http.get(f"{gateway.url}/metrics")).text
        consumer_metrics = (await http.get(f"{consumer.url}/metrics")).text
        consumer_api = await http.get(f"{consumer.url}/api/routines/{tenant.routine_id}")
    assert (
        metric_value(gateway_metrics, "firehook_fires_accepted_total", {"source": "webhook"}) == 1
    )
    assert metric_value(gateway_metrics, "firehook_publish_seconds_count") >= 1
    assert metric_value(consumer_metrics, "firehook_runs_total", {"status": "dispatched"}) == 1
    assert metric_value(consumer_metrics, "firehook_runs_total", {"status": "succeeded"}) == 1
    assert metric_value(consumer_metrics, "firehook_consumer_batch_size_count") >= 1
    assert "firehook_consumer_lag{" in consumer_metrics
    # The consumer role serves health and metrics only.
    assert consumer_api.status_code == 404

    gateway.terminate()
    consumer.terminate()
    for process in (gateway, consumer):
        lines = process.log_lines()
        assert lines, f"{process.role} logged nothing"
        for line in lines:
            json.loads(line)  # every line is a JSON object
    assert any('"connected to Kafka"' in line for line in consumer.log_lines())


async def test_undecodable_fire_goes_to_the_dead_letter_topic(topology: Topology) -> None:
    consumer = topology.role("consumer").start()
    await consumer.wait_ready()
    from firehook.bus import Message

    kafka = await producer(topology.bootstrap)
    try:
        await send(kafka, [Message(topology.topics["fires"], "r-1", b"not a cloud event")])
    finally:
        await kafka.stop()
    [dead] = await read_topic(topology.bootstrap, topology.topics["fires_dlq"], until=bool)
    assert dead.value == b"not a cloud event" and dead.key == "r-1"
    assert "ce_specversion" in (dead.header("firehook_dlq_reason") or "")
    consumer.terminate()


async def test_a_fire_the_store_refuses_is_set_aside_and_the_next_one_runs(
    topology: Topology,
) -> None:
    """A payload holding NUL, which PostgreSQL cannot store: that fire alone goes to the DLQ."""
    from firehook.fires import fire_message
    from firehook.ids import new_id, run_id_for
    from firehook.settings import Settings
    from schemas.common import RunSource
    from schemas.events import FireRequested

    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await gateway.wait_ready()
    await consumer.wait_ready()
    tenant = await create_tenant(gateway.url, topology.database_url, webhook=False)
    settings = Settings(topic_fires=topology.topics["fires"], _env_file=None)  # type: ignore[call-arg]

    def fire(key: str, payload: dict[str, Any]) -> FireRequested:
        return FireRequested(
            fire_id=new_id(),
            run_id=run_id_for(tenant.routine_id, key),
            routine_id=tenant.routine_id,
            company_id=tenant.company_id,
            source=RunSource.API,
            idempotency_key=key,
            payload=payload,
            requested_at=datetime.now(UTC),
        )

    refused, accepted = fire("bad", {"note": "a\x00b"}), fire("good", {"note": "ab"})
    kafka = await producer(topology.bootstrap)
    try:
        # Same routine, so same partition: the good fire waits behind the bad one.
        await send(kafka, [fire_message(settings, refused), fire_message(settings, accepted)])
    finally:
        await kafka.stop()
    messages = await read_topic(
        topology.bootstrap,
        topology.topics["runs"],
        until=lambda got: any(m.header("ce_subject") == accepted.run_id for m in got),
        timeout=60,
    )
    assert not [m for m in messages if m.header("ce_subject") == refused.run_id]
    [dead] = await read_topic(topology.bootstrap, topology.topics["fires_dlq"], until=bool)
    assert dead.header("ce_id") == refused.fire_id and dead.key == tenant.routine_id
    assert "payload: must not contain NUL" in (dead.header("firehook_dlq_reason") or "")
    consumer.terminate()
    gateway.terminate()


async def test_dev_kafka_runs_every_role_in_one_process(topology: Topology, tmp_path: Path) -> None:
    dev = topology.role(
        "dev",
        "--kafka",
        topology.bootstrap,
        FIREHOOK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}",
        FIREHOOK_SECRET_KEY="",
        FIREHOOK_SECRET_KEY_FILE=str(tmp_path / "dev.key"),
        FIREHOOK_LOG_FORMAT="console",
    ).start()
    await dev.wait_ready()
    printed = "\n".join(dev.log_lines())
    admin = {"Authorization": f"Bearer {_printed(printed, 'admin key:')}"}
    company_id = _printed(printed, "company:")
    async with httpx.AsyncClient(base_url=dev.url, timeout=10) as http:
        routine = await http.post(
            f"/api/companies/{company_id}/routines",
            json={"title": "Dev", "assigneeAgentId": "a", "projectId": "p"},
            headers=admin,
        )
        assert routine.status_code == 201, routine.text
        fired = await http.post(f"/api/routines/{routine.json()['id']}/run", json={}, headers=admin)
        assert fired.status_code == 202, fired.text
        run_id = fired.json()["runId"]
    dispatched = "dev.firehook.run.dispatched"
    messages = await read_topic(
        topology.bootstrap,
        topology.topics["runs"],
        until=lambda got: _run_events(got, run_id, dispatched),
    )
    assert len(_run_events(messages, run_id, dispatched)) == 1
    dev.terminate()


def _printed(log: str, label: str) -> str:
    for line in log.splitlines():
        if line.strip().startswith(label):
            return line.split(label, 1)[1].strip()
    raise AssertionError(f"{label} not printed:\n{log}")


@pytest.mark.parametrize("role", ["gateway", "scheduler", "consumer"])
def test_role_without_a_broker_fails_loudly(role: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREHOOK_")}
    env["FIREHOOK_SECRET_KEY"] = "x" * 44
    done = subprocess.run(
        [sys.executable, "-m", "firehook.cli", role],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "FIREHOOK_KAFKA_BOOTSTRAP_SERVERS" in done.stderr
