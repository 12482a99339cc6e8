"""buffer_one, buffer_all and cancel_other, with fires arriving one by one and all at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook

from consumers import Pipeline
from consumers.policy import decide_first_status
from firehook.context import Context
from firehook.store.tables import runs
from schemas.common import ConcurrencyPolicy, RoutineStatus, RunSource, RunStatus
from tests.conftest import Tenant, routine_body
from tests.servers import Receiver, serve


def test_decisions_are_pure() -> None:
    def decide(policy: ConcurrencyPolicy, active: str | None, waiting: str | None) -> Any:
        return decide_first_status(
            RoutineStatus.ACTIVE, policy, RunSource.SCHEDULE, active, waiting
        )

    assert decide(ConcurrencyPolicy.BUFFER_ONE, None, None).status is RunStatus.DISPATCHED
    assert decide(ConcurrencyPolicy.BUFFER_ONE, "a", None).status is RunStatus.RECEIVED
    skipped = decide(ConcurrencyPolicy.BUFFER_ONE, "a", "w")
    assert (skipped.status, skipped.coalesced_into_run_id) == (RunStatus.SKIPPED, "w")
    assert decide(ConcurrencyPolicy.BUFFER_ALL, "a", "w").status is RunStatus.RECEIVED
    # Waiting runs keep their order even in the instant no run is active.
    assert decide(ConcurrencyPolicy.BUFFER_ALL, None, "w").status is RunStatus.RECEIVED
    replaced = decide(ConcurrencyPolicy.CANCEL_OTHER, "a", None)
    assert (replaced.status, replaced.cancels_run_id) == (RunStatus.DISPATCHED, "a")
    assert decide(ConcurrencyPolicy.CANCEL_OTHER, None, None).cancels_run_id is None
    paused = decide_first_status(
        RoutineStatus.PAUSED, ConcurrencyPolicy.BUFFER_ALL, RunSource.SCHEDULE, "a", None
    )
    assert paused.status is RunStatus.SKIPPED


async def routine(client: httpx.AsyncClient, tenant: Tenant, policy: str) -> str:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(concurrencyPolicy=policy),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    assert response.json()["concurrencyPolicy"] == policy
    return str(response.json()["id"])


async def fire(client: httpx.AsyncClient, tenant: Tenant, routine_id: str, key: str) -> str:
    response = await client.post(
        f"/api/routines/{routine_id}/run",
        json={"idempotencyKey": key},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


async def fire_together(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, keys: list[str]
) -> list[str]:
    return list(await asyncio.gather(*(fire(client, tenant, routine_id, k) for k in keys)))


async def run(client: httpx.AsyncClient, tenant: Tenant, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def statuses(client: httpx.AsyncClient, tenant: Tenant, run_ids: list[str]) -> list[str]:
    return [(await run(client, tenant, rid))["status"] for rid in run_ids]


async def complete(client: httpx.AsyncClient, tenant: Tenant, run_id: str) -> None:
    response = await client.post(
        f"/api/runs/{run_id}/complete",
        json={"status": "succeeded"},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text


async def test_buffer_all_runs_every_fire_in_turn(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine_id = await routine(client, tenant, "buffer_all")
    first = await fire(client, tenant, routine_id, "k0")
    rest = await fire_together(client, tenant, routine_id, [f"k{i}" for i in range(1, 6)])
    assert await statuses(client, tenant, [first]) == ["dispatched"]
    assert await statuses(client, tenant, rest) == ["received"] * 5
    order = sorted(
        [await run(client, tenant, rid) for rid in rest], key=lambda r: (r["createdAt"], r["id"])
    )
    done = [first]
    active = first
    for expected in order:
        await complete(client, tenant, active)
        started = [
            rid for rid in rest if (await run(client, tenant, rid))["status"] == "dispatched"
        ]
        assert started == [expected["id"]]  # the oldest waiting run, and only it
        active = expected["id"]
        done.append(active)
    await complete(client, tenant, active)
    assert set(await statuses(client, tenant, done)) == {"succeeded"}


async def test_buffer_one_keeps_one_waiting_and_skips_the_rest(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine_id = await routine(client, tenant, "buffer_one")
    first = await fire(client, tenant, routine_id, "k0")
    rest = await fire_together(client, tenant, routine_id, [f"k{i}" for i in range(1, 6)])
    found = await statuses(client, tenant, rest)
    assert sorted(found) == ["received", "skipped", "skipped", "skipped", "skipped"]
    waiting = rest[found.index("received")]
    for rid, status in zip(rest, found, strict=True):
        if status == "skipped":
            skipped = await run(client, tenant, rid)
            assert skipped["coalescedIntoRunId"] == waiting
    await complete(client, tenant, first)
    assert await statuses(client, tenant, [waiting]) == ["dispatched"]
    # With the waiting run started, the next fire waits again.
    later = await fire(client, tenant, routine_id, "k6")
    assert await statuses(client, tenant, [later]) == ["received"]


async def test_cancel_other_replaces_the_active_run(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine_id = await routine(client, tenant, "cancel_other")
    first = await fire(client, tenant, routine_id, "k0")
    second = await fire(client, tenant, routine_id, "k1")
    cancelled = await run(client, tenant, first)
    assert cancelled["status"] == "cancelled"
    assert second in cancelled["reason"]
    assert await statuses(client, tenant, [second]) == ["dispatched"]
    together = await fire_together(client, tenant, routine_id, [f"k{i}" for i in range(2, 7)])
    found = await statuses(client, tenant, [second, *together])
    # However they interleave, exactly one run is left active; all others were cancelled.
    assert found.count("dispatched") == 1 and found.count("cancelled") == 5


async def test_a_cancelled_active_run_lets_the_waiting_one_start(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine_id = await routine(client, tenant, "buffer_all")
    first = await fire(client, tenant, routine_id, "k0")
    second = await fire(client, tenant, routine_id, "k1")
    response = await client.post(f"/api/runs/{first}/cancel", headers=Tenant.auth(tenant.board))
    assert response.status_code == 200, response.text
    assert await statuses(client, tenant, [first, second]) == ["cancelled", "dispatched"]


async def test_cancel_other_sends_http_executors_a_signed_cancel_call(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        created = await client.post(
            f"/api/companies/{tenant.company_id}/routines",
            json=routine_body(
                concurrencyPolicy="cancel_other",
                dispatch={"type": "http", "url": f"{base}/hook", "timeoutSec": 5},
            ),
            headers=Tenant.auth(tenant.board),
        )
        secret = created.json()["dispatchSigningSecret"]
        routine_id = created.json()["id"]
        first = await fire(client, tenant, routine_id, "k0")
        await receiver.wait_for(1)
        second = await fire(client, tenant, routine_id, "k1")
        await receiver.wait_for(3)
    by_id = {headers["webhook-id"]: (headers, body) for headers, body in receiver.received}
    assert set(by_id) == {first, f"{first}:cancel", second}
    headers, body = by_id[f"{first}:cancel"]
    document = Webhook(secret).verify(body, headers)
    assert document["type"] == "dev.firehook.run.cancelled"
    assert document["runId"] == first and document["status"] == "cancelled"


async def test_the_supervisor_starts_a_run_left_waiting_by_a_race(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine_id = await routine(client, tenant, "buffer_all")
    first = await fire(client, tenant, routine_id, "k0")
    second = await fire(client, tenant, routine_id, "k1")
    # As if the first run's end committed without seeing the second (applied meanwhile).
    async with ctx.db.write() as conn:
        await conn.execute(update(runs).where(runs.c.id == first).values(status="succeeded"))
    assert await statuses(client, tenant, [second]) == ["received"]
    pipeline = ctx.services["pipeline"]
    assert isinstance(pipeline, Pipeline)
    await pipeline.supervisor.run_once()
    assert await statuses(client, tenant, [second]) == ["dispatched"]


async def test_runs_made_together_are_counted_by_outcome_and_status(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    def counted() -> list[float]:
        return [
            REGISTRY.get_sample_value("firehook_fires_consumed_total", {"outcome": "run_created"})
            or 0.0,
            *(
                REGISTRY.get_sample_value("firehook_runs_total", {"status": status}) or 0.0
                for status in ("dispatched", "received", "skipped")
            ),
        ]

    routine_id = await routine(client, tenant, "buffer_one")
    before = counted()
    await fire_together(client, tenant, routine_id, [f"k{i}" for i in range(6)])
    await fire(client, tenant, routine_id, "k0")  # a duplicate makes no run
    after = counted()
    assert [b - a for a, b in zip(before, after, strict=True)] == [6, 1, 1, 4]
