"""A Kafka-mode executor: one member of consumer group `reports` on `firehook.runs`.

Start as many copies as you like: the group shares the partitions, and each (run,
attempt) is handled once. Results go to `firehook.run-results`. SIGTERM drains.

    KAFKA=localhost:9092 python -m examples.kafka_executor
"""

from __future__ import annotations

import asyncio
import os

from firehook.executor import Executor, Run

executor = Executor(concurrency=16, drain_timeout=30)


@executor.handler(title="Nightly report")
async def nightly_report(run: Run) -> dict[str, object]:
    """Chosen by the routine's title; the output becomes the run's `output`."""
    rows = int(run.parameters.get("sample_size", 10))
    await run.report_progress("querying", fraction=0.5)
    await asyncio.sleep(0.1)  # the real work
    return {"rows": rows, "scheduledFor": run.context["scheduledFor"]}


@executor.handler(task="nl-to-sql-regression")
async def regression(run: Run) -> dict[str, object]:
    """Chosen by the routine's task; init params arrive resolved in `run.parameters`."""
    left = run.seconds_left()
    if left is not None and left < 5:
        raise RuntimeError("not enough time left for a full regression")
    return {"model": run.parameters.get("model"), "attempt": run.attempt}


@executor.handler(labels={"projectId": "billing", "priority": "high"})
async def billing(run: Run) -> None:
    """Chosen by labels: the routine's attributes (and its task's collection)."""
    await run.report_progress(linked_issue_id=f"BILL-{run.id[:8]}")
    raise ValueError("the ledger is closed")  # the attempt fails; the retry policy decides


if __name__ == "__main__":
    executor.run_kafka(
        bootstrap_servers=os.environ.get("KAFKA", "localhost:9092"),
        group_id="reports",
        # Security, as FIREHOOK_KAFKA_* configure Firehook's own clients:
        client_options={"security_protocol": os.environ.get("KAFKA_SECURITY", "PLAINTEXT")},
    )
