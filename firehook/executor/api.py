"""The gateway's executor endpoints: claim an attempt, report its result."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import structlog

from firehook.executor.attempts import Outcome
from firehook.executor.runs import Run

log = structlog.get_logger("firehook.executor")

_TRIES = 8


class RunsApi:
    """`POST /api/runs/{id}/claim` and `/complete`, `PATCH /api/runs/{id}`, retried on
    connection errors and 5xx."""

    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(10.0, read=60.0)
        )
        self.headers = {"Authorization": f"Bearer {api_key}"}

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, path: str, body: dict[str, Any], method: str = "POST") -> int | None:
        """The final status (None: no answer after every try)."""
        delay = 0.2
        for _ in range(_TRIES):
            try:
                response = await self.http.request(method, path, json=body, headers=self.headers)
                if response.status_code < 500:
                    return response.status_code
            except httpx.TransportError as exc:
                log.info("API call failed; retrying", path=path, error=repr(exc)[:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        return None

    async def claim(self, run: Run) -> bool:
        """Whether this process may run the attempt: the core grants one claim of it."""
        # 409: another member took it, or it ended. Unanswered: the run times out and retries.
        return await self._send(f"/api/runs/{run.id}/claim", {"attempt": run.attempt}) == 200

    async def complete(self, run: Run, outcome: Outcome) -> None:
        body: dict[str, Any] = {"status": outcome.status, "attempt": run.attempt}
        if outcome.status == "succeeded":
            body["output"] = outcome.output
        else:
            body["error"] = outcome.error
        status = await self._send(f"/api/runs/{run.id}/complete", body)
        if status != 200:
            log.warning("run result not applied", run_id=run.id, status=status)

    async def link_issue(self, run: Run, issue_id: str) -> None:
        """Link the run to a work item while it runs (`linkedIssueId`)."""
        status = await self._send(f"/api/runs/{run.id}", {"linkedIssueId": issue_id}, "PATCH")
        if status != 200:
            # Not lost: the id is also in the result's output.
            log.warning("linked issue not applied", run_id=run.id, status=status)
