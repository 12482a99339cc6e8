"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, data as the JSON value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from firehook.bus import Message
from schemas.bounded_json import DEFAULT_MAX_DEPTH, UnstorableJson, parse_json
from schemas.common import utc_iso

SOURCE = "/firehook"
M = TypeVar("M", bound=BaseModel)


class UndecodableEvent(Exception):
    """A message that is not a CloudEvent of the expected type; it goes to the DLQ."""


@dataclass(frozen=True, slots=True)
class EventAttributes:
    id: str
    type: str
    source: str
    time: str
    subject: str | None
    traceparent: str | None


def event_headers(
    *,
    event_id: str,
    event_type: str,
    time: datetime,
    subject: str | None = None,
    source: str = SOURCE,
    traceparent: str | None = None,
) -> list[tuple[str, str]]:
    """The binary-mode headers of a CloudEvent, as text (the outbox stores them so)."""
    headers = [
        ("ce_specversion", "1.0"),
        ("ce_id", event_id),
        ("ce_source", source),
        ("ce_type", event_type),
        ("ce_time", utc_iso(time)),
        ("content-type", "application/json"),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject))
    if traceparent is not None:
        headers.append(("traceparent", traceparent))
    return headers


def encode_event(
    *,
    topic: str,
    key: str,
    event_id: str,
    event_type: str,
    time: datetime,
    data: BaseModel | Mapping[str, Any],
    subject: str | None = None,
    source: str = SOURCE,
    traceparent: str | None = None,
) -> Message:
    """A binary-mode CloudEvent as a bus message.

    A model's JSON is built only when something reads the message's `value` (Kafka,
    a dead letter): the in-process bus hands the model itself to its subscriber.
    """
    # The attributes of `event_headers`, built as bytes directly: this runs per fire.
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", utc_iso(time).encode()),
        ("content-type", b"application/json"),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    if traceparent is not None:
        headers.append(("traceparent", traceparent.encode()))
    if isinstance(data, BaseModel):
        # The serializer's bytes are model_dump_json's text before it is decoded.
        serializer = data.__pydantic_serializer__
        return Message(
            topic, key, None, tuple(headers), data, encode=lambda: serializer.to_json(data)
        )
    return Message(topic, key, orjson.dumps(data), tuple(headers))


def decode_event(
    message: Message,
    model: type[M],
    *,
    expected_type: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> tuple[EventAttributes, M]:
    """The attributes and validated data of a binary-mode CloudEvent.

    The data's fields (a fire's payload, a result's output) obey the same JSON limits
    as a request body, so that nothing a producer sends can be stored and then not read.
    """
    headers = {name: value.decode("utf-8", "replace") for name, value in message.headers}
    if headers.get("ce_specversion") != "1.0":
        raise UndecodableEvent("missing or unsupported ce_specversion")
    missing = [
        name for name in ("ce_id", "ce_type", "ce_source", "ce_time") if not headers.get(name)
    ]
    if missing:
        raise UndecodableEvent(f"missing CloudEvents headers: {', '.join(missing)}")
    if expected_type is not None and headers["ce_type"] != expected_type:
        raise UndecodableEvent(f"unexpected ce_type {headers['ce_type']!r}")
    if isinstance(message.decoded, model):
        # Handed over in process: the very object `value` was encoded from.
        data = message.decoded
    else:
        try:
            document = parse_json(message.value, "data", max_depth, members=True)
            data = model.model_validate(document)
        except UnstorableJson as exc:
            raise UndecodableEvent(f"invalid data: {exc}"[:500]) from None
        except ValidationError as exc:
            raise UndecodableEvent(f"invalid data: {str(exc)[:500]}") from None
    attributes = EventAttributes(
        id=headers["ce_id"],
        type=headers["ce_type"],
        source=headers["ce_source"],
        time=headers["ce_time"],
        subject=headers.get("ce_subject"),
        traceparent=headers.get("traceparent"),
    )
    return attributes, data


def structured(message: Message) -> dict[str, Any]:
    """The same event in structured form (attributes and data in one JSON object)."""
    event: dict[str, Any] = {
        name.removeprefix("ce_"): value.decode()
        for name, value in message.headers
        if name.startswith("ce_") or name == "traceparent"
    }
    event["datacontenttype"] = "application/json"
    event["data"] = orjson.loads(message.value)
    return event
