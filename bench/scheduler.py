"""The ticker under load: 100,000 cron triggers, 10,000 of them due at the same second.

Prints the ticker's load time, resident memory and the lateness (p50/p99/max)
of the 10,000 fires as received by a subscriber of the in-process bus; then, in
the same run, APScheduler 3 with 10,000 jobs due at one instant, each doing the
equivalent publish, and the ratio of the two.

    python bench/scheduler.py [--triggers 100000] [--due 10000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder is first on sys.path, and this module would
# shadow the `scheduler` package it measures.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from firehook.app import build_context
from firehook.bus import InProcessBus, Message
from firehook.crypto import generate_secret_key
from firehook.fires import fire_message
from firehook.ids import new_id, run_id_for
from firehook.settings import Settings
from firehook.store import upgrade_to_head_async
from firehook.store.accounts import insert_company
from firehook.store.tables import routines, triggers
from scheduler import Ticker
from scheduler.timing import Schedule, next_fire
from schemas.common import RunSource
from schemas.events import FireRequested

TRIGGERS_PER_ROUTINE = (
    2  # the due second lies this far after set-up, so loading is not measured as lateness
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(lateness: Sequence[float]) -> str:
    ordered = sorted(lateness)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return (
        f"fired {len(ordered)}  lateness p50 {statistics.median(ordered) * 1000:7.1f} ms  "
        f"p99 {p99 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )


class Recorder:
    """A bus subscriber noting when each fire arrived."""

    def __init__(self, expected: int) -> None:
        self.arrivals: list[float] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def __call__(self, batch: Sequence[Message]) -> None:
        now = time.time()
        self.arrivals.extend(now for _ in batch)
        if len(self.arrivals) >= self.expected:
            self.done.set()


async def populate(url: str, total: int, due: int, target: datetime) -> None:
    """Create the triggers: `due` of them due at `target`, the rest at 03:xx:yy daily."""
    await upgrade_to_head_async(url)
    settings = Settings(database_url=url, secret_key=generate_secret_key(), _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    now = datetime.now(UTC)
    due_expr = f"{target.second} {target.minute} {target.hour} * * *"
    other_exprs = [f"{s} {m} 3 * * *" for s in range(0, 60, 7) for m in range(0, 60, 11)]
    next_of = {expr: next_fire(Schedule.from_cron(expr), now) for expr in [due_expr, *other_exprs]}
    company_id = new_id()
    routine_ids = [new_id() for _ in range(total // TRIGGERS_PER_ROUTINE)]
    async with ctx.db.write() as conn:
        await insert_company(conn, id=company_id, name="bench", now=now)
        await conn.execute(
            routines.insert(),
            [
                {
                    "id": rid,
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
                    "retry": {},
                    "dispatch": {"type": "stream"},
                    "created_at": now,
                    "updated_at": now,
                }
                for rid in routine_ids
            ],
        )
        await conn.execute(
            triggers.insert(),
            [
                {
                    "id": new_id(),
                    "routine_id": routine_ids[index % len(routine_ids)],
                    "company_id": company_id,
                    "kind": "schedule",
                    "enabled": True,
                    "cron_expression": due_expr
                    if index < due
                    else other_exprs[index % len(other_exprs)],
                    "timezone": "UTC",
                    "next_run_at": next_of[
                        due_expr if index < due else other_exprs[index % len(other_exprs)]
                    ],
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for index in range(total)
            ],
        )
    await ctx.db.close()


async def firehook_run(url: str, due: int, target: datetime) -> dict[str, Any]:
    """In a fresh process: load the ticker, wait for the due second, record the fires."""
    settings = Settings(database_url=url, secret_key=generate_secret_key(), _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    bus = InProcessBus(max_batch=1000)
    ctx.bus = bus
    recorder = Recorder(due)
    bus.subscribe(settings.topic_fires, "bench", recorder)
    await bus.start()
    rss_start = rss_mb()
    ticker = Ticker(ctx)
    started = time.perf_counter()
    loaded = await ticker.load()
    load_sec = time.perf_counter() - started
    rss_loaded = rss_mb()
    if datetime.now(UTC) >= target:
        raise SystemExit("loading took past the due second; raise --lead")
    await ticker.start()
    await asyncio.wait_for(recorder.done.wait(), (target - datetime.now(UTC)).total_seconds() + 60)
    rss_fired = rss_mb()
    await ticker.stop()
    await bus.stop()
    await ctx.db.close()
    return {
        "loaded": loaded,
        "load_sec": load_sec,
        "rss_start": rss_start,
        "rss_loaded": rss_loaded,
        "rss_fired": rss_fired,
        "lateness": [a - target.timestamp() for a in recorder.arrivals],
    }


async def retarget(url: str, old: datetime, new: datetime) -> None:
    from sqlalchemy import update

    settings = Settings(database_url=url, secret_key=generate_secret_key(), _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(triggers)
            .where(triggers.c.next_run_at == old)
            .values(cron_expression=f"{new.second} {new.minute} {new.hour} * * *", next_run_at=new)
        )
    await ctx.db.close()


def _in_fresh_process(name: str, *args: Any) -> Any:
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return pool.submit(_run_async, name, *args).result()


def _run_async(name: str, *args: Any) -> Any:
    return asyncio.run(globals()[name](*args))


async def apscheduler_run(due: int, target: datetime) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    bus = InProcessBus(max_batch=1000)
    recorder = Recorder(due)
    bus.subscribe(settings.topic_fires, "bench", recorder)
    await bus.start()
    routine_ids = [new_id() for _ in range(due // TRIGGERS_PER_ROUTINE)]
    company_id = new_id()

    async def job(trigger_id: str, routine_id: str) -> None:
        key = f"schedule:{trigger_id}:{target.isoformat()}"
        fire = FireRequested(
            fire_id=new_id(),
            run_id=run_id_for(routine_id, key),
            routine_id=routine_id,
            company_id=company_id,
            source=RunSource.SCHEDULE,
            trigger_id=trigger_id,
            idempotency_key=key,
            scheduled_for=target,
            requested_at=datetime.now(UTC),
        )
        await bus.publish([fire_message(settings, fire)])

    scheduler = AsyncIOScheduler(timezone=UTC)
    cron = CronTrigger(second=target.second, minute=target.minute, hour=target.hour, timezone=UTC)
    for index in range(due):
        scheduler.add_job(
            job,
            cron,
            args=[new_id(), routine_ids[index % len(routine_ids)]],
            misfire_grace_time=3600,
            coalesce=True,
            max_instances=1,
        )
    scheduler.start()
    await asyncio.wait_for(recorder.done.wait(), (target - datetime.now(UTC)).total_seconds() + 120)
    scheduler.shutdown(wait=False)
    await bus.stop()
    return [arrival - target.timestamp() for arrival in recorder.arrivals]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triggers", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument(
        "--lead", type=float, default=12.0, help="seconds from set-up to the due second"
    )
    parser.add_argument("--skip-apscheduler", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        placeholder = _due_second(args.lead + 600)
        _in_fresh_process("populate", url, args.triggers, args.due, placeholder)
        # Populating takes a while: the due second is set afterwards, so that loading
        # (measured on its own) never counts as lateness.
        target = _due_second(args.lead)
        _in_fresh_process("retarget", url, placeholder, target)
        result = _in_fresh_process("firehook_run", url, args.due, target)
    print(
        f"firehook     {result['loaded']} triggers loaded in {result['load_sec']:.2f} s; "
        f"resident memory {result['rss_start']:.0f} MB before load, {result['rss_loaded']:.0f} MB loaded, "
        f"{result['rss_fired']:.0f} MB after firing"
    )
    print(f"firehook     {summary(result['lateness'])}")
    if args.skip_apscheduler:
        return
    baseline = asyncio.run(apscheduler_run(args.due, _due_second(args.lead)))
    print(f"apscheduler  {summary(baseline)}")
    ours, theirs = sorted(result["lateness"]), sorted(baseline)
    print(
        "ratio (apscheduler / firehook lateness): "
        f"p50 {statistics.median(theirs) / statistics.median(ours):.1f}x  "
        f"p99 {theirs[int(len(theirs) * 0.99) - 1] / ours[int(len(ours) * 0.99) - 1]:.1f}x  "
        f"max {theirs[-1] / ours[-1]:.1f}x"
    )


def _due_second(lead: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)


if __name__ == "__main__":
    main()
