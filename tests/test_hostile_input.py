"""Hostile input: nothing a client sends may break a routine, a reader or the process.

JSON nesting and NUL on every JSON input, null and wrong types on every PATCH field,
rows that cannot be decoded or encoded in the store, and unexpected errors.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from alembic import command
from prometheus_client import REGISTRY
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError
from starlette.responses import Response

from consumers import fires as consumer_fires
from firehook.app import build_context
from firehook.bootstrap import issue_api_key
from firehook.bus import Message
from firehook.cloudevents import encode_event
from firehook.context import Context
from firehook.fires import fire_message
from firehook.ids import new_id, run_id_for
from firehook.roles import production
from firehook.settings import Settings
from firehook.store import routines as routine_store
from firehook.store.migrate import alembic_config
from firehook.store.tables import outbox, run_events, runs
from firehook.tracing import RequestContext
from gateway import create_app
from schemas import bounded_json
from schemas.bounded_json import UnstorableJson, check_json, parse_json
from schemas.common import Role, RunSource
from schemas.events import RUN_RESULT, FireRequested, RunResult
from tests.conftest import Tenant, make_tenant, routine_body
from tests.processes import producer, read_topic, send
from tests.servers import Receiver, serve
from tests.test_dispatch import http_routine, run_now, wait_status
from tests.test_kafka import kafka_settings
from tests.test_webhooks import fire, new_routine, new_webhook

DEPTHS = [63, 64, 65, 1000]
LIMIT = 64


def deep(depth: int) -> bytes:
    """A JSON object nested `depth` levels deep, as bytes (orjson refuses to write past 254)."""
    return b'{"a":' * (depth - 1) + b'{"a":1}' + b"}" * (depth - 1)


def deep_value(depth: int) -> Any:
    value: Any = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def with_member(base: dict[str, Any], name: str, raw: bytes) -> bytes:
    """`base` as JSON with one more member whose value is the raw JSON `raw`."""
    encoded = orjson.dumps(base)
    separator = b"," if base else b""
    return encoded[:-1] + separator + b'"' + name.encode() + b'":' + raw + b"}"


def skipped(reader: str) -> float:
    return REGISTRY.get_sample_value("firehook_records_skipped_total", {"reader": reader}) or 0.0


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


JSON = {"Content-Type": "application/json"}


async def new_task(client: httpx.AsyncClient, tenant: Tenant, init_params: list[Any]) -> str:
    created = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={"name": "report", "initParams": init_params},
        headers=board(tenant),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# --- the parser --------------------------------------------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
def test_parser_refuses_past_the_depth_limit(depth: int) -> None:
    raw = deep(depth)
    if depth <= LIMIT:
        assert parse_json(raw, "body", LIMIT) == orjson.loads(raw)
        return
    with pytest.raises(UnstorableJson) as refused:
        parse_json(raw, "body", LIMIT)
    assert refused.value.field == "body"
    assert refused.value.problem == "is nested deeper than 64 levels"


@pytest.mark.parametrize("depth", DEPTHS)
def test_parser_names_the_member_of_a_document(depth: int) -> None:
    raw = with_member({"source": "manual"}, "payload", deep(depth))
    if depth <= LIMIT:
        parse_json(raw, "body", LIMIT, members=True)
        return
    with pytest.raises(UnstorableJson) as refused:
        parse_json(raw, "body", LIMIT, members=True)
    assert refused.value.field == "payload"


def test_parser_refuses_nul_in_values_and_keys_and_malformed_json() -> None:
    for raw, field in (
        (b'{"a": ["x\\u0000"]}', "a"),
        (b'{"a\\u0000": 1}', "body"),
        (b'{"a": {"b\\u0000": 1}}', "a"),
    ):
        with pytest.raises(UnstorableJson) as refused:
            parse_json(raw, "body", LIMIT, members=True)
        assert refused.value.field == field and "NUL" in refused.value.problem
    with pytest.raises(UnstorableJson, match="not valid JSON"):
        parse_json(b'{"a": NaN}', "body", LIMIT)
    with pytest.raises(UnstorableJson, match="nested deeper"):
        check_json(deep_value(65), "output", LIMIT)
    # Brackets inside strings only make the cheap bound larger: still accepted.
    parse_json(orjson.dumps({"text": "[" * 500}), "body", LIMIT)


def test_a_body_within_the_limits_is_checked_on_its_bytes_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hot path: no walk over the parsed value, only byte counts and C passes.
    def walked(*_args: Any) -> None:
        raise AssertionError("walked the value")

    monkeypatch.setattr(bounded_json, "_problem", walked)
    small = orjson.dumps({"event": "push", "commits": [{"id": "x"}] * 5})
    large = orjson.dumps({"commits": [{"id": n, "files": ["a", "b"]} for n in range(500)]})
    tricky = orjson.dumps({"text": "]]]]" + "[" * 100, "list": [[["]]"]]]})
    for body in (small, large, tricky):
        assert parse_json(body, "body", LIMIT) == orjson.loads(body)


def test_brackets_in_strings_cannot_hide_depth() -> None:
    # Closers in one string and openers in a later one would pair with real brackets
    # if strings were not set apart: real depth 66 must still be refused.
    inner = deep(60)
    raw = b'[[[["]]]",' + b"[" * 2 + inner + b"]" * 2 + b',"[[["]]]]'
    with pytest.raises(UnstorableJson, match="nested deeper"):
        parse_json(raw, "body", LIMIT)


# --- every JSON input over HTTP ----------------------------------------------------------


@pytest.mark.parametrize("depth", DEPTHS)
async def test_webhook_body_depth(client: httpx.AsyncClient, tenant: Tenant, depth: int) -> None:
    trigger = await new_webhook(client, tenant, "none")
    response = await fire(client, trigger, deep(depth), JSON)
    if depth > LIMIT:
        assert response.status_code == 400, response.text
        assert response.json()["details"] == {"body": "is nested deeper than 64 levels"}
        return
    assert response.status_code == 202, response.text
    run = await client.get(f"/api/runs/{response.json()['runId']}", headers=board(tenant))
    assert run.status_code == 200 and run.json()["payload"] == orjson.loads(deep(depth))
    listed = await client.get(f"/api/routines/{trigger['routineId']}/runs", headers=board(tenant))
    assert listed.status_code == 200 and listed.json()[0]["payload"] == run.json()["payload"]


async def test_webhook_form_body_with_nul_names_the_body(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await new_webhook(client, tenant, "none")
    response = await fire(
        client, trigger, b"a=1&b=x%00y", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400 and "body" in response.json()["details"]


@pytest.mark.parametrize("depth", DEPTHS)
async def test_manual_run_payload_depth(
    client: httpx.AsyncClient, tenant: Tenant, depth: int
) -> None:
    routine = await new_routine(client, tenant)
    response = await client.post(
        f"/api/routines/{routine['id']}/run",
        content=with_member({"source": "manual"}, "payload", deep(depth)),
        headers=board(tenant) | JSON,
    )
    if depth > LIMIT:
        assert response.status_code == 400, response.text
        assert response.json()["details"] == {"payload": "is nested deeper than 64 levels"}
        return
    assert response.status_code == 202, response.text
    run = await client.get(f"/api/runs/{response.json()['runId']}", headers=board(tenant))
    assert run.json()["payload"] == orjson.loads(deep(depth))


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_init_params_overrides_depth(
    client: httpx.AsyncClient, tenant: Tenant, depth: int, method: str
) -> None:
    overrides = b'{"k":' + deep(depth - 1) + b"}"
    task_id = await new_task(client, tenant, [{"name": "k", "type_hint": "object"}])
    if method == "POST":
        url = f"/api/companies/{tenant.company_id}/routines"
        body = with_member(routine_body(taskId=task_id), "initParamsOverrides", overrides)
    else:
        url = f"/api/routines/{(await new_routine(client, tenant, taskId=task_id))['id']}"
        body = with_member({}, "initParamsOverrides", overrides)
    response = await client.request(method, url, content=body, headers=board(tenant) | JSON)
    if depth > LIMIT:
        assert response.status_code == 400, response.text
        assert response.json()["details"] == {
            "initParamsOverrides": "is nested deeper than 64 levels"
        }
        return
    assert response.status_code in (200, 201), response.text
    got = await client.get(f"/api/routines/{response.json()['id']}", headers=board(tenant))
    assert got.json()["initParamsOverrides"] == orjson.loads(overrides)
    listed = await client.get(f"/api/companies/{tenant.company_id}/routines", headers=board(tenant))
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize("depth", DEPTHS)
async def test_run_result_output_depth(
    client: httpx.AsyncClient, tenant: Tenant, depth: int
) -> None:
    routine = await new_routine(client, tenant)
    run_id = (
        await client.post(f"/api/routines/{routine['id']}/run", json={}, headers=board(tenant))
    ).json()["runId"]
    response = await client.post(
        f"/api/runs/{run_id}/complete",
        content=with_member({"status": "succeeded"}, "output", deep(depth)),
        headers=board(tenant) | JSON,
    )
    if depth > LIMIT:
        assert response.status_code == 400, response.text
        assert response.json()["details"] == {"output": "is nested deeper than 64 levels"}
        return
    assert response.status_code == 200, response.text
    run = await client.get(f"/api/runs/{run_id}", headers=board(tenant))
    assert run.json()["output"] == orjson.loads(deep(depth))


async def test_any_management_body_is_bounded(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await client.post(
        "/api/companies",
        content=with_member({}, "name", deep(1000)),
        headers=Tenant.auth(admin_key) | JSON,
    )
    assert response.status_code == 400 and response.json()["details"] == {
        "name": "is nested deeper than 64 levels"
    }


async def test_depth_64_streams_over_sse(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine = await new_routine(client, tenant)
    await client.post(
        f"/api/routines/{routine['id']}/run",
        content=with_member({}, "payload", deep(64)),
        headers=board(tenant) | JSON,
    )
    async with serve(create_app(ctx)) as base, httpx.AsyncClient(base_url=base) as http:
        [event] = await asyncio.wait_for(read_sse(http, tenant, 1), 10)
    assert event[1]["data"]["payload"] == orjson.loads(deep(64))


# --- PATCH: null and wrong types ---------------------------------------------------------

ROUTINE_FIELDS: dict[str, tuple[bool, list[Any]]] = {
    # field: (null allowed, wrong values)
    "title": (False, [[1], {"x": 1}]),
    "description": (True, [[1], {"x": 1}]),
    # Null makes a draft (Paperclip's), which stays paused.
    "assigneeAgentId": (True, [[1], 5]),
    "projectId": (True, [[1], 5]),
    "goalId": (True, [[1], 5]),
    "parentIssueId": (True, [[1], 5]),
    "priority": (False, ["urgent", 1]),
    "status": (False, ["gone", 1]),
    "concurrencyPolicy": (False, ["sometimes", 1]),
    "catchUpPolicy": (False, ["all", 1]),
    "catchUpCap": (False, ["ten", 0, 1.5]),
    "misfireGraceSec": (False, ["ten", -1]),
    "runTimeoutSec": (False, ["ten", 0]),
    "retry": (False, ["text", 12, {"maxAttempts": None}]),
    "dispatch": (False, ["text", 12, {"type": None}]),
    "taskId": (True, [[1], 5]),
    "initParamsOverrides": (True, ["text", 12]),
    "secretParams": (True, ["text", {"k": 1}]),
    "condition": (True, ["text", {"expression": None}]),
    "delivery": (True, ["text", {"channel": None}]),
}


async def assert_routines_read(client: httpx.AsyncClient, tenant: Tenant, routine_id: str) -> None:
    got = await client.get(f"/api/routines/{routine_id}", headers=board(tenant))
    assert got.status_code == 200, got.text
    listed = await client.get(f"/api/companies/{tenant.company_id}/routines", headers=board(tenant))
    assert listed.status_code == 200
    assert listed.headers["X-Total-Count"] == str(len(listed.json()))


@pytest.mark.parametrize("field", sorted(ROUTINE_FIELDS))
async def test_routine_patch_null_and_wrong_types(
    client: httpx.AsyncClient, tenant: Tenant, field: str
) -> None:
    routine = await new_routine(client, tenant)
    nullable, wrong = ROUTINE_FIELDS[field]
    url = f"/api/routines/{routine['id']}"
    response = await client.patch(url, json={field: None}, headers=board(tenant))
    if nullable:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert field in response.json()["details"], response.json()
    await assert_routines_read(client, tenant, routine["id"])
    for value in wrong:
        response = await client.patch(url, json={field: value}, headers=board(tenant))
        assert response.status_code == 400, (value, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
        await assert_routines_read(client, tenant, routine["id"])
    fired = await client.post(f"{url}/run", json={}, headers=board(tenant))
    assert fired.status_code == 202, fired.text


WEBHOOK_FIELDS: dict[str, tuple[bool, list[Any]]] = {
    "label": (True, [[1], 5]),
    "enabled": (False, ["yes please", [1]]),
    "condition": (True, ["text", {"expression": None}]),
    "signingMode": (False, ["rot13", 1]),
    "replayWindowSec": (False, ["ten", 1, [1]]),
    "maxBodyBytes": (True, ["ten", 0]),
    "rateLimitPerMinute": (True, ["ten", 0]),
}
SCHEDULE_FIELDS: dict[str, tuple[bool, list[Any]]] = {
    "cronExpression": (False, [[1], "not cron"]),
    "timezone": (True, [[1], "Mars/Olympus"]),
    "cadence": (False, ["daily", {"type": None}]),
    "every": (False, ["ten", 0]),
    "at": (False, [[1], "tomorrow"]),
    "jitterSec": (True, ["ten", -1]),
    "enabled": (False, ["yes please"]),
}


@pytest.mark.parametrize(
    ("kind", "field"),
    [("webhook", f) for f in sorted(WEBHOOK_FIELDS)]
    + [("schedule", f) for f in sorted(SCHEDULE_FIELDS)],
)
async def test_trigger_patch_null_and_wrong_types(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, field: str
) -> None:
    routine = await new_routine(client, tenant)
    create: dict[str, Any] = (
        {"kind": "webhook", "signingMode": "none"}
        if kind == "webhook"
        else {"kind": "schedule", "cronExpression": "0 9 * * *", "timezone": "Europe/Paris"}
    )
    created = await client.post(
        f"/api/routines/{routine['id']}/triggers", json=create, headers=board(tenant)
    )
    assert created.status_code == 201, created.text
    trigger = created.json()["trigger"] if "trigger" in created.json() else created.json()
    nullable, wrong = (WEBHOOK_FIELDS if kind == "webhook" else SCHEDULE_FIELDS)[field]
    url = f"/api/routine-triggers/{trigger['id']}"
    response = await client.patch(url, json={field: None}, headers=board(tenant))
    assert response.status_code == (200 if nullable else 400), response.text
    if not nullable:
        assert field in response.text
    await assert_routines_read(client, tenant, routine["id"])
    for value in wrong:
        response = await client.patch(url, json={field: value}, headers=board(tenant))
        # A string that names no cron or no zone is well-formed: 422, as Paperclip answers.
        expected = 422 if value in ("not cron", "Mars/Olympus") else 400
        assert response.status_code == expected, (value, response.text)
        await assert_routines_read(client, tenant, routine["id"])
    if kind == "webhook":
        fired = await fire(client, trigger, b'{"still": "fires"}', JSON)
        assert fired.status_code == 202, fired.text


TASK_FIELDS: dict[str, tuple[bool, list[Any]]] = {
    "name": (False, [[1], 5]),
    "collection": (True, [[1], 5]),
    "description": (True, [[1], 5]),
    "initParams": (False, ["text", [{"name": None}]]),
    "dispatch": (True, ["text", {"type": None}]),
    "payloadOverrides": (False, ["maybe", [1]]),
}


@pytest.mark.parametrize("field", sorted(TASK_FIELDS))
async def test_task_patch_null_and_wrong_types(
    client: httpx.AsyncClient, tenant: Tenant, field: str
) -> None:
    task_id = await new_task(client, tenant, [{"name": "n", "default": 1, "type_hint": "integer"}])
    nullable, wrong = TASK_FIELDS[field]
    url = f"/api/tasks/{task_id}"

    async def assert_tasks_read() -> None:
        assert (await client.get(url, headers=board(tenant))).status_code == 200
        listed = await client.get(
            f"/api/companies/{tenant.company_id}/tasks", headers=board(tenant)
        )
        assert listed.status_code == 200, listed.text

    response = await client.patch(url, json={field: None}, headers=board(tenant))
    assert response.status_code == (200 if nullable else 400), response.text
    if not nullable:
        assert field in response.json()["details"]
    await assert_tasks_read()
    for value in wrong:
        response = await client.patch(url, json={field: value}, headers=board(tenant))
        assert response.status_code == 400, (value, response.text)
        await assert_tasks_read()


# --- readers skip what they cannot read --------------------------------------------------


async def set_json(ctx: Context, table: str, column: str, key: str, value: Any, raw: str) -> None:
    """Store `raw` JSON text as is, as a row written before any limit (or by hand) could."""
    cast = "CAST(:raw AS jsonb)" if not ctx.db.is_sqlite else ":raw"
    async with ctx.db.write() as conn:
        await conn.execute(
            text(f"UPDATE {table} SET {column} = {cast} WHERE {key} = :value"),
            {"raw": raw, "value": value},
        )


async def read_sse(
    http: httpx.AsyncClient, tenant: Tenant, count: int, last_id: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
    headers = board(tenant) | ({"Last-Event-ID": last_id} if last_id else {})
    got: list[tuple[int, dict[str, Any]]] = []
    async with http.stream(
        "GET", f"/api/companies/{tenant.company_id}/events", headers=headers
    ) as stream:
        event_id = 0
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                got.append((event_id, orjson.loads(line[6:])))
                if len(got) == count:
                    break
    return got


# 300 levels decode but cannot be encoded again; 1,100 levels cannot even be decoded.
POISONS = {"unencodable": deep(300).decode(), "undecodable": deep(1100).decode()}


@pytest.mark.parametrize("poison", sorted(POISONS))
async def test_a_poison_run_and_event_are_skipped_by_the_run_list_and_sse(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, poison: str
) -> None:
    routine = await new_routine(client, tenant)
    run_ids = []
    for n in range(3):
        response = await client.post(
            f"/api/routines/{routine['id']}/run", json={"payload": {"n": n}}, headers=board(tenant)
        )
        run_ids.append(response.json()["runId"])
    bad = run_ids[1]
    await set_json(ctx, "runs", "payload", "id", bad, POISONS[poison])
    await set_json(ctx, "run_events", "data", "run_id", bad, POISONS[poison])

    before = skipped("run_list")
    listed = await client.get(f"/api/routines/{routine['id']}/runs", headers=board(tenant))
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()] == [run_ids[2], run_ids[0]]
    assert skipped("run_list") == before + 1

    before = skipped("sse")
    async with serve(create_app(ctx)) as base, httpx.AsyncClient(base_url=base) as http:
        events = await asyncio.wait_for(read_sse(http, tenant, 2), 10)
        assert [e["data"]["runId"] for _, e in events] == [run_ids[0], run_ids[2]]
        # Resuming from before the poison gets past it too.
        resumed = await asyncio.wait_for(read_sse(http, tenant, 1, str(events[0][0])), 10)
        assert [e["data"]["runId"] for _, e in resumed] == [run_ids[2]]
    assert skipped("sse") >= before + 2


async def test_a_poison_outbox_row_is_dropped_and_the_rows_after_it_are_sent(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = ctx.services["pipeline"].relay
    sent: list[bytes] = []

    async def publish(messages: Any) -> None:
        sent.extend(m.value for m in messages)

    monkeypatch.setattr(relay, "_bus", type("Recorder", (), {"publish": staticmethod(publish)}))
    now = ctx.clock()
    async with ctx.db.write() as conn:
        for n in range(3):
            await conn.execute(
                insert(outbox).values(
                    topic="firehook.runs", key=f"k{n}", headers=[], body={"n": n}, created_at=now
                )
            )
        ids = [row.id for row in await conn.execute(select(outbox.c.id).order_by(outbox.c.id))]
    await set_json(ctx, "outbox", "body", "id", ids[1], POISONS["unencodable"])
    before = skipped("outbox_relay")
    await relay.relay_once()
    assert sent == [b'{"n":0}', b'{"n":2}']
    assert skipped("outbox_relay") == before + 1
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(outbox.c.id))).all() == []


# --- repair of routines broken before the null checks ------------------------------------


async def test_migration_repairs_routines_and_triggers_broken_by_nulls(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    routine_id = trigger["routineId"]
    await set_json(ctx, "routines", "retry", "id", routine_id, "null")
    await set_json(ctx, "routines", "dispatch", "id", routine_id, "null")
    async with ctx.db.write() as conn:
        await conn.execute(
            text(
                "UPDATE triggers SET signing_mode = NULL, replay_window_sec = NULL WHERE id = :id"
            ),
            {"id": trigger["id"]},
        )
    broken = await client.get(f"/api/routines/{routine_id}", headers=board(tenant))
    assert broken.status_code == 500  # what the old behaviour left behind
    await asyncio.to_thread(command.downgrade, alembic_config(ctx.settings.database_url), "0004-1")
    await asyncio.to_thread(command.upgrade, alembic_config(ctx.settings.database_url), "head")
    repaired = await client.get(f"/api/routines/{routine_id}", headers=board(tenant))
    assert repaired.status_code == 200, repaired.text
    body = repaired.json()
    assert body["retry"] == {
        "maxAttempts": 1,
        "strategy": "exponential",
        "baseDelaySec": 60,
        "maxDelaySec": 3600,
    }
    assert body["dispatch"] == {"type": "stream", "url": None, "timeoutSec": 10.0}
    assert body["triggers"][0]["signingMode"] == "bearer"
    assert body["triggers"][0]["replayWindowSec"] == 300
    fired = await client.post(f"/api/routines/{routine_id}/run", json={}, headers=board(tenant))
    assert fired.status_code == 202, fired.text


# --- unexpected errors -------------------------------------------------------------------


@pytest.fixture
async def traced(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app behind the request-id middleware, as every role serves it."""
    transport = httpx.ASGITransport(app=RequestContext(create_app(ctx)))
    async with httpx.AsyncClient(transport=transport, base_url="http://firehook.test") as http:
        yield http


async def test_an_unexpected_error_is_500_with_only_a_request_id(
    traced: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    routine = await new_routine(client, tenant)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("SELECT secret_params_enc FROM routines WHERE id = 'leak'")

    monkeypatch.setattr(routine_store, "list_triggers", broken)
    for http in (traced, client):
        response = await http.get(f"/api/routines/{routine['id']}", headers=board(tenant))
        assert response.status_code == 500
        request_id = response.headers["X-Request-Id"]
        assert response.json() == {
            "error": "internal error",
            "code": "INTERNAL",
            "details": {"requestId": request_id},
        }
        assert "SELECT" not in response.text and "leak" not in response.text
    sent_id = await traced.get(
        f"/api/routines/{routine['id']}", headers=board(tenant) | {"X-Request-Id": "req-42"}
    )
    assert sent_id.json()["details"] == {"requestId": "req-42"}


async def test_an_unreachable_store_is_503_unavailable(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    routine = await new_routine(client, tenant)

    async def unreachable(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {"p": "secret"}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(routine_store, "list_triggers", unreachable)
    response = await client.get(f"/api/routines/{routine['id']}", headers=board(tenant))
    assert response.status_code == 503 and response.json()["code"] == "UNAVAILABLE"
    assert response.headers["Retry-After"] == "5"
    assert "SELECT" not in response.text and "secret" not in response.text


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RuntimeError("INSERT INTO runs VALUES ('secret')"), 500, "INTERNAL"),
        (
            OperationalError("INSERT INTO runs", {"p": "secret"}, OSError("gone")),
            503,
            "UNAVAILABLE",
        ),
    ],
)
async def test_a_fire_the_store_fails_on_tells_nothing_of_why(
    client: httpx.AsyncClient,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    code: str,
) -> None:
    routine = await new_routine(client, tenant)

    async def failing(*_args: Any, **_kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(consumer_fires, "apply_fires", failing)
    response = await client.post(
        f"/api/routines/{routine['id']}/run", json={}, headers=board(tenant)
    )
    assert response.status_code == status and response.json()["code"] == code
    assert "INSERT" not in response.text and "secret" not in response.text


def test_openapi_lists_internal_on_every_operation(ctx: Context) -> None:
    document = create_app(ctx).state.openapi
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "500" in operation["responses"], (method, path)
    codes = document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert "INTERNAL" in codes


async def test_runs_table_is_untouched_by_refused_bodies(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    trigger = await new_webhook(client, tenant, "none")
    for body in (deep(65), deep(1000), b'{"a": "\\u0000"}'):
        assert (await fire(client, trigger, body, JSON)).status_code == 400
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(runs.c.id))).all() == []
        assert (await conn.execute(select(run_events.c.seq))).all() == []


# --- poison on the Kafka topics ----------------------------------------------------------


@pytest.fixture
async def kafka_ctx(settings: Settings) -> AsyncIterator[Context]:
    """The gateway and consumer roles in this process, over the shared tansu broker."""
    production_settings = kafka_settings(
        f"h{uuid.uuid4().hex[:10]}",
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        secret_key_file=settings.secret_key_file,
    )
    context = build_context(production_settings)
    services = production(context, ("gateway", "consumer"))
    for service in services:
        await service.start()
    yield context
    for service in reversed(services):
        await service.stop()
    await context.db.close()


@pytest.fixture
async def kafka_client(kafka_ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(kafka_ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://firehook.test") as http:
        yield http


async def wait_for_run(
    http: httpx.AsyncClient, tenant: Tenant, run_id: str, status: str | None = None
) -> dict[str, Any]:
    for _ in range(300):
        response = await http.get(f"/api/runs/{run_id}", headers=board(tenant))
        if response.status_code == 200 and status in (None, response.json()["status"]):
            return dict(response.json())
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {status or 'the store'}")


def deep_message(message: Message, member: str, depth: int) -> Message:
    """`message` with its data's `member` replaced by a value `depth` levels deep."""
    data = orjson.loads(message.value)
    data.pop(member, None)
    value = with_member(data, member, deep(depth))
    return Message(message.topic, message.key, value, message.headers)


@pytest.mark.kafka
async def test_a_too_deep_fire_on_kafka_goes_to_the_dlq_and_the_next_fire_runs(
    kafka_ctx: Context, kafka_client: httpx.AsyncClient
) -> None:
    settings = kafka_ctx.settings
    admin = (await issue_api_key(kafka_ctx.db, Role.ADMIN)).key
    tenant = await make_tenant(kafka_client, admin)
    routine = await new_routine(kafka_client, tenant)

    def fire_of(key: str) -> FireRequested:
        return FireRequested(
            fire_id=new_id(),
            run_id=run_id_for(routine["id"], key),
            routine_id=routine["id"],
            company_id=tenant.company_id,
            source=RunSource.API,
            idempotency_key=key,
            payload={"ok": True},
            requested_at=datetime.now(UTC),
        )

    bad = {depth: fire_of(f"deep-{depth}") for depth in (65, 1000)}
    good = fire_of("at-the-limit")
    before = skipped("fires")
    kafka = await producer(settings.kafka_bootstrap_servers or "")
    try:
        # Same routine, same partition: the good fire is behind the bad ones.
        await send(
            kafka,
            [
                *(deep_message(fire_message(settings, f), "payload", d) for d, f in bad.items()),
                deep_message(fire_message(settings, good), "payload", 64),
            ],
        )
    finally:
        await kafka.stop()
    run = await wait_for_run(kafka_client, tenant, good.run_id)
    assert run["payload"] == orjson.loads(deep(64))
    dead = await read_topic(
        settings.kafka_bootstrap_servers or "",
        settings.topic_fires_dlq,
        until=lambda got: len(got) == 2,
    )
    assert [m.header("ce_id") for m in dead] == [f.fire_id for f in bad.values()]
    for message in dead:
        reason = message.header("firehook_dlq_reason") or ""
        assert "payload: is nested deeper than 64 levels" in reason
    for fire_ in bad.values():
        missing = await kafka_client.get(f"/api/runs/{fire_.run_id}", headers=board(tenant))
        assert missing.status_code == 404
    assert skipped("fires") == before + 2


@pytest.mark.kafka
async def test_a_too_deep_run_result_on_kafka_is_skipped_and_the_next_one_applies(
    kafka_ctx: Context, kafka_client: httpx.AsyncClient
) -> None:
    settings = kafka_ctx.settings
    admin = (await issue_api_key(kafka_ctx.db, Role.ADMIN)).key
    tenant = await make_tenant(kafka_client, admin)
    routine = await new_routine(kafka_client, tenant)
    run_ids = []
    for _ in range(2):
        response = await kafka_client.post(
            f"/api/routines/{routine['id']}/run", json={}, headers=board(tenant)
        )
        assert response.status_code == 202, response.text
        run_ids.append(response.json()["runId"])
    for run_id in run_ids:
        await wait_for_run(kafka_client, tenant, run_id, "dispatched")

    def result(run_id: str) -> Message:
        return encode_event(
            topic=settings.topic_run_results,
            key=routine["id"],
            event_id=new_id(),
            event_type=RUN_RESULT,
            time=datetime.now(UTC),
            data=RunResult(run_id=run_id, status="succeeded", output={"rows": 3}),
        )

    before = skipped("run_results")
    kafka = await producer(settings.kafka_bootstrap_servers or "")
    try:
        await send(
            kafka,
            [
                deep_message(result(run_ids[0]), "output", 65),
                deep_message(result(run_ids[0]), "output", 1000),
                deep_message(result(run_ids[1]), "output", 64),
            ],
        )
    finally:
        await kafka.stop()
    done = await wait_for_run(kafka_client, tenant, run_ids[1], "succeeded")
    assert done["output"] == orjson.loads(deep(64))
    refused = await kafka_client.get(f"/api/runs/{run_ids[0]}", headers=board(tenant))
    assert refused.json()["status"] == "dispatched" and refused.json()["output"] is None
    assert skipped("run_results") == before + 2


@pytest.mark.parametrize("depth", [64, 65, 1000])
async def test_an_executor_answer_is_bounded_like_a_reported_result(
    client: httpx.AsyncClient, tenant: Tenant, depth: int
) -> None:
    body = with_member({"status": "succeeded"}, "output", deep(depth))
    receiver = Receiver(answer=lambda _r, _b: Response(body, media_type="application/json"))
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")
        run_id = await run_now(client, tenant, routine["id"])
        await receiver.wait_for(1)
        # Too deep: not kept as the result; the run waits for a report or its timeout.
        run = await wait_status(
            client, tenant, run_id, "succeeded" if depth <= LIMIT else "running"
        )
    assert run["output"] == (orjson.loads(deep(depth)) if depth <= LIMIT else None)


def test_two_different_models_of_one_name_are_refused_in_the_api_document() -> None:
    from pydantic import BaseModel

    from gateway.openapi import openapi_document
    from gateway.routing import Api

    def models() -> tuple[type[BaseModel], type[BaseModel]]:
        class Thing(BaseModel):
            a: int

        first = Thing

        class Thing(BaseModel):  # type: ignore[no-redef]
            b: str

        return first, Thing

    first, second = models()
    api = Api()

    async def one(request: Any) -> Any: ...

    async def two(request: Any) -> Any: ...

    api.operation("GET", "/one", "one", "t", response=first)(one)
    api.operation("GET", "/two", "two", "t", response=second)(two)
    with pytest.raises(ValueError, match="'Thing'"):
        openapi_document(api.operations, title="t", version="1")
