"""Seed 003's scheduler API, driven with the seed's examples as its client sends them
(only the URL, the token and ids substituted), and read back through the native API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from firehook.context import Context
from scheduler import Ticker
from tests.conftest import FakeClock, Tenant, make_tenant

# The seed's own dates: its examples are of Monday 2 March 2026.
T0 = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)

PRICE_ALERT = {
    "name": "Price alert",
    "goal": "Check BTC price and alert if >5% change",
    "agent_id": "agent_123",
    "schedule": {"type": "every", "interval": 3600, "timezone": "UTC"},
    "delivery": {"channel": "slack:#alerts", "format": "markdown"},
    "condition": {"type": "expression", "expression": "price_change_pct > 0.05"},
    "retry": {"max_attempts": 3, "strategy": "exponential", "base_delay": 60},
}
DAILY_DIGEST = {
    "name": "Daily digest",
    "goal": "Summarize today's activity",
    "agent_id": "agent_123",
    "schedule": {"type": "cron", "expression": "0 8 * * 1-5", "timezone": "America/New_York"},
}
JOB_KEYS = {
    "id",
    "name",
    "goal",
    "schedule",
    "status",
    "agent_id",
    "next_run_at",
    "last_run_at",
    "run_count",
    "created_at",
}


@pytest.fixture
def seed_clock(clock: FakeClock) -> FakeClock:
    clock.now = T0
    return clock


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def create(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/api/scheduler/jobs", json=body, headers=Tenant.auth(key or tenant.board)
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def native_routine(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str
) -> dict[str, Any]:
    response = await client.get(f"/api/routines/{routine_id}", headers=board(tenant))
    assert response.status_code == 200, response.text
    routine: dict[str, Any] = response.json()
    return routine


async def run_to_the_end(client: httpx.AsyncClient, tenant: Tenant, job_id: str) -> str:
    """Trigger the job and report its run succeeded (a job's runs do not overlap)."""
    response = await client.post(f"/api/scheduler/jobs/{job_id}/trigger", headers=board(tenant))
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    done = await client.post(
        f"/api/runs/{run_id}/complete", json={"status": "succeeded"}, headers=board(tenant)
    )
    assert done.status_code == 200, done.text
    return run_id


# -- jobs ------------------------------------------------------------------------------------


async def test_create_every_job_with_delivery_condition_and_retry(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, PRICE_ALERT)
    assert JOB_KEYS <= set(job)
    assert job["name"] == "Price alert" and job["goal"] == PRICE_ALERT["goal"]
    assert job["agent_id"] == "agent_123" and job["status"] == "active"
    assert job["schedule"] == {"type": "every", "interval": 3600, "timezone": "UTC"}
    assert job["delivery"] == PRICE_ALERT["delivery"]
    assert job["condition"] == PRICE_ALERT["condition"]
    assert job["retry"] == PRICE_ALERT["retry"]
    assert job["next_run_at"] == "2026-03-02T14:00:00Z"
    assert job["last_run_at"] is None and job["run_count"] == 0
    assert job["created_at"] == "2026-03-02T13:00:00Z"
    routine = await native_routine(client, tenant, job["id"])
    assert routine["title"] == "Price alert" and routine["description"] == PRICE_ALERT["goal"]
    assert routine["assigneeAgentId"] == "agent_123" and routine["projectId"] == "scheduler"
    assert routine["defaultPayload"] == {"goal": PRICE_ALERT["goal"]}
    assert routine["retry"]["maxAttempts"] == 3 and routine["retry"]["baseDelaySec"] == 60
    assert routine["delivery"] == {"channel": "slack:#alerts", "format": "markdown"}
    (trigger,) = routine["triggers"]
    assert trigger["kind"] == "schedule" and trigger["every"] == 3600


async def test_create_cron_and_at_jobs(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    cron = await create(
        client,
        tenant,
        {"name": "Standup", "schedule": {"type": "cron", "expression": "0 9 * * 1-5"}},
    )
    assert cron["schedule"] == {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "UTC"}
    assert cron["agent_id"] == "scheduler" and cron["goal"] is None
    assert cron["next_run_at"] == "2026-03-03T09:00:00Z"
    digest = await create(client, tenant, DAILY_DIGEST)
    assert digest["schedule"] == DAILY_DIGEST["schedule"]
    assert digest["next_run_at"] == "2026-03-03T08:00:00-05:00"
    once = await create(
        client,
        tenant,
        {"name": "Launch", "schedule": {"type": "at", "datetime": "2026-04-01T09:00:00Z"}},
    )
    assert once["schedule"] == {"type": "at", "datetime": "2026-04-01T09:00:00Z", "timezone": "UTC"}
    assert once["next_run_at"] == "2026-04-01T09:00:00Z" and once["status"] == "active"
    (trigger,) = (await native_routine(client, tenant, once["id"]))["triggers"]
    assert trigger["at"] == "2026-04-01T09:00:00Z"


async def test_create_refuses_what_it_cannot_honour(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"name": "x", "schedule": {"type": "cron"}}, 400),
        ({"name": "x", "schedule": {"type": "every", "interval": 0}}, 400),
        ({"name": "x", "schedule": {"type": "every", "interval": 60, "expression": "* * * * *"}}, 400),
        ({"name": "x", "schedule": {"type": "at", "datetime": "2026-04-01T09:00:00"}}, 400),
        ({"name": "x", "schedule": {"type": "cron", "expression": "61 * * * *"}}, 422),
        ({"name": "x", "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Base"}}, 422),
        ({"name": "x", "schedule": {"type": "every", "interval": 60, "timezone": "Europe/Paris"}}, 422),
        ({"name": "x", "schedule": {"type": "at", "datetime": "2026-01-01T09:00:00Z"}}, 400),
        ({"name": "x", "schedule": {"type": "every", "interval": 60}, "retry": {"max_attempts": 0}}, 400),
        ({"name": "x", "schedule": {"type": "every", "interval": 60}, "owner": "me"}, 400),
    ]  # fmt: skip
    for body, status in cases:
        response = await client.post("/api/scheduler/jobs", json=body, headers=board(tenant))
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"error", "code", "details"}
    listed = await client.get("/api/scheduler/jobs", headers=board(tenant))
    assert listed.json()["count"] == 0


async def test_list_jobs_with_status_limit_and_offset(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    digest = await create(client, tenant, DAILY_DIGEST)
    seed_clock.advance(1)
    alert = await create(client, tenant, PRICE_ALERT)
    await client.post(f"/api/scheduler/jobs/{alert['id']}/pause", headers=board(tenant))
    # A routine with two schedule triggers is not a job; one made natively with one is.
    native = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json={"title": "Native", "assigneeAgentId": "agent-1", "projectId": "p"},
        headers=board(tenant),
    )
    routine_id = native.json()["id"]
    for schedule in ({"every": 600}, {"cronExpression": "0 1 * * *"}):
        await client.post(
            f"/api/routines/{routine_id}/triggers",
            json={"kind": "schedule"} | schedule,
            headers=board(tenant),
        )
    response = await client.get("/api/scheduler/jobs", headers=Tenant.auth(tenant.agent))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"jobs", "count"} and body["count"] == 2
    assert [job["id"] for job in body["jobs"]] == [alert["id"], digest["id"]]
    assert all(JOB_KEYS <= set(job) for job in body["jobs"])
    active = (await client.get("/api/scheduler/jobs?status=active", headers=board(tenant))).json()
    assert [job["name"] for job in active["jobs"]] == ["Daily digest"] and active["count"] == 1
    page = (await client.get("/api/scheduler/jobs?limit=1&offset=1", headers=board(tenant))).json()
    assert [job["id"] for job in page["jobs"]] == [digest["id"]] and page["count"] == 2
    for query in ("status=archived", "limit=201", "limit=0", "offset=-1", "colour=red"):
        bad = await client.get(f"/api/scheduler/jobs?{query}", headers=board(tenant))
        assert bad.status_code == 400, query


async def test_get_put_and_delete_a_job(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    digest = await create(client, tenant, DAILY_DIGEST)
    url = f"/api/scheduler/jobs/{digest['id']}"
    got = (await client.get(url, headers=board(tenant))).json()
    assert got == digest
    trigger_id = (await native_routine(client, tenant, digest["id"]))["triggers"][0]["id"]
    response = await client.put(
        url,
        json={"name": "Updated name", "schedule": {"type": "cron", "expression": "0 10 * * *"}},
        headers=board(tenant),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Updated name" and updated["goal"] == DAILY_DIGEST["goal"]
    # A schedule without a timezone keeps the job's zone.
    assert updated["schedule"] == {
        "type": "cron",
        "expression": "0 10 * * *",
        "timezone": "America/New_York",
    }
    assert updated["next_run_at"] == "2026-03-02T10:00:00-05:00"
    (trigger,) = (await native_routine(client, tenant, digest["id"]))["triggers"]
    assert trigger["id"] == trigger_id and trigger["cronExpression"] == "0 10 * * *"
    # A schedule of another type replaces the trigger's schedule.
    every = await client.put(
        url, json={"schedule": {"type": "every", "interval": 900}}, headers=board(tenant)
    )
    assert every.json()["schedule"] == {"type": "every", "interval": 900, "timezone": "UTC"}
    assert every.json()["name"] == "Updated name"
    goal = await client.put(url, json={"goal": "Weekly instead"}, headers=board(tenant))
    routine = await native_routine(client, tenant, digest["id"])
    assert goal.json()["goal"] == "Weekly instead"
    assert routine["defaultPayload"] == {"goal": "Weekly instead"}
    assert (await client.put(url, json={"name": None}, headers=board(tenant))).status_code == 400
    deleted = await client.delete(url, headers=board(tenant))
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(url, headers=board(tenant))).status_code == 404
    assert (await native_routine(client, tenant, digest["id"]))["status"] == "archived"


async def test_pause_and_resume(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, PRICE_ALERT)
    paused = await client.post(f"/api/scheduler/jobs/{job['id']}/pause", headers=board(tenant))
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused" and paused.json()["next_run_at"] is None
    assert (await native_routine(client, tenant, job["id"]))["status"] == "paused"
    seed_clock.advance(7200)
    resumed = await client.post(f"/api/scheduler/jobs/{job['id']}/resume", headers=board(tenant))
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "active"
    assert resumed.json()["next_run_at"] == "2026-03-02T16:00:00Z"


async def test_trigger_runs_and_one_run(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    response = await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    runs = await client.get(f"/api/scheduler/jobs/{job['id']}/runs", headers=board(tenant))
    assert runs.status_code == 200, runs.text
    body = runs.json()
    assert body["count"] == 1 and [run["id"] for run in body["runs"]] == [run_id]
    run = body["runs"][0]
    assert {"id", "status", "started_at", "completed_at", "output", "error"} <= set(run)
    assert run["status"] == "running" and run["completed_at"] is None
    one = await client.get(f"/api/scheduler/jobs/{job['id']}/runs/{run_id}", headers=board(tenant))
    assert one.status_code == 200 and one.json() == run
    native = (await client.get(f"/api/runs/{run_id}", headers=board(tenant))).json()
    assert native["payload"] == {"goal": DAILY_DIGEST["goal"]}
    await client.post(
        f"/api/runs/{run_id}/complete",
        json={"status": "succeeded", "output": {"summary": "quiet day"}},
        headers=board(tenant),
    )
    done = (
        await client.get(f"/api/scheduler/jobs/{job['id']}/runs/{run_id}", headers=board(tenant))
    ).json()
    assert done["status"] == "completed" and done["output"] == {"summary": "quiet day"}
    assert done["completed_at"] is not None and done["error"] is None
    filtered = await client.get(
        f"/api/scheduler/jobs/{job['id']}/runs?status=failed", headers=board(tenant)
    )
    assert filtered.json() == {"runs": [], "count": 0}
    listed = (await client.get(f"/api/scheduler/jobs/{job['id']}", headers=board(tenant))).json()
    assert listed["run_count"] == 1 and listed["last_run_at"] == "2026-03-02T08:00:00-05:00"
    other = await client.get(
        f"/api/scheduler/jobs/{job['id']}/runs/00000000-0000-4000-8000-000000000000",
        headers=board(tenant),
    )
    assert other.status_code == 404


async def test_cancel_a_run(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    run_id = (
        await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
    ).json()["run_id"]
    url = f"/api/scheduler/jobs/{job['id']}/runs/{run_id}/cancel"
    response = await client.post(url, headers=board(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled" and response.json()["completed_at"]
    assert (await client.get(f"/api/runs/{run_id}", headers=board(tenant))).json()[
        "status"
    ] == "cancelled"
    assert (await client.post(url, headers=board(tenant))).status_code == 409


async def test_per_job_stats(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    for outcome in ("succeeded", "failed", "succeeded"):
        run_id = (
            await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
        ).json()["run_id"]
        seed_clock.advance(30)
        await client.post(
            f"/api/runs/{run_id}/complete", json={"status": outcome}, headers=board(tenant)
        )
    response = await client.get(f"/api/scheduler/jobs/{job['id']}/stats", headers=board(tenant))
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["job_id"] == job["id"] and stats["run_count"] == 3
    assert stats["success_count"] == 2 and stats["failure_count"] == 1
    assert stats["runs_by_status"] == {"completed": 2, "failed": 1}
    assert stats["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert stats["avg_duration_seconds"] == pytest.approx(30, abs=1)
    assert stats["last_run_at"] == "2026-03-02T08:01:00-05:00"
    assert stats["next_run_at"] == "2026-03-03T08:00:00-05:00"


async def test_calendar_data(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    digest = await create(client, tenant, DAILY_DIGEST)
    paused = await create(client, tenant, PRICE_ALERT)
    await client.post(f"/api/scheduler/jobs/{paused['id']}/pause", headers=board(tenant))
    response = await client.get(
        "/api/scheduler/calendar-data",
        params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-09T00:00:00Z"},
        headers=board(tenant),
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["from"] == "2026-03-02T00:00:00Z" and data["to"] == "2026-03-09T00:00:00Z"
    (entry,) = data["jobs"]
    assert entry["job_id"] == digest["id"] and entry["name"] == "Daily digest"
    assert entry["fires"] == [f"2026-03-0{day}T08:00:00-05:00" for day in (2, 3, 4, 5, 6)]
    assert data["total_fires"] == 5
    backwards = await client.get(
        "/api/scheduler/calendar-data",
        params={"from": "2026-03-09T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        headers=board(tenant),
    )
    assert backwards.status_code == 400
    far = await client.get(
        "/api/scheduler/calendar-data",
        params={"from": "9999-12-31T00:00:00Z"},
        headers=board(tenant),
    )
    assert far.status_code == 400


async def test_a_native_routine_with_one_schedule_is_a_job(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    native = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json={
            "title": "Nightly",
            "description": "Back up",
            "assigneeAgentId": "agent-1",
            "projectId": "ops",
        },
        headers=board(tenant),
    )
    routine_id = native.json()["id"]
    await client.post(
        f"/api/routines/{routine_id}/triggers",
        json={"kind": "schedule", "cadence": {"type": "daily", "hour_utc": 2, "minute_utc": 30}},
        headers=board(tenant),
    )
    await client.post(
        f"/api/routines/{routine_id}/triggers", json={"kind": "webhook"}, headers=board(tenant)
    )
    (job,) = (await client.get("/api/scheduler/jobs", headers=board(tenant))).json()["jobs"]
    assert job["id"] == routine_id and job["name"] == "Nightly" and job["goal"] == "Back up"
    assert job["schedule"] == {"type": "cron", "expression": "30 2 * * *", "timezone": "UTC"}
    assert job["agent_id"] == "agent-1" and job["next_run_at"] == "2026-03-03T02:30:00Z"


# -- chains ----------------------------------------------------------------------------------


async def test_chains_create_get_list_delete_and_a_cycle_refused(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    ids = [
        (await create(client, tenant, DAILY_DIGEST | {"name": name}))["id"]
        for name in ("fetch", "transform", "store")
    ]
    job_fetch, job_transform, job_store = ids
    body = {
        "name": "Data pipeline",
        "jobs": [job_fetch, job_transform, job_store],
        "edges": [
            {"from": job_fetch, "to": job_transform, "type": "on_success"},
            {"from": job_transform, "to": job_store, "type": "on_success"},
            {"from": job_fetch, "to": job_store, "type": "on_failure"},
        ],
    }
    response = await client.post("/api/scheduler/chains", json=body, headers=board(tenant))
    assert response.status_code == 201, response.text
    chain = response.json()
    assert chain["name"] == "Data pipeline" and chain["jobs"] == body["jobs"]
    assert chain["edges"] == body["edges"]
    got = await client.get(f"/api/scheduler/chains/{chain['id']}", headers=board(tenant))
    assert got.status_code == 200 and got.json() == chain
    listed = (await client.get("/api/scheduler/chains", headers=board(tenant))).json()
    assert listed == {"chains": [chain], "count": 1}
    native = (await client.get(f"/api/chains/{chain['id']}", headers=board(tenant))).json()
    assert native["routines"] == body["jobs"]
    cycle = await client.post(
        "/api/scheduler/chains",
        json={
            "name": "Loop",
            "edges": [{"from": job_store, "to": job_fetch, "type": "on_complete"}],
        },
        headers=board(tenant),
    )
    assert cycle.status_code == 400 and "cycle" in cycle.json()["error"]
    agent = await client.post("/api/scheduler/chains", json=body, headers=Tenant.auth(tenant.agent))
    assert agent.status_code == 403
    deleted = await client.delete(f"/api/scheduler/chains/{chain['id']}", headers=board(tenant))
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/scheduler/chains/{chain['id']}", headers=board(tenant))
    ).status_code == 404


async def test_a_chain_fires_the_next_job(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    first = await create(client, tenant, DAILY_DIGEST | {"name": "fetch"})
    second = await create(client, tenant, DAILY_DIGEST | {"name": "transform"})
    await client.post(
        "/api/scheduler/chains",
        json={
            "name": "p",
            "edges": [{"from": first["id"], "to": second["id"], "type": "on_success"}],
        },
        headers=board(tenant),
    )
    run_id = (
        await client.post(f"/api/scheduler/jobs/{first['id']}/trigger", headers=board(tenant))
    ).json()["run_id"]
    await client.post(
        f"/api/runs/{run_id}/complete", json={"status": "succeeded"}, headers=board(tenant)
    )
    url = f"/api/scheduler/jobs/{second['id']}/runs"
    # The successor's fire travels through the bus: wait for it a little.
    for _ in range(500):
        runs = (await client.get(url, headers=board(tenant))).json()
        if runs["count"]:
            break
        await asyncio.sleep(0.01)
    assert runs["count"] == 1 and runs["runs"][0]["trigger"] == "chain"


# -- smart -----------------------------------------------------------------------------------


async def test_smart_suggestions(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    for _ in range(3):
        await run_to_the_end(client, tenant, job["id"])
    seed_clock.advance(60)
    response = await client.get(
        "/api/scheduler/smart/suggestions", params={"time": "13:00"}, headers=board(tenant)
    )
    assert response.status_code == 200, response.text
    suggestions = response.json()["suggestions"]
    assert len(suggestions) == 3
    for suggestion in suggestions:
        assert {"time", "days", "reason"} <= set(suggestion)
        assert suggestion["days"] == "Mon-Fri" and suggestion["time"].endswith(":00")
    # The busy hour (13:00 UTC on Monday, where the runs are) is not the first suggestion.
    assert suggestions[0]["time"] != "13:00"
    plain = await client.get("/api/scheduler/smart/suggestions", headers=board(tenant))
    assert plain.status_code == 200 and plain.json()["suggestions"]
    bad = await client.get(
        "/api/scheduler/smart/suggestions", params={"time": "25:00"}, headers=board(tenant)
    )
    assert bad.status_code == 400


async def test_smart_heatmap_is_24_by_7(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    for _ in range(2):
        await run_to_the_end(client, tenant, job["id"])
    seed_clock.advance(60)
    response = await client.get("/api/scheduler/smart/heatmap", headers=board(tenant))
    assert response.status_code == 200, response.text
    heatmap = response.json()
    grid = heatmap["grid"]
    assert len(grid) == 24 and all(len(row) == 7 for row in grid)
    assert heatmap["days"] == ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert heatmap["hours"] == list(range(24))
    assert grid[13][1] == 2 and heatmap["total"] == 2 and heatmap["levels"][13][1] == 4
    zoned = (
        await client.get(
            "/api/scheduler/smart/heatmap",
            params={"timezone": "America/New_York"},
            headers=board(tenant),
        )
    ).json()
    assert zoned["grid"][8][1] == 2
    bad = await client.get(
        "/api/scheduler/smart/heatmap", params={"timezone": "Mars/Base"}, headers=board(tenant)
    )
    assert bad.status_code == 422


# -- the tooling that was there before the jobs ----------------------------------------------


async def test_parse_nl(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/scheduler/parse-nl",
        json={"text": "every weekday at 9am Pacific"},
        headers=board(tenant),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schedule"] == {
        "type": "cron",
        "expression": "0 9 * * 1-5",
        "timezone": "America/Los_Angeles",
    }
    assert body["human_readable"] == "At 09:00 AM, Monday through Friday, Pacific Time"
    assert 0 < body["confidence"] <= 1 and body["parse_method"] == "regex"
    unreadable = await client.post(
        "/api/scheduler/parse-nl", json={"text": "when the moon is full"}, headers=board(tenant)
    )
    assert unreadable.status_code == 422
    assert "every weekday at 9am Pacific" in unreadable.json()["error"]


async def test_validate(client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock) -> None:
    seed_clock.now = T0 + timedelta(hours=1)  # the time of the seed's status example
    response = await client.get(
        "/api/scheduler/validate?type=cron&value=0+9+*+*+1-5&timezone=America%2FNew_York",
        headers=board(tenant),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["next_runs"] == [
        "2026-03-03T09:00:00-05:00",
        "2026-03-04T09:00:00-05:00",
        "2026-03-05T09:00:00-05:00",
    ]


async def test_stats(client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    await create(client, tenant, PRICE_ALERT)
    run_id = (
        await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
    ).json()["run_id"]
    seed_clock.advance(38)
    await client.post(
        f"/api/runs/{run_id}/complete", json={"status": "succeeded"}, headers=board(tenant)
    )
    response = await client.get("/api/scheduler/stats", headers=board(tenant))
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total_jobs"] == 2 and stats["active_jobs"] == 2
    assert stats["total_runs_today"] == 1 and stats["success_rate"] == 1.0
    assert stats["avg_duration_seconds"] == pytest.approx(38, abs=1)
    assert stats["jobs_by_status"] == {"active": 2, "paused": 0}


async def test_status(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, seed_clock: FakeClock
) -> None:
    await create(client, tenant, PRICE_ALERT)
    ticker = Ticker(ctx)
    ctx.services["ticker"] = ticker
    await ticker.load()
    response = await client.get("/api/scheduler/status", headers=board(tenant))
    assert response.status_code == 200, response.text
    status = response.json()
    assert {"running", "tick_interval_seconds", "next_tick_at", "jobs_checked_last_tick"} <= set(
        status
    )
    assert status["running"] is False and status["tick_interval_seconds"] > 0
    assert status["next_tick_at"] == "2026-03-02T14:00:00Z"
    seed_clock.now = T0 + timedelta(hours=1, seconds=1)
    await ticker.fire_due()
    after = (await client.get("/api/scheduler/status", headers=board(tenant))).json()
    assert after["jobs_checked_last_tick"] == 1


# -- across surfaces -------------------------------------------------------------------------


async def test_runs_show_on_both_surfaces(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, DAILY_DIGEST)
    from_job = (
        await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
    ).json()["run_id"]
    from_native = await client.post(
        f"/api/routines/{job['id']}/run", json={"payload": {"n": 1}}, headers=board(tenant)
    )
    assert from_native.status_code == 202, from_native.text
    native_run = from_native.json()["runId"]
    native_list = (
        await client.get(f"/api/routines/{job['id']}/runs", headers=board(tenant))
    ).json()
    assert {run["id"] for run in native_list["data"]} == {from_job, native_run}
    job_list = (
        await client.get(f"/api/scheduler/jobs/{job['id']}/runs", headers=board(tenant))
    ).json()
    assert {run["id"] for run in job_list["runs"]} == {from_job, native_run}
    assert job_list["count"] == 2


async def test_a_false_condition_records_the_run_skipped(
    client: httpx.AsyncClient, tenant: Tenant, seed_clock: FakeClock
) -> None:
    job = await create(client, tenant, PRICE_ALERT)
    run_id = (
        await client.post(f"/api/scheduler/jobs/{job['id']}/trigger", headers=board(tenant))
    ).json()["run_id"]
    run = (
        await client.get(f"/api/scheduler/jobs/{job['id']}/runs/{run_id}", headers=board(tenant))
    ).json()
    assert run["status"] == "skipped" and "price_change_pct" in run["reason"]
    # The condition is the routine's: a fire whose payload satisfies it runs.
    moved = await client.post(
        f"/api/routines/{job['id']}/run",
        json={"payload": {"price_change_pct": 0.07}},
        headers=board(tenant),
    )
    ran = (
        await client.get(
            f"/api/scheduler/jobs/{job['id']}/runs/{moved.json()['runId']}", headers=board(tenant)
        )
    ).json()
    assert ran["status"] == "running"
    skipped = (
        await client.get(
            f"/api/scheduler/jobs/{job['id']}/runs?status=skipped", headers=board(tenant)
        )
    ).json()
    assert [r["id"] for r in skipped["runs"]] == [run_id]


@pytest.mark.parametrize(("outcome", "status"), [("succeeded", "completed"), ("failed", "failed")])
async def test_an_at_job_ends_as_its_run_ends(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    seed_clock: FakeClock,
    outcome: str,
    status: str,
) -> None:
    job = await create(
        client,
        tenant,
        {
            "name": "Once",
            "goal": "Launch",
            "schedule": {"type": "at", "datetime": "2026-03-02T13:07:00Z"},
        },
    )
    ticker = Ticker(ctx)
    await ticker.load()
    seed_clock.now = T0 + timedelta(minutes=7, seconds=1)
    assert await ticker.fire_due() == 1
    url = f"/api/scheduler/jobs/{job['id']}"
    running = (await client.get(url, headers=board(tenant))).json()
    assert running["status"] == "active" and running["next_run_at"] is None
    (run,) = (await client.get(f"{url}/runs", headers=board(tenant))).json()["runs"]
    assert run["trigger"] == "schedule" and run["scheduled_for"] == "2026-03-02T13:07:00Z"
    await client.post(
        f"/api/runs/{run['id']}/complete", json={"status": outcome}, headers=board(tenant)
    )
    ended = (await client.get(url, headers=board(tenant))).json()
    assert ended["status"] == status and ended["run_count"] == 1
    listed = (
        await client.get(f"/api/scheduler/jobs?status={status}", headers=board(tenant))
    ).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    # A new time makes it a live job again.
    again = await client.put(
        url,
        json={"schedule": {"type": "at", "datetime": "2026-03-03T09:00:00Z"}},
        headers=board(tenant),
    )
    assert again.json()["status"] == "active"
    assert again.json()["next_run_at"] == "2026-03-03T09:00:00Z"


async def test_an_at_job_retries_before_it_fails(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, seed_clock: FakeClock
) -> None:
    job = await create(
        client,
        tenant,
        {
            "name": "Once",
            "schedule": {"type": "at", "datetime": "2026-03-02T13:07:00Z"},
            "retry": {"max_attempts": 2, "strategy": "fixed", "base_delay": 0},
        },
    )
    ticker = Ticker(ctx)
    await ticker.load()
    seed_clock.now = T0 + timedelta(minutes=7, seconds=1)
    await ticker.fire_due()
    url = f"/api/scheduler/jobs/{job['id']}"
    (run,) = (await client.get(f"{url}/runs", headers=board(tenant))).json()["runs"]
    await client.post(
        f"/api/runs/{run['id']}/complete", json={"status": "failed"}, headers=board(tenant)
    )
    assert (await client.get(url, headers=board(tenant))).json()["status"] == "active"
    retried = (await client.get(f"{url}/runs/{run['id']}", headers=board(tenant))).json()
    assert retried["status"] in {"pending", "running"}


# -- access ----------------------------------------------------------------------------------


async def test_access_follows_the_routine_rules(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str, seed_clock: FakeClock
) -> None:
    agent = Tenant.auth(tenant.agent)
    other_agent = Tenant.auth(tenant.other_agent)
    refused = await client.post("/api/scheduler/jobs", json=PRICE_ALERT, headers=agent)
    assert refused.status_code == 403
    own = {key: value for key, value in PRICE_ALERT.items() if key != "agent_id"}
    job = await create(client, tenant, own, key=tenant.agent)
    assert job["agent_id"] == "agent-1"
    url = f"/api/scheduler/jobs/{job['id']}"
    assert (await client.get(url, headers=other_agent)).status_code == 200
    for method, path in (("post", "/pause"), ("post", "/trigger"), ("delete", "")):
        response = await client.request(method, url + path, headers=other_agent)
        assert response.status_code == 403, (method, path)
    put = await client.put(url, json={"name": "Mine now"}, headers=other_agent)
    assert put.status_code == 403
    assert (await client.post(f"{url}/pause", headers=agent)).status_code == 200
    other = await make_tenant(client, admin_key, "Other")
    assert (await client.get(url, headers=Tenant.auth(other.board))).status_code == 404
    foreign = (await client.get("/api/scheduler/jobs", headers=Tenant.auth(other.board))).json()
    assert foreign == {"jobs": [], "count": 0}
    admin = Tenant.auth(admin_key)
    assert (await client.get("/api/scheduler/jobs", headers=admin)).status_code == 400
    as_admin = await client.get(
        "/api/scheduler/jobs", params={"companyId": tenant.company_id}, headers=admin
    )
    assert as_admin.json()["count"] == 1
    sneaky = await client.get(
        "/api/scheduler/jobs",
        params={"companyId": tenant.company_id},
        headers=Tenant.auth(other.board),
    )
    assert sneaky.status_code == 404
    assert (await client.get("/api/scheduler/jobs")).status_code == 401
    assert (await client.get("/api/scheduler/jobs/not-a-job", headers=agent)).status_code == 404
