"""Fires through the in-process pipeline: throughput and fire → dispatched latency.

Publishes N FireRequested events to the embedded bus from C concurrent
publishers. In embedded mode `publish` returns once the consumer committed the
run as `dispatched` with its RunEvent, so each publish's duration is the fire →
dispatched latency a webhook sender would see before its 202.

    python bench/pipeline.py                # SQLite and PostgreSQL
    python bench/pipeline.py --backend sqlite --fires 20000 --concurrency 64
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder is first on sys.path, where bench/scheduler.py
# would shadow the `scheduler` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from firehook.app import build_context
from firehook.bootstrap import issue_api_key
from firehook.crypto import generate_secret_key
from firehook.fires import publish_fires
from firehook.ids import new_id, run_id_for
from firehook.roles import embedded
from firehook.settings import Settings
from firehook.store import routines as routine_store
from firehook.store import upgrade_to_head_async
from firehook.store.accounts import insert_company
from schemas.common import RunSource
from schemas.events import FireRequested


async def bench(url: str, fires: int, concurrency: int, routines: int) -> dict[str, float]:
    await upgrade_to_head_async(url)
    settings = Settings(database_url=url, secret_key=generate_secret_key(), _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    wired = embedded(ctx)
    for service in wired.services:
        await service.start()
    try:
        now = ctx.clock()
        company_id = new_id()
        routine_ids = [new_id() for _ in range(routines)]
        async with ctx.db.write() as conn:
            await insert_company(conn, id=company_id, name="bench", now=now)
            for routine_id in routine_ids:
                await routine_store.insert_routine(
                    conn,
                    {
                        "id": routine_id,
                        "company_id": company_id,
                        "title": "bench",
                        "assignee_agent_id": "a",
                        "project_id": "p",
                        "priority": "medium",
                        "status": "active",
                        "concurrency_policy": "always_enqueue",
                        "catch_up_policy": "skip_missed",
                        "catch_up_cap": 25,
                        "misfire_grace_sec": 60,
                        "run_timeout_sec": 3600,
                        "retry": {"maxAttempts": 1},
                        "dispatch": {"type": "stream"},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        await issue_api_key(ctx.db, __import__("schemas.common").common.Role.ADMIN)
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(fires):
            queue.put_nowait(index)

        async def publisher() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                routine_id = routine_ids[index % routines]
                key = f"bench:{index}"
                fire = FireRequested(
                    fire_id=new_id(),
                    run_id=run_id_for(routine_id, key),
                    routine_id=routine_id,
                    company_id=company_id,
                    source=RunSource.API,
                    idempotency_key=key,
                    payload={"index": index},
                    requested_at=ctx.clock(),
                )
                started = time.perf_counter()
                await publish_fires(ctx.bus, settings, [fire])
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        for service in reversed(wired.services):
            await service.stop()
        await ctx.db.close()
    latencies.sort()
    return {
        "fires": len(latencies),
        "fires_per_sec": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--fires", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--routines", type=int, default=100)
    args = parser.parse_args()
    print(f"{args.fires} fires, {args.concurrency} concurrent publishers, {args.routines} routines")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            report("sqlite", asyncio.run(bench(url, args.fires, args.concurrency, args.routines)))
    if args.backend in ("postgres", "both"):
        from firehook.devservers import PostgresServer

        with PostgresServer() as server:
            report(
                "postgres",
                asyncio.run(bench(server.url, args.fires, args.concurrency, args.routines)),
            )


def report(name: str, figures: dict[str, float]) -> None:
    print(
        f"{name:9s} {figures['fires_per_sec']:8.0f} fires/s   "
        f"p50 {figures['p50_ms']:6.1f} ms   p99 {figures['p99_ms']:6.1f} ms   max {figures['max_ms']:6.1f} ms"
    )


if __name__ == "__main__":
    main()
