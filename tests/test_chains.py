"""Chains (seed 003): DAGs over routines; a run's end fires its successors exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from consumers import Pipeline
from consumers.relay import _message
from firehook.context import Context
from firehook.store.tables import outbox
from schemas.chains import find_cycle
from tests.conftest import FakeClock, Tenant, make_tenant, routine_body


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, title: str, **body: Any) -> str:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(title=title, **body),
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_chain(
    client: httpx.AsyncClient, tenant: Tenant, edges: list[tuple[str, str, str]], **body: Any
) -> httpx.Response:
    document = {
        "name": "Data pipeline",
        "edges": [{"from": s, "to": t, "type": kind} for s, t, kind in edges],
    } | body
    return await client.post(
        f"/api/companies/{tenant.company_id}/chains", json=document, headers=board(tenant)
    )


async def run_now(client: httpx.AsyncClient, tenant: Tenant, routine_id: str) -> str:
    response = await client.post(f"/api/routines/{routine_id}/run", json={}, headers=board(tenant))
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


async def complete(
    client: httpx.AsyncClient, tenant: Tenant, run_id: str, status: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/runs/{run_id}/complete", json={"status": status} | extra, headers=board(tenant)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def runs_of(client: httpx.AsyncClient, tenant: Tenant, routine_id: str) -> list[Any]:
    response = await client.get(f"/api/routines/{routine_id}/runs", headers=board(tenant))
    return list(response.json())


async def wait_runs(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, count: int
) -> list[Any]:
    for _ in range(300):
        runs = await runs_of(client, tenant, routine_id)
        if len(runs) >= count:
            return runs
        await asyncio.sleep(0.01)
    raise AssertionError(f"routine {routine_id} has {len(runs)} runs, expected {count}")


async def settle() -> None:
    """Let the relay publish what is queued and the consumer apply it."""
    await asyncio.sleep(0.25)


# -- the resource -------------------------------------------------------------------------


async def test_chain_crud(client: httpx.AsyncClient, tenant: Tenant) -> None:
    fetch, transform, store = [
        await new_routine(client, tenant, name) for name in ("fetch", "transform", "store")
    ]
    created = await create_chain(
        client,
        tenant,
        [
            (fetch, transform, "on_success"),
            (transform, store, "on_success"),
            (fetch, store, "on_failure"),
        ],
        description="seed 003's example",
    )
    assert created.status_code == 201, created.text
    chain = created.json()
    assert chain["routines"] == [fetch, transform, store]
    assert [(e["from"], e["to"], e["type"]) for e in chain["edges"]] == [
        (fetch, transform, "on_success"),
        (transform, store, "on_success"),
        (fetch, store, "on_failure"),
    ]
    assert all(e["id"] for e in chain["edges"])
    url = f"/api/chains/{chain['id']}"
    assert (await client.get(url, headers=Tenant.auth(tenant.agent))).json() == chain
    listing = await client.get(f"/api/companies/{tenant.company_id}/chains", headers=board(tenant))
    assert listing.headers["X-Total-Count"] == "1" and listing.json() == [chain]
    assert (await client.delete(url, headers=Tenant.auth(tenant.agent))).status_code == 403
    assert (await client.delete(url, headers=board(tenant))).status_code == 204
    assert (await client.get(url, headers=board(tenant))).status_code == 404


async def test_a_cycle_is_rejected_naming_it(client: httpx.AsyncClient, tenant: Tenant) -> None:
    a, b, c = [await new_routine(client, tenant, name) for name in "abc"]
    response = await create_chain(
        client, tenant, [(a, b, "on_success"), (b, c, "on_complete"), (c, a, "on_failure")]
    )
    assert response.status_code == 400
    error = response.json()
    cycle = error["details"]["cycle"]
    assert cycle[0] == cycle[-1] and set(cycle) == {a, b, c} and len(cycle) == 4
    assert error["error"] == "chain has a cycle: " + " → ".join(cycle)
    assert error["code"] == "VALIDATION_ERROR"


async def test_a_cycle_through_two_chains_is_rejected(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    a, b = [await new_routine(client, tenant, name) for name in "ab"]
    first = (await create_chain(client, tenant, [(a, b, "on_success")])).json()
    response = await create_chain(client, tenant, [(b, a, "on_failure")])
    assert response.status_code == 400
    assert f"through chain {first['id']}" in response.json()["error"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("self", "to itself"),
        ("repeat", "repeated"),
        ("unlisted", "not in routines"),
        ("unknown", "routines not found"),
        ("empty", "edges"),
    ],
)
async def test_chain_validation(
    client: httpx.AsyncClient, tenant: Tenant, case: str, message: str
) -> None:
    a, b = [await new_routine(client, tenant, name) for name in "ab"]
    missing = "00000000-0000-4000-8000-000000000000"
    edges, extra = {
        "self": ([(a, a, "on_success")], {}),
        "repeat": ([(a, b, "on_success"), (a, b, "on_success")], {}),
        "unlisted": ([(a, b, "on_success")], {"routines": [a]}),
        "unknown": ([(a, missing, "on_success")], {}),
        "empty": ([], {}),
    }[case]
    response = await create_chain(client, tenant, edges, **extra)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


async def test_chain_of_another_company_is_404_and_its_routines_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    other = await make_tenant(client, admin_key, "Other")
    a = await new_routine(client, tenant, "a")
    theirs = await new_routine(client, other, "theirs")
    refused = await create_chain(client, tenant, [(a, theirs, "on_success")])
    assert refused.status_code == 400 and theirs in refused.json()["error"]
    b = await new_routine(client, tenant, "b")
    mine = (await create_chain(client, tenant, [(a, b, "on_success")])).json()
    assert (await client.get(f"/api/chains/{mine['id']}", headers=board(other))).status_code == 404
    forbidden = await client.post(
        f"/api/companies/{tenant.company_id}/chains",
        json={"name": "x", "edges": [{"from": a, "to": theirs}]},
        headers=Tenant.auth(tenant.agent),
    )
    assert forbidden.status_code == 403


# -- firing -----------------------------------------------------------------------------------


async def test_success_fires_the_successor_with_the_upstream_output(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    fetch, transform, on_fail = [
        await new_routine(client, tenant, name) for name in ("fetch", "transform", "alert")
    ]
    chain = (
        await create_chain(
            client, tenant, [(fetch, transform, "on_success"), (fetch, on_fail, "on_failure")]
        )
    ).json()
    run_id = await run_now(client, tenant, fetch)
    await complete(client, tenant, run_id, "succeeded", output={"rows": 42})
    (successor,) = await wait_runs(client, tenant, transform, 1)
    edge = chain["edges"][0]
    assert successor["source"] == "chain"
    assert successor["idempotencyKey"] == f"chain:{edge['id']}:{run_id}"
    assert successor["triggeredByRoutineId"] == fetch
    assert successor["status"] == "dispatched"
    assert successor["payload"]["upstream"] == {
        "runId": run_id,
        "routineId": fetch,
        "status": "succeeded",
        "output": {"rows": 42},
        "error": None,
    }
    assert successor["payload"]["chain"] == {
        "id": chain["id"],
        "edgeId": edge["id"],
        "type": "on_success",
    }
    assert await runs_of(client, tenant, on_fail) == []


async def test_successor_fires_exactly_once_under_redelivery(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    a, b = [await new_routine(client, tenant, name) for name in "ab"]
    await create_chain(client, tenant, [(a, b, "on_complete")])
    pipeline = ctx.services["pipeline"]
    assert isinstance(pipeline, Pipeline)
    await pipeline.relay.stop()  # hold the outbox so the test can send its rows twice
    run_id = await run_now(client, tenant, a)
    await complete(client, tenant, run_id, "failed", error="boom")
    async with ctx.db.read() as conn:
        rows = (
            (await conn.execute(select(outbox).where(outbox.c.topic == ctx.settings.topic_fires)))
            .mappings()
            .all()
        )
    assert len(rows) == 1  # written by the transaction that ended the run
    assert ctx.bus is not None
    # The relay sends, loses its lease, sends again; the bus redelivers once more.
    for _ in range(3):
        await ctx.bus.publish([_message(dict(rows[0]))])
    await settle()
    runs = await wait_runs(client, tenant, b, 1)
    await settle()
    runs = await runs_of(client, tenant, b)
    assert len(runs) == 1
    assert runs[0]["payload"]["upstream"]["status"] == "failed"
    assert runs[0]["payload"]["upstream"]["error"] == "boom"
    # A second completion of the ended run is refused, so it cannot fire again either.
    again = await client.post(
        f"/api/runs/{run_id}/complete", json={"status": "succeeded"}, headers=board(tenant)
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("outcome", "fired"),
    [
        ("succeeded", {"on_success", "on_complete"}),
        ("failed", {"on_failure", "on_complete"}),
        ("timed_out", {"on_failure", "on_complete"}),
        ("cancelled", set()),
    ],
)
async def test_which_edges_an_outcome_follows(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    clock: FakeClock,
    outcome: str,
    fired: set[str],
) -> None:
    upstream = await new_routine(client, tenant, "up", runTimeoutSec=10)
    targets = {
        kind: await new_routine(client, tenant, kind)
        for kind in ("on_success", "on_failure", "on_complete")
    }
    await create_chain(client, tenant, [(upstream, t, kind) for kind, t in targets.items()])
    run_id = await run_now(client, tenant, upstream)
    if outcome in ("succeeded", "failed"):
        await complete(client, tenant, run_id, outcome)
    elif outcome == "timed_out":
        clock.advance(11)
        pipeline = ctx.services["pipeline"]
        assert isinstance(pipeline, Pipeline)
        await pipeline.supervisor.run_once()
    else:
        cancelled = await client.post(f"/api/runs/{run_id}/cancel", headers=board(tenant))
        assert cancelled.status_code == 200
    for kind in fired:
        await wait_runs(client, tenant, targets[kind], 1)
    await settle()
    counts = {kind: len(await runs_of(client, tenant, t)) for kind, t in targets.items()}
    assert counts == {kind: int(kind in fired) for kind in targets}


async def test_retries_fire_only_at_the_final_outcome(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    upstream = await new_routine(client, tenant, "up", retry={"maxAttempts": 2, "baseDelaySec": 5})
    target = await new_routine(client, tenant, "down")
    await create_chain(client, tenant, [(upstream, target, "on_failure")])
    run_id = await run_now(client, tenant, upstream)
    pending = await complete(client, tenant, run_id, "failed")
    assert pending["status"] == "retry_pending"
    await settle()
    assert await runs_of(client, tenant, target) == []
    clock.advance(5)
    pipeline = ctx.services["pipeline"]
    assert isinstance(pipeline, Pipeline)
    await pipeline.supervisor.run_once()
    await complete(client, tenant, run_id, "failed")
    await wait_runs(client, tenant, target, 1)


async def test_skipped_and_coalesced_fires_follow_no_edge(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    upstream = await new_routine(client, tenant, "up")
    target = await new_routine(client, tenant, "down", concurrencyPolicy="always_enqueue")
    await create_chain(client, tenant, [(upstream, target, "on_complete")])
    first = await run_now(client, tenant, upstream)
    coalesced = await run_now(client, tenant, upstream)  # finalised at once, never ran
    await settle()
    assert await runs_of(client, tenant, target) == []
    await complete(client, tenant, first, "succeeded")
    runs = await wait_runs(client, tenant, target, 1)
    await settle()
    assert len(await runs_of(client, tenant, target)) == 1
    assert runs[0]["payload"]["upstream"]["runId"] == first != coalesced


async def test_a_paused_successor_records_a_skip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    upstream = await new_routine(client, tenant, "up")
    target = await new_routine(client, tenant, "down")
    await create_chain(client, tenant, [(upstream, target, "on_success")])
    await client.post(f"/api/routines/{target}/pause", headers=board(tenant))
    await complete(client, tenant, await run_now(client, tenant, upstream), "succeeded")
    (run,) = await wait_runs(client, tenant, target, 1)
    assert run["status"] == "skipped" and run["reason"] == "routine is paused"


def test_find_cycle() -> None:
    assert find_cycle([("a", "b"), ("b", "c"), ("a", "c")]) is None
    assert find_cycle([("a", "b"), ("b", "a")]) == ["a", "b", "a"]
    assert find_cycle([("x", "y"), ("y", "z"), ("z", "y")]) == ["y", "z", "y"]
    long = [(str(i), str(i + 1)) for i in range(5_000)]
    assert find_cycle(long) is None
    assert find_cycle([*long, ("5000", "0")]) is not None
