"""Seed 000, the Jetty/Mise routines API: every curl example and the Python example of the
seed, run as written against a real server (only base URL, token, collection and task
substituted), each troubleshooting case, and visibility across the native API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from firehook.context import Context
from firehook.store.tables import runs
from gateway import create_app
from scheduler import Ticker
from tests.conftest import FakeClock, Tenant, routine_body
from tests.servers import serve

SEED_BASE = "https://flows-api.jetty.io"
COLLECTION = "my-org"
TASK = "nl-to-sql-regression"
SEED_KEYS: list[dict[str, Any]] = [
    {"name": "model", "default": "gpt-4o", "type_hint": "string"},
    {"name": "tenant_filter", "default": None, "type_hint": "string"},
    {"name": "sample_size", "default": 10, "type_hint": "integer"},
]
SECRET = "sk-live-Zx9q-ThisMustNeverLeak-4711"

# The seed's curl examples, verbatim.
CURL_SCHEMA = """curl -s "https://flows-api.jetty.io/api/v1/tasks/$COLLECTION/$TASK/init-params-schema" \\
-H "Authorization: Bearer $JETTY_API_TOKEN"
"""
CURL_CREATE = """curl -X POST "https://flows-api.jetty.io/api/v1/routines/$COLLECTION/$TASK" \\
-H "Authorization: Bearer $JETTY_API_TOKEN" \\
-H "Content-Type: application/json" \\
-d '{
"name": "morning-regression",
"cadence": {
"type": "weekdays",
"hour_utc": 9,
"minute_utc": 0
},
"init_params_overrides": {
"sample_size": 50
},
"secret_params": {},
"paused": false
}'
"""
CURL_RUN_NOW = """curl -X POST "https://flows-api.jetty.io/api/v1/routines/$COLLECTION/$TASK/morning-regression/run-now" \\
-H "Authorization: Bearer $JETTY_API_TOKEN"
"""
CURL_PAUSE = """curl -X POST "https://flows-api.jetty.io/api/v1/routines/$COLLECTION/$TASK/morning-regression/pause" \\
-H "Authorization: Bearer $JETTY_API_TOKEN"
"""
CURL_PATCH = """curl -X PATCH "https://flows-api.jetty.io/api/v1/routines/$COLLECTION/$TASK/morning-regression" \\
-H "Authorization: Bearer $JETTY_API_TOKEN" \\
-H "Content-Type: application/json" \\
-d '{"cadence": {"type": "daily", "hour_utc": 13, "minute_utc": 30}}'
"""
CURL_RUNS = """curl -s "https://flows-api.jetty.io/api/v1/routines/$COLLECTION/$TASK/morning-regression/runs" \\
-H "Authorization: Bearer $JETTY_API_TOKEN"
"""

# The seed's Python example, verbatim but for its four constants.
PYTHON_EXAMPLE = """import httpx

BASE = "https://flows-api.jetty.io"
TOKEN = "<your-jetty-api-token>"
COLLECTION = "my-org"
TASK = "nl-to-sql-regression"
ROUTINE = "morning-regression"

headers = {"Authorization": f"Bearer {TOKEN}"}

with httpx.Client(base_url=BASE, headers=headers, timeout=30.0) as http:
    # Create
    http.post(
        f"/api/v1/routines/{COLLECTION}/{TASK}",
        json={
            "name": ROUTINE,
            "cadence": {"type": "weekdays", "hour_utc": 9, "minute_utc": 0},
            "init_params_overrides": {"sample_size": 50},
        },
    ).raise_for_status()

    # Fire once on demand
    response = http.post(
        f"/api/v1/routines/{COLLECTION}/{TASK}/{ROUTINE}/run-now"
    )
    response.raise_for_status()
    workflow_id = response.json()["workflow_id"]
    print("started workflow:", workflow_id)

    # Inspect runs
    runs = http.get(
        f"/api/v1/routines/{COLLECTION}/{TASK}/{ROUTINE}/runs"
    ).json()
    for r in runs:
        print(r["trajectory_id"], r["status"], r["created_at"])
"""


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_task(
    client: httpx.AsyncClient, tenant: Tenant, collection: str = COLLECTION, name: str = TASK
) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={"name": name, "collection": collection, "initParams": SEED_KEYS},
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
async def task(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    return await new_task(client, tenant)


@pytest.fixture
async def server(ctx: Context) -> AsyncIterator[str]:
    async with serve(create_app(ctx)) as base:
        yield base


async def curl(command: str, base: str, token: str) -> tuple[int, Any]:
    """Run a seed curl command through bash as written, on our server; status and JSON."""
    script = command.replace(SEED_BASE, base).replace("curl ", 'curl -w "\\n%{http_code}" ', 1)
    env = os.environ | {"COLLECTION": COLLECTION, "TASK": TASK, "JETTY_API_TOKEN": token}
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    body, _, status = out.decode().rpartition("\n")
    return int(status), orjson.loads(body) if body.strip() else None


def url(*parts: str) -> str:
    return "/api/v1/" + "/".join(parts)


ROUTINES = url("routines", COLLECTION, TASK)
ROUTINE = f"{ROUTINES}/morning-regression"


def create_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "morning-regression",
        "cadence": {"type": "weekdays", "hour_utc": 9, "minute_utc": 0},
        "init_params_overrides": {"sample_size": 50},
    } | fields


async def create(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post(ROUTINES, json=create_body(**fields), headers=board(tenant))
    assert response.status_code == 201, response.text
    return dict(response.json())


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- the curl examples, as written -----------------------------------------------------------


async def test_curl_init_params_schema(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    status, body = await curl(CURL_SCHEMA, server, tenant.board)
    assert status == 200
    assert body == {"keys": SEED_KEYS}


async def test_curl_create_routine(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    status, body = await curl(CURL_CREATE, server, tenant.board)
    assert status == 201, body
    assert body["name"] == "morning-regression"
    assert body["cadence"] == {
        "type": "weekdays",
        "hour_utc": 9,
        "minute_utc": 0,
        "day_of_week": None,
    }
    assert body["init_params_overrides"] == {"sample_size": 50}
    assert body["secret_params"] == [] and body["paused"] is False
    assert body["overlap_policy"] == "skip" and body["warnings"] == []
    assert body["id"] and body["created_at"] and body["updated_at"]
    next_run = parse_time(body["next_run_at"])
    assert next_run > datetime.now(UTC)
    assert (next_run.hour, next_run.minute, next_run.second) == (9, 0, 0)
    assert next_run.weekday() < 5
    assert next_run - datetime.now(UTC) < timedelta(days=4)


async def test_curl_run_now_then_poll_the_trajectory(
    server: str, tenant: Tenant, task: dict[str, Any]
) -> None:
    created = (await curl(CURL_CREATE, server, tenant.board))[1]
    status, started = await curl(CURL_RUN_NOW, server, tenant.board)
    assert status == 200, started
    assert started["workflow_id"] == started["trajectory_id"]
    assert started["routine_id"] == created["id"]
    assert started["status"] in {"received", "dispatched"}
    poll = f"{server}{url('trajectories', COLLECTION, TASK, started['trajectory_id'])}"
    async with httpx.AsyncClient(headers=board(tenant)) as http:
        for _ in range(100):
            trajectory = (await http.get(poll)).json()
            if trajectory["status"] == "dispatched":
                break
            await asyncio.sleep(0.05)
        assert trajectory["status"] == "dispatched"
        assert trajectory["triggered_by_routine_id"] == created["id"]
        assert trajectory["init_params"] == {
            "model": "gpt-4o",
            "tenant_filter": None,
            "sample_size": 50,
        }
        assert trajectory["source"] == "manual"
        # The executor reports the end natively; the same poll then shows it.
        completed = await http.post(
            f"{server}/api/runs/{started['trajectory_id']}/complete",
            json={"status": "succeeded", "output": {"rows": 3}},
        )
        assert completed.status_code == 200, completed.text
        trajectory = (await http.get(poll)).json()
    assert trajectory["status"] == "succeeded" and trajectory["output"] == {"rows": 3}


async def test_curl_pause_and_resume(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    created = (await curl(CURL_CREATE, server, tenant.board))[1]
    status, paused = await curl(CURL_PAUSE, server, tenant.board)
    assert status == 200, paused
    assert paused["paused"] is True and paused["next_run_at"] is None
    status, resumed = await curl(CURL_PAUSE.replace("/pause", "/resume"), server, tenant.board)
    assert status == 200, resumed
    assert resumed["paused"] is False
    assert resumed["next_run_at"] == created["next_run_at"]


async def test_curl_patch_cadence(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    created = (await curl(CURL_CREATE, server, tenant.board))[1]
    running = (await curl(CURL_RUN_NOW, server, tenant.board))[1]
    status, patched = await curl(CURL_PATCH, server, tenant.board)
    assert status == 200, patched
    # The run under way is left alone; only the next fire follows the new cadence.
    async with httpx.AsyncClient(headers=board(tenant)) as http:
        poll = f"{server}{url('trajectories', COLLECTION, TASK, running['trajectory_id'])}"
        assert (await http.get(poll)).json()["status"] == "dispatched"
    assert patched["cadence"] == {
        "type": "daily",
        "hour_utc": 13,
        "minute_utc": 30,
        "day_of_week": None,
    }
    assert patched["id"] == created["id"]
    assert patched["init_params_overrides"] == {"sample_size": 50}
    next_run = parse_time(patched["next_run_at"])
    assert (next_run.hour, next_run.minute) == (13, 30)
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=1)


async def test_curl_runs_newest_first(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    created = (await curl(CURL_CREATE, server, tenant.board))[1]
    patched = await curl(
        CURL_PATCH.replace(
            '{"cadence": {"type": "daily", "hour_utc": 13, "minute_utc": 30}}',
            '{"overlap_policy": "allow"}',
        ),
        server,
        tenant.board,
    )
    assert patched[1]["overlap_policy"] == "allow"
    first = (await curl(CURL_RUN_NOW, server, tenant.board))[1]
    second = (await curl(CURL_RUN_NOW, server, tenant.board))[1]
    status, listed = await curl(CURL_RUNS, server, tenant.board)
    assert status == 200
    assert [r["trajectory_id"] for r in listed] == [second["trajectory_id"], first["trajectory_id"]]
    for trajectory in listed:
        assert trajectory["workflow_id"] == trajectory["trajectory_id"]
        assert trajectory["triggered_by_routine_id"] == created["id"]
        assert trajectory["init_params"]["sample_size"] == 50
        assert trajectory["status"] == "dispatched" and trajectory["created_at"]


async def test_python_example_as_written(server: str, tenant: Tenant, task: dict[str, Any]) -> None:
    code = PYTHON_EXAMPLE.replace(SEED_BASE, server).replace("<your-jetty-api-token>", tenant.board)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("started workflow: ")
    workflow_id = lines[0].removeprefix("started workflow: ")
    trajectory_id, status, created_at = lines[1].split(" ")
    assert trajectory_id == workflow_id and len(lines) == 2
    assert status == "dispatched"
    assert parse_time(created_at) <= datetime.now(UTC)


# -- troubleshooting -------------------------------------------------------------------------


async def test_unknown_init_params_keys_are_a_400_echoing_them(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    response = await client.post(
        ROUTINES,
        json=create_body(init_params_overrides={"sample_size": 5, "temperature": 1, "b": 2}),
        headers=board(tenant),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == 'unknown init_params keys: ["b", "temperature"]'
    assert body["error"] == body["detail"] and body["code"] == "VALIDATION_ERROR"
    one_shot = await client.post(
        url("run", COLLECTION, TASK), json={"init_params": {"nope": 1}}, headers=board(tenant)
    )
    assert one_shot.status_code == 400
    assert one_shot.json()["detail"] == 'unknown init_params keys: ["nope"]'


@pytest.mark.parametrize(
    ("cadence", "message"),
    [
        ({"type": "daily"}, "daily cadence requires hour_utc"),
        ({"type": "daily", "minute_utc": 30}, "daily cadence requires hour_utc"),
        ({"type": "weekdays"}, "weekdays cadence requires hour_utc"),
        ({"type": "weekly", "day_of_week": 1}, "weekly cadence requires hour_utc"),
        ({"type": "weekly", "hour_utc": 9}, "weekly cadence requires day_of_week"),
        ({"type": "manual", "hour_utc": 9}, "manual cadence accepts no parameters"),
        ({"type": "manual", "minute_utc": 0}, "manual cadence accepts no parameters"),
    ],
)
async def test_cadence_rules_answer_the_seeds_messages(
    client: httpx.AsyncClient,
    tenant: Tenant,
    task: dict[str, Any],
    cadence: dict[str, Any],
    message: str,
) -> None:
    response = await client.post(ROUTINES, json=create_body(cadence=cadence), headers=board(tenant))
    assert response.status_code == 400
    assert response.json()["detail"] == message
    await create(client, tenant)
    patched = await client.patch(ROUTINE, json={"cadence": cadence}, headers=board(tenant))
    assert patched.status_code == 400 and patched.json()["detail"] == message


async def test_hourly_minute_defaults_to_zero(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    created = await create(client, tenant, cadence={"type": "hourly"})
    next_run = parse_time(created["next_run_at"])
    assert (next_run.minute, next_run.second) == (0, 0)
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(hours=1)


async def cli_key(ctx: Context, *args: str) -> tuple[int, str]:
    """`firehook keys create ...` on the test's database: exit code and what it printed."""
    env = os.environ | {"FIREHOOK_DATABASE_URL": ctx.settings.database_url}
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("firehook")),
        "keys",
        "create",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode().strip()


async def test_a_key_bound_to_another_collection_gets_404(
    client: httpx.AsyncClient,
    tenant: Tenant,
    task: dict[str, Any],
    ctx: Context,
) -> None:
    created = await create(client, tenant)
    other = await client.post(
        f"/api/companies/{tenant.company_id}/api-keys",
        json={"role": "board", "collection": "other-org"},
        headers=board(tenant),
    )
    assert other.status_code == 201 and other.json()["collection"] == "other-org"
    # The CLI's way: `firehook keys create --role board --collection my-org`.
    code, own = await cli_key(
        ctx,
        "--role",
        "board",
        "--company",
        tenant.company_id,
        "--collection",
        COLLECTION,
    )
    assert code == 0 and own.startswith("fhk_")
    code, refused = await cli_key(ctx, "--role", "admin", "--collection", COLLECTION)
    assert code == 2 and "--collection" in refused
    outsider = Tenant.auth(other.json()["key"])
    for method, path in [
        ("GET", ROUTINE),
        ("GET", ROUTINES),
        ("PATCH", ROUTINE),
        ("POST", f"{ROUTINE}/run-now"),
        ("POST", f"{ROUTINE}/pause"),
        ("DELETE", ROUTINE),
        ("GET", url("tasks", COLLECTION, TASK, "init-params-schema")),
        ("POST", url("run", COLLECTION, TASK)),
        # The native API keeps the same boundary.
        ("GET", f"/api/routines/{created['id']}"),
        ("GET", f"/api/routines/{created['id']}/runs"),
        ("POST", f"/api/routines/{created['id']}/run"),
        ("GET", f"/api/tasks/{task['id']}"),
        # And the Scheduler API (seed 003), which reads a routine as a job.
        ("GET", f"/api/scheduler/jobs/{created['id']}"),
        ("GET", "/api/scheduler/jobs"),
    ]:
        body = {"paused": True} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=outsider)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "NOT_FOUND"
    # The Schedules API (seed 004) keeps the same boundary.
    scheduled = await client.post(
        "/api/v1/schedules",
        json={"workflowId": task["id"], "cronExpression": "0 9 * * MON-FRI"},
        headers=board(tenant),
    )
    assert scheduled.status_code == 201, scheduled.text
    schedule = f"/api/v1/schedules/{scheduled.json()['id']}"
    assert (await client.get(schedule, headers=outsider)).status_code == 404
    assert (await client.get("/api/v1/schedules", headers=outsider)).json()["data"] == []
    refused = await client.post(
        "/api/v1/schedules",
        json={"workflowId": task["id"], "cronExpression": "0 9 * * *"},
        headers=outsider,
    )
    assert refused.status_code == 400
    # Company-wide answers span collections: not for a bound key.
    for path in ["calendar", "heatmap", "events", "chains"]:
        spanning = await client.get(f"/api/companies/{tenant.company_id}/{path}", headers=outsider)
        assert spanning.status_code == 404, path
    native = await client.get(f"/api/companies/{tenant.company_id}/routines", headers=outsider)
    assert native.json()["data"] == []
    tasks = await client.get(f"/api/companies/{tenant.company_id}/tasks", headers=outsider)
    assert tasks.json()["data"] == []
    # A key bound to the routine's collection sees it everywhere.
    insider = Tenant.auth(own)
    assert (await client.get(ROUTINE, headers=insider)).json()["id"] == created["id"]
    listed = await client.get(f"/api/companies/{tenant.company_id}/routines", headers=insider)
    assert {r["id"] for r in listed.json()["data"]} == {created["id"], scheduled.json()["id"]}
    assert (await client.get(schedule, headers=insider)).status_code == 200
    job = await client.get(f"/api/scheduler/jobs/{created['id']}", headers=insider)
    assert job.status_code == 200
    # It cannot make a routine outside its collection, nor an unbound key.
    loose = await client.post(
        f"/api/companies/{tenant.company_id}/routines", json=routine_body(), headers=insider
    )
    assert loose.status_code == 400
    unbound = await client.post(
        f"/api/companies/{tenant.company_id}/api-keys", json={"role": "board"}, headers=insider
    )
    assert unbound.status_code == 201 and unbound.json()["collection"] == COLLECTION


async def test_a_scheduled_fire_is_skipped_while_a_run_is_active(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any], ctx: Context, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)
    created = await create(client, tenant, cadence={"type": "hourly", "minute_utc": 0})
    assert created["overlap_policy"] == "skip"
    assert created["next_run_at"] == "2026-03-02T13:00:00Z"
    started = (await client.post(f"{ROUTINE}/run-now", headers=board(tenant))).json()
    ticker = Ticker(ctx)
    await ticker.load()
    clock.now = datetime(2026, 3, 2, 13, 0, 1, tzinfo=UTC)
    assert await ticker.fire_due() == 1
    async with ctx.db.read() as conn:
        rows = (
            (
                await conn.execute(
                    select(runs).where(
                        runs.c.routine_id == created["id"], runs.c.source == "schedule"
                    )
                )
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1
    listed = (await client.get(f"{ROUTINE}/runs", headers=board(tenant))).json()
    scheduled = next(r for r in listed if r["source"] == "schedule")
    assert scheduled["status"] == "skipped"
    assert scheduled["reason"] == "a run of this routine is active"
    assert scheduled["triggered_by_routine_id"] == created["id"]
    assert scheduled["scheduled_for"] == "2026-03-02T13:00:00Z"
    assert (
        next(r for r in listed if r["source"] == "manual")["trajectory_id"]
        == started["trajectory_id"]
    )
    # Under `allow` the next tick runs beside the active run; `coalesce` folds it in.
    await client.patch(ROUTINE, json={"overlap_policy": "allow"}, headers=board(tenant))
    await ticker.load()
    clock.now = datetime(2026, 3, 2, 14, 0, 1, tzinfo=UTC)
    assert await ticker.fire_due() == 1
    listed = (await client.get(f"{ROUTINE}/runs", headers=board(tenant))).json()
    assert listed[0]["status"] == "dispatched" and listed[0]["source"] == "schedule"
    await client.patch(ROUTINE, json={"overlap_policy": "coalesce"}, headers=board(tenant))
    native = (await client.get(f"/api/routines/{created['id']}", headers=board(tenant))).json()
    assert native["concurrencyPolicy"] == "coalesce_if_active"


async def test_next_run_at_is_null_for_manual_and_paused(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    manual = await create(client, tenant, name="preset", cadence={"type": "manual"})
    assert manual["next_run_at"] is None and manual["cadence"]["type"] == "manual"
    paused = await create(client, tenant, name="later", paused=True)
    assert paused["paused"] is True and paused["next_run_at"] is None
    resumed = (await client.post(f"{ROUTINES}/later/resume", headers=board(tenant))).json()
    assert resumed["next_run_at"] is not None
    # A manual routine only fires on run-now.
    fired = await client.post(f"{ROUTINES}/preset/run-now", headers=board(tenant))
    assert fired.status_code == 200
    native = (await client.get(f"/api/routines/{manual['id']}", headers=board(tenant))).json()
    assert native["triggers"] == [] and native["nextRunAt"] is None
    # Daily → manual removes the schedule; manual → weekly adds one.
    to_manual = await client.patch(
        f"{ROUTINES}/later", json={"cadence": {"type": "manual"}}, headers=board(tenant)
    )
    assert to_manual.json()["next_run_at"] is None
    weekly = {"type": "weekly", "hour_utc": 7, "minute_utc": 15, "day_of_week": 1}
    to_weekly = await client.patch(
        f"{ROUTINES}/preset", json={"cadence": weekly}, headers=board(tenant)
    )
    next_run = parse_time(to_weekly.json()["next_run_at"])
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 7, 15)


async def test_stale_overrides_warn_on_get(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    await create(client, tenant)
    edited = await client.patch(
        f"/api/tasks/{task['id']}", json={"initParams": SEED_KEYS[:2]}, headers=board(tenant)
    )
    assert edited.status_code == 200
    read = (await client.get(ROUTINE, headers=board(tenant))).json()
    assert read["warnings"] == [
        "init_params_overrides key 'sample_size' is no longer an init param of the task; "
        "it is ignored until the routine is edited to remove it"
    ]
    listed = (await client.get(ROUTINES, headers=board(tenant))).json()
    assert listed[0]["warnings"] == read["warnings"]
    fixed = await client.patch(ROUTINE, json={"init_params_overrides": {}}, headers=board(tenant))
    assert fixed.json()["warnings"] == []


async def test_secret_params_are_never_echoed(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    created = await client.post(
        ROUTINES, json=create_body(secret_params={"WAREHOUSE_TOKEN": SECRET}), headers=board(tenant)
    )
    assert created.status_code == 201
    assert created.json()["secret_params"] == ["WAREHOUSE_TOKEN"]
    answers = [
        created,
        await client.get(ROUTINE, headers=board(tenant)),
        await client.get(ROUTINES, headers=board(tenant)),
        await client.get(f"/api/routines/{created.json()['id']}", headers=board(tenant)),
        await client.patch(
            ROUTINE, json={"secret_params": {"OTHER": SECRET + "2"}}, headers=board(tenant)
        ),
        await client.post(f"{ROUTINE}/run-now", headers=board(tenant)),
        await client.get(f"{ROUTINE}/runs", headers=board(tenant)),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.text
    assert answers[4].json()["secret_params"] == ["OTHER"]


# -- the rest of the surface -----------------------------------------------------------------


async def test_one_shot_run_has_no_routine(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    await create(client, tenant)
    answers = [
        await client.post(
            url("run", COLLECTION, TASK),
            json={"init_params": {"model": "o3"}},
            headers=board(tenant),
        )
        for _ in range(2)
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        started = answer.json()
        assert started["routine_id"] is None and started["workflow_id"] == started["trajectory_id"]
        trajectory = (
            await client.get(
                url("trajectories", COLLECTION, TASK, started["trajectory_id"]),
                headers=board(tenant),
            )
        ).json()
        assert trajectory["triggered_by_routine_id"] is None and trajectory["routine_id"] is None
        assert trajectory["init_params"] == {
            "model": "o3",
            "tenant_filter": None,
            "sample_size": 10,
        }
        assert trajectory["status"] == "dispatched"
    # The hidden routine is not one of the task's routines here; the user's routine is untouched.
    listed = (await client.get(ROUTINES, headers=board(tenant))).json()
    assert [r["name"] for r in listed] == ["morning-regression"]
    assert (await client.get(f"{ROUTINE}/runs", headers=board(tenant))).json() == []
    empty = await client.post(url("run", COLLECTION, TASK), headers=board(tenant))
    assert empty.status_code == 200
    missing = await client.get(
        url("trajectories", COLLECTION, TASK, "6c1f2a9e-0000-4000-8000-000000000000"),
        headers=board(tenant),
    )
    assert missing.status_code == 404 and missing.json()["detail"] == "trajectory not found"


async def test_names_are_unique_per_task(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    created = await create(client, tenant)
    again = await client.post(ROUTINES, json=create_body(), headers=board(tenant))
    assert again.status_code == 409
    assert again.json()["detail"] == "the task already has a routine named 'morning-regression'"
    # The same name under another task is another routine.
    await new_task(client, tenant, name="other-task")
    other = await client.post(
        url("routines", COLLECTION, "other-task"), json=create_body(), headers=board(tenant)
    )
    assert other.status_code == 201 and other.json()["id"] != created["id"]
    renamed = await client.patch(
        ROUTINE, json={"name": "evening-regression"}, headers=board(tenant)
    )
    assert renamed.json()["name"] == "evening-regression"
    assert (await client.get(ROUTINE, headers=board(tenant))).status_code == 404
    deleted = await client.delete(f"{ROUTINES}/evening-regression", headers=board(tenant))
    assert deleted.status_code == 204
    assert (
        await client.get(f"{ROUTINES}/evening-regression", headers=board(tenant))
    ).status_code == 404
    native = (await client.get(f"/api/routines/{created['id']}", headers=board(tenant))).json()
    assert native["status"] == "archived"
    assert (
        await client.post(ROUTINES, json=create_body(), headers=board(tenant))
    ).status_code == 201


async def test_routines_are_the_same_natively(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    created = await create(client, tenant)
    native = (await client.get(f"/api/routines/{created['id']}", headers=board(tenant))).json()
    assert native["title"] == "morning-regression" and native["taskId"] == task["id"]
    assert native["status"] == "active" and native["concurrencyPolicy"] == "skip_if_active"
    assert native["assigneeAgentId"] == "mise" and native["projectId"] == COLLECTION
    assert native["initParamsOverrides"] == {"sample_size": 50}
    assert [t["cadence"]["type"] for t in native["triggers"]] == ["weekdays"]
    assert native["nextRunAt"] == created["next_run_at"]
    # And the reverse: a routine made natively for the task is listed here by its title.
    made = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(
            title="weekly-digest", taskId=task["id"], initParamsOverrides={"model": "o3"}
        ),
        headers=board(tenant),
    )
    assert made.status_code == 201
    await client.post(
        f"/api/routines/{made.json()['id']}/triggers",
        json={"kind": "schedule", "cadence": {"type": "weekly", "hour_utc": 8, "day_of_week": 5}},
        headers=board(tenant),
    )
    read = (await client.get(f"{ROUTINES}/weekly-digest", headers=board(tenant))).json()
    assert read["id"] == made.json()["id"] and read["overlap_policy"] == "coalesce"
    assert read["cadence"] == {
        "type": "weekly",
        "hour_utc": 8,
        "minute_utc": None,
        "day_of_week": 5,
    }
    assert read["init_params_overrides"] == {"model": "o3"} and read["next_run_at"] is not None
    listed = (await client.get(ROUTINES, headers=board(tenant))).json()
    assert [r["name"] for r in listed] == ["morning-regression", "weekly-digest"]
    # A native cron schedule is no cadence: shown as null, with a warning.
    cron = await client.post(
        f"/api/routines/{made.json()['id']}/triggers",
        json={"kind": "schedule", "cronExpression": "0 6 * * *"},
        headers=board(tenant),
    )
    assert cron.status_code == 201
    await client.patch(
        f"{ROUTINES}/weekly-digest", json={"cadence": {"type": "manual"}}, headers=board(tenant)
    )
    read = (await client.get(f"{ROUTINES}/weekly-digest", headers=board(tenant))).json()
    assert read["cadence"] is None and len(read["warnings"]) == 1


async def test_errors_carry_detail_and_malformed_bodies_are_400(
    client: httpx.AsyncClient, tenant: Tenant, task: dict[str, Any]
) -> None:
    missing_task = await client.get(url("routines", COLLECTION, "nope"), headers=board(tenant))
    assert missing_task.status_code == 404
    assert missing_task.json() == {
        "error": "task not found",
        "code": "NOT_FOUND",
        "details": {},
        "detail": "task not found",
    }
    unauthenticated = await client.get(ROUTINES)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["detail"]
    for body in [
        "[1]",
        "not json",
        '{"name": "x"}',
        '{"name": "x", "cadence": {"type": "yearly"}}',
    ]:
        response = await client.post(
            ROUTINES, content=body, headers=board(tenant) | {"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["detail"] == response.json()["error"]
    extra = await client.post(ROUTINES, json=create_body(owner="me"), headers=board(tenant))
    assert extra.status_code == 400
    bad_limit = await client.get(f"{ROUTINE}/runs?limit=0", headers=board(tenant))
    assert bad_limit.status_code in (400, 404)
