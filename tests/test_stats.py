"""Statistics, run counters, the calendar, the heatmap and quiet-time suggestions
(seeds 003 and 004), and the OpenAPI description of every endpoint of the routine model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FakeClock, Tenant, make_tenant, routine_body

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, before the US switches to DST


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> str:
    body.setdefault("concurrencyPolicy", "always_enqueue")
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def run_now(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/routines/{routine_id}/run", json=body, headers=board(tenant)
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def run_for(
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FakeClock,
    routine_id: str,
    outcome: str,
    seconds: float,
) -> str:
    """A run that starts now and ends `seconds` later with `outcome`."""
    run_id = str((await run_now(client, tenant, routine_id))["runId"])
    clock.advance(seconds)
    response = await client.post(
        f"/api/runs/{run_id}/complete", json={"status": outcome}, headers=board(tenant)
    )
    assert response.status_code == 200, response.text
    return run_id


async def add_trigger(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any
) -> str:
    response = await client.post(
        f"/api/routines/{routine_id}/triggers",
        json={"kind": "schedule"} | body,
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["trigger"]["id"])


async def test_scheduler_stats(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, admin_key: str
) -> None:
    clock.now = MONDAY + timedelta(hours=12) - timedelta(days=1)
    busy = await new_routine(client, tenant, condition={"expression": "payload.go == true"})
    paused = await new_routine(client, tenant)
    archived = await new_routine(client, tenant)
    await client.post(f"/api/routines/{paused}/pause", headers=board(tenant))
    await client.delete(f"/api/routines/{archived}", headers=board(tenant))
    # Yesterday: counted in the rates, not in today's runs.
    yesterday = str((await run_now(client, tenant, busy, payload={"go": True}))["runId"])
    clock.advance(20)
    await client.post(
        f"/api/runs/{yesterday}/complete", json={"status": "succeeded"}, headers=board(tenant)
    )
    clock.now = MONDAY + timedelta(hours=12)
    for go, outcome, seconds in [(True, "succeeded", 40), (True, "failed", 30)]:
        run_id = str((await run_now(client, tenant, busy, payload={"go": go}))["runId"])
        clock.advance(seconds)
        await client.post(
            f"/api/runs/{run_id}/complete", json={"status": outcome}, headers=board(tenant)
        )
    skipped = await run_now(client, tenant, busy, payload={"go": False})
    assert skipped["status"] == "skipped"
    await run_now(client, tenant, busy, payload={"go": True})  # still running
    response = await client.get("/api/scheduler/stats", headers=Tenant.auth(tenant.agent))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_jobs": 2,
        "active_jobs": 1,
        "total_runs_today": 3,
        "success_rate": round(2 / 3, 4),
        "avg_duration_seconds": 30.0,
        "jobs_by_status": {"active": 1, "paused": 1},
        "window_days": 30,
    }
    admin = Tenant.auth(admin_key)
    missing = await client.get("/api/scheduler/stats", headers=admin)
    assert missing.status_code == 400 and missing.json()["details"] == {"companyId": "required"}
    chosen = await client.get(
        "/api/scheduler/stats", params={"companyId": tenant.company_id}, headers=admin
    )
    assert chosen.json()["total_jobs"] == 2
    other = await make_tenant(client, admin_key, "Other")
    hidden = await client.get(
        "/api/scheduler/stats", params={"companyId": tenant.company_id}, headers=board(other)
    )
    assert hidden.status_code == 404
    empty = (await client.get("/api/scheduler/stats", headers=board(other))).json()
    assert empty["total_jobs"] == 0 and empty["success_rate"] is None
    assert empty["avg_duration_seconds"] is None


async def test_routine_counters_and_stats(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = MONDAY
    routine = await new_routine(client, tenant, condition={"expression": "!has(payload.skip)"})
    fresh = (await client.get(f"/api/routines/{routine}", headers=board(tenant))).json()
    assert (fresh["runCount"], fresh["successCount"], fresh["failureCount"]) == (0, 0, 0)
    assert fresh["lastRun"] is None and fresh["lastStatus"] is None
    for outcome, seconds in [("succeeded", 2), ("succeeded", 4), ("failed", 6)]:
        await run_for(client, tenant, clock, routine, outcome, seconds)
    clock.advance(60)
    last = await run_now(client, tenant, routine)
    await run_now(client, tenant, routine, payload={"skip": True})  # not a run that ran
    fetched = (await client.get(f"/api/routines/{routine}", headers=board(tenant))).json()
    expected = {
        "runCount": 4,
        "successCount": 2,
        "failureCount": 1,
        "lastRun": {
            "id": last["id"],
            "status": "dispatched",
            "triggeredAt": (MONDAY + timedelta(seconds=72)).isoformat().replace("+00:00", "Z"),
        },
        "lastStatus": "dispatched",
    }
    assert {key: fetched[key] for key in expected} == expected
    listed = (
        await client.get(f"/api/companies/{tenant.company_id}/routines", headers=board(tenant))
    ).json()[0]
    assert {key: listed[key] for key in expected} == expected
    stats = (await client.get(f"/api/routines/{routine}/stats", headers=board(tenant))).json()
    assert stats["routineId"] == routine
    assert stats["runCount"] == 4 and stats["successRate"] == round(2 / 3, 4)
    assert stats["avgDurationSeconds"] == 4.0
    assert stats["runsByStatus"] == {"succeeded": 2, "failed": 1, "dispatched": 1, "skipped": 1}
    assert stats["lastRun"] == fetched["lastRun"]["triggeredAt"]
    assert stats["lastStatus"] == "dispatched"
    assert last["status"] == "dispatched"
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        await client.get(f"/api/routines/{missing}/stats", headers=board(tenant))
    ).status_code == 404


async def test_calendar_lists_every_scheduled_fire_per_routine(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = MONDAY - timedelta(days=1)
    daily = await new_routine(client, tenant, title="daily")
    daily_trigger = await add_trigger(client, tenant, daily, cronExpression="0 9 * * *")
    often = await new_routine(client, tenant, title="often")
    often_trigger = await add_trigger(client, tenant, often, every=6 * 3600)
    await add_trigger(client, tenant, often, kind="api")
    paused = await new_routine(client, tenant, title="paused")
    await add_trigger(client, tenant, paused, cronExpression="* * * * *")
    await client.post(f"/api/routines/{paused}/pause", headers=board(tenant))
    disabled = await new_routine(client, tenant, title="disabled")
    await add_trigger(client, tenant, disabled, cronExpression="* * * * *", enabled=False)
    window = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-04T00:00:00Z"}
    url = f"/api/companies/{tenant.company_id}/calendar"
    response = await client.get(url, params=window, headers=Tenant.auth(tenant.agent))
    assert response.status_code == 200, response.text
    calendar = response.json()
    assert calendar["from"] == window["from"] and calendar["to"] == window["to"]
    by_title = {r["title"]: r for r in calendar["routines"]}
    assert set(by_title) == {"daily", "often"}
    assert [f["at"] for f in by_title["daily"]["fires"]] == [
        "2026-03-02T09:00:00Z",
        "2026-03-03T09:00:00Z",
    ]
    assert {f["triggerId"] for f in by_title["daily"]["fires"]} == {daily_trigger}
    often_fires = [f["at"] for f in by_title["often"]["fires"]]
    assert often_fires[0] == "2026-03-02T00:00:00Z" and len(often_fires) == 8
    assert {f["triggerId"] for f in by_title["often"]["fires"]} == {often_trigger}
    assert calendar["totalFires"] == 10
    one = await client.get(url, params=window | {"routineId": daily}, headers=board(tenant))
    assert [r["routineId"] for r in one.json()["routines"]] == [daily]
    default = (await client.get(url, headers=board(tenant))).json()
    start = datetime.fromisoformat(default["from"])
    assert datetime.fromisoformat(default["to"]) - start == timedelta(days=7)


async def test_calendar_window_rules(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    clock.now = MONDAY
    routine = await new_routine(client, tenant)
    await add_trigger(client, tenant, routine, every=1)
    url = f"/api/companies/{tenant.company_id}/calendar"
    busy = (
        await client.get(
            url,
            params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00"},
            headers=board(tenant),
        )
    ).json()
    assert busy["routines"][0]["truncated"] is True
    assert len(busy["routines"][0]["fires"]) == 1000
    for params in [
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
        {"from": "yesterday"},
        {"colour": "red"},
    ]:
        response = await client.get(url, params=params, headers=board(tenant))
        assert response.status_code == 400, (params, response.text)


async def _activity(client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock) -> None:
    """Three runs on Monday at 09:10 UTC, one on Tuesday at 14:30, one skipped fire."""
    routine = await new_routine(client, tenant, condition={"expression": "!has(payload.skip)"})
    clock.now = MONDAY + timedelta(hours=9, minutes=10)
    for _ in range(3):
        await run_now(client, tenant, routine)
    await run_now(client, tenant, routine, payload={"skip": True})
    clock.now = MONDAY + timedelta(days=1, hours=14, minutes=30)
    await run_now(client, tenant, routine)
    clock.now = MONDAY + timedelta(days=3)


async def test_heatmap_grid(client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock) -> None:
    await _activity(client, tenant, clock)
    url = f"/api/companies/{tenant.company_id}/heatmap"
    response = await client.get(url, params={"weeks": 1}, headers=board(tenant))
    assert response.status_code == 200, response.text
    grid = response.json()
    assert grid["days"] == ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert len(grid["counts"]) == 7 and all(len(row) == 24 for row in grid["counts"])
    assert grid["counts"][1][9] == 3 and grid["counts"][2][14] == 1
    assert grid["total"] == 4 and grid["max"] == 3
    assert grid["levels"][1][9] == 4 and grid["levels"][2][14] == 2
    assert grid["levels"][0][0] == 0
    local = await client.get(
        url, params={"weeks": 1, "timezone": "America/New_York"}, headers=board(tenant)
    )
    assert local.json()["counts"][1][4] == 3 and local.json()["counts"][2][9] == 1
    invalid: list[dict[str, Any]] = [{"weeks": 0}, {"weeks": 53}, {"timezone": "Mars/Olympus"}]
    for params in invalid:
        assert (await client.get(url, params=params, headers=board(tenant))).status_code == 400


async def test_suggestions_pick_quiet_hours_near_the_requested_time(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    await _activity(client, tenant, clock)
    url = f"/api/companies/{tenant.company_id}/suggestions"
    params: dict[str, Any] = {"time": "09:00", "days": "weekdays", "withinHours": 2, "weeks": 1}
    response = await client.get(url, params=params, headers=Tenant.auth(tenant.agent))
    assert response.status_code == 200, response.text
    suggestions = response.json()["suggestions"]
    assert [s["time"] for s in suggestions] == ["08:00", "10:00", "07:00"]
    first = suggestions[0]
    assert first["days"] == "Mon-Fri" and first["cronExpression"] == "0 8 * * 1-5"
    assert first["runsPerWeek"] == 0 and first["timezone"] == "UTC"
    assert "no runs in this hour" in first["reason"] and "1 h earlier" in first["reason"]
    assert "against 3.0 at 09:00" in first["reason"]
    tuesday = await client.get(
        url,
        params={"time": "14:30", "days": "tue", "withinHours": 1, "count": 1},
        headers=board(tenant),
    )
    assert tuesday.json()["suggestions"][0]["time"] in ("13:30", "15:30")
    bad_queries: list[dict[str, Any]] = [{"time": "25:00"}, {"days": "someday"}, {"count": 0}]
    for bad in bad_queries:
        assert (await client.get(url, params=bad, headers=board(tenant))).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/companies/{companyId}/tasks"),
        ("get", "/api/companies/{companyId}/tasks"),
        ("get", "/api/tasks/{taskId}"),
        ("patch", "/api/tasks/{taskId}"),
        ("delete", "/api/tasks/{taskId}"),
        ("get", "/api/tasks/{taskId}/init-params-schema"),
        ("get", "/api/companies/{companyId}/chains"),
        ("post", "/api/companies/{companyId}/chains"),
        ("get", "/api/chains/{chainId}"),
        ("delete", "/api/chains/{chainId}"),
        ("get", "/api/scheduler/stats"),
        ("get", "/api/routines/{routineId}/stats"),
        ("get", "/api/companies/{companyId}/calendar"),
        ("get", "/api/companies/{companyId}/heatmap"),
        ("get", "/api/companies/{companyId}/suggestions"),
    ],
)
async def test_openapi_describes_the_endpoint(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][path][method]
    assert operation["summary"] and operation["security"] == [{"bearerAuth": []}]
    assert any(status.startswith("2") for status in operation["responses"])


async def test_openapi_describes_the_new_fields(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    create = schemas["RoutineCreate"]["properties"]
    assert {"taskId", "initParamsOverrides", "secretParams", "condition", "delivery"} <= set(create)
    shown = schemas["Routine"]["properties"]
    assert {"secretParamKeys", "runCount", "lastStatus", "warnings"} <= set(shown)
    assert "secretParams" not in shown
    assert set(schemas["InitParam"]["properties"]) == {"name", "default", "type_hint"}
    assert set(schemas["ChainEdgeCreate"]["properties"]) == {"from", "to", "type"}
