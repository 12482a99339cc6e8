"""Executor throughput: firehook.executor against a bare aiokafka consumer doing the same work.

Both read the same N `dev.firehook.run.dispatched` events from a runs topic on a tansu
broker, run the same handler with the same concurrency, produce one CloudEvents run
result each on a results topic (acks=all) and commit their offsets; each is timed from
its first handler call to its last handler's end (the group join is left out). The bare consumer
is what an executor is without the SDK: no dedupe, no deadline, no catch-up after a
rebalance, no cancellation, no bounded drain. The SDK's overhead per run is the
difference of the two per-run times.

    python bench/executor.py
    python bench/executor.py --runs 20000 --concurrency 64 --work-ms 0
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from consumers.records import run_event
from firehook.cloudevents import encode_event
from firehook.devservers import KafkaBroker
from firehook.executor import Executor, Run
from schemas.events import RUN_RESULT, RunResult

PARTITIONS = 4


def dispatched_events(topic: str, runs: int, routines: int) -> list[tuple[bytes, bytes, list[Any]]]:
    """(key, value, headers) of `runs` dispatched events spread over `routines` routines."""
    now = datetime.now(UTC)
    routine_ids = [str(uuid.uuid4()) for _ in range(routines)]
    company_id = str(uuid.uuid4())
    messages = []
    for n in range(runs):
        routine_id = routine_ids[n % routines]
        run_id = str(uuid.uuid4())
        data = run_event(
            {
                "id": run_id,
                "routine_id": routine_id,
                "company_id": company_id,
                "status": "dispatched",
                "attempt": 1,
                "source": "webhook",
                "payload": {"n": n},
                "created_at": now,
                "dispatched_at": now,
                "deadline_at": now + timedelta(hours=1),
                "attempts": [{"attempt": 1, "status": "dispatched"}],
            }
        )
        data["routine"] = {"id": routine_id, "title": "Bench", "projectId": "bench"}
        data["task"], data["parameters"] = None, {}
        message = encode_event(
            topic=topic,
            key=routine_id,
            event_id=f"{run_id}:dispatched:1",
            event_type="dev.firehook.run.dispatched",
            time=now,
            data=data,
            subject=run_id,
        )
        messages.append((routine_id.encode(), message.value, list(message.headers)))
    return messages


async def publish(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, list[Any]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        acks = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in messages
        ]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


class Timed:
    """The handler both sides run, timing from its first call to the end of call `runs`."""

    def __init__(self, runs: int, work_sec: float) -> None:
        self.runs = runs
        self.work_sec = work_sec
        self.handled = 0
        self.first: float | None = None
        self.last = 0.0
        self.all_done = asyncio.Event()

    async def __call__(self, run: Run) -> dict[str, Any]:
        if self.first is None:
            self.first = time.perf_counter()
        await asyncio.sleep(self.work_sec)
        self.handled += 1
        if self.handled == self.runs:
            self.last = time.perf_counter()
            self.all_done.set()
        return {"n": (run.payload or {}).get("n")}

    @property
    def seconds(self) -> float:
        assert self.first is not None
        return self.last - self.first


async def with_sdk(
    bootstrap: str,
    runs_topic: str,
    results_topic: str,
    runs: int,
    concurrency: int,
    work_sec: float,
) -> float:
    executor = Executor(concurrency=concurrency)
    handler = Timed(runs, work_sec)
    executor.handler(title="Bench")(handler)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        executor.serve_kafka(
            bootstrap_servers=bootstrap,
            group_id=f"bench-sdk-{uuid.uuid4().hex[:8]}",
            runs_topic=runs_topic,
            results_topic=results_topic,
            enable_idempotence=False,
            stop=stop,
        )
    )
    await handler.all_done.wait()
    stop.set()
    await serving
    return handler.seconds


async def bare(
    bootstrap: str,
    runs_topic: str,
    results_topic: str,
    runs: int,
    concurrency: int,
    work_sec: float,
) -> float:
    """The same work with aiokafka alone: batches, a semaphore, results, then a commit."""
    consumer = AIOKafkaConsumer(
        runs_topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    handler = Timed(runs, work_sec)
    slots = asyncio.Semaphore(concurrency)
    handled = 0
    await producer.start()
    await consumer.start()

    async def one(value: bytes) -> None:
        nonlocal handled
        async with slots:
            data = orjson.loads(value)
            run = Run.from_event(data)
            output = await handler(run)
            result = RunResult(
                run_id=run.id, status="succeeded", output=output, attempt=run.attempt
            )
            message = encode_event(
                topic=results_topic,
                key=run.routine_id,
                event_id=f"{run.id}:result:{run.attempt}",
                event_type=RUN_RESULT,
                time=datetime.now(UTC),
                data=result,
                subject=run.id,
            )
            await producer.send_and_wait(
                results_topic,
                message.value,
                key=run.routine_id.encode(),
                headers=list(message.headers),
            )
            handled += 1

    try:
        while handled < runs:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            await asyncio.gather(*(one(r.value) for records in batch.values() for r in records))
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return handler.seconds


async def main(runs: int, concurrency: int, work_ms: float, routines: int) -> None:
    broker = KafkaBroker().start()
    try:
        bootstrap = broker.bootstrap_servers
        name = f"bench{uuid.uuid4().hex[:8]}"
        runs_topic, results = f"{name}.runs", f"{name}.run-results"
        await publish(bootstrap, runs_topic, dispatched_events(runs_topic, runs, routines))
        work_sec = work_ms / 1000
        # Alternate, so that neither side always gets the warmer machine.
        timings: dict[str, list[float]] = {"sdk": [], "bare": []}
        for _ in range(2):
            timings["bare"].append(
                await bare(bootstrap, runs_topic, results + ".bare", runs, concurrency, work_sec)
            )
            timings["sdk"].append(
                await with_sdk(bootstrap, runs_topic, results + ".sdk", runs, concurrency, work_sec)
            )
    finally:
        broker.stop()
    sdk, plain = min(timings["sdk"]), min(timings["bare"])
    print(
        f"runs: {runs}, concurrency: {concurrency}, handler work: {work_ms} ms, routines: {routines}"
    )
    print(
        f"bare aiokafka consumer: {runs / plain:8.0f} runs/s  ({plain * 1e6 / runs:7.1f} µs a run)"
    )
    print(f"firehook.executor:      {runs / sdk:8.0f} runs/s  ({sdk * 1e6 / runs:7.1f} µs a run)")
    print(f"SDK overhead:           {(sdk - plain) * 1e6 / runs:8.1f} µs a run")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--work-ms", type=float, default=1.0)
    parser.add_argument("--routines", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.concurrency, args.work_ms, args.routines))
