"""Tasks and routine parameters (seed 000): init-params schema, overrides, stale keys,
secret params, resolved parameters in the dispatched run, and the 0002 migration."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consumers.parameters import resolve_parameters
from firehook.context import Context
from firehook.store.tables import metadata
from schemas.tasks import check_overrides, matches_type, stale_overrides
from tests.conftest import Tenant, make_tenant, routine_body
from tests.servers import Receiver, serve

SEED_KEYS: list[dict[str, Any]] = [
    {"name": "model", "default": "gpt-4o", "type_hint": "string"},
    {"name": "tenant_filter", "default": None, "type_hint": "string"},
    {"name": "sample_size", "default": 10, "type_hint": "integer"},
]
SECRET = "sk-live-Zx9q-ThisMustNeverLeak-4711"


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_task(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    document = {"name": "nl-to-sql-regression", "collection": "my-org", "initParams": SEED_KEYS}
    response = await client.post(
        f"/api/companies/{tenant.company_id}/tasks", json=document | body, headers=board(tenant)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=board(tenant),
    )


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await create_routine(client, tenant, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def get_routine(client: httpx.AsyncClient, tenant: Tenant, routine_id: str) -> Any:
    response = await client.get(f"/api/routines/{routine_id}", headers=board(tenant))
    assert response.status_code == 200, response.text
    return response.json()


async def run_now(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/routines/{routine_id}/run", json=body, headers=board(tenant)
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


# -- the task registry ------------------------------------------------------------------


async def test_init_params_schema_is_seed_000s_shape(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    task = await new_task(client, tenant, description="Regression suite")
    assert task["name"] == "nl-to-sql-regression" and task["collection"] == "my-org"
    assert task["initParams"] == SEED_KEYS and task["payloadOverrides"] is False
    schema = await client.get(
        f"/api/tasks/{task['id']}/init-params-schema", headers=Tenant.auth(tenant.agent)
    )
    assert schema.status_code == 200
    assert schema.json() == {"keys": SEED_KEYS}


async def test_task_crud(client: httpx.AsyncClient, tenant: Tenant) -> None:
    task = await new_task(client, tenant)
    url = f"/api/tasks/{task['id']}"
    assert (await client.get(url, headers=Tenant.auth(tenant.agent))).json() == task
    patched = await client.patch(
        url, json={"initParams": SEED_KEYS[:1], "collection": "other"}, headers=board(tenant)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["initParams"] == SEED_KEYS[:1]
    minimal = await client.patch(url, json={"initParams": [{"name": "n"}]}, headers=board(tenant))
    assert minimal.json()["initParams"] == [{"name": "n", "default": None, "type_hint": "string"}]
    await client.patch(url, json={"initParams": SEED_KEYS[:1]}, headers=board(tenant))
    await new_task(client, tenant, name="second", collection=None)
    listing = await client.get(f"/api/companies/{tenant.company_id}/tasks", headers=board(tenant))
    assert listing.json()["total"] == 2
    only = await client.get(
        f"/api/companies/{tenant.company_id}/tasks",
        params={"collection": "other"},
        headers=board(tenant),
    )
    assert [t["id"] for t in only.json()["data"]] == [task["id"]]
    assert (await client.delete(url, headers=board(tenant))).status_code == 204
    assert (await client.get(url, headers=board(tenant))).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"initParams": [{"name": "n", "default": "ten", "type_hint": "integer"}]}, "default"),
        ({"initParams": [{"name": "n", "type_hint": "decimal"}]}, "type_hint"),
        ({"initParams": [{"name": "n"}, {"name": "n"}]}, "defined twice"),
        ({"initParams": [{"name": "n", "typeHint": "string"}]}, "typeHint"),
        ({"initParams": [{"name": "1bad"}]}, "name"),
        ({"dispatch": {"type": "http"}}, "url"),
        ({"name": ""}, "name"),
    ],
)
async def test_task_validation(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], message: str
) -> None:
    document = {"name": "t", "initParams": []} | body
    response = await client.post(
        f"/api/companies/{tenant.company_id}/tasks", json=document, headers=board(tenant)
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert message in response.json()["error"]


async def test_task_names_are_unique_per_collection(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await new_task(client, tenant)
    again = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={"name": "nl-to-sql-regression", "collection": "my-org"},
        headers=board(tenant),
    )
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    await new_task(client, tenant, collection="elsewhere")


async def test_task_access_rules(client: httpx.AsyncClient, tenant: Tenant, admin_key: str) -> None:
    refused = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={"name": "t"},
        headers=Tenant.auth(tenant.agent),
    )
    assert refused.status_code == 403
    task = await new_task(client, tenant)
    other = await make_tenant(client, admin_key, "Other")
    for method, path in [
        ("GET", f"/api/tasks/{task['id']}"),
        ("GET", f"/api/tasks/{task['id']}/init-params-schema"),
        ("PATCH", f"/api/tasks/{task['id']}"),
        ("DELETE", f"/api/tasks/{task['id']}"),
        ("GET", "/api/tasks/not-a-uuid"),
    ]:
        response = await client.request(
            method, path, json={} if method == "PATCH" else None, headers=board(other)
        )
        assert response.status_code == 404, (method, path, response.text)


async def test_task_in_use_cannot_be_deleted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    task = await new_task(client, tenant)
    routine = await new_routine(client, tenant, taskId=task["id"])
    refused = await client.delete(f"/api/tasks/{task['id']}", headers=board(tenant))
    assert refused.status_code == 409
    assert refused.json()["details"]["routineIds"] == [routine["id"]]
    await client.delete(f"/api/routines/{routine['id']}", headers=board(tenant))
    assert (
        await client.delete(f"/api/tasks/{task['id']}", headers=board(tenant))
    ).status_code == 204
    archived = await get_routine(client, tenant, routine["id"])
    assert any("no longer exists" in w for w in archived["warnings"])


# -- routine overrides --------------------------------------------------------------------


async def test_unknown_override_keys_are_400_and_echoed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    task = await new_task(client, tenant)
    response = await create_routine(
        client,
        tenant,
        taskId=task["id"],
        initParamsOverrides={"sample_size": 50, "temperature": 0.2, "agent": "x"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": 'unknown init_params keys: ["agent", "temperature"]',
        "code": "VALIDATION_ERROR",
        "details": {
            "initParamsOverrides": 'unknown init_params keys: ["agent", "temperature"]',
            "keys": ["agent", "temperature"],
        },
    }


async def test_override_values_are_checked_against_type_hint(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    task = await new_task(client, tenant)
    response = await create_routine(
        client, tenant, taskId=task["id"], initParamsOverrides={"sample_size": "fifty"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "init_params of the wrong type: sample_size must be integer"
    assert response.json()["details"]["keys"] == ["sample_size"]
    ok = await new_routine(
        client, tenant, taskId=task["id"], initParamsOverrides={"sample_size": 50, "model": None}
    )
    assert ok["taskId"] == task["id"]
    assert ok["initParamsOverrides"] == {"sample_size": 50, "model": None}
    assert ok["warnings"] == []
    patched = await client.patch(
        f"/api/routines/{ok['id']}",
        json={"initParamsOverrides": {"sample_size": True}},
        headers=board(tenant),
    )
    assert patched.status_code == 400


async def test_overrides_need_a_task_of_the_same_company(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    alone = await create_routine(client, tenant, initParamsOverrides={"sample_size": 5})
    assert alone.status_code == 400
    assert alone.json()["details"] == {"initParamsOverrides": "requires taskId"}
    other = await make_tenant(client, admin_key, "Other")
    foreign = await new_task(client, other)
    response = await create_routine(client, tenant, taskId=foreign["id"])
    assert response.status_code == 400
    assert response.json()["details"] == {"taskId": "task not found"}
    task = await new_task(client, tenant)
    routine = await new_routine(
        client, tenant, taskId=task["id"], initParamsOverrides={"sample_size": 5}
    )
    detach = await client.patch(
        f"/api/routines/{routine['id']}", json={"taskId": None}, headers=board(tenant)
    )
    assert detach.status_code == 400
    detach = await client.patch(
        f"/api/routines/{routine['id']}",
        json={"taskId": None, "initParamsOverrides": None},
        headers=board(tenant),
    )
    assert detach.status_code == 200
    assert detach.json()["taskId"] is None and detach.json()["initParamsOverrides"] == {}


async def test_stale_override_key_is_a_warning_and_ignored(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    task = await new_task(client, tenant)
    routine = await new_routine(
        client,
        tenant,
        taskId=task["id"],
        initParamsOverrides={"sample_size": 50, "model": "gpt-4.1"},
    )
    without = [key for key in SEED_KEYS if key["name"] != "sample_size"]
    patched = await client.patch(
        f"/api/tasks/{task['id']}", json={"initParams": without}, headers=board(tenant)
    )
    assert patched.status_code == 200
    fetched = await get_routine(client, tenant, routine["id"])
    assert len(fetched["warnings"]) == 1
    assert "'sample_size'" in fetched["warnings"][0]
    assert "no longer an init param" in fetched["warnings"][0]
    listed = await client.get(f"/api/companies/{tenant.company_id}/routines", headers=board(tenant))
    assert listed.json()["data"][0]["warnings"] == fetched["warnings"]
    # The routine keeps working with the remaining keys.
    resolved = resolve_parameters(
        {"init_params": without, "payload_overrides": False},
        {"init_params_overrides": fetched["initParamsOverrides"]},
        None,
    )
    assert resolved == {"model": "gpt-4.1", "tenant_filter": None}
    accepted = await run_now(client, tenant, routine["id"])
    assert accepted["status"] == "dispatched"
    # Other edits do not trip over the stale key; editing the overrides must drop it.
    renamed = await client.patch(
        f"/api/routines/{routine['id']}", json={"title": "renamed"}, headers=board(tenant)
    )
    assert renamed.status_code == 200 and renamed.json()["warnings"] == fetched["warnings"]
    fixed = await client.patch(
        f"/api/routines/{routine['id']}",
        json={"initParamsOverrides": {"model": "gpt-4.1"}},
        headers=board(tenant),
    )
    assert fixed.status_code == 200 and fixed.json()["warnings"] == []


async def test_routine_takes_the_tasks_default_dispatch_target(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    target = {"type": "http", "url": "https://executor.example.test/run", "timeoutSec": 7.0}
    task = await new_task(client, tenant, dispatch=target)
    assert task["dispatch"] == target
    routine = await new_routine(client, tenant, taskId=task["id"])
    assert routine["dispatch"] == target
    assert routine["dispatchSigningSecret"].startswith("whsec_")
    explicit = await new_routine(
        client, tenant, title="Streamed", taskId=task["id"], dispatch={"type": "stream"}
    )
    assert explicit["dispatch"]["type"] == "stream"


# -- what the executor receives -------------------------------------------------------------


async def test_dispatch_carries_parameters_secrets_delivery_and_origin(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    bodies: list[dict[str, Any]] = []

    def answer(_request: Request, body: bytes) -> Response:
        bodies.append(orjson.loads(body))
        return JSONResponse({"status": "succeeded"})

    receiver = Receiver(answer)
    async with serve(receiver.app()) as base:
        task = await new_task(client, tenant, payloadOverrides=True)
        routine = await new_routine(
            client,
            tenant,
            taskId=task["id"],
            initParamsOverrides={"sample_size": 50},
            secretParams={"api_token": SECRET},
            delivery={"channel": "slack:#alerts", "format": "markdown"},
            dispatch={"type": "http", "url": f"{base}/hook"},
            concurrencyPolicy="always_enqueue",
        )
        await run_now(client, tenant, routine["id"])
        await run_now(
            client, tenant, routine["id"], payload={"initParams": {"tenant_filter": "acme"}}
        )
        await receiver.wait_for(2)
    first, second = sorted(bodies, key=lambda b: b["payload"] is not None)
    assert first["parameters"] == {"model": "gpt-4o", "tenant_filter": None, "sample_size": 50}
    assert second["parameters"] == {"model": "gpt-4o", "tenant_filter": "acme", "sample_size": 50}
    for body in (first, second):
        assert body["secretParams"] == {"api_token": SECRET}
        assert body["delivery"] == {"channel": "slack:#alerts", "format": "markdown"}
        assert body["triggeredByRoutineId"] == routine["id"]
        assert body["task"] == {
            "id": task["id"],
            "name": "nl-to-sql-regression",
            "collection": "my-org",
        }


async def test_payload_params_need_the_tasks_permission_and_valid_values(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    closed = await new_task(client, tenant, name="closed")
    routine = await new_routine(
        client, tenant, taskId=closed["id"], concurrencyPolicy="always_enqueue"
    )
    ignored = await run_now(
        client, tenant, routine["id"], payload={"initParams": {"sample_size": "many"}}
    )
    assert ignored["status"] == "dispatched"  # not the task's to take: left alone
    opened = await new_task(client, tenant, name="open", payloadOverrides=True)
    routine = await new_routine(
        client, tenant, taskId=opened["id"], concurrencyPolicy="always_enqueue"
    )
    for params, reason in [
        ({"sample_size": "many"}, "sample_size must be integer"),
        ({"colour": "red"}, 'unknown init_params keys: ["colour"]'),
        ("all of them", "must be an object"),
    ]:
        accepted = await run_now(client, tenant, routine["id"], payload={"initParams": params})
        assert accepted["status"] == "skipped"
        run = (await client.get(f"/api/runs/{accepted['runId']}", headers=board(tenant))).json()
        assert reason in run["reason"]


async def test_secret_params_are_write_only_and_replaced_by_patch(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, secretParams={"b": "2", "a": "1"})
    assert routine["secretParamKeys"] == ["a", "b"]
    assert "secretParams" not in routine
    patched = await client.patch(
        f"/api/routines/{routine['id']}", json={"secretParams": {"c": "3"}}, headers=board(tenant)
    )
    assert patched.json()["secretParamKeys"] == ["c"]
    untouched = await client.patch(
        f"/api/routines/{routine['id']}", json={"title": "t2"}, headers=board(tenant)
    )
    assert untouched.json()["secretParamKeys"] == ["c"]
    cleared = await client.patch(
        f"/api/routines/{routine['id']}", json={"secretParams": None}, headers=board(tenant)
    )
    assert cleared.json()["secretParamKeys"] == []
    bad = await create_routine(client, tenant, secretParams={"n": 5})
    assert bad.status_code == 400 and "secretParams.n" in bad.json()["error"]


async def test_secret_param_never_in_responses_logs_or_database(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = Receiver(lambda _r, _b: JSONResponse({"status": "failed", "error": "no"}))
    seen: list[str] = []
    with structlog.testing.capture_logs() as events:
        async with serve(receiver.app()) as base:
            task = await new_task(client, tenant)
            created = await create_routine(
                client,
                tenant,
                taskId=task["id"],
                secretParams={"api_token": SECRET},
                dispatch={"type": "http", "url": f"{base}/hook"},
            )
            seen.append(created.text)
            routine = created.json()
            for _ in range(2):
                accepted = await run_now(client, tenant, routine["id"])
                await receiver.wait_for(len(receiver.received) + 1)
                for _ in range(200):
                    run = await client.get(f"/api/runs/{accepted['runId']}", headers=board(tenant))
                    if run.json()["status"] == "failed":
                        break
                    await asyncio.sleep(0.01)
                seen.append(run.text)
            for method, path, body in [
                ("GET", f"/api/routines/{routine['id']}", None),
                ("GET", f"/api/companies/{tenant.company_id}/routines", None),
                ("GET", f"/api/routines/{routine['id']}/runs", None),
                ("PATCH", f"/api/routines/{routine['id']}", {"title": "renamed"}),
                ("PATCH", f"/api/routines/{routine['id']}", {"secretParams": {"x": "y"}}),
                ("GET", "/openapi.json", None),
            ]:
                seen.append(
                    (await client.request(method, path, json=body, headers=board(tenant))).text
                )
    assert SECRET in receiver.received[0][1].decode()  # the executor does get it
    assert all(SECRET not in text for text in seen)
    assert SECRET not in caplog.text
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in repr(events)
    await _assert_not_stored(ctx, SECRET)


async def _assert_not_stored(ctx: Context, secret: str) -> None:
    """Nothing in the database holds the secret: the SQLite files byte for byte, or every
    row of every table as text on PostgreSQL."""
    if ctx.db.is_sqlite:
        path = Path(ctx.db.engine.url.database or "")
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
        assert files
        for file in files:
            assert secret.encode() not in file.read_bytes(), file
        return
    async with ctx.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = await conn.execute(select(text(f"{table.name}::text")).select_from(table))
            assert all(secret not in row[0] for row in rows), table.name


# -- pure rules -------------------------------------------------------------------------------


def test_type_hints() -> None:
    assert matches_type("integer", 3) and not matches_type("integer", 3.5)
    assert not matches_type("integer", True) and matches_type("boolean", False)
    assert matches_type("number", 3) and matches_type("number", 2.5)
    assert matches_type("object", {}) and matches_type("array", [])
    assert matches_type("string", None)
    assert not matches_type("string", 1)


def test_override_rules() -> None:
    check_overrides(SEED_KEYS, {"sample_size": 1})
    with pytest.raises(ValueError, match=r'unknown init_params keys: \["x"\]'):
        check_overrides(SEED_KEYS, {"x": 1})
    assert stale_overrides(SEED_KEYS[:1], {"sample_size": 1, "model": 2}) == {
        "sample_size": "is no longer an init param of the task",
        "model": "is no longer of the task's type string",
    }


def test_resolution_order() -> None:
    task = {"init_params": SEED_KEYS, "payload_overrides": True}
    routine = {"init_params_overrides": {"sample_size": 50, "model": "m2"}}
    payload = {"initParams": {"model": "m3", "unknown": 1, "sample_size": "bad"}}
    assert resolve_parameters(task, routine, payload) == {
        "model": "m3",
        "tenant_filter": None,
        "sample_size": 50,
    }
    assert (
        resolve_parameters(task | {"payload_overrides": False}, routine, payload)["model"] == "m2"
    )
    assert resolve_parameters(None, routine, payload) == {}


# -- the migration ----------------------------------------------------------------------------


async def test_migrations_match_the_tables(ctx: Context) -> None:
    def differences(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with ctx.db.read() as conn:
        assert await conn.run_sync(differences) == []


async def test_a_tasks_routines_have_distinct_titles(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # Seed 000 addresses a task's routines by name; the title is that name.
    task = await new_task(client, tenant)
    first = await new_routine(client, tenant, taskId=task["id"])
    duplicate = await create_routine(client, tenant, taskId=task["id"])
    assert duplicate.status_code == 409
    assert duplicate.json()["details"] == {"routineId": first["id"]}
    other = await new_routine(client, tenant, title="Other", taskId=task["id"])
    renamed = await client.patch(
        f"/api/routines/{other['id']}", json={"title": first["title"]}, headers=board(tenant)
    )
    assert renamed.status_code == 409
    archived = await client.delete(f"/api/routines/{first['id']}", headers=board(tenant))
    assert archived.status_code == 200
    assert (await create_routine(client, tenant, taskId=task["id"])).status_code == 201
    # Routines without a task, or of different tasks, may share titles.
    assert (await create_routine(client, tenant)).status_code == 201
    assert (await create_routine(client, tenant)).status_code == 201
