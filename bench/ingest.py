"""Webhook ingest: the gateway in embedded mode against a bare Starlette endpoint.

Starts two servers, each in its own process under uvicorn on a free loopback port:

* the gateway exactly as `firehook dev` runs it (SQLite in a temporary directory,
  in-process bus, so each 202 means the run is committed), with one routine and
  one `hmac_sha256` webhook trigger;
* a bare Starlette app whose one route answers 202 and does nothing else.

Both get the same load, one after the other: valid, distinct HMAC-signed requests
(a repeated signature would be refused as a replay) from a fixed number of
connections, with `wrk` when it is installed, else an asyncio httpx client. It
prints requests/s, p50 and p99 latency of each, and the ratio gateway / bare.

    python bench/ingest.py
    python bench/ingest.py --duration 10 --connections 64 --repeat 3
    python bench/ingest.py --tool httpx
    python bench/ingest.py --kafka localhost:9092   # gateway role publishing to Kafka

With `--kafka` the gateway is started as `firehook dev --kafka BOOTSTRAP`, so a 202
means the fire was acknowledged by the broker rather than committed as a run.
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
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import statistics
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

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<8} {self.rps:>9.0f} req/s   p50 {self.p50_ms:>7.2f} ms   "
            f"p99 {self.p99_ms:>7.2f} ms   requests {self.requests:>7}   non-2xx {self.errors}"
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
        "--kafka",
        metavar="BOOTSTRAP",
        help="start the gateway with `firehook dev --kafka BOOTSTRAP`",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"

    with tempfile.TemporaryDirectory(prefix="firehook-ingest-") as tmp:
        workdir = Path(tmp)
        gateway_port, bare_port = free_port(), free_port()
        gateway_base = f"http://127.0.0.1:{gateway_port}"
        bare_base = f"http://127.0.0.1:{bare_port}"
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
        gateway_command = [
            sys.executable,
            "-m",
            "firehook.cli",
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(gateway_port),
            "--database-url",
            f"sqlite+aiosqlite:///{workdir / 'firehook.db'}",
        ]
        if args.kafka:
            gateway_command += ["--kafka", args.kafka]
        gateway_log, bare_log = workdir / "gateway.log", workdir / "bare.log"
        bare_command = [sys.executable, os.path.abspath(__file__), "--serve-bare", str(bare_port)]
        with (
            process(gateway_command, gateway_log, env=env, cwd=tmp) as gateway,
            process(bare_command, bare_log, env=env, cwd=tmp) as bare,
        ):
            wait_ready(gateway_base, gateway, gateway_log)
            wait_ready(bare_base, bare, bare_log)
            company_id, admin_key = dev_credentials(gateway_log)
            path = FIRE_PATH.format(public_id=create_trigger(gateway_base, company_id, admin_key))
            mode = f"kafka {args.kafka}" if args.kafka else "embedded (SQLite, in-process bus)"
            print(
                f"gateway: {mode}; load: {tool}, {args.connections} connections, "
                f"{args.duration:g} s per run after {args.warmup:g} s of warm-up; "
                f"servers: {server_stack()}"
            )
            if tool == "httpx":
                print("note: a Python client saturates long before the bare server; install wrk")
            ratios: list[float] = []
            for attempt in range(1, args.repeat + 1):
                results = {}
                for name, base in (("gateway", gateway_base), ("bare", bare_base)):
                    if args.warmup > 0:
                        run_load(tool, name, base, path, args.warmup, args.connections, workdir)
                    results[name] = run_load(
                        tool, name, base, path, args.duration, args.connections, workdir
                    )
                ratio = results["gateway"].rps / results["bare"].rps
                ratios.append(ratio)
                print(f"run {attempt}:")
                for result in results.values():
                    print("  " + result.line())
                print(f"  ratio gateway/bare {ratio:.2f}")
            if len(ratios) > 1:
                print(f"median ratio {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
