"""The AsyncAPI 3.0 document of the event API, generated from the event models.

Payload schemas come from the same pydantic models as `schemas/json/`; each Kafka
message also declares its CloudEvents binary-mode headers. The document describes
Firehook itself: the operations are what Firehook sends and receives.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from schemas.events import (
    FIRE_REQUESTED,
    RUN_RESULT,
    FireRequested,
    RunEvent,
    RunEventEnvelope,
    RunResult,
)

ASYNCAPI_VERSION = "3.0.0"
_REF = "#/components/schemas/{model}"
_KAFKA_BINDING = "0.5.0"
_HTTP_BINDING = "0.3.0"
_TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_STATUS_TYPE = r"^dev\.firehook\.run\.[a-z_]+$"


def _cloudevents_headers(ce_type: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
    """The `ce_*` headers of a binary-mode CloudEvent (CloudEvents 1.0 Kafka binding)."""
    properties: dict[str, Any] = {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {
            "type": "string",
            "minLength": 1,
            "description": "Unique per event; stable across redeliveries of the same event.",
        },
        "ce_source": {"type": "string", "minLength": 1, "examples": ["/firehook"]},
        "ce_type": {"type": "string", **ce_type},
        "ce_time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC."},
        "ce_subject": {"type": "string", "description": "The run id, on run events."},
        "content-type": {
            "type": "string",
            "const": "application/json",
            "description": "The CloudEvents datacontenttype of the binary-mode value.",
        },
        "traceparent": {
            "type": "string",
            "pattern": _TRACEPARENT,
            "description": "W3C Trace Context (CloudEvents distributed tracing extension).",
        },
    }
    properties |= extra or {}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": properties,
    }


def _kafka_message(
    name: str, title: str, summary: str, payload: str, ce_type: dict[str, Any], key: str
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "headers": _cloudevents_headers(ce_type),
        "payload": {"$ref": _REF.format(model=payload)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _schemas() -> dict[str, Any]:
    components: dict[str, Any] = {}
    models: tuple[type[BaseModel], ...] = (FireRequested, RunEvent, RunResult, RunEventEnvelope)
    for model in models:
        schema = model.model_json_schema(ref_template=_REF, mode="serialization")
        components |= schema.pop("$defs", {})
        components[model.__name__] = schema
    return components


def _messages() -> dict[str, Any]:
    routine_key = "The routine id: one routine's events keep their order on one partition."
    fire = _kafka_message(
        "FireRequested",
        "A fire of a routine",
        "Asks for a run; the consumer dedupes it by its run id and applies the routine's policies.",
        "FireRequested",
        {"const": FIRE_REQUESTED},
        routine_key,
    )
    dead = _kafka_message(
        "FireDeadLettered",
        "A fire set aside",
        "A message of firehook.fires that could not be applied on its own, unchanged, "
        "with the reason in firehook_dlq_reason.",
        "FireRequested",
        {"description": "As on firehook.fires (the original message's headers are kept)."},
        routine_key,
    )
    dead["headers"] = _cloudevents_headers(
        {"description": "As on firehook.fires (the original message's headers are kept)."},
        {"firehook_dlq_reason": {"type": "string", "description": "Why it was set aside."}},
    )
    # A set-aside message may be exactly what failed to decode: nothing is promised of it.
    dead["headers"]["required"] = ["firehook_dlq_reason"]
    dead["payload"] = {"description": "The original value, as it was received."}
    return {
        "FireRequested": fire,
        "RunEvent": _kafka_message(
            "RunEvent",
            "A run after one status change",
            "dev.firehook.run.<status>; ce_id is stable per run, status and attempt. "
            "Executors act on dev.firehook.run.dispatched.",
            "RunEvent",
            {"pattern": _STATUS_TYPE},
            routine_key,
        ),
        "RunResult": _kafka_message(
            "RunResult",
            "An executor reports how a run ended",
            "Applied to the run's current attempt; a result for an ended run changes nothing.",
            "RunResult",
            {"const": RUN_RESULT},
            "The routine id (any key is accepted).",
        ),
        "FireDeadLettered": dead,
        "RunEventSse": {
            "name": "RunEventSse",
            "title": "A run event on the Server-Sent Events stream",
            "summary": "The same event as on firehook.runs, in CloudEvents structured form; "
            "the SSE `id` is the stream position to resume from with Last-Event-ID and "
            "the SSE `event` is the CloudEvents type.",
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": _REF.format(model="RunEventEnvelope")},
        },
    }


def _channels() -> dict[str, Any]:
    def topic(address: str, message: str, description: str) -> dict[str, Any]:
        return {
            "address": address,
            "description": description,
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": {"kafka": {"topic": address, "bindingVersion": _KAFKA_BINDING}},
        }

    return {
        "fires": topic(
            "firehook.fires", "FireRequested", "Fires from gateways, schedulers and chains."
        ),
        "runs": topic("firehook.runs", "RunEvent", "One event per status change of every run."),
        "runResults": topic("firehook.run-results", "RunResult", "Results that executors report."),
        "firesDlq": topic(
            "firehook.fires.dlq", "FireDeadLettered", "Fires the consumer could not apply."
        ),
        "runEventStream": {
            "address": "/api/companies/{companyId}/events",
            "description": "A company's run events as Server-Sent Events (text/event-stream), "
            "resumable with the Last-Event-ID header; `?routineId=` narrows it to one routine.",
            "servers": [{"$ref": "#/servers/http"}],
            "parameters": {"companyId": {"description": "The company whose runs to stream."}},
            "messages": {"RunEventSse": {"$ref": "#/components/messages/RunEventSse"}},
            "bindings": {
                "http": {"bindingVersion": _HTTP_BINDING},
            },
        },
    }


def _operations() -> dict[str, Any]:
    def operation(action: str, channel: str, message: str, summary: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }

    stream = operation(
        "send", "runEventStream", "RunEventSse", "Stream run events to an embedded executor."
    )
    stream["security"] = [{"$ref": "#/components/securitySchemes/apiKey"}]
    stream["bindings"] = {"http": {"method": "GET", "bindingVersion": _HTTP_BINDING}}
    return {
        "sendFire": operation("send", "fires", "FireRequested", "Publish a fire."),
        "receiveFire": operation("receive", "fires", "FireRequested", "Apply fires (consumer)."),
        "sendRunEvent": operation("send", "runs", "RunEvent", "Publish a run's status change."),
        "receiveRunResult": operation(
            "receive", "runResults", "RunResult", "Apply an executor's result."
        ),
        "sendDeadLetter": operation(
            "send", "firesDlq", "FireDeadLettered", "Set aside a fire that cannot be applied."
        ),
        "streamRunEvents": stream,
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "saslPlain": {
            "type": "plain",
            "description": "FIREHOOK_KAFKA_SECURITY_PROTOCOL=SASL_SSL|SASL_PLAINTEXT, "
            "FIREHOOK_KAFKA_SASL_MECHANISM=PLAIN.",
        },
        "saslScram256": {"type": "scramSha256", "description": "SASL mechanism SCRAM-SHA-256."},
        "saslScram512": {"type": "scramSha512", "description": "SASL mechanism SCRAM-SHA-512."},
        "tls": {
            "type": "X509",
            "description": "FIREHOOK_KAFKA_SECURITY_PROTOCOL=SSL, the broker's CA in "
            "FIREHOOK_KAFKA_SSL_CAFILE.",
        },
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "A Firehook API key: Authorization: Bearer <key>.",
        },
    }


@functools.cache
def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of Firehook's event API."""
    security = [
        {"$ref": f"#/components/securitySchemes/{name}"}
        for name in ("saslPlain", "saslScram256", "saslScram512", "tls")
    ]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:dev:firehook:events",
        "info": {
            "title": "Firehook events",
            "version": version,
            "description": "CloudEvents 1.0 in Kafka binary mode (`ce_*` headers, JSON value, "
            "key = routine id), and the same run events over Server-Sent Events.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The cluster in FIREHOOK_KAFKA_BOOTSTRAP_SERVERS; topic names "
                "are the defaults of FIREHOOK_TOPIC_*.",
                "security": security,
            },
            "http": {
                "host": "localhost:8000",
                "protocol": "http",
                "description": "A Firehook gateway (FIREHOOK_PUBLIC_BASE_URL).",
                "security": [{"$ref": "#/components/securitySchemes/apiKey"}],
            },
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "schemas": _schemas(),
            "messages": _messages(),
            "securitySchemes": _security_schemes(),
        },
    }
