"""Executor groups with real processes: webhook fires through gateway, tansu and consumer
(or one embedded `firehook dev`), handled by SDK executors in two processes of one
group, one of them killed with SIGKILL midway. No run is lost and no (run, attempt)
is handled twice."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from firehook.devservers import free_port
from firehook.store import Database
from tests.executor_worker import TITLE
from tests.processes import (
    ROOT,
    WEBHOOK_SECRET,
    RoleProcess,
    Tenant,
    Topology,
    create_routine,
    create_tenant,
    read_topic,
    run_rows,
    send_webhook,
    topology,  # noqa: F401  (fixture)
)
from tests.test_cloudevents_conformance import check_conformance

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FIRES = 1000
# Embedded mode goes through one SQLite gateway for every fire, claim and result (four
# requests a run); on a loaded 2-core machine it serves about 60 a second, so fewer fires.
EMBEDDED_FIRES = 300
FINAL = {"succeeded", "failed", "timed_out", "cancelled", "skipped", "coalesced"}
ROUTINE = {
    "title": TITLE,
    "concurrencyPolicy": "always_enqueue",
    "runTimeoutSec": 30,
    "retry": {"maxAttempts": 3, "strategy": "fixed", "baseDelaySec": 0, "maxDelaySec": 0},
}


class Record:
    """The lines the executor processes append to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self) -> list[tuple[str, str, int, int]]:
        rows = []
        for line in self.path.read_text().splitlines():
            what, run_id, attempt, pid = line.split()
            rows.append((what, run_id, int(attempt), int(pid)))
        return rows

    def done_by(self, pid: int) -> int:
        return sum(1 for what, _, _, p in self.lines() if what == "done" and p == pid)


def executor_process(workdir: Path, mode: str, record: Record, **env: str) -> RoleProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIREHOOK_")}
    environment |= {
        "PYTHONPATH": str(ROOT),
        "EXECUTOR_RECORD": str(record.path),
        "EXECUTOR_WORK_MS": "10",
        "EXECUTOR_CONCURRENCY": "8",
        **env,
    }
    port = free_port()
    return RoleProcess(
        [f"executor-{mode}"],
        environment,
        port,
        workdir / f"executor-{mode}-{port}.log",
        workdir,
        command=[sys.executable, "-m", "tests.executor_worker", mode],
    )


async def fire_webhooks(url: str, tenants: list[Tenant], count: int, senders: int = 16) -> set[str]:
    """`count` signed webhooks, spread over the routines of `tenants`; the run ids of those
    answered 202."""
    accepted: set[str] = set()
    queue = list(range(count))

    async def sender(http: httpx.AsyncClient) -> None:
        while queue:
            n = queue.pop()
            for _ in range(150):
                attempt = await send_webhook(http, tenants[n % len(tenants)], n)
                if attempt.status == 202 and attempt.body:
                    accepted.add(str(attempt.body.get("id") or attempt.body.get("runId")))
                    break
                await asyncio.sleep(0.1)

    async with httpx.AsyncClient(base_url=url, timeout=15.0) as http:
        await asyncio.gather(*(sender(http) for _ in range(senders)))
    return accepted


async def wait_final(database_url: str, run_ids: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = {r["id"]: r for r in await run_rows(database_url) if r["id"] in run_ids}
        if all(r["status"] in FINAL for r in rows.values()) and len(rows) == len(run_ids):
            return rows
        if time.monotonic() > deadline:
            statuses = Counter(r["status"] for r in rows.values())
            raise AssertionError(f"runs not final after {timeout} s: {statuses}, {len(rows)}")
        await asyncio.sleep(0.5)


async def wait_done(process: RoleProcess, record: Record, count: int, timeout: float) -> None:
    """Until `process` has handled `count` runs."""
    deadline = time.monotonic() + timeout
    while record.done_by(process.pid) < count:
        assert time.monotonic() < deadline, f"executor handled too little:\n{process.log_tail()}"
        await asyncio.sleep(0.05)


async def webhook_routines(url: str, tenant: Tenant, count: int) -> list[Tenant]:
    """`tenant` and `count - 1` more routines like its own, each with a webhook trigger:
    routines are partition keys, so the runs spread over the partitions of the group."""
    routines = [tenant]
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(count - 1):
            routine_id = await create_routine(http, tenant, **ROUTINE)
            trigger = await http.post(
                f"/api/routines/{routine_id}/triggers",
                json={"kind": "webhook", "signingMode": "hmac_sha256", "secret": WEBHOOK_SECRET},
                headers=tenant.auth,
            )
            assert trigger.status_code == 201, trigger.text
            routines.append(replace(tenant, routine_id=routine_id, trigger=trigger.json()))
    return routines


async def kill_busiest(
    members: list[RoleProcess], record: Record, after: int, timeout: float
) -> tuple[RoleProcess, RoleProcess, int]:
    """Once the group has handled `after` runs, SIGKILL the member that handled most;
    (killed, survivor, what the killed one had handled)."""
    deadline = time.monotonic() + timeout
    while sum(record.done_by(member.pid) for member in members) < after:
        assert time.monotonic() < deadline, "the group handled too little"
        await asyncio.sleep(0.05)
    victim, survivor = sorted(members, key=lambda m: record.done_by(m.pid), reverse=True)
    victim.kill()
    return victim, survivor, record.done_by(victim.pid)


async def kill_midway(victim: RoleProcess, record: Record, after: int, timeout: float) -> int:
    """SIGKILL `victim` once it has handled `after` runs; how many it had then."""
    await wait_done(victim, record, after, timeout)
    victim.kill()
    return record.done_by(victim.pid)


def check_handled_once(
    record: Record, runs: dict[str, Any], killed: int, attempts: dict[str, int]
) -> dict[str, int]:
    """Every run succeeded; every (run, attempt) done at most once, and the run's last
    attempt done by someone. Figures of what happened."""
    done = Counter(
        (run_id, attempt) for what, run_id, attempt, _ in record.lines() if what == "done"
    )
    twice = {key: n for key, n in done.items() if n > 1}
    assert not twice, f"handled more than once: {list(twice.items())[:5]}"
    statuses = Counter(r["status"] for r in runs.values())
    assert statuses == {"succeeded": len(runs)}, statuses
    for run_id in runs:
        assert done[(run_id, attempts[run_id])] == 1, run_id
    by_pid = Counter(pid for what, _, _, pid in record.lines() if what == "done")
    lines = record.lines()
    started = {(r, a) for what, r, a, pid in lines if what == "start" and pid == killed}
    finished = {(r, a) for what, r, a, pid in lines if what == "done" and pid == killed}
    return {
        "interrupted": len(started - finished),
        "by_killed": by_pid[killed],
        "by_survivor": sum(n for pid, n in by_pid.items() if pid != killed),
        "retried": sum(1 for a in attempts.values() if a > 1),
    }


async def current_attempts(database_url: str, run_ids: set[str]) -> dict[str, int]:
    db = Database(database_url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(text("select id, attempt from runs"))).all()
    finally:
        await db.close()
    return {row[0]: int(row[1]) for row in rows if row[0] in run_ids}


async def test_a_kafka_group_survives_a_killed_member(topology: Topology) -> None:  # noqa: F811
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await asyncio.gather(gateway.wait_ready(), consumer.wait_ready())
    tenant = await create_tenant(gateway.url, topology.database_url, **ROUTINE)
    record = Record(topology.workdir / "record.txt")
    group = {
        "EXECUTOR_BOOTSTRAP": topology.bootstrap,
        "EXECUTOR_GROUP": f"{topology.name}.executors",
        "EXECUTOR_RUNS_TOPIC": topology.topics["runs"],
        "EXECUTOR_RESULTS_TOPIC": topology.topics["run_results"],
    }
    group |= {"EXECUTOR_CONCURRENCY": "16", "EXECUTOR_WORK_MS": "50"}
    members = [
        executor_process(topology.workdir, "kafka", record, **group).start() for _ in range(2)
    ]
    topology.processes += members
    routines = await webhook_routines(gateway.url, tenant, 16)
    started = time.monotonic()
    firing = asyncio.create_task(fire_webhooks(gateway.url, routines, FIRES))
    first, second, handled_at_kill = await kill_busiest(members, record, FIRES // 3, timeout=90)
    run_ids = await firing
    assert len(run_ids) == FIRES
    runs = await wait_final(topology.database_url, run_ids, timeout=90)
    elapsed = time.monotonic() - started
    figures = check_handled_once(
        record, runs, first.pid, await current_attempts(topology.database_url, run_ids)
    )
    print(
        f"kafka group: {FIRES} runs in {elapsed:.1f} s, killed after {handled_at_kill}, {figures}"
    )
    assert figures["by_survivor"] > 0
    # The results the executors produced are CloudEvents the reference SDK reads.
    results = await read_topic(
        topology.bootstrap, topology.topics["run_results"], until=lambda got: len(got) >= FIRES
    )
    for message in results:
        event = check_conformance(message, r"dev\.firehook\.run\.result")
        assert event.get_subject() == event.get_data()["runId"]
    # SIGTERM drains: the survivor stops cleanly, within its bound.
    assert second.terminate(timeout=30) == 0
    consumer.terminate()
    gateway.terminate()


def dev_process(workdir: Path, port: int) -> RoleProcess:
    """`firehook dev` (SQLite, in-process bus) on `port`, over the same files each time."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIREHOOK_")}
    environment |= {
        "FIREHOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'dev.db'}",
        "FIREHOOK_SECRET_KEY_FILE": str(workdir / "dev.key"),
        "FIREHOOK_HOST": "127.0.0.1",
        "FIREHOOK_PORT": str(port),
        "FIREHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "FIREHOOK_LOG_FORMAT": "console",
        "FIREHOOK_WEBHOOK_RATE_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_RATE_PER_TRIGGER": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_TRIGGER": "1000000",
    }
    return RoleProcess(["dev"], environment, port, workdir / f"dev-{port}.log", workdir)


def printed(process: RoleProcess, label: str) -> str:
    for line in process.log_lines():
        if line.strip().startswith(label):
            return line.split(label, 1)[1].strip()
    raise AssertionError(f"{label} not printed:\n{process.log_tail()}")


async def dev_tenant(dev: RoleProcess) -> tuple[Tenant, str]:
    """A board key, the test routine and its webhook trigger in the company `dev` made."""
    admin = {"Authorization": f"Bearer {printed(dev, 'admin key:')}"}
    company_id = printed(dev, "company:")
    async with httpx.AsyncClient(base_url=dev.url, timeout=10) as http:
        key = await http.post(
            f"/api/companies/{company_id}/api-keys", json={"role": "board"}, headers=admin
        )
        assert key.status_code == 201, key.text
        tenant = Tenant(company_id, key.json()["key"], "")
        body = (
            {"assigneeAgentId": "agent-1", "projectId": "tests"} | ROUTINE | {"runTimeoutSec": 30}
        )
        routine = await http.post(
            f"/api/companies/{company_id}/routines", json=body, headers=tenant.auth
        )
        assert routine.status_code == 201, routine.text
        tenant.routine_id = routine.json()["id"]
        trigger = await http.post(
            f"/api/routines/{tenant.routine_id}/triggers",
            json={"kind": "webhook", "signingMode": "hmac_sha256", "secret": WEBHOOK_SECRET},
            headers=tenant.auth,
        )
        assert trigger.status_code == 201, trigger.text
        tenant.trigger = trigger.json()
    return tenant, company_id


async def test_an_embedded_group_over_sse_survives_a_killed_member_and_a_reconnect(
    tmp_path: Path,
) -> None:
    port = free_port()
    dev = dev_process(tmp_path, port).start()
    processes = [dev]
    try:
        await dev.wait_ready()
        tenant, company_id = await dev_tenant(dev)
        record = Record(tmp_path / "record.txt")
        group = {
            "EXECUTOR_BASE_URL": dev.url,
            "EXECUTOR_API_KEY": tenant.board_key,
            "EXECUTOR_COMPANY_ID": company_id,
        }
        group["EXECUTOR_CONCURRENCY"] = "32"
        first = executor_process(tmp_path, "stream", record, **group).start()
        second = executor_process(tmp_path, "stream", record, **group).start()
        processes += [first, second]
        started = time.monotonic()
        firing = asyncio.create_task(fire_webhooks(dev.url, [tenant], EMBEDDED_FIRES))
        handled_at_kill = await kill_midway(first, record, EMBEDDED_FIRES // 5, timeout=120)
        # The gateway goes away under the survivor: it resumes with Last-Event-ID.
        await wait_done(second, record, EMBEDDED_FIRES // 3, timeout=120)
        dev.kill()
        await asyncio.sleep(1.0)
        dev = dev_process(tmp_path, port).start()
        processes.append(dev)
        await dev.wait_ready()
        run_ids = await firing
        assert len(run_ids) == EMBEDDED_FIRES
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
        runs = await wait_final(db_url, run_ids, timeout=120)
        elapsed = time.monotonic() - started
        figures = check_handled_once(
            record, runs, first.pid, await current_attempts(db_url, run_ids)
        )
        print(
            f"embedded group: {EMBEDDED_FIRES} runs in {elapsed:.1f} s, killed after {handled_at_kill}, {figures}"
        )
        assert figures["by_survivor"] > 0
        assert any("reconnecting" in line for line in second.log_lines()), second.log_tail()
        assert second.terminate(timeout=30) == 0
    finally:
        for process in processes:
            process.kill()


async def wait_line(record: Record, what: str, run_id: str, timeout: float = 60) -> int:
    """Until the record has `what` for `run_id`; the attempt it names."""
    deadline = time.monotonic() + timeout
    while True:
        for line_what, line_run, attempt, _ in record.lines():
            if line_what == what and line_run == run_id:
                return attempt
        assert time.monotonic() < deadline, f"no {what} for {run_id}: {record.lines()}"
        await asyncio.sleep(0.05)


async def test_cancel_and_deadline_reach_the_handler_of_a_claimed_attempt(
    topology: Topology,  # noqa: F811
) -> None:
    gateway = topology.role("gateway").start()
    consumer = topology.role("consumer").start()
    await asyncio.gather(gateway.wait_ready(), consumer.wait_ready())
    tenant = await create_tenant(gateway.url, topology.database_url, webhook=False, title=TITLE)
    record = Record(topology.workdir / "record.txt")
    executor = executor_process(
        topology.workdir,
        "kafka",
        record,
        EXECUTOR_BOOTSTRAP=topology.bootstrap,
        EXECUTOR_GROUP=f"{topology.name}.executors",
        EXECUTOR_RUNS_TOPIC=topology.topics["runs"],
        EXECUTOR_RESULTS_TOPIC=topology.topics["run_results"],
        EXECUTOR_DRAIN_SEC="2",
        # This one also claims each attempt through the API before it starts.
        EXECUTOR_API_URL=gateway.url,
        EXECUTOR_API_KEY=tenant.board_key,
    ).start()
    topology.processes.append(executor)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        short = await create_routine(http, tenant, title=TITLE, runTimeoutSec=3)

        async def hang(routine_id: str) -> str:
            fired = await http.post(
                f"/api/routines/{routine_id}/run",
                json={"payload": {"hang": True}},
                headers=tenant.auth,
            )
            assert fired.status_code == 202, fired.text
            body = fired.json()
            return str(body.get("runId") or body.get("id"))

        cancelled_run, overdue_run = await hang(tenant.routine_id), await hang(short)
        await wait_line(record, "start", cancelled_run)
        claimed = (await http.get(f"/api/runs/{cancelled_run}", headers=tenant.auth)).json()
        assert claimed["status"] == "running", claimed
        cancel = await http.post(f"/api/runs/{cancelled_run}/cancel", headers=tenant.auth)
        assert cancel.status_code == 200, cancel.text
        # The cancelled event on the runs topic cancels the handler in the executor.
        await wait_line(record, "cancelled", cancelled_run, timeout=30)
        # The deadline cancels the other, about 3 s after its dispatch.
        await wait_line(record, "start", overdue_run)
        await wait_line(record, "cancelled", overdue_run, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            run = (await http.get(f"/api/runs/{overdue_run}", headers=tenant.auth)).json()
            if run["status"] in FINAL or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        # Whichever came first, the executor's failure or the core's timeout, the run ended.
        assert run["status"] in {"failed", "timed_out"}, run
        cancelled = (await http.get(f"/api/runs/{cancelled_run}", headers=tenant.auth)).json()
        assert cancelled["status"] == "cancelled"
        # SIGTERM while a handler hangs: the drain is bounded (EXECUTOR_DRAIN_SEC), and the
        # cut attempt is reported failed, not lost.
        stuck_run = await hang(tenant.routine_id)
        await wait_line(record, "start", stuck_run)
        stopping = time.monotonic()
        assert executor.terminate(timeout=30) == 0
        assert time.monotonic() - stopping < 15
        await wait_line(record, "cancelled", stuck_run, timeout=5)
        stuck = (await http.get(f"/api/runs/{stuck_run}", headers=tenant.auth)).json()
        deadline = time.monotonic() + 30
        while stuck["status"] not in FINAL and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            stuck = (await http.get(f"/api/runs/{stuck_run}", headers=tenant.auth)).json()
        assert stuck["status"] == "failed" and stuck["error"] == "executor stopped before the end"
    assert not [line for line in record.lines() if line[0] == "done"]
