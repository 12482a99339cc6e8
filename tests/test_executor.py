"""firehook.executor in process: claims, handler choice, attempts, embedded mode, HTTP app."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from starlette.applications import Starlette

from firehook.context import Context
from firehook.executor import Executor, Outcome, Run, Selector
from firehook.executor.attempts import Attempts
from firehook.executor.stream import server_sent_events
from gateway.app import create_app
from gateway.signatures import sign_webhook
from tests.conftest import Tenant, routine_body
from tests.servers import serve
from tests.test_dispatch import http_routine, run_now, wait_status


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(concurrencyPolicy="always_enqueue", **body),
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


# Claims ---------------------------------------------------------------------------------


async def test_an_attempt_is_claimed_once_and_completed_for_that_attempt(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant)
    run_id = await run_now(client, tenant, routine["id"])
    await wait_status(client, tenant, run_id, "dispatched")
    claim = f"/api/runs/{run_id}/claim"
    assert (await client.post(claim, json={"attempt": 2}, headers=board(tenant))).status_code == 409
    taken = await client.post(claim, json={"attempt": 1}, headers=board(tenant))
    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "running" and taken.json()["startedAt"]
    again = await client.post(claim, json={"attempt": 1}, headers=board(tenant))
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    complete = f"/api/runs/{run_id}/complete"
    stale = await client.post(
        complete, json={"status": "succeeded", "attempt": 2}, headers=board(tenant)
    )
    assert stale.status_code == 409
    done = await client.post(
        complete, json={"status": "succeeded", "attempt": 1, "output": 7}, headers=board(tenant)
    )
    assert done.status_code == 200 and done.json()["output"] == 7


@pytest.mark.parametrize("body", [{}, {"attempt": "one"}, {"attempt": 0}, {"attempt": 1, "x": 1}])
async def test_a_malformed_claim_is_a_400(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
) -> None:
    routine = await new_routine(client, tenant)
    run_id = await run_now(client, tenant, routine["id"])
    response = await client.post(f"/api/runs/{run_id}/claim", json=body, headers=board(tenant))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_claims_need_a_key_of_the_company(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    run_id = await run_now(client, tenant, routine["id"])
    path = f"/api/runs/{run_id}/claim"
    assert (await client.post(path, json={"attempt": 1})).status_code == 401
    missing = "/api/runs/00000000-0000-4000-8000-000000000000/claim"
    assert (
        await client.post(missing, json={"attempt": 1}, headers=board(tenant))
    ).status_code == 404


# Handler choice --------------------------------------------------------------------------


def a_run(**routine: Any) -> Run:
    data = {
        "runId": "r1",
        "attempt": 1,
        "routineId": "routine-1",
        "companyId": "c",
        "routine": {"id": "routine-1", "title": "Nightly report", "projectId": "reports"} | routine,
        "task": {"id": "t", "name": "nl-to-sql", "collection": "my-org"},
        "parameters": {"model": "gpt-4o"},
        "deadlineAt": "2030-01-01T00:00:00Z",
    }
    return Run.from_event(data)


def test_selectors_match_routine_id_title_task_and_labels() -> None:
    run = a_run(priority="high")
    assert Selector(routine_id="routine-1").matches(run)
    assert not Selector(routine_id="other").matches(run)
    assert Selector(title="Nightly report").matches(run)
    assert Selector(task="nl-to-sql").matches(run)
    assert Selector(labels={"projectId": "reports", "collection": "my-org"}).matches(run)
    assert Selector(labels={"priority": "high"}).matches(run)
    assert not Selector(labels={"priority": "low"}).matches(run)
    assert Selector(labels={"team": "data"}).matches(a_run(labels={"team": "data"}))
    assert not Selector(title="Nightly report", task="other").matches(run)
    assert run.parameters == {"model": "gpt-4o"} and run.deadline == datetime(
        2030, 1, 1, tzinfo=UTC
    )


def test_the_first_registered_match_wins_and_a_selector_is_required() -> None:
    executor = Executor()

    @executor.handler(title="Nightly report")
    async def first(run: Run) -> int:
        return 1

    @executor.handler(labels={"projectId": "reports"})
    async def second(run: Run) -> int:
        return 2

    assert executor.registry.handler_for(a_run()) is first
    assert executor.registry.handler_for(a_run(title="Other")) is second
    assert executor.registry.handler_for(a_run(title="Other", projectId="x")) is None
    with pytest.raises(ValueError, match="selector"):
        executor.handler()(first)


# Attempts --------------------------------------------------------------------------------


class Reports:
    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome] = {}

    async def __call__(self, run: Run, outcome: Outcome) -> None:
        self.outcomes[run.id] = outcome


def run_with(run_id: str, deadline: datetime | None = None) -> Run:
    run = a_run()
    run.id, run.deadline = run_id, deadline
    return run


async def test_an_attempt_ends_in_a_reported_outcome_whatever_the_handler_does() -> None:
    attempts, reports = Attempts(concurrency=4), Reports()

    async def succeed(run: Run) -> dict[str, Any]:
        await run.report_progress("half way", fraction=0.5, linked_issue_id="ISS-7")
        return {"ok": True}

    async def crash(run: Run) -> None:
        raise RuntimeError("boom")

    async def dawdle(run: Run) -> None:
        await asyncio.sleep(60)

    soon = datetime.now(UTC) + timedelta(seconds=0.3)
    await attempts.start(run_with("ok"), succeed, reports)
    await attempts.start(run_with("crash"), crash, reports)
    await attempts.start(run_with("late", soon), dawdle, reports)
    await attempts.start(run_with("cancelled"), dawdle, reports)
    await asyncio.sleep(0.05)
    assert attempts.cancel_run("cancelled")
    started = time.monotonic()
    assert await attempts.drain(timeout=5) == 0
    assert time.monotonic() - started < 3
    assert reports.outcomes["ok"] == Outcome("succeeded", {"linkedIssueId": "ISS-7", "ok": True})
    assert reports.outcomes["crash"] == Outcome("failed", error="RuntimeError: boom")
    assert reports.outcomes["late"] == Outcome("failed", error="deadline exceeded")
    # A cancelled run has ended already: nothing to report.
    assert "cancelled" not in reports.outcomes


async def test_draining_is_bounded_and_reports_what_it_cuts() -> None:
    attempts, reports = Attempts(concurrency=2), Reports()

    async def forever(run: Run) -> None:
        await asyncio.Event().wait()

    await attempts.start(run_with("a"), forever, reports)
    await attempts.start(run_with("b"), forever, reports)
    assert not attempts.free
    assert await attempts.drain(timeout=0.2) == 2
    assert {o.error for o in reports.outcomes.values()} == {"executor stopped before the end"}
    assert attempts.in_flight == 0


async def test_the_concurrency_limit_holds() -> None:
    attempts, reports = Attempts(concurrency=3), Reports()
    running, peak = 0, 0

    async def work(run: Run) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    for n in range(20):
        await attempts.start(run_with(f"r{n}"), work, reports)
    await attempts.drain(timeout=5)
    assert peak == 3 and len(reports.outcomes) == 20


async def test_server_sent_events_are_parsed_as_the_specification_says() -> None:
    async def lines() -> Any:
        for line in [
            "retry: 2000",
            "",
            ": keepalive",
            "id: 7",
            "event: x",
            "data: a",
            "data: b",
            "",
        ]:
            yield line

    events = [event async for event in server_sent_events(lines())]
    assert [(e.id, e.event, e.data) for e in events] == [("7", "x", "a\nb")]


# Embedded mode ---------------------------------------------------------------------------


async def test_embedded_mode_handles_runs_from_the_stream_with_the_same_handler(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    task = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={
            "name": "nl-to-sql",
            "collection": "my-org",
            "initParams": [{"name": "model", "default": "gpt-4o", "type_hint": "string"}],
        },
        headers=board(tenant),
    )
    assert task.status_code == 201, task.text
    by_task = await new_routine(client, tenant, title="By task", taskId=task.json()["id"])
    by_title = await new_routine(client, tenant, title="Nightly report")
    executor = Executor(concurrency=4)
    seen: list[Run] = []

    @executor.handler(task="nl-to-sql")
    async def with_parameters(run: Run) -> dict[str, Any]:
        seen.append(run)
        return {"model": run.parameters["model"], "attempt": run.attempt}

    @executor.handler(title="Nightly report")
    async def failing(run: Run) -> None:
        raise ValueError("no data")

    app = create_app(ctx)
    stop = asyncio.Event()
    async with serve(app) as base:
        serving = asyncio.create_task(
            executor.serve_stream(
                base_url=base, api_key=tenant.board, company_id=tenant.company_id, stop=stop
            )
        )
        ok = await run_now(client, tenant, by_task["id"], payload={"n": 1})
        bad = await run_now(client, tenant, by_title["id"])
        succeeded = await wait_status(client, tenant, ok, "succeeded")
        failed = await wait_status(client, tenant, bad, "failed")
        stop.set()
        await asyncio.wait_for(serving, 10)
    assert succeeded["output"] == {"model": "gpt-4o", "attempt": 1}
    assert failed["error"] == "ValueError: no data"
    [run] = seen
    assert run.payload == {"n": 1} and run.context["task"]["collection"] == "my-org"
    assert run.deadline is not None and run.context["routine"]["title"] == "By task"
    assert "secretParams" not in orjson.dumps(run.context).decode()


async def test_stream_events_carry_the_cloudevents_attributes(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine = await new_routine(client, tenant)
    run_id = await run_now(client, tenant, routine["id"])
    app = create_app(ctx)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        path = f"/api/companies/{tenant.company_id}/events"
        async with http.stream("GET", path, headers=board(tenant)) as stream:
            event = await anext(server_sent_events(stream.aiter_lines()))
    parsed = JSONFormat().read(CloudEvent, event.data.encode())
    assert parsed.get_specversion() == "1.0" and parsed.get_type() == event.event
    assert parsed.get_source() == "/firehook" and parsed.get_subject() == run_id
    assert parsed.get_datacontenttype() == "application/json"
    assert parsed.get_time() is not None and parsed.get_time().utcoffset() is not None
    assert parsed.get_data()["routine"]["title"] == "Nightly report"


# HTTP executors --------------------------------------------------------------------------


async def test_the_http_app_answers_inline_and_refuses_a_tampered_dispatch(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    executor = Executor()
    bodies: list[bytes] = []

    @executor.handler(title="Nightly report")
    async def handle(run: Run) -> dict[str, Any]:
        return {"echo": run.payload, "secret": run.secret_params.get("token")}

    secret: dict[str, str] = {}

    class Recording:
        """The executor's app, keeping what Firehook sent it."""

        def __init__(self) -> None:
            self.app: Starlette | None = None

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if self.app is None:
                self.app = executor.asgi_app(secret["value"], path="/run")

            async def keep() -> Any:
                message = await receive()
                bodies.append(message.get("body", b""))
                return message

            await self.app(scope, keep, send)

    async with serve(Recording()) as base:
        routine = await http_routine(
            client, tenant, f"{base}/run", secretParams={"token": "s3cret"}
        )
        secret["value"] = routine["dispatchSigningSecret"]
        run_id = await run_now(client, tenant, routine["id"], payload={"x": 1})
        run = await wait_status(client, tenant, run_id, "succeeded")
        assert run["output"] == {"echo": {"x": 1}, "secret": "s3cret"}

        body = bodies[0]
        headers = sign_webhook("standard_webhooks", secret["value"], body, time.time(), run_id)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            fresh_attempt = body.replace(b'"attempt":1', b'"attempt":5')
            resigned = sign_webhook(
                "standard_webhooks", secret["value"], fresh_attempt, time.time(), run_id
            )
            valid = await http.post("/run", content=fresh_attempt, headers=resigned)
            assert valid.status_code == 200 and valid.json()["status"] == "succeeded"
            tampered = body.replace(b'"x":1', b'"x":2')
            assert tampered != body
            refused = await http.post("/run", content=tampered, headers=headers)
            assert refused.status_code == 401
            other_secret = sign_webhook(
                "standard_webhooks", "whsec_" + "A" * 32, body, time.time(), run_id
            )
            assert (await http.post("/run", content=body, headers=other_secret)).status_code == 401
            stale = sign_webhook(
                "standard_webhooks", secret["value"], body, time.time() - 3600, run_id
            )
            assert (await http.post("/run", content=body, headers=stale)).status_code == 401
            assert (await http.post("/run", content=body)).status_code == 401


async def test_a_linked_issue_reaches_the_run_while_its_handler_still_runs(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine = await new_routine(client, tenant, title="Triage")
    executor = Executor(concurrency=1)
    linked, release = asyncio.Event(), asyncio.Event()

    @executor.handler(title="Triage")
    async def triage(run: Run) -> dict[str, Any]:
        await run.report_progress("filed", linked_issue_id="ISS-42")
        linked.set()
        await release.wait()
        return {"ok": True}

    stop = asyncio.Event()
    async with serve(create_app(ctx)) as base:
        serving = asyncio.create_task(
            executor.serve_stream(
                base_url=base, api_key=tenant.board, company_id=tenant.company_id, stop=stop
            )
        )
        run_id = await run_now(client, tenant, routine["id"])
        await asyncio.wait_for(linked.wait(), 10)
        during = (await client.get(f"/api/runs/{run_id}", headers=board(tenant))).json()
        release.set()
        done = await wait_status(client, tenant, run_id, "succeeded")
        stop.set()
        await asyncio.wait_for(serving, 10)
    assert during["status"] == "running"
    assert during["linkedIssueId"] == "ISS-42"
    assert done["linkedIssueId"] == "ISS-42"
    assert done["output"] == {"linkedIssueId": "ISS-42", "ok": True}


async def test_on_kafka_a_linked_issue_is_a_running_result_on_the_results_topic() -> None:
    from firehook.executor.handlers import Registry
    from firehook.executor.kafka import KafkaRuns
    from schemas.events import RUN_RESULT

    sent: list[tuple[str, bytes, dict[str, bytes]]] = []

    class Producer:
        async def send_and_wait(
            self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
        ) -> None:
            sent.append((topic, value, dict(headers)))

    runs = KafkaRuns(
        Registry(), Attempts(concurrency=1), bootstrap_servers="127.0.0.1:9", group_id="g"
    )
    # Never started: nothing connects; the test's producer takes what is sent.
    real_producer, runs._producer = runs._producer, Producer()  # type: ignore[assignment]
    try:
        run = run_with("r-1")
        run.link_issue = runs._link_issue
        await run.report_progress(linked_issue_id="ISS-9")
        await run.report_progress(linked_issue_id="ISS-9")  # the same id again: said once
    finally:
        await runs._consumer.stop()
        await real_producer.stop()
    [(topic, value, headers)] = sent
    assert topic == "firehook.run-results"
    assert headers["ce_type"].decode() == RUN_RESULT
    assert headers["ce_id"].decode() == "r-1:running:1"
    result = orjson.loads(value)
    assert result["status"] == "running" and result["linkedIssueId"] == "ISS-9"
    assert result["runId"] == "r-1" and result["attempt"] == 1
