"""Webhook ingest: Firehook against what a user would write instead, and a bare endpoint.

Every server runs in its own process under uvicorn on a free loopback port, and
gets the same load, one after the other: valid, distinct HMAC-signed requests (a
repeated signature would be refused as a replay) from a fixed number of
connections, with `wrk` when it is installed, else an asyncio httpx client.

Embedded mode (the default), at each SQLite durability level (`FULL`, `NORMAL`):

* Firehook exactly as `firehook dev` runs it (SQLite, in-process bus: each 202
  means the run is committed), with one routine and one `hmac_sha256` trigger;
* a hand-rolled receiver (`bench/handrolled.py`): verify the HMAC, parse the JSON,
  INSERT the fire into SQLite (WAL) and commit, then 202;
* a bare Starlette endpoint that answers 202 and does nothing else.

Kafka mode (`--kafka BOOTSTRAP`, or `--kafka tansu` to start a local broker): the
production `firehook gateway` role alone (publishing to a topic nobody consumes
during the run) and `firehook dev --kafka` (consumer in the same process), against a hand-rolled Starlette receiver that verifies the
HMAC and awaits aiokafka's `send_and_wait` with `acks=all`.

It prints each server's requests/s, p50 and p99, the CPU (user + system) its
process spent per request, which other load on the machine distorts far less than
requests/s, and the ratios Firehook / hand-rolled and Firehook / bare.

    python bench/ingest.py
    python bench/ingest.py --duration 10 --connections 64 --repeat 3
    python bench/ingest.py --synchronous FULL
    python bench/ingest.py --kafka tansu
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
import dataclasses
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

SECRET = "bench-secret-0123456789abcdef-0123456789"
FIRE_PATH = "/api/routine-triggers/public/{public_id}/fire"
# Enough signed requests that a run never has to send one twice (that would be a 409).
REQUESTS_PER_SECOND_CEILING = 12_000

_WRK_SCRIPT = """
local host, path, data = "{host}", "{path}", "{data}"
local requests = {{}}
for line in io.lines(data) do
  local ts, sig, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  requests[#requests + 1] = wrk.format("POST", path, {{
    ["Host"] = host,
    ["Content-Type"] = "application/json",
    ["X-Firehook-Timestamp"] = ts,
    ["X-Firehook-Signature"] = sig,
  }}, body)
end
local next_thread = 0
function setup(thread)
  thread:set("first", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  stride = tonumber(args[1])
  index = first
end
function request()
  local r = requests[(index % #requests) + 1]
  index = index + stride
  return r
end
"""


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """The server process's CPU (user + system) per request, in microseconds."""
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<22} {self.rps:>8.0f} req/s   p50 {self.p50_ms:>7.2f} ms   "
            f"p99 {self.p99_ms:>7.2f} ms   CPU {self.cpu_us:>5.0f} us/req   "
            f"requests {self.requests:>7}   non-2xx {self.errors}"
        )


# --- servers ----------------------------------------------------------------------------


def server_stack() -> str:
    """How uvicorn serves both apps here: it takes uvloop and httptools when installed."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn on {loop} with {http}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_bare(port: int) -> None:
    """The baseline: uvicorn and Starlette routing, answering 202 to the same path."""
    import logging

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def accept(_request: Request) -> Response:
        return Response(status_code=202)

    logging.basicConfig(level=logging.WARNING)
    app = Starlette(
        routes=[Route(FIRE_PATH.format(public_id="{publicId}"), accept, methods=["POST"])]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")


@contextlib.contextmanager
def process(
    command: list[str], log: Path, env: dict[str, str], cwd: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            yield child
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_ready(base: str, child: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/livez", timeout=1)
            return
        time.sleep(0.1)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def dev_credentials(log: Path) -> tuple[str, str]:
    """The company id and admin key that `firehook dev` prints on an empty database."""
    text = log.read_text()
    company = re.search(r"company:\s+(\S+)", text)
    key = re.search(r"admin key:\s+(\S+)", text)
    if company is None or key is None:
        raise SystemExit(f"firehook dev printed no admin key:\n{text}")
    return company.group(1), key.group(1)


def create_trigger(base: str, company_id: str, admin_key: str) -> str:
    """A routine with an hmac_sha256 webhook trigger; its public id."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as http:
        routine = http.post(
            f"/api/companies/{company_id}/routines",
            json={
                "title": "ingest bench",
                "assigneeAgentId": "agent-1",
                "projectId": "bench",
                "concurrencyPolicy": "always_enqueue",
            },
        )
        routine.raise_for_status()
        trigger = http.post(
            f"/api/routines/{routine.json()['id']}/triggers",
            json={
                "kind": "webhook",
                "signingMode": "hmac_sha256",
                "secret": SECRET,
                "replayWindowSec": 3600,
            },
        )
        trigger.raise_for_status()
        return str(trigger.json()["trigger"]["publicId"])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- load -------------------------------------------------------------------------------


def signed(n: int, run: str) -> tuple[str, str, bytes]:
    """Timestamp, signature header and body of the `n`-th request (as `firehook sign` would)."""
    body = b'{"event":"bench","run":"%s","n":%d,"data":{"repo":"firehook","ok":true}}' % (
        run.encode(),
        n,
    )
    timestamp = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return timestamp, "sha256=" + mac.hexdigest(), body


def run_wrk(
    name: str, url: str, path: str, seconds: float, connections: int, workdir: Path
) -> Result:
    count = int(seconds * REQUESTS_PER_SECOND_CEILING) + 1000
    run = os.urandom(6).hex()
    data = workdir / f"requests-{run}.tsv"
    with data.open("wb") as out:
        for n in range(count):
            timestamp, signature, body = signed(n, run)
            out.write(b"%s\t%s\t%s\n" % (timestamp.encode(), signature.encode(), body))
    script = workdir / f"requests-{run}.lua"
    host = url.split("://", 1)[1].split("/", 1)[0]
    script.write_text(_WRK_SCRIPT.format(host=host, path=path, data=data))
    threads = 1
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
        "--",
        str(threads),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    data.unlink()
    return _parse_wrk(name, output)


def _parse_wrk(name: str, output: str) -> Result:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}

    def milliseconds(pattern: str) -> float:
        match = re.search(pattern + r"\s+([\d.]+)(us|ms|s|m|h)\b", output)
        if match is None:
            raise SystemExit(f"cannot read {pattern!r} in wrk's output:\n{output}")
        return float(match.group(1)) * units[match.group(2)]

    total = re.search(r"(\d+) requests in", output)
    if total is None:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(
        name,
        int(total.group(1)),
        milliseconds(r"requests in") / 1000,
        milliseconds(r"50%"),
        milliseconds(r"99%"),
        failed,
    )


async def _run_httpx(name: str, url: str, seconds: float, connections: int) -> Result:
    latencies: list[float] = []
    errors = 0
    run = os.urandom(6).hex()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        # One client, one connection per worker: a shared pool serialises on its lock.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            while time.perf_counter() < deadline:
                timestamp, signature, body = signed(next(counter), run)
                headers = {
                    "Content-Type": "application/json",
                    "X-Firehook-Timestamp": timestamp,
                    "X-Firehook-Signature": signature,
                }
                sent = time.perf_counter()
                response = await http.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                errors += not 200 <= response.status_code < 300

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return Result(name, len(latencies), elapsed, p50, p99, errors)


def run_load(
    tool: str, name: str, base: str, path: str, seconds: float, connections: int, workdir: Path
) -> Result:
    if tool == "wrk":
        return run_wrk(name, base + path, path, seconds, connections, workdir)
    return asyncio.run(_run_httpx(name, base + path, seconds, connections))


# --- main -------------------------------------------------------------------------------


@dataclass
class Server:
    """One server under test: how to start it, and whether it is Firehook."""

    name: str
    command: list[str]
    env: dict[str, str]
    firehook: bool = False
    port: int = 0
    path: str = FIRE_PATH.format(public_id="bench")
    pid: int = 0
    # Measured after the others: its work outlasts its load (see servers_under_test).
    measure_last: bool = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def firehook_dev(name: str, workdir: Path, env: dict[str, str], *extra: str) -> Server:
    database = workdir / f"{name.replace(' ', '-')}.db"
    command = [sys.executable, "-m", "firehook.cli", "dev", "--host", "127.0.0.1", "--port"]
    return Server(
        name, [*command, "{port}", "--database-url", f"sqlite:///{database}", *extra], env, True
    )


def handrolled(name: str, *args: str) -> Server:
    script = str(Path(__file__).resolve().parent / "handrolled.py")
    return Server(name, [sys.executable, script, args[0], "{port}", *args[1:]], dict(os.environ))


def servers_under_test(
    args: argparse.Namespace, workdir: Path, env: dict[str, str]
) -> list[Server]:
    bare = Server(
        "bare", [sys.executable, os.path.abspath(__file__), "--serve-bare", "{port}"], env
    )
    if args.kafka:
        kafka_env = env | {"FIREHOOK_KAFKA_ENABLE_IDEMPOTENCE": "false"}
        topic = f"bench-{os.urandom(4).hex()}"
        dev = firehook_dev("firehook dev --kafka", workdir, kafka_env, "--kafka", args.kafka)
        # Its consumer goes on turning the fires into runs after its load ends, on the
        # same cores and in the database the gateway shares: measured before, the
        # gateway would pay for it.
        dev.measure_last = True
        # The production gateway role alone, on the dev server's database (it only reads it).
        # Its fires go to a topic of their own: on the dev server's, the dev server's
        # consumer would turn them into runs on the same cores while the gateway is measured.
        gateway_env = kafka_env | {
            "FIREHOOK_DATABASE_URL": dev.command[dev.command.index("--database-url") + 1],
            "FIREHOOK_KAFKA_BOOTSTRAP_SERVERS": args.kafka,
            "FIREHOOK_TOPIC_FIRES": f"bench-gateway-fires-{os.urandom(4).hex()}",
            "FIREHOOK_HOST": "127.0.0.1",
            "FIREHOOK_PORT": "{port}",
        }
        gateway = Server(
            "firehook gateway", [sys.executable, "-m", "firehook.cli", "gateway"], gateway_env, True
        )
        # The gateway starts after the dev server, whose trigger it serves.
        return [bare, handrolled("hand-rolled kafka", "kafka", args.kafka, topic), dev, gateway]
    levels = ["FULL", "NORMAL"] if args.synchronous == "both" else [args.synchronous]
    servers = [bare]
    for level in levels:
        servers.append(
            handrolled(f"hand-rolled {level}", "sqlite", str(workdir / f"hand-{level}.db"), level)
        )
        servers.append(
            firehook_dev(f"firehook {level}", workdir, env | {"FIREHOOK_SQLITE_SYNCHRONOUS": level})
        )
    return servers


def ratios(results: dict[str, Result], kafka: bool) -> list[str]:
    rps = {name: result.rps for name, result in results.items()}
    lines = []
    pairs = (
        [("firehook gateway", "hand-rolled kafka"), ("firehook dev --kafka", "hand-rolled kafka")]
        if kafka
        else [(f"firehook {level}", f"hand-rolled {level}") for level in ("FULL", "NORMAL")]
    )
    for ours, theirs in pairs:
        if ours in rps and theirs in rps and rps[theirs]:
            lines.append(f"{ours} / {theirs}: {rps[ours] / rps[theirs]:.2f}")
    for name in rps:
        if name.startswith("firehook") and rps["bare"]:
            lines.append(f"{name} / bare: {rps[name] / rps['bare']:.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="measurements of each server")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--synchronous",
        choices=["both", "FULL", "NORMAL"],
        default="both",
        help="SQLite durability of Firehook and the hand-rolled receiver (embedded mode)",
    )
    parser.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="Kafka mode: the gateway role and `firehook dev --kafka` against a hand-rolled "
        "aiokafka receiver; `tansu` starts a local broker",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    with contextlib.ExitStack() as stack:
        if args.kafka == "tansu":
            from firehook.devservers import KafkaBroker

            args.kafka = stack.enter_context(KafkaBroker(use_env=False)).bootstrap_servers
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firehook-ingest-")))
        _measure(args, tool, workdir, stack)
    return 0


def _measure(
    args: argparse.Namespace, tool: str, workdir: Path, stack: contextlib.ExitStack
) -> None:
    env = os.environ | {
        "FIREHOOK_SECRET_KEY_FILE": str(workdir / "firehook.key"),
        "FIREHOOK_LOG_LEVEL": "WARNING",
        # The bench measures ingest, not the limiter: no request may be refused by it.
        "FIREHOOK_WEBHOOK_RATE_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_IP": "1000000",
        "FIREHOOK_WEBHOOK_RATE_PER_TRIGGER": "1000000",
        "FIREHOOK_WEBHOOK_BURST_PER_TRIGGER": "1000000",
    }
    env.pop("FIREHOOK_SECRET_KEY", None)
    servers = servers_under_test(args, workdir, env)
    for server in servers:
        server.port = free_port()
        command = [part.replace("{port}", str(server.port)) for part in server.command]
        server_env = {k: v.replace("{port}", str(server.port)) for k, v in server.env.items()}
        log = workdir / f"{server.name.replace(' ', '-')}.log"
        child = stack.enter_context(process(command, log, env=server_env, cwd=str(workdir)))
        server.pid = child.pid
        wait_ready(server.base, child, log)
        if server.firehook:
            if server.name == "firehook gateway":
                server.path = servers[-2].path  # the dev server's trigger, in the same database
            else:
                company_id, admin_key = dev_credentials(log)
                server.path = FIRE_PATH.format(
                    public_id=create_trigger(server.base, company_id, admin_key)
                )
    mode = f"kafka {args.kafka}" if args.kafka else "embedded (SQLite, in-process bus)"
    print(
        f"mode: {mode}; load: {tool}, {args.connections} connections, "
        f"{args.duration:g} s per run after {args.warmup:g} s of warm-up; "
        f"servers: {server_stack()}"
    )
    if tool == "httpx":
        print("note: a Python client saturates long before the bare server; install wrk")
    measured = sorted(servers, key=lambda server: server.measure_last)
    for attempt in range(1, args.repeat + 1):
        results: dict[str, Result] = {}
        for server in measured:
            if args.warmup > 0:
                run_load(
                    tool,
                    server.name,
                    server.base,
                    server.path,
                    args.warmup,
                    args.connections,
                    workdir,
                )
            cpu_before = cpu_seconds(server.pid)
            result = run_load(
                tool,
                server.name,
                server.base,
                server.path,
                args.duration,
                args.connections,
                workdir,
            )
            cpu = cpu_seconds(server.pid) - cpu_before
            results[server.name] = dataclasses.replace(result, cpu_seconds=cpu)
        print(f"run {attempt}:")
        for result in results.values():
            print("  " + result.line())
        for line in ratios(results, kafka=bool(args.kafka)):
            print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
