"""Schedule tooling: validate, parse-nl, scheduler status."""

from __future__ import annotations

import httpx

from firehook.context import Context
from scheduler import Ticker
from tests.conftest import FakeClock, Tenant


async def test_validate_cron_lists_next_runs_in_its_zone(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get(
        "/api/scheduler/validate",
        params={
            "type": "cron",
            "value": "0 9 * * 1-5",
            "timezone": "America/New_York",
            "from": "2026-03-02T15:00:00Z",
            "count": 3,
        },
        headers=Tenant.auth(tenant.agent),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["next_runs"] == [
        "2026-03-03T09:00:00-05:00",
        "2026-03-04T09:00:00-05:00",
        "2026-03-05T09:00:00-05:00",
    ]
    assert "09:00" in body["human_readable"] and "Monday" in body["human_readable"]


async def test_validate_every_at_and_cadence(client: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = Tenant.auth(tenant.board)
    every = (
        await client.get(
            "/api/scheduler/validate",
            params={"type": "every", "value": "900", "from": "2026-03-02T15:07:00Z", "count": 2},
            headers=auth,
        )
    ).json()
    assert every["next_runs"] == ["2026-03-02T15:15:00Z", "2026-03-02T15:30:00Z"]
    at = (
        await client.get(
            "/api/scheduler/validate",
            params={"type": "at", "value": "2026-04-01T09:00:00Z", "from": "2026-03-02T00:00:00Z"},
            headers=auth,
        )
    ).json()
    assert at["next_runs"] == ["2026-04-01T09:00:00Z"]
    cadence = (
        await client.get(
            "/api/scheduler/validate",
            params={
                "type": "cadence",
                "value": "daily:13:30",
                "from": "2026-03-02T00:00:00Z",
                "count": 1,
            },
            headers=auth,
        )
    ).json()
    assert cadence["valid"] is True and cadence["next_runs"] == ["2026-03-02T13:30:00Z"]


async def test_validate_invalid_expression_is_valid_false_with_reason(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    auth = Tenant.auth(tenant.board)
    for params in (
        {"type": "cron", "value": "61 * * * *"},
        {"type": "cron", "value": "0 9 * * *", "timezone": "Mars/Olympus"},
        {"type": "every", "value": "often"},
        {"type": "cadence", "value": "daily"},
    ):
        response = await client.get("/api/scheduler/validate", params=params, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["valid"] is False and body["error"] and body["next_runs"] == [], params


async def test_validate_bad_query_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = Tenant.auth(tenant.board)
    for params in (
        {"type": "cron"},
        {"type": "sometimes", "value": "x"},
        {"type": "cron", "value": "* * * * *", "count": 101},
    ):
        response = await client.get("/api/scheduler/validate", params=params, headers=auth)
        assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR", params
    assert (
        await client.get("/api/scheduler/validate", params={"type": "cron", "value": "* * * * *"})
    ).status_code == 401


async def test_parse_nl(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/scheduler/parse-nl",
        json={"text": "every weekday at 9am Pacific"},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schedule"] == {
        "type": "cron",
        "expression": "0 9 * * 1-5",
        "timezone": "America/Los_Angeles",
    }
    assert body["parse_method"] == "regex" and 0 < body["confidence"] <= 1
    assert body["human_readable"] == "At 09:00 AM, Monday through Friday, Pacific Time"
    assert len(body["next_runs"]) == 3


async def test_parse_nl_unparseable_is_422_with_examples(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/api/scheduler/parse-nl",
        json={"text": "whenever the moon is full"},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and "no LLM fallback" in body["error"]
    assert "every weekday at 9am Pacific" in body["details"]["examples"]


async def test_scheduler_status(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    board = Tenant.auth(tenant.board)
    routine = (
        await client.post(
            f"/api/companies/{tenant.company_id}/routines",
            json={"title": "t", "assigneeAgentId": "agent-1", "projectId": "p"},
            headers=board,
        )
    ).json()
    await client.post(
        f"/api/routines/{routine['id']}/triggers",
        json={"kind": "schedule", "every": 60},
        headers=board,
    )
    before = (await client.get("/api/scheduler/status", headers=board)).json()
    assert before["running"] is None and before["triggers_loaded"] == 1 and before["due_count"] == 0
    ticker = Ticker(ctx)
    ctx.services["ticker"] = ticker
    await ticker.load()
    clock.advance(120)
    status = (await client.get("/api/scheduler/status", headers=board)).json()
    assert status["running"] is False and status["triggers_loaded"] == 1
    assert status["tick_interval_seconds"] == ctx.settings.scheduler_resync_sec
    assert status["due_count"] == 1 and status["ticker_lag_seconds"] > 0
    await ticker.fire_due()
    after = (await client.get("/api/scheduler/status", headers=board)).json()
    assert after["due_count"] == 0 and after["jobs_checked_last_tick"] == 1
