"""The checked-in JSON Schemas of the events match the models, and real events match them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

import schemas
from consumers.records import StatusChanges
from firehook.bus import Message
from firehook.cloudevents import UndecodableEvent, decode_event, structured
from firehook.fires import fire_message
from firehook.settings import Settings
from schemas.common import RunSource
from schemas.events import FIRE_REQUESTED, FireRequested
from schemas.export import ASYNCAPI_PATH, EVENT_MODELS, event_schemas, render, schema_path

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN_ID = "8f0c5a52-3c1e-5b7a-9d4e-2f1a6b7c8d9e"
ROUTINE_ID = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"
COMPANY_ID = "6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b"
RUN: dict[str, Any] = {
    "id": RUN_ID,
    "routine_id": ROUTINE_ID,
    "company_id": COMPANY_ID,
    "status": "dispatched",
    "attempt": 1,
    "source": "webhook",
    "payload": {"n": 1},
    "created_at": NOW,
    "dispatched_at": NOW,
    "attempts": [{"attempt": 1, "status": "dispatched", "startedAt": "2026-03-01T12:00:00Z"}],
}


@pytest.mark.parametrize("stem", sorted(EVENT_MODELS))
def test_checked_in_schema_matches_the_model(stem: str) -> None:
    path = schema_path(stem)
    assert path.exists(), f"{path} is missing: run `python -m schemas.export`"
    assert path.read_text(encoding="utf-8") == render(event_schemas()[stem]), (
        f"{path.name} drifted from schemas.events: run `python -m schemas.export`"
    )


def test_schemas_ship_as_package_data() -> None:
    files = resources.files("schemas") / "json"
    for stem in EVENT_MODELS:
        schema = json.loads((files / f"{stem}.schema.json").read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)


def test_exporter_writes_the_files(tmp_path: Path) -> None:
    # The real command rewrites schemas/json; run it on a copy of the package.
    copy = tmp_path / "schemas"
    shutil.copytree(Path(schemas.__file__).parent, copy, ignore=shutil.ignore_patterns("json"))
    done = subprocess.run(
        [sys.executable, "-m", "schemas.export"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    # One file per event, and the AsyncAPI document.
    assert done.stdout.count(f"wrote {copy}") == len(EVENT_MODELS) + 1, done.stdout
    for stem in EVENT_MODELS:
        written = (copy / "json" / f"{stem}.schema.json").read_text(encoding="utf-8")
        assert written == schema_path(stem).read_text(encoding="utf-8")
    assert (copy / "asyncapi.json").read_text(encoding="utf-8") == ASYNCAPI_PATH.read_text(
        encoding="utf-8"
    )


def test_a_published_fire_matches_its_schema() -> None:
    fire = FireRequested(
        fire_id="f-1",
        run_id=RUN_ID,
        routine_id=ROUTINE_ID,
        company_id=COMPANY_ID,
        source=RunSource.WEBHOOK,
        payload={"n": 1},
        requested_at=NOW,
        idempotency_key="delivery-1",
    )
    message = fire_message(
        SETTINGS, fire, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    jsonschema.validate(structured(message), event_schemas()["fire-requested"])


def test_a_run_event_matches_its_schema_and_a_broken_one_does_not() -> None:
    changes = StatusChanges(SETTINGS, publish_to_bus=True)
    changes.record(RUN, NOW)
    [row] = changes.outbox
    message = Message(
        row["topic"],
        row["key"],
        json.dumps(row["body"]).encode(),
        tuple((name, value.encode()) for name, value in row["headers"]),
    )
    event = structured(message)
    schema = event_schemas()["run-event"]
    jsonschema.validate(event, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event | {"data": event["data"] | {"status": "exploded"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in event.items() if k != "id"}, schema)


def test_in_process_a_fire_is_handed_over_and_from_bytes_it_is_decoded() -> None:
    fire = FireRequested(
        fire_id="f-2",
        run_id=RUN_ID,
        routine_id=ROUTINE_ID,
        company_id=COMPANY_ID,
        source=RunSource.API,
        payload={"n": 2},
        requested_at=NOW,
    )
    message = fire_message(SETTINGS, fire)
    _, handed = decode_event(message, FireRequested, expected_type=FIRE_REQUESTED)
    assert handed is fire
    # What Kafka delivers has only the bytes: the same fire, parsed and validated.
    received = Message(message.topic, message.key, message.value, message.headers)
    assert received == message
    _, decoded = decode_event(received, FireRequested, expected_type=FIRE_REQUESTED)
    assert decoded is not fire and decoded == fire
    # An object of another type is never taken for the data.
    wrong = Message(message.topic, message.key, b"{}", message.headers, decoded=object())
    with pytest.raises(UndecodableEvent, match="invalid data"):
        decode_event(wrong, FireRequested)


def test_a_fires_bytes_are_built_only_when_read_and_are_the_models_json() -> None:
    fire = FireRequested(
        fire_id="f-3",
        run_id=RUN_ID,
        routine_id=ROUTINE_ID,
        company_id=COMPANY_ID,
        source=RunSource.WEBHOOK,
        payload={"text": "héllo \u2028 ✓", "n": [1, 2.5, None]},
        requested_at=NOW,
        idempotency_key="delivery-3",
    )
    message = fire_message(
        SETTINGS, fire, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    handed_over = Message(message.topic, message.key, None, message.headers, fire, encode=boom)
    # The consumer in process takes the model and never asks for the bytes.
    _, handed = decode_event(handed_over, FireRequested, expected_type=FIRE_REQUESTED)
    assert handed is fire
    # What Kafka is sent is byte for byte the model's JSON, built once.
    assert message.value == fire.model_dump_json().encode()
    assert message.value is message.value
    assert dict(message.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": b"f-3",
        "ce_source": b"/firehook",
        "ce_type": FIRE_REQUESTED.encode(),
        "ce_time": b"2026-03-01T12:00:00Z",
        "content-type": b"application/json",
        "ce_subject": RUN_ID.encode(),
        "traceparent": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    with pytest.raises(TypeError):
        Message("t", "k")
    with pytest.raises(TypeError):
        Message("t", "k", b"{}", encode=lambda: b"{}")


def boom() -> bytes:
    raise AssertionError("the bytes were built though nothing read them")


def test_a_run_events_outbox_headers_are_its_cloudevent_attributes() -> None:
    changes = StatusChanges(SETTINGS, publish_to_bus=True)
    changes.record(RUN, NOW)
    [row] = changes.outbox
    assert row["topic"] == SETTINGS.topic_runs
    assert row["key"] == ROUTINE_ID
    assert row["headers"] == [
        ["ce_specversion", "1.0"],
        ["ce_id", changes.events[0]["ce_id"]],
        ["ce_source", "/firehook"],
        ["ce_type", changes.events[0]["type"]],
        ["ce_time", "2026-03-01T12:00:00Z"],
        ["content-type", "application/json"],
        ["ce_subject", RUN_ID],
    ]
