"""Seed 004, the Schedules API: every example of the document, sent as its client sends it.

Requests are the seed's, verbatim but for the base URL, the token and the ids; answers are
read as that client reads them. Where an example's value follows from the data (a next run,
a count), the value asserted is the one this data gives, and the comment says why.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from firehook.context import Context
from scheduler import Ticker
from tests.conftest import FakeClock, Tenant, make_tenant, routine_body

SEED_WORKFLOW_ID = "550e8400-e29b-41d4-a716-446655440000"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def substitute(document: str, ids: dict[str, str]) -> str:
    """The seed's example text with its ids replaced by ours."""
    for seed_id, our_id in ids.items():
        document = document.replace(seed_id, our_id)
    return document


async def new_workflow(
    client: httpx.AsyncClient, tenant: Tenant, name: str = "Daily Report"
) -> str:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/tasks",
        json={"name": name},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_schedule(
    client: httpx.AsyncClient, key: str, workflow_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/schedules",
        json={"workflowId": workflow_id, "cronExpression": "0 9 * * MON-FRI"} | fields,
        headers=Tenant.auth(key),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def curl_create_body(workflow_id: str) -> str:
    """The body of the seed's "Create Schedule" example, as its curl sends it."""
    return substitute(
        """{
    "workflowId": "550e8400-e29b-41d4-a716-446655440000",
    "cronExpression": "0 9 * * MON-FRI",
    "timezone": "America/New_York",
    "enabled": true,
    "inputData": [{"json": {"reportType": "daily"}}]
  }""",
        {SEED_WORKFLOW_ID: workflow_id},
    )


async def complete(
    client: httpx.AsyncClient, tenant: Tenant, run_id: str, status: str, **extra: Any
) -> None:
    response = await client.post(
        f"/api/runs/{run_id}/complete",
        json={"status": status} | extra,
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text


async def running_execution(client: httpx.AsyncClient, token: str, schedule_id: str) -> str:
    history = (
        await client.get(f"/api/v1/schedules/{schedule_id}/history", headers=Tenant.auth(token))
    ).json()
    assert history["data"][0]["status"] == "running"
    return str(history["data"][0]["executionId"])


async def seed_story(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> tuple[str, str, list[str]]:
    """The seed's Daily Report: created on 2024-01-01, failed on the 25th, succeeded on the
    26th, each fired by the scheduler at its 09:00 New York tick and completed by an executor
    through the native API. Returns the workflow id, the schedule id and the execution ids."""
    workflow_id = await new_workflow(client, tenant)
    clock.now = at("2024-01-01T00:00:00Z")
    created = await client.post(
        "/api/v1/schedules",
        content=curl_create_body(workflow_id),
        headers=Tenant.auth(tenant.board) | {"Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    executions = []
    for day, finished, outcome in (
        ("2024-01-25", "14:00:01.000", {"status": "failed", "error": "HTTP request timeout"}),
        ("2024-01-26", "14:00:02.500", {"status": "succeeded"}),
    ):
        clock.now = at(f"{day}T14:00:00.500Z")  # half a second after the 09:00 EST tick
        ticker = Ticker(ctx)
        await ticker.load()
        assert await ticker.fire_due() == 1
        run_id = await running_execution(client, tenant.board, schedule_id)
        clock.now = at(f"{day}T{finished}Z")
        await complete(client, tenant, run_id, **outcome)
        executions.append(run_id)
    return workflow_id, schedule_id, executions


# -- the seed's examples, one test each ---------------------------------------------------------


async def test_list_schedules_example(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    workflow_id, schedule_id, _ = await seed_story(client, tenant, ctx, clock)
    # curl http://localhost:8080/api/v1/schedules -H "Authorization: Bearer <token>"
    response = await client.get("/api/v1/schedules", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200
    body = response.json()
    documented = {
        "id": schedule_id,
        "workflowId": workflow_id,
        "workflowName": "Daily Report",
        "cronExpression": "0 9 * * MON-FRI",
        "timezone": "America/New_York",
        "enabled": True,
        # The seed shows Saturday 2024-01-27, which "0 9 * * MON-FRI" never fires on;
        # after Friday the 26th its next run is Monday the 29th.
        "nextRun": "2024-01-29T09:00:00-05:00",
        "lastRun": "2024-01-26T09:00:00-05:00",
        "lastStatus": "success",
        "createdAt": "2024-01-01T00:00:00Z",
    }
    (item,) = body["data"]
    assert {key: item[key] for key in documented} == documented
    assert body["total"] == 1  # the seed's company has 5 schedules; this one has 1


async def test_get_schedule_example(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    workflow_id, schedule_id, _ = await seed_story(client, tenant, ctx, clock)
    # curl http://localhost:8080/api/v1/schedules/sched-123 -H "Authorization: Bearer <token>"
    response = await client.get(
        f"/api/v1/schedules/{schedule_id}", headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 200
    schedule = response.json()
    assert schedule == {
        "id": schedule_id,
        "workflowId": workflow_id,
        "workflowName": "Daily Report",
        "cronExpression": "0 9 * * MON-FRI",
        "timezone": "America/New_York",
        "enabled": True,
        "inputData": [{"json": {"reportType": "daily"}}],
        "nextRun": "2024-01-29T09:00:00-05:00",
        "lastRun": "2024-01-26T09:00:00-05:00",
        "lastStatus": "success",
        # The seed's schedule has run 25 times; this one twice.
        "runCount": 2,
        "successCount": 1,
        "failureCount": 1,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": schedule["updatedAt"],
    }
    assert at(schedule["updatedAt"]) >= at("2024-01-01T00:00:00Z")
    assert schedule["updatedAt"].endswith("Z")


async def test_create_schedule_example(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    workflow_id = await new_workflow(client, tenant)
    clock.now = at("2024-01-26T16:00:00Z")
    response = await client.post(
        "/api/v1/schedules",
        content=curl_create_body(workflow_id),
        headers=Tenant.auth(tenant.board) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    created = response.json()
    documented = {
        "id": created["id"],
        "workflowId": workflow_id,
        "cronExpression": "0 9 * * MON-FRI",
        "timezone": "America/New_York",
        "enabled": True,
        # Friday 11:00 in New York: the next weekday 09:00 is Monday's (the seed's
        # Saturday is not a weekday).
        "nextRun": "2024-01-29T09:00:00-05:00",
        "createdAt": "2024-01-26T16:00:00Z",
    }
    assert {key: created[key] for key in documented} == documented
    assert created["inputData"] == [{"json": {"reportType": "daily"}}]


async def test_update_schedule_example(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = at("2024-01-26T16:00:00Z")
    schedule = await new_schedule(
        client, tenant.board, await new_workflow(client, tenant), timezone="America/New_York"
    )
    response = await client.put(
        f"/api/v1/schedules/{schedule['id']}",
        content="""{
    "cronExpression": "0 8 * * MON-FRI",
    "timezone": "Europe/London"
  }""",
        headers=Tenant.auth(tenant.board) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["cronExpression"] == "0 8 * * MON-FRI"
    assert updated["timezone"] == "Europe/London"
    assert updated["nextRun"] == "2024-01-29T08:00:00+00:00"
    assert updated["enabled"] is True and updated["createdAt"] == schedule["createdAt"]
    fetched = await client.get(
        f"/api/v1/schedules/{schedule['id']}", headers=Tenant.auth(tenant.board)
    )
    assert fetched.json() == updated


async def test_delete_schedule_example(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    schedule = await new_schedule(client, tenant.board, await new_workflow(client, tenant))
    board = Tenant.auth(tenant.board)
    # curl -X DELETE http://localhost:8080/api/v1/schedules/sched-123 -H "Authorization: ..."
    response = await client.delete(f"/api/v1/schedules/{schedule['id']}", headers=board)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/v1/schedules/{schedule['id']}", headers=board)).json() == {
        "error": "Schedule not found",
        "code": "NOT_FOUND",
        "details": {},
    }
    assert (await client.get("/api/v1/schedules", headers=board)).json() == {"data": [], "total": 0}
    # The routine is archived, not gone: its runs stay readable natively.
    routine = (await client.get(f"/api/routines/{schedule['id']}", headers=board)).json()
    assert routine["status"] == "archived"
    again = await client.delete(f"/api/v1/schedules/{schedule['id']}", headers=board)
    assert again.status_code == 404


async def test_enable_and_disable_schedule_examples(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = at("2024-01-26T16:00:00Z")
    schedule = await new_schedule(
        client, tenant.board, await new_workflow(client, tenant), timezone="America/New_York"
    )
    board = Tenant.auth(tenant.board)
    # curl -X POST http://localhost:8080/api/v1/schedules/sched-123/disable -H "Authorization: ..."
    disabled = await client.post(f"/api/v1/schedules/{schedule['id']}/disable", headers=board)
    assert disabled.status_code == 200
    assert disabled.json() == {"id": schedule["id"], "enabled": False, "nextRun": None}
    fetched = (await client.get(f"/api/v1/schedules/{schedule['id']}", headers=board)).json()
    assert fetched["enabled"] is False and fetched["nextRun"] is None
    routine = (await client.get(f"/api/routines/{schedule['id']}", headers=board)).json()
    assert routine["status"] == "paused"
    # Enabled again a week later: the next run is after now, not the ticks missed meanwhile.
    clock.now = at("2024-02-02T16:00:00Z")
    # curl -X POST http://localhost:8080/api/v1/schedules/sched-123/enable -H "Authorization: ..."
    enabled = await client.post(f"/api/v1/schedules/{schedule['id']}/enable", headers=board)
    assert enabled.status_code == 200
    assert enabled.json() == {
        "id": schedule["id"],
        "enabled": True,
        "nextRun": "2024-02-05T09:00:00-05:00",
    }
    routine = (await client.get(f"/api/routines/{schedule['id']}", headers=board)).json()
    assert routine["status"] == "active"
    twice = await client.post(f"/api/v1/schedules/{schedule['id']}/enable", headers=board)
    assert twice.json() == enabled.json()


async def test_schedule_history_example(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    _, schedule_id, (exec_99, exec_100) = await seed_story(client, tenant, ctx, clock)
    # curl "http://localhost:8080/api/v1/schedules/sched-123/history?limit=10" -H "..."
    response = await client.get(
        f"/api/v1/schedules/{schedule_id}/history?limit=10", headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "executionId": exec_100,
                "scheduledTime": "2024-01-26T09:00:00-05:00",
                "startedAt": "2024-01-26T09:00:00.500-05:00",
                "finishedAt": "2024-01-26T09:00:02.500-05:00",
                "status": "success",
                "duration": 2000,
            },
            {
                "executionId": exec_99,
                "scheduledTime": "2024-01-25T09:00:00-05:00",
                "startedAt": "2024-01-25T09:00:00.500-05:00",
                "finishedAt": "2024-01-25T09:00:01.000-05:00",
                "status": "failed",
                "duration": 500,
                "error": "HTTP request timeout",
            },
        ],
        "total": 2,  # the seed's schedule has 25 executions; this one 2
    }
    limited = await client.get(
        f"/api/v1/schedules/{schedule_id}/history?limit=1", headers=Tenant.auth(tenant.board)
    )
    assert [e["executionId"] for e in limited.json()["data"]] == [exec_100]
    assert limited.json()["total"] == 2


async def test_error_response_examples(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    board = Tenant.auth(tenant.board)
    workflow_id = await new_workflow(client, tenant)
    invalid = await client.post(
        "/api/v1/schedules",
        json={"workflowId": workflow_id, "cronExpression": "61 9 * * MON-FRI"},
        headers=board,
    )
    assert invalid.status_code == 400
    assert invalid.json() == {
        "error": "Invalid cron expression",
        "code": "VALIDATION_ERROR",
        "details": {"cronExpression": "Invalid format"},
    }
    missing = await client.get(
        "/api/v1/schedules/8d0c2f9e-6b1a-4c55-9a43-1f7f2d3e4b5a", headers=board
    )
    assert missing.status_code == 404
    assert missing.json() == {"error": "Schedule not found", "code": "NOT_FOUND", "details": {}}
    await new_schedule(client, tenant.board, workflow_id)
    second = await client.post(
        "/api/v1/schedules",
        json={"workflowId": workflow_id, "cronExpression": "0 0 * * *"},
        headers=board,
    )
    assert second.status_code == 409
    assert second.json() == {
        "error": "Schedule already exists for this workflow",
        "code": "CONFLICT",
        "details": {},
    }


# -- beyond the examples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"cronExpression": "0 9 * * *"}, "workflowId", "workflowId is required"),
        ({"workflowId": "{workflow}"}, "cronExpression", "Invalid cron expression"),
        ({"workflowId": "{workflow}", "cronExpression": ""}, "cronExpression", None),
        ({"workflowId": "{workflow}", "cronExpression": "0 9 * *"}, "cronExpression", None),
        ({"workflowId": "{workflow}", "cronExpression": 9}, "cronExpression", None),
        ({"workflowId": "{workflow}", "cronExpression": "0 0 30 2 *"}, "cronExpression", None),
        (
            {"workflowId": "{workflow}", "cronExpression": "0 9 * * *", "timezone": "Mars/Base"},
            "timezone",
            "Invalid timezone",
        ),
        (
            {"workflowId": "{workflow}", "cronExpression": "0 9 * * *", "enabled": "sometimes"},
            "enabled",
            "Invalid enabled",
        ),
        (
            {"workflowId": "{workflow}", "cronExpression": "0 9 * * *", "inputData": {"a": 1}},
            "inputData",
            "Invalid inputData",
        ),
        (
            {"workflowId": "{workflow}", "cronExpression": "0 9 * * *", "name": "x"},
            "name",
            "Unknown field name",
        ),
        (
            {"workflowId": "0b8a5f0e-3c8e-4a5e-8f1e-2a4c6e8b0d1f", "cronExpression": "0 9 * * *"},
            "workflowId",
            "Workflow not found",
        ),
        ({"workflowId": "not-a-uuid", "cronExpression": "0 9 * * *"}, "workflowId", None),
    ],
)
async def test_create_answers_400_naming_the_field(
    client: httpx.AsyncClient,
    tenant: Tenant,
    body: dict[str, Any],
    field: str,
    error: str | None,
) -> None:
    workflow_id = await new_workflow(client, tenant)
    body = {k: workflow_id if v == "{workflow}" else v for k, v in body.items()}
    response = await client.post("/api/v1/schedules", json=body, headers=Tenant.auth(tenant.board))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == "VALIDATION_ERROR"
    assert field in answer["details"]
    if field == "cronExpression":
        assert answer == {
            "error": "Invalid cron expression",
            "code": "VALIDATION_ERROR",
            "details": {"cronExpression": "Invalid format"},
        }
    if error is not None:
        assert answer["error"] == error
    listed = await client.get("/api/v1/schedules", headers=Tenant.auth(tenant.board))
    assert listed.json()["total"] == 0  # nothing half-made


async def test_malformed_requests_are_400_never_5xx(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    schedule = await new_schedule(client, tenant.board, await new_workflow(client, tenant))
    url = f"/api/v1/schedules/{schedule['id']}"
    cases = [
        await client.post("/api/v1/schedules", content=b"{not json", headers=board),
        await client.post("/api/v1/schedules", json=[1, 2], headers=board),
        await client.post("/api/v1/schedules", headers=board),
        await client.put(url, json={"cronExpression": None}, headers=board),
        await client.put(url, json={"enabled": None}, headers=board),
        await client.put(url, json={"cronExpression": "every day"}, headers=board),
        await client.put(url, json={"timezone": "Nowhere/Land"}, headers=board),
        await client.get("/api/v1/schedules?enabled=maybe", headers=board),
        await client.get("/api/v1/schedules?limit=0", headers=board),
        await client.get("/api/v1/schedules?colour=red", headers=board),
        await client.get(f"{url}/history?limit=-1", headers=board),
        await client.get(f"{url}/history?limit=abc", headers=board),
    ]
    assert [r.status_code for r in cases] == [400] * len(cases), [r.text for r in cases]
    for response in cases:
        assert set(response.json()) == {"error", "code", "details"}
    assert (await client.put(url, json={"cronExpression": "every day"}, headers=board)).json() == {
        "error": "Invalid cron expression",
        "code": "VALIDATION_ERROR",
        "details": {"cronExpression": "Invalid format"},
    }
    unchanged = (await client.get(url, headers=board)).json()
    assert unchanged == schedule | {"updatedAt": unchanged["updatedAt"]}
    assert (await client.get("/api/v1/schedules/not-an-id", headers=board)).status_code == 404
    assert (await client.get("/api/v1/schedules")).status_code == 401


async def test_put_changes_only_the_fields_sent(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    clock.now = at("2024-01-26T16:00:00Z")
    board = Tenant.auth(tenant.board)
    schedule = await new_schedule(
        client,
        tenant.board,
        await new_workflow(client, tenant),
        timezone="America/New_York",
        inputData=[{"json": {"reportType": "daily"}}],
    )
    url = f"/api/v1/schedules/{schedule['id']}"
    # A PUT of the cron expression alone keeps the timezone (the native patch would not).
    cron_only = (await client.put(url, json={"cronExpression": "30 7 * * *"}, headers=board)).json()
    assert cron_only["timezone"] == "America/New_York"
    assert cron_only["nextRun"] == "2024-01-27T07:30:00-05:00"
    assert cron_only["inputData"] == [{"json": {"reportType": "daily"}}]
    zone_only = (await client.put(url, json={"timezone": "Asia/Tokyo"}, headers=board)).json()
    assert (zone_only["cronExpression"], zone_only["nextRun"]) == (
        "30 7 * * *",
        "2024-01-27T07:30:00+09:00",
    )
    data = (await client.put(url, json={"inputData": [{"json": {"n": 2}}]}, headers=board)).json()
    assert data["inputData"] == [{"json": {"n": 2}}] and data["timezone"] == "Asia/Tokyo"
    paused = (await client.put(url, json={"enabled": False}, headers=board)).json()
    assert (paused["enabled"], paused["nextRun"], paused["cronExpression"]) == (
        False,
        None,
        "30 7 * * *",
    )
    other = await new_workflow(client, tenant, "Weekly Digest")
    moved = (await client.put(url, json={"workflowId": other}, headers=board)).json()
    assert (moved["workflowId"], moved["workflowName"]) == (other, "Weekly Digest")
    assert moved["inputData"] == [{"json": {"n": 2}}] and moved["enabled"] is False
    # A client that PUTs back what it read, with one field changed, changes that field.
    read_back = (await client.get(url, headers=board)).json()
    round_trip = await client.put(url, json=read_back | {"enabled": True}, headers=board)
    assert round_trip.status_code == 200, round_trip.text
    assert round_trip.json() | {"updatedAt": None} == read_back | {
        "enabled": True,
        "nextRun": "2024-01-27T07:30:00+09:00",
        "updatedAt": None,
    }
    cleared = (await client.put(url, json={"inputData": None}, headers=board)).json()
    assert cleared["inputData"] == []
    routine = (await client.get(f"/api/routines/{schedule['id']}", headers=board)).json()
    assert routine["defaultPayload"] == {} and routine["taskId"] == other
    null_zone = await client.put(url, json={"timezone": None}, headers=board)
    assert null_zone.json()["details"] == {"timezone": "Must not be null"}
    unknown = await client.put(
        url, json={"workflowId": "0b8a5f0e-3c8e-4a5e-8f1e-2a4c6e8b0d1f"}, headers=board
    )
    assert unknown.status_code == 400 and "workflowId" in unknown.json()["details"]


async def test_put_onto_a_workflow_that_has_a_schedule_is_409(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    first = await new_schedule(client, tenant.board, await new_workflow(client, tenant, "A"))
    second = await new_schedule(client, tenant.board, await new_workflow(client, tenant, "B"))
    response = await client.put(
        f"/api/v1/schedules/{second['id']}", json={"workflowId": first["workflowId"]}, headers=board
    )
    assert response.status_code == 409
    assert response.json()["error"] == "Schedule already exists for this workflow"
    # Its own workflow again is no change, and a deleted schedule frees the workflow.
    same = await client.put(
        f"/api/v1/schedules/{first['id']}", json={"workflowId": first["workflowId"]}, headers=board
    )
    assert same.status_code == 200
    await client.delete(f"/api/v1/schedules/{first['id']}", headers=board)
    await new_schedule(client, tenant.board, first["workflowId"])


async def test_concurrent_creates_for_one_workflow_make_one_schedule(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    workflow_id = await new_workflow(client, tenant)
    body = {"workflowId": workflow_id, "cronExpression": "*/5 * * * *"}
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/schedules", json=body, headers=Tenant.auth(tenant.board))
            for _ in range(5)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
    listed = await client.get(
        f"/api/v1/schedules?workflowId={workflow_id}", headers=Tenant.auth(tenant.board)
    )
    assert listed.json()["total"] == 1


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    board = Tenant.auth(tenant.board)
    made = []
    for index in range(5):
        clock.advance(1)
        workflow_id = await new_workflow(client, tenant, f"Workflow {index}")
        made.append(await new_schedule(client, tenant.board, workflow_id, enabled=index % 2 == 0))
    newest_first = [s["id"] for s in reversed(made)]

    async def ids(query: str) -> tuple[list[str], int]:
        body = (await client.get(f"/api/v1/schedules{query}", headers=board)).json()
        return [s["id"] for s in body["data"]], body["total"]

    assert await ids("") == (newest_first, 5)
    assert await ids("?enabled=true") == ([made[i]["id"] for i in (4, 2, 0)], 3)
    assert await ids("?enabled=false") == ([made[i]["id"] for i in (3, 1)], 2)
    assert await ids(f"?workflowId={made[1]['workflowId']}") == ([made[1]["id"]], 1)
    assert await ids(f"?workflowId={made[1]['workflowId']}&enabled=true") == ([], 0)
    assert await ids("?workflowId=no-such-workflow") == ([], 0)
    assert await ids("?limit=2") == (newest_first[:2], 5)
    assert await ids("?limit=2&offset=4") == (newest_first[4:], 5)


async def test_history_maps_run_statuses_and_manual_runs(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    clock.now = at("2024-01-26T13:59:00Z")
    board = Tenant.auth(tenant.board)
    schedule = await new_schedule(
        client,
        tenant.board,
        await new_workflow(client, tenant),
        timezone="America/New_York",
        inputData=[{"json": {"reportType": "daily"}}],
    )
    ticker = Ticker(ctx)
    await ticker.load()
    clock.now = at("2024-01-26T14:00:01Z")
    assert await ticker.fire_due() == 1
    # A manual run while the scheduled one is active is coalesced into it: "skipped".
    clock.advance(1)
    manual = await client.post(f"/api/routines/{schedule['id']}/run", json={}, headers=board)
    assert manual.status_code == 202 and manual.json()["status"] == "coalesced"
    history = (
        await client.get(f"/api/v1/schedules/{schedule['id']}/history", headers=board)
    ).json()
    assert [e["status"] for e in history["data"]] == ["skipped", "running"]
    skipped, running = history["data"]
    assert running["scheduledTime"] == "2024-01-26T09:00:00-05:00"
    assert (running["finishedAt"], running["duration"]) == (None, None)
    assert skipped["scheduledTime"] == "2024-01-26T09:00:02-05:00"  # a manual run: its request
    run = (await client.get(f"/api/runs/{running['executionId']}", headers=board)).json()
    assert run["payload"] == {"inputData": [{"json": {"reportType": "daily"}}]}
    cancelled = await client.post(f"/api/runs/{running['executionId']}/cancel", headers=board)
    assert cancelled.status_code == 200
    fetched = (await client.get(f"/api/v1/schedules/{schedule['id']}", headers=board)).json()
    assert (fetched["lastStatus"], fetched["runCount"]) == ("cancelled", 1)
    assert (fetched["successCount"], fetched["failureCount"]) == (0, 0)


async def test_dst_transitions_show_the_offset_of_each_instant(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    board = Tenant.auth(tenant.board)
    clock.now = at("2024-03-08T15:00:00Z")  # Friday, 10:00 EST
    schedule = await new_schedule(
        client,
        tenant.board,
        await new_workflow(client, tenant),
        cronExpression="0 9 * * *",
        timezone="America/New_York",
    )
    assert schedule["nextRun"] == "2024-03-09T09:00:00-05:00"
    url = f"/api/v1/schedules/{schedule['id']}"
    for now, expected_next in (
        ("2024-03-09T14:00:01Z", "2024-03-10T09:00:00-04:00"),  # clocks spring forward
        ("2024-03-10T13:00:01Z", "2024-03-11T09:00:00-04:00"),
    ):
        clock.now = at(now)
        ticker = Ticker(ctx)
        await ticker.load()
        assert await ticker.fire_due() == 1
        run_id = await running_execution(client, tenant.board, schedule["id"])
        await complete(client, tenant, run_id, "succeeded")
        assert (await client.get(url, headers=board)).json()["nextRun"] == expected_next
    history = (await client.get(f"{url}/history", headers=board)).json()["data"]
    assert [e["scheduledTime"] for e in history] == [
        "2024-03-10T09:00:00-04:00",
        "2024-03-09T09:00:00-05:00",
    ]
    assert [e["startedAt"] for e in history] == [
        "2024-03-10T09:00:01.000-04:00",
        "2024-03-09T09:00:01.000-05:00",
    ]
    fetched = (await client.get(url, headers=board)).json()
    assert fetched["lastRun"] == "2024-03-10T09:00:00-04:00"
    # Falling back, 01:30 happens twice in New York; the schedule fires at the first.
    clock.now = at("2024-11-02T12:00:00Z")
    autumn = await new_schedule(
        client,
        tenant.board,
        await new_workflow(client, tenant, "Autumn"),
        cronExpression="30 1 * * *",
        timezone="America/New_York",
    )
    assert autumn["nextRun"] == "2024-11-03T01:30:00-04:00"
    clock.now = at("2024-11-03T05:30:01Z")
    ticker = Ticker(ctx)
    await ticker.load()
    assert await ticker.fire_due() == 1
    clock.now = at("2024-11-03T06:30:01Z")  # 01:30 EST, the repeated hour
    assert await ticker.fire_due() == 0
    autumn_now = (await client.get(f"/api/v1/schedules/{autumn['id']}", headers=board)).json()
    assert autumn_now["nextRun"] == "2024-11-04T01:30:00-05:00"
    assert autumn_now["lastRun"] == "2024-11-03T01:30:00-04:00"


CRON_EXAMPLES = {
    # The seed's "Common Cron Examples" table, with the next fire after three instants
    # (in UTC, the default timezone): Wed 2024-01-24 10:02:30, Sat 2024-01-27 23:59:59,
    # and Thu 2024-02-29 09:00:00 (a leap day, at a fire of some of them).
    "* * * * *": ("2024-01-24T10:03:00", "2024-01-28T00:00:00", "2024-02-29T09:01:00"),
    "*/5 * * * *": ("2024-01-24T10:05:00", "2024-01-28T00:00:00", "2024-02-29T09:05:00"),
    "0 * * * *": ("2024-01-24T11:00:00", "2024-01-28T00:00:00", "2024-02-29T10:00:00"),
    "0 9 * * *": ("2024-01-25T09:00:00", "2024-01-28T09:00:00", "2024-03-01T09:00:00"),
    "0 9 * * MON-FRI": ("2024-01-25T09:00:00", "2024-01-29T09:00:00", "2024-03-01T09:00:00"),
    "0 0 * * *": ("2024-01-25T00:00:00", "2024-01-28T00:00:00", "2024-03-01T00:00:00"),
    "0 0 1 * *": ("2024-02-01T00:00:00", "2024-02-01T00:00:00", "2024-03-01T00:00:00"),
    "0 0 * * 0": ("2024-01-28T00:00:00", "2024-01-28T00:00:00", "2024-03-03T00:00:00"),
}
INSTANTS = ("2024-01-24T10:02:30Z", "2024-01-27T23:59:59Z", "2024-02-29T09:00:00Z")


@pytest.mark.parametrize("expression", list(CRON_EXAMPLES))
async def test_common_cron_examples_mean_what_the_table_says(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, expression: str
) -> None:
    for instant, expected in zip(INSTANTS, CRON_EXAMPLES[expression], strict=True):
        clock.now = at(instant)
        workflow_id = await new_workflow(client, tenant, f"{expression} from {instant}")
        schedule = await new_schedule(client, tenant.board, workflow_id, cronExpression=expression)
        assert (schedule["timezone"], schedule["nextRun"]) == ("UTC", f"{expected}+00:00")


async def test_access_follows_keys_roles_and_companies(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    schedule = await new_schedule(client, tenant.board, await new_workflow(client, tenant))
    url = f"/api/v1/schedules/{schedule['id']}"
    rival = await make_tenant(client, admin_key, "Rival")
    outsider = Tenant.auth(rival.board)
    for response in (
        await client.get(url, headers=outsider),
        await client.put(url, json={"enabled": False}, headers=outsider),
        await client.delete(url, headers=outsider),
        await client.post(f"{url}/disable", headers=outsider),
        await client.get(f"{url}/history", headers=outsider),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "Schedule not found"
    assert (await client.get("/api/v1/schedules", headers=outsider)).json()["total"] == 0
    stolen = await client.post(
        "/api/v1/schedules",
        json={"workflowId": schedule["workflowId"], "cronExpression": "* * * * *"},
        headers=outsider,
    )
    assert stolen.status_code == 400 and "workflowId" in stolen.json()["details"]
    # An admin key names the company of a list; a schedule it reads by id.
    admin = Tenant.auth(admin_key)
    unnamed = await client.get("/api/v1/schedules", headers=admin)
    assert unnamed.status_code == 400 and "companyId" in unnamed.json()["details"]
    named = await client.get(f"/api/v1/schedules?companyId={tenant.company_id}", headers=admin)
    assert [s["id"] for s in named.json()["data"]] == [schedule["id"]]
    assert (await client.get(url, headers=admin)).status_code == 200
    # An agent's schedule is assigned to it; another agent reads it but cannot change it.
    mine = await new_schedule(
        client, tenant.agent, await new_workflow(client, tenant, "Agent's own")
    )
    routine = (
        await client.get(f"/api/routines/{mine['id']}", headers=Tenant.auth(tenant.board))
    ).json()
    assert routine["assigneeAgentId"] == tenant.agent_id
    other = Tenant.auth(tenant.other_agent)
    assert (await client.get(f"/api/v1/schedules/{mine['id']}", headers=other)).status_code == 200
    refused = await client.post(f"/api/v1/schedules/{mine['id']}/disable", headers=other)
    assert refused.status_code == 403
    allowed = await client.post(
        f"/api/v1/schedules/{mine['id']}/disable", headers=Tenant.auth(tenant.agent)
    )
    assert allowed.json()["enabled"] is False


async def test_schedules_and_native_routines_agree_on_what_exists(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    companies = f"/api/companies/{tenant.company_id}"
    made = await new_schedule(
        client,
        tenant.board,
        await new_workflow(client, tenant, "Made here"),
        timezone="Europe/Paris",
    )
    native_workflow = await new_workflow(client, tenant, "Made natively")

    async def native(
        trigger: dict[str, Any] | None, *triggers: dict[str, Any], **fields: Any
    ) -> str:
        created = await client.post(
            f"{companies}/routines", json=routine_body(**fields), headers=board
        )
        assert created.status_code == 201, created.text
        for body in (trigger, *triggers):
            if body is not None:
                added = await client.post(
                    f"/api/routines/{created.json()['id']}/triggers", json=body, headers=board
                )
                assert added.status_code == 201, added.text
        return str(created.json()["id"])

    cron = {"kind": "schedule", "cronExpression": "0 6 * * *", "timezone": "Asia/Tokyo"}
    native_schedule = await native(cron, {"kind": "webhook"}, taskId=native_workflow)
    without_task = await native(cron)
    two_schedules = await native(
        cron, {"kind": "schedule", "every": 3600}, taskId=await new_workflow(client, tenant, "Two")
    )
    cadence = await native(
        {"kind": "schedule", "cadence": {"type": "daily", "hour_utc": 9}},
        taskId=await new_workflow(client, tenant, "Cadence"),
    )
    archived = await new_schedule(client, tenant.board, await new_workflow(client, tenant, "Gone"))
    await client.delete(f"/api/v1/schedules/{archived['id']}", headers=board)

    listed = (await client.get("/api/v1/schedules", headers=board)).json()
    assert {s["id"] for s in listed["data"]} == {made["id"], native_schedule}
    assert listed["total"] == 2
    # Natively, each schedule is a routine of its workflow's task with that cron trigger.
    routines = (await client.get(f"{companies}/routines?limit=200", headers=board)).json()
    by_id = (
        {r["id"]: r for r in routines["data"]}
        if isinstance(routines, dict)
        else {r["id"]: r for r in routines}
    )
    assert {without_task, two_schedules, cadence, archived["id"]} <= set(by_id)
    for schedule in listed["data"]:
        routine = (await client.get(f"/api/routines/{schedule['id']}", headers=board)).json()
        crons = [t for t in routine["triggers"] if t["kind"] == "schedule"]
        assert [(t["cronExpression"], t["timezone"]) for t in crons] == [
            (schedule["cronExpression"], schedule["timezone"])
        ]
        assert routine["taskId"] == schedule["workflowId"]
        assert routine["status"] == "active" and schedule["enabled"] is True
    made_natively = (await client.get(f"/api/routines/{made['id']}", headers=board)).json()
    assert (made_natively["title"], made_natively["projectId"]) == ("Made here", "schedules")
    assert made_natively["assigneeAgentId"] == "schedules"
    native_view = next(s for s in listed["data"] if s["id"] == native_schedule)
    assert (native_view["workflowName"], native_view["inputData"]) == ("Made natively", [])
    # A native pause is a disabled schedule; a native trigger disable too.
    await client.post(f"/api/routines/{native_schedule}/pause", headers=board)
    paused = (await client.get(f"/api/v1/schedules/{native_schedule}", headers=board)).json()
    assert (paused["enabled"], paused["nextRun"]) == (False, None)
    trigger_id = next(
        t["id"]
        for t in (await client.get(f"/api/routines/{made['id']}", headers=board)).json()["triggers"]
    )
    await client.patch(
        f"/api/routine-triggers/{trigger_id}", json={"enabled": False}, headers=board
    )
    off = (await client.get(f"/api/v1/schedules/{made['id']}", headers=board)).json()
    assert (off["enabled"], off["nextRun"]) == (False, None)
    enabled = await client.post(f"/api/v1/schedules/{made['id']}/enable", headers=board)
    assert enabled.json()["enabled"] is True and enabled.json()["nextRun"] is not None


ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    " ",
    "x" * 300,
    "0 9 * * *",
    "Europe/London",
    "../../etc/passwd",
    "\u00e9\u00e8",
    "\u0000",
    [],
    [None, {"a": [1, {"b": None}]}],
    {},
    {"json": {}},
]


async def test_every_field_with_odd_values_is_answered_without_5xx(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    workflow_id = await new_workflow(client, tenant)
    valid = {
        "workflowId": workflow_id,
        "cronExpression": "0 9 * * MON-FRI",
        "timezone": "America/New_York",
        "enabled": True,
        "inputData": [{"json": {"reportType": "daily"}}],
    }
    statuses: set[int] = set()
    for field in valid:
        for value in ODD_VALUES:
            body = valid | {field: value}
            created = await client.post("/api/v1/schedules", json=body, headers=board)
            statuses.add(created.status_code)
            assert created.status_code in (201, 400), (body, created.text)
            if created.status_code == 201:
                await client.delete(f"/api/v1/schedules/{created.json()['id']}", headers=board)
            else:
                assert set(created.json()) == {"error", "code", "details"}
    schedule = await new_schedule(client, tenant.board, workflow_id)
    for field in valid:
        for value in ODD_VALUES:
            updated = await client.put(
                f"/api/v1/schedules/{schedule['id']}", json={field: value}, headers=board
            )
            statuses.add(updated.status_code)
            assert updated.status_code in (200, 400), (field, value, updated.text)
    for query in ("enabled", "workflowId", "limit", "offset", "companyId"):
        for value in ("", "-1", "1e9", "true", "%00", "x" * 300):
            listed = await client.get(f"/api/v1/schedules?{query}={value}", headers=board)
            assert listed.status_code in (200, 400, 404), (query, value, listed.text)
    assert {200, 201, 400} <= statuses
