"""The executor examples run as documented: one set of handlers, three transports."""

from __future__ import annotations

import importlib
import time
from typing import Any

import httpx
import orjson
import pytest

from firehook.executor import Run
from gateway.signatures import sign_webhook

SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="


def dispatch(**routine: Any) -> dict[str, Any]:
    return {
        "type": "dev.firehook.run.dispatched",
        "runId": "6f1c1d5e-8f57-5d0b-9a3c-6a1f2f0b1c11",
        "attempt": 1,
        "routineId": "r-1",
        "companyId": "c-1",
        "payload": None,
        "scheduledFor": "2026-03-02T14:00:00Z",
        "deadlineAt": "2099-01-01T00:00:00Z",
        "routine": {"id": "r-1", "title": "Other", "projectId": "ops"} | routine,
        "task": None,
        "parameters": {"sample_size": 3},
        "secretParams": {},
    }


async def test_the_kafka_examples_handlers_are_chosen_by_title_and_labels() -> None:
    example = importlib.import_module("examples.kafka_executor")
    registry = example.executor.registry
    report = Run.from_event(dispatch(title="Nightly report"))
    handler = registry.handler_for(report)
    assert handler is not None
    assert await handler(report) == {"rows": 3, "scheduledFor": "2026-03-02T14:00:00Z"}
    billing = Run.from_event(dispatch(projectId="billing", priority="high"))
    assert registry.handler_for(billing) is example.billing
    assert registry.handler_for(Run.from_event(dispatch())) is None


async def test_the_http_example_verifies_and_answers_inline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPATCH_SECRET", SECRET)
    example = importlib.reload(importlib.import_module("examples.http_executor"))
    body = orjson.dumps(dispatch(projectId="billing", priority="high"))
    headers = sign_webhook("standard_webhooks", SECRET, body, time.time(), "run-1")
    transport = httpx.ASGITransport(app=example.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://executor.test") as http:
        answer = await http.post("/", content=body, headers=headers)
        assert answer.status_code == 200
        assert answer.json() == {"status": "failed", "error": "ValueError: the ledger is closed"}
        tampered = body.replace(b'"billing"', b'"billinG"')
        assert (await http.post("/", content=tampered, headers=headers)).status_code == 401
