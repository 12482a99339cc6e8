"""Fire → run: dedupe, concurrency policies, timeouts, retries, completion, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from consumers import Pipeline
from firehook.context import Context
from tests.conftest import FakeClock, Tenant, routine_body


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def fire(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/routines/{routine_id}/run", json=body, headers=Tenant.auth(tenant.board)
    )


async def get_run(client: httpx.AsyncClient, tenant: Tenant, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def complete(
    client: httpx.AsyncClient, tenant: Tenant, run_id: str, status: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/runs/{run_id}/complete",
        json={"status": status} | extra,
        headers=Tenant.auth(tenant.board),
    )


def supervisor(ctx: Context) -> Any:
    pipeline = ctx.services["pipeline"]
    assert isinstance(pipeline, Pipeline)
    return pipeline.supervisor


async def test_manual_run_end_to_end(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    response = await fire(client, tenant, routine["id"], payload={"context": "hello"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"fireId", "runId", "idempotencyKey", "status"}
    assert accepted["status"] == "dispatched"
    run = await get_run(client, tenant, accepted["runId"])
    assert run["status"] == "dispatched" and run["source"] == "manual"
    assert run["payload"] == {"context": "hello"} and run["attempt"] == 1
    assert run["deadlineAt"] is not None
    done = await complete(client, tenant, run["id"], "succeeded", output={"rows": 3})
    assert done.status_code == 200
    finished = done.json()
    assert finished["status"] == "succeeded" and finished["output"] == {"rows": 3}
    assert finished["durationMs"] is not None and finished["finishedAt"] is not None
    listing = (
        await client.get(f"/api/routines/{routine['id']}/runs", headers=Tenant.auth(tenant.agent))
    ).json()
    assert [r["id"] for r in listing["data"]] == [run["id"]]
    again = await complete(client, tenant, run["id"], "failed")
    assert again.status_code == 409


async def test_run_id_is_derived_from_the_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    import uuid

    routine = await new_routine(client, tenant)
    accepted = (await fire(client, tenant, routine["id"], idempotencyKey="k-1")).json()
    assert accepted["runId"] == str(uuid.uuid5(uuid.UUID(routine["id"]), "k-1"))


async def test_idempotency_key_replays_the_original(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, concurrencyPolicy="always_enqueue")
    first = await fire(client, tenant, routine["id"], idempotencyKey="abc", payload={"n": 1})
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    second = await fire(client, tenant, routine["id"], idempotencyKey="abc", payload={"n": 2})
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["runId"] == first.json()["runId"]
    assert second.json()["fireId"] == first.json()["fireId"]
    run = await get_run(client, tenant, first.json()["runId"])
    assert run["payload"] == {"n": 1}


async def test_twenty_concurrent_identical_requests_make_one_run(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, concurrencyPolicy="always_enqueue")
    responses = await asyncio.gather(
        *(
            fire(client, tenant, routine["id"], idempotencyKey="same", payload={"i": i})
            for i in range(20)
        )
    )
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    assert len({r.json()["runId"] for r in responses}) == 1
    assert sum(1 for r in responses if r.status_code == 202) == 1
    assert sum(1 for r in responses if r.headers.get("idempotent-replayed") == "true") == 19
    runs = (
        await client.get(f"/api/routines/{routine['id']}/runs", headers=Tenant.auth(tenant.board))
    ).json()
    assert runs["total"] == 1


@pytest.mark.parametrize(
    ("policy", "second_status"),
    [
        ("coalesce_if_active", "coalesced"),
        ("skip_if_active", "skipped"),
        ("always_enqueue", "dispatched"),
    ],
)
async def test_concurrency_policy_with_active_run(
    client: httpx.AsyncClient, tenant: Tenant, policy: str, second_status: str
) -> None:
    routine = await new_routine(client, tenant, concurrencyPolicy=policy)
    first = (await fire(client, tenant, routine["id"])).json()
    second = (await fire(client, tenant, routine["id"])).json()
    assert first["status"] == "dispatched"
    assert second["status"] == second_status
    run = await get_run(client, tenant, second["runId"])
    if second_status == "dispatched":
        assert run["coalescedIntoRunId"] is None
    else:
        assert run["coalescedIntoRunId"] == first["runId"]
        assert run["finishedAt"] is not None and run["reason"]


@pytest.mark.parametrize("policy", ["coalesce_if_active", "skip_if_active", "always_enqueue"])
async def test_concurrency_policy_without_active_run(
    client: httpx.AsyncClient, tenant: Tenant, policy: str
) -> None:
    routine = await new_routine(client, tenant, concurrencyPolicy=policy)
    first = (await fire(client, tenant, routine["id"])).json()
    assert (await complete(client, tenant, first["runId"], "succeeded")).status_code == 200
    second = (await fire(client, tenant, routine["id"])).json()
    assert second["status"] == "dispatched"


async def test_paused_routine_manual_run_allowed_archived_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant)
    board = Tenant.auth(tenant.board)
    await client.post(f"/api/routines/{routine['id']}/pause", headers=board)
    accepted = await fire(client, tenant, routine["id"])
    assert accepted.status_code == 202 and accepted.json()["status"] == "dispatched"
    await client.delete(f"/api/routines/{routine['id']}", headers=board)
    refused = await fire(client, tenant, routine["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "CONFLICT"


async def test_manual_run_trigger_rules(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    other = await new_routine(client, tenant, title="other")
    board = Tenant.auth(tenant.board)
    own = (
        await client.post(
            f"/api/routines/{routine['id']}/triggers", json={"kind": "api"}, headers=board
        )
    ).json()
    foreign = (
        await client.post(
            f"/api/routines/{other['id']}/triggers", json={"kind": "api"}, headers=board
        )
    ).json()
    assert (await fire(client, tenant, routine["id"], triggerId=foreign["id"])).status_code == 403
    await client.patch(f"/api/routine-triggers/{own['id']}", json={"enabled": False}, headers=board)
    assert (await fire(client, tenant, routine["id"], triggerId=own["id"])).status_code == 409
    await client.patch(f"/api/routine-triggers/{own['id']}", json={"enabled": True}, headers=board)
    accepted = await fire(client, tenant, routine["id"], triggerId=own["id"])
    assert accepted.status_code == 202
    run = await get_run(client, tenant, accepted.json()["runId"])
    assert run["triggerId"] == own["id"] and run["source"] == "api"
    fetched = (await client.get(f"/api/routines/{routine['id']}", headers=board)).json()
    assert fetched["triggers"][0]["lastFiredAt"] is not None
    assert fetched["lastFiredAt"] is not None


async def test_agent_runs_only_own_routines(client: httpx.AsyncClient, tenant: Tenant) -> None:
    theirs = await new_routine(client, tenant, assigneeAgentId="agent-2")
    response = await client.post(
        f"/api/routines/{theirs['id']}/run", json={}, headers=Tenant.auth(tenant.agent)
    )
    assert response.status_code == 403


async def test_timeout_releases_the_policy(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    routine = await new_routine(client, tenant, runTimeoutSec=30)
    first = (await fire(client, tenant, routine["id"])).json()
    assert (await fire(client, tenant, routine["id"])).json()["status"] == "coalesced"
    clock.advance(29)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, first["runId"]))["status"] == "dispatched"
    clock.advance(2)
    await supervisor(ctx).run_once()
    timed_out = await get_run(client, tenant, first["runId"])
    assert timed_out["status"] == "timed_out" and timed_out["error"] == "run timed out"
    third = (await fire(client, tenant, routine["id"])).json()
    assert third["status"] == "dispatched"


async def test_retries_follow_backoff_and_stop(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    retry = {"maxAttempts": 3, "strategy": "exponential", "baseDelaySec": 10, "maxDelaySec": 15}
    routine = await new_routine(client, tenant, retry=retry)
    run_id = (await fire(client, tenant, routine["id"])).json()["runId"]
    failed = (await complete(client, tenant, run_id, "failed", error="boom")).json()
    assert failed["status"] == "retry_pending" and failed["attempt"] == 1
    start = clock.now
    assert failed["nextAttemptAt"].startswith(
        (start + __import__("datetime").timedelta(seconds=10)).isoformat()[:19]
    )
    clock.advance(9)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, run_id))["status"] == "retry_pending"
    clock.advance(1)
    await supervisor(ctx).run_once()
    second = await get_run(client, tenant, run_id)
    assert (second["status"], second["attempt"]) == ("dispatched", 2)
    # The second attempt times out; the delay doubles to 20 s, capped at 15 s.
    clock.advance(3600)
    await supervisor(ctx).run_once()
    pending = await get_run(client, tenant, run_id)
    assert pending["status"] == "retry_pending"
    clock.advance(14)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, run_id))["status"] == "retry_pending"
    clock.advance(1)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, run_id))["attempt"] == 3
    final = (await complete(client, tenant, run_id, "failed", error="still broken")).json()
    assert final["status"] == "failed" and final["attempt"] == 3
    assert [(a["attempt"], a["status"]) for a in final["attempts"]] == [
        (1, "failed"),
        (2, "timed_out"),
        (3, "failed"),
    ]
    clock.advance(10_000)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, run_id))["status"] == "failed"


async def test_fixed_retry_strategy(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    retry = {"maxAttempts": 2, "strategy": "fixed", "baseDelaySec": 5}
    routine = await new_routine(client, tenant, retry=retry)
    run_id = (await fire(client, tenant, routine["id"])).json()["runId"]
    await complete(client, tenant, run_id, "failed")
    clock.advance(5)
    await supervisor(ctx).run_once()
    assert (await get_run(client, tenant, run_id))["attempt"] == 2


async def test_cancel(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    run_id = (await fire(client, tenant, routine["id"])).json()["runId"]
    board = Tenant.auth(tenant.board)
    cancelled = await client.post(f"/api/runs/{run_id}/cancel", headers=board)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.post(f"/api/runs/{run_id}/cancel", headers=board)).status_code == 409
    # A cancelled run no longer blocks the routine.
    assert (await fire(client, tenant, routine["id"])).json()["status"] == "dispatched"


async def test_run_list_filters(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant)
    for _ in range(3):
        await fire(client, tenant, routine["id"])
    board = Tenant.auth(tenant.board)
    url = f"/api/routines/{routine['id']}/runs"
    coalesced = (await client.get(url, params={"status": "coalesced"}, headers=board)).json()
    assert coalesced["total"] == 2
    page = (await client.get(url, params={"limit": 1, "source": "manual"}, headers=board)).json()
    assert page["total"] == 3 and len(page["data"]) == 1
    bad = await client.get(url, params={"limit": 500}, headers=board)
    assert bad.status_code == 400


async def test_unknown_run_is_404(client: httpx.AsyncClient, tenant: Tenant) -> None:
    board = Tenant.auth(tenant.board)
    assert (await client.get("/api/runs/nope", headers=board)).status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await client.post(f"/api/runs/{missing}/cancel", headers=board)).status_code == 404


async def test_default_payload_is_merged_under_each_fire(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(
        client, tenant, defaultPayload={"goal": "summarise", "region": "eu"}
    )
    assert routine["defaultPayload"] == {"goal": "summarise", "region": "eu"}
    accepted = (await fire(client, tenant, routine["id"], payload={"region": "us"})).json()
    run = await get_run(client, tenant, accepted["runId"])
    assert run["payload"] == {"goal": "summarise", "region": "us"}
    board = Tenant.auth(tenant.board)
    cleared = await client.patch(
        f"/api/routines/{routine['id']}", json={"defaultPayload": None}, headers=board
    )
    assert cleared.status_code == 200 and cleared.json()["defaultPayload"] == {}
    await complete(client, tenant, run["id"], "succeeded")
    accepted = (await fire(client, tenant, routine["id"], payload={"region": "us"})).json()
    assert (await get_run(client, tenant, accepted["runId"]))["payload"] == {"region": "us"}


async def test_default_payload_is_seen_by_the_condition(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(
        client,
        tenant,
        defaultPayload={"threshold": 5},
        condition={"type": "expression", "expression": "threshold > 3"},
    )
    accepted = (await fire(client, tenant, routine["id"])).json()
    assert (await get_run(client, tenant, accepted["runId"]))["status"] == "dispatched"
    lowered = (await fire(client, tenant, routine["id"], payload={"threshold": 1})).json()
    skipped = await get_run(client, tenant, lowered["runId"])
    assert skipped["status"] == "skipped"
