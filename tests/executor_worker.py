"""An executor process for the tests and the benchmark: `python -m tests.executor_worker`.

Configured by environment (EXECUTOR_*). Its handler appends one line per event to
EXECUTOR_RECORD (`start|done|cancelled <run> <attempt> <pid>`), each line one
O_APPEND write, so processes sharing the file never interleave and a line written
before a SIGKILL is kept.
"""

from __future__ import annotations

import asyncio
import os
import sys

from firehook.executor import Executor, Run

TITLE = "Executor test routine"


def main() -> None:
    env = os.environ
    record = os.open(env["EXECUTOR_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    work = float(env.get("EXECUTOR_WORK_MS", "10")) / 1000
    pid = os.getpid()
    executor = Executor(
        concurrency=int(env.get("EXECUTOR_CONCURRENCY", "8")),
        drain_timeout=float(env.get("EXECUTOR_DRAIN_SEC", "10")),
    )

    def note(what: str, run: Run) -> None:
        os.write(record, f"{what} {run.id} {run.attempt} {pid}\n".encode())

    @executor.handler(title=TITLE)
    async def handle(run: Run) -> dict[str, object]:
        note("start", run)
        try:
            if (run.payload or {}).get("hang"):
                await asyncio.Event().wait()
            await asyncio.sleep(work)
        except asyncio.CancelledError:
            note("cancelled", run)
            raise
        note("done", run)
        return {"n": (run.payload or {}).get("n"), "parameters": run.parameters}

    if sys.argv[1] == "kafka":
        executor.run_kafka(
            bootstrap_servers=env["EXECUTOR_BOOTSTRAP"],
            group_id=env["EXECUTOR_GROUP"],
            runs_topic=env["EXECUTOR_RUNS_TOPIC"],
            results_topic=env["EXECUTOR_RESULTS_TOPIC"],
            enable_idempotence=False,
            session_timeout_ms=2000,
            heartbeat_interval_ms=200,
            api_url=env.get("EXECUTOR_API_URL"),
            api_key=env.get("EXECUTOR_API_KEY"),
        )
    else:
        executor.run_stream(
            base_url=env["EXECUTOR_BASE_URL"],
            api_key=env["EXECUTOR_API_KEY"],
            company_id=env["EXECUTOR_COMPANY_ID"],
            reconnect_delay=0.2,
        )


if __name__ == "__main__":
    main()
