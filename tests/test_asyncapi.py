"""The AsyncAPI document: in sync with the models, shipped, served, and valid for the reference parser."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import httpx

from schemas.asyncapi import asyncapi_document
from schemas.export import ASYNCAPI_PATH, event_schemas, render

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / ".ci" / "node_modules"
VALIDATOR = Path(__file__).resolve().parent / "node" / "validate_asyncapi.cjs"


def test_checked_in_document_matches_the_models() -> None:
    assert ASYNCAPI_PATH.read_text(encoding="utf-8") == render(asyncapi_document()), (
        "schemas/asyncapi.json drifted from schemas.events: run `python -m schemas.export`"
    )


def test_document_ships_as_package_data() -> None:
    shipped = json.loads((resources.files("schemas") / "asyncapi.json").read_text("utf-8"))
    assert shipped["asyncapi"] == "3.0.0"


def test_payloads_are_the_json_schemas_of_the_events() -> None:
    document = asyncapi_document()
    schemas = document["components"]["schemas"]
    published = event_schemas()
    # The data of each event is the same schema as the `data` of its JSON Schema file.
    for stem, model in (
        ("fire-requested", "FireRequested"),
        ("run-event", "RunEvent"),
        ("run-result", "RunResult"),
    ):
        data = published[stem]["$defs"][model]
        assert set(schemas[model]["properties"]) == set(data["properties"])
        assert schemas[model].get("required") == data.get("required")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {
        "firehook.fires",
        "firehook.runs",
        "firehook.run-results",
        "firehook.fires.dlq",
        "/api/companies/{companyId}/events",
    }
    for name in ("FireRequested", "RunEvent", "RunResult"):
        headers = document["components"]["messages"][name]["headers"]
        assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"} <= set(
            headers["required"]
        )
        assert "traceparent" in headers["properties"]


async def test_gateway_serves_the_document_without_credentials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(render(asyncapi_document()))
    operation = (await client.get("/openapi.json")).json()["paths"]["/asyncapi.json"]["get"]
    # An empty security requirement: no credentials.
    assert operation["security"] == []


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the AsyncAPI reference parser"
    assert (NODE_MODULES / "@asyncapi" / "parser").is_dir(), (
        "the AsyncAPI parser is missing: npm install --prefix .ci (as .ci/run does)"
    )
    return subprocess.run(
        [node, str(VALIDATOR), str(path)],
        env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_reference_parser_accepts_the_document() -> None:
    result = _validate(ASYNCAPI_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["parsed"] is True
    errors_and_warnings = [d for d in report["diagnostics"] if d["severity"] <= 1]
    assert errors_and_warnings == []


def test_reference_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    broken = json.loads(render(asyncapi_document()))
    broken["operations"]["sendFire"]["action"] = "publish"
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = _validate(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert any(
        d["path"] == "operations/sendFire/action" for d in json.loads(result.stdout)["diagnostics"]
    )
