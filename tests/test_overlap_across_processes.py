"""buffer_all across processes: fires applied by a consumer process while the gateway
process completes runs, on PostgreSQL and a Kafka-protocol broker. Every run executes
once, and never two at a time."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.processes import Topology, create_tenant, run_rows, topology

__all__ = ["topology"]

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


async def test_buffer_all_runs_each_fire_once_in_turn(topology: Topology) -> None:
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await gateway.wait_ready()
    await consumer.wait_ready()
    tenant = await create_tenant(
        gateway.url, topology.database_url, webhook=False, concurrencyPolicy="buffer_all"
    )
    fires = 12
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:

        async def fire(n: int) -> str:
            response = await http.post(
                f"/api/routines/{tenant.routine_id}/run",
                json={"idempotencyKey": f"k{n}"},
                headers=tenant.auth,
            )
            assert response.status_code == 202, response.text
            return str(response.json()["runId"])

        first = await asyncio.gather(*(fire(n) for n in range(fires // 2)))
        completed: list[str] = []
        later: list[str] = []
        deadline = time.monotonic() + 60
        while len(completed) < fires and time.monotonic() < deadline:
            rows = await run_rows(topology.database_url, tenant.routine_id)
            active = [row for row in rows if row["status"] in ("dispatched", "running")]
            assert len(active) <= 1, active
            if len(completed) == 2 and not later:
                # More fires arrive while runs end: they queue behind the waiting ones.
                later = await asyncio.gather(*(fire(n) for n in range(fires // 2, fires)))
            if active:
                done = await http.post(
                    f"/api/runs/{active[0]['id']}/complete",
                    json={"status": "succeeded"},
                    headers=tenant.auth,
                )
                assert done.status_code == 200, done.text
                completed.append(active[0]["id"])
            else:
                await asyncio.sleep(0.05)
    rows = await run_rows(topology.database_url, tenant.routine_id)
    assert sorted(completed) == sorted([*first, *later])
    assert len(completed) == len(set(completed)) == fires
    assert {row["status"] for row in rows} == {"succeeded"}
    gateway.terminate()
    consumer.terminate()
