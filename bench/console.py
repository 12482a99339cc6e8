"""The console's first load: time to first render of the routines page with 1,000
routines, and the bytes a cold browser transfers to get there.

A real `firehook dev` process on a fresh SQLite file gets 1,000 routines (each with a
schedule trigger) through the API; Chromium from the distribution, driven by
Playwright, then opens /ui/ cold (no cache) with the key already in the tab's session
storage, as after signing in. Figures: the time from navigation start to the first
rows on screen, to the trigger column filled in, and the bytes transferred (headers
and bodies) until then, files and API separately. Aim: under 1 s and 300 KB.

    python bench/console.py [--routines 1000] [--runs 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder is first on sys.path; the repository root is
# what the imports below need.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import os
import re
import shutil
import statistics
import tempfile
import time
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from firehook.devservers import free_port
from tests.processes import RoleProcess

AIM_SECONDS = 1.0
AIM_BYTES = 300 * 1024


def start_dev(workdir: Path) -> tuple[RoleProcess, str, str]:
    port = free_port()
    env = {name: v for name, v in os.environ.items() if not name.startswith("FIREHOOK_")}
    env |= {
        "FIREHOOK_HOST": "127.0.0.1",
        "FIREHOOK_PORT": str(port),
        "FIREHOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'dev.db'}",
        "FIREHOOK_SECRET_KEY_FILE": str(workdir / "firehook.key"),
        "FIREHOOK_LOG_LEVEL": "WARNING",
    }
    process = RoleProcess(["dev"], env, port, workdir / "dev.log", workdir).start()
    deadline = time.monotonic() + 60
    while True:
        if not process.alive:
            raise SystemExit(process.log_tail())
        try:
            if httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(process.log_tail())
        time.sleep(0.1)
    log = process.log_path.read_text()
    company = re.search(r"company:\s+(\S+)", log)
    key = re.search(r"admin key:\s+(\S+)", log)
    assert company and key, log
    return process, company.group(1), key.group(1)


async def create_routines(url: str, key: str, company: str, count: int) -> None:
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:

        async def one(n: int) -> None:
            async with limit:
                routine = await http.post(
                    f"/api/companies/{company}/routines",
                    json={
                        "title": f"Routine {n:04d}",
                        "description": f"Benchmark routine number {n}",
                        "assigneeAgentId": f"agent-{n % 7}",
                        "projectId": f"project-{n % 5}",
                    },
                )
                routine.raise_for_status()
                trigger = await http.post(
                    f"/api/routines/{routine.json()['id']}/triggers",
                    json={
                        "kind": "schedule",
                        "cronExpression": f"{n % 60} {n % 24} * * *",
                        "timezone": "Europe/Paris",
                    },
                )
                trigger.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(count)))


def first_load(browser: Any, url: str, key: str, company: str) -> dict[str, float]:
    context = browser.new_context(timezone_id="Europe/Berlin", locale="en-US")
    # The state a signed-in tab has: the key and what it may do (read at sign-in) in
    # session storage, nothing cached.
    me = httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    me.raise_for_status()
    context.add_init_script(
        f"sessionStorage.setItem('firehook.key', {key!r});"
        f"sessionStorage.setItem('firehook.company', {company!r});"
        f"sessionStorage.setItem('firehook.me', {me.text!r});"
    )
    page = context.new_page()
    transferred = {"files": 0, "api": 0}
    requests = {"files": 0, "api": 0}

    def count(response: Any) -> None:
        sizes = response.request.sizes()
        kind = "api" if "/api/" in response.url else "files"
        transferred[kind] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        requests[kind] += 1

    page.on("response", count)
    page.goto(f"{url}/ui/#/routines")
    page.wait_for_function("() => document.querySelectorAll('tr[data-routine-id]').length >= 50")
    first_rows = page.evaluate("performance.now()") / 1000
    page.wait_for_function(
        "() => [...document.querySelectorAll('td.triggers-cell')].every(c => c.textContent !== '…')"
    )
    triggers_shown = page.evaluate("performance.now()") / 1000
    page.wait_for_load_state("networkidle")
    total_text = page.locator("p.muted").first.inner_text()
    context.close()
    return {
        "first_rows_s": first_rows,
        "triggers_s": triggers_shown,
        "files_bytes": transferred["files"],
        "api_bytes": transferred["api"],
        "files_requests": requests["files"],
        "api_requests": requests["api"],
        "count_text": total_text,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routines", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chromium = os.environ.get("FIREHOOK_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium, or FIREHOOK_CHROMIUM")
    with tempfile.TemporaryDirectory() as tmp:
        process, company, key = start_dev(Path(tmp))
        try:
            began = time.monotonic()
            asyncio.run(create_routines(process.url, key, company, args.routines))
            print(
                f"created {args.routines} routines with triggers in {time.monotonic() - began:.1f} s"
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"]
                )
                results = [first_load(browser, process.url, key, company) for _ in range(args.runs)]
                browser.close()
        finally:
            process.terminate()
    print(f"routines page says: {results[0]['count_text']!r}")
    firsts = [r["first_rows_s"] for r in results]
    triggers = [r["triggers_s"] for r in results]
    total = results[0]["files_bytes"] + results[0]["api_bytes"]
    print(
        f"first rows on screen: median {statistics.median(firsts) * 1000:.0f} ms "
        f"(min {min(firsts) * 1000:.0f}, max {max(firsts) * 1000:.0f}; aim < {AIM_SECONDS * 1000:.0f} ms)"
    )
    print(
        f"trigger column filled: median {statistics.median(triggers) * 1000:.0f} ms "
        f"(min {min(triggers) * 1000:.0f}, max {max(triggers) * 1000:.0f})"
    )
    print(
        f"first load transferred: {total / 1024:.1f} KB (aim < {AIM_BYTES // 1024} KB): "
        f"files {results[0]['files_bytes'] / 1024:.1f} KB in {results[0]['files_requests']} requests, "
        f"API {results[0]['api_bytes'] / 1024:.1f} KB in {results[0]['api_requests']} requests"
    )


if __name__ == "__main__":
    main()
