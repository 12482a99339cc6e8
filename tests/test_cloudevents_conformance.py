"""CloudEvents conformance of every topic, checked by the reference SDK (`cloudevents`).

Real messages from tansu, written by gateway and consumer processes, are read with the
SDK's Kafka binding; a run result made by the SDK is applied by the consumer; and the
SSE stream carries the same attributes in structured form.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from firehook.bus import Message
from tests.processes import (
    Topology,
    create_tenant,
    producer,
    read_topic,
    send,
    send_webhook,
    topology,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REQUIRED = {"specversion", "id", "source", "type"}
# CloudEvents 1.0: attribute names are lower-case ASCII letters and digits.
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def sdk_event(message: Message) -> CloudEvent:
    """The message read by the SDK's Kafka binding (binary content mode)."""
    kafka_message = KafkaMessage(
        headers=dict(message.headers),
        key=message.key.encode() if message.key is not None else None,
        value=message.value,
    )
    event = ce_kafka.from_binary(kafka_message, JSONFormat(), CloudEvent)
    assert isinstance(event, CloudEvent)
    return event


def check_conformance(message: Message, type_pattern: str) -> CloudEvent:
    event = sdk_event(message)
    attributes = event.get_attributes()
    assert REQUIRED <= set(attributes), attributes
    assert event.get_specversion() == "1.0"
    assert event.get_id() and event.get_source()
    assert re.fullmatch(type_pattern, event.get_type()), event.get_type()
    when = event.get_time()
    assert isinstance(when, datetime) and when.utcoffset() is not None
    assert event.get_datacontenttype() == "application/json"
    assert isinstance(event.get_data(), dict)
    for name in attributes:
        assert ATTRIBUTE_NAME.fullmatch(name), f"attribute name {name!r} is not conformant"
    # No header pretends to be an attribute without the binding's ce_ prefix.
    others = {"content-type", "traceparent", "tracestate", "firehook_dlq_reason"}
    for name, _ in message.headers:
        assert name.startswith("ce_") or name in others, name
    traceparent = message.header("traceparent")
    if traceparent is not None:
        assert TRACEPARENT.fullmatch(traceparent)
    return event


async def test_every_topic_conforms_and_an_sdk_result_is_applied(
    topology: Topology,  # noqa: F811
) -> None:
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await asyncio.gather(gateway.wait_ready(), consumer.wait_ready())
    tenant = await create_tenant(
        gateway.url, topology.database_url, title="Conformance", concurrencyPolicy="always_enqueue"
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        run_ids = []
        for n in range(3):
            attempt = await send_webhook(http, tenant, n)
            assert attempt.status == 202 and attempt.body, attempt
            run_ids.append(str(attempt.body.get("runId") or attempt.body.get("id")))

    # A message that cannot be applied on its own is set aside on the DLQ topic.
    kafka = await producer(topology.bootstrap)
    try:
        poison = Message(
            topology.topics["fires"],
            tenant.routine_id,
            orjson.dumps({"runId": "not a fire"}),
            (
                ("ce_specversion", b"1.0"),
                ("ce_id", uuid.uuid4().hex.encode()),
                ("ce_source", b"/tests"),
                ("ce_type", b"dev.firehook.fire.requested"),
                ("ce_time", b"2026-03-01T12:00:00Z"),
                ("content-type", b"application/json"),
                ("traceparent", PARENT.encode()),
            ),
        )
        await send(kafka, [poison])

        fires = await read_topic(
            topology.bootstrap, topology.topics["fires"], until=lambda got: len(got) >= 4
        )
        for message in fires:
            check_conformance(message, r"dev\.firehook\.fire\.requested")
        runs = await read_topic(
            topology.bootstrap, topology.topics["runs"], until=lambda got: len(got) >= 3
        )
        for message in runs:
            event = check_conformance(message, r"dev\.firehook\.run\.[a-z_]+")
            assert event.get_subject() == event.get_data()["runId"]
            assert event.get_extension("partitionkey") == tenant.routine_id
        [dead] = await read_topic(
            topology.bootstrap, topology.topics["fires_dlq"], until=lambda got: len(got) >= 1
        )
        check_conformance(dead, r"dev\.firehook\.fire\.requested")
        assert dead.header("traceparent") == PARENT

        # A run result made by the reference SDK, as an executor in another language would.
        result = CloudEvent(
            attributes={
                "type": "dev.firehook.run.result",
                "source": "/tests/cloudevents-sdk",
                "subject": run_ids[0],
                "datacontenttype": "application/json",
                "partitionkey": tenant.routine_id,
            },
            data={
                "runId": run_ids[0],
                "status": "succeeded",
                "output": {"via": "sdk"},
                "attempt": 1,
            },
        )
        made = ce_kafka.to_binary(result, JSONFormat())
        await kafka.send_and_wait(
            topology.topics["run_results"],
            made.value,
            key=made.key.encode() if isinstance(made.key, str) else made.key,
            headers=list(made.headers.items()),
        )
    finally:
        await kafka.stop()
    run = await wait_run(gateway.url, tenant.auth, run_ids[0], "succeeded")
    assert run["output"] == {"via": "sdk"}
    consumer.terminate()
    gateway.terminate()


async def wait_run(url: str, auth: dict[str, str], run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while True:
            run: dict[str, Any] = (await http.get(f"/api/runs/{run_id}", headers=auth)).json()
            if run["status"] == status:
                return run
            assert time.monotonic() < deadline, run
            await asyncio.sleep(0.2)
