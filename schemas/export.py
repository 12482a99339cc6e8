"""JSON Schemas of the events, generated from their models (CloudEvents structured form),
and the AsyncAPI document built from the same models.

`python -m schemas.export` rewrites the checked-in files in `schemas/json/` and
`schemas/asyncapi.json`; a test fails when they drift from the models. Binary-mode
Kafka messages match the same schema once their `ce_*` headers and value are put
back together.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.asyncapi import asyncapi_document
from schemas.events import FireRequestedEvent, RunEventEnvelope, RunResultEvent

SCHEMA_DIR = Path(__file__).resolve().parent / "json"
ASYNCAPI_PATH = Path(__file__).resolve().parent / "asyncapi.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

EVENT_MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "fire-requested": (
        FireRequestedEvent,
        "dev.firehook.fire.requested on firehook.fires: one fire of one routine.",
    ),
    "run-event": (
        RunEventEnvelope,
        "dev.firehook.run.<status> on firehook.runs: a run after one status change.",
    ),
    "run-result": (
        RunResultEvent,
        "dev.firehook.run.result on firehook.run-results: an executor reports a run's end.",
    ),
}


def event_schemas() -> dict[str, dict[str, Any]]:
    """File stem → JSON Schema of each event, as published."""
    schemas: dict[str, dict[str, Any]] = {}
    for stem, (model, description) in EVENT_MODELS.items():
        schema = model.model_json_schema(mode="serialization")
        schemas[stem] = {"$schema": DIALECT, **schema, "description": description}
    return schemas


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema: stable key order, so diffs show real changes only."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(stem: str) -> Path:
    return SCHEMA_DIR / f"{stem}.schema.json"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for stem, schema in event_schemas().items():
        path = schema_path(stem)
        path.write_text(render(schema), encoding="utf-8")
        print(f"wrote {path}")
    ASYNCAPI_PATH.write_text(render(asyncapi_document()), encoding="utf-8")
    print(f"wrote {ASYNCAPI_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
