"""HTTP dispatch: POST a run to its routine's endpoint, signed as Standard Webhooks.

`webhook-id` is the run id, the same on every delivery of the run, so a receiver
that dedupes by it (as the specification asks) never runs one twice. A 2xx reply
whose JSON body has `status: succeeded|failed` completes the run at once; any
other 2xx means the executor will report completion later.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog
from pydantic import ValidationError

from consumers.parameters import Row, open_secret_params, resolve_parameters
from consumers.records import run_event
from firehook.context import Context
from firehook.metrics import DISPATCH_FAILURES, DISPATCH_SECONDS
from firehook.store import tasks as task_store
from gateway.signatures import sign_webhook
from schemas.bounded_json import UnstorableJson, parse_json
from schemas.events import RunResult

log = structlog.get_logger("firehook.dispatch")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one HTTP delivery went."""

    delivered: bool
    http_status: int | None = None
    error: str | None = None
    result: RunResult | None = None


def dispatch_body(
    run: Mapping[Any, Any],
    routine: Mapping[Any, Any],
    *,
    task: Row | None = None,
    secret_params: Mapping[str, str] | None = None,
) -> bytes:
    """The JSON document an executor receives: the run, its routine and task, the resolved
    init params, the secret params (only here: the body is signed and goes to the
    routine's own endpoint) and where to deliver the result."""
    document = run_event(run)
    document["type"] = "dev.firehook.run.dispatched"
    document["routine"] = {
        "id": routine["id"],
        # With its variables rendered, when the routine has any.
        "title": run.get("title") or routine["title"],
        "description": run.get("description") or routine["description"],
        "assigneeAgentId": routine["assignee_agent_id"],
        "projectId": routine["project_id"],
        "goalId": routine["goal_id"],
        "parentIssueId": routine["parent_issue_id"],
        "priority": routine["priority"],
    }
    document["task"] = (
        {"id": task["id"], "name": task["name"], "collection": task["collection"]}
        if task is not None
        else None
    )
    document["parameters"] = resolve_parameters(task, routine, run.get("payload"))
    document["secretParams"] = dict(secret_params or {})
    document["delivery"] = routine.get("delivery")
    return orjson.dumps(document)


class HttpDispatcher:
    def __init__(self, ctx: Context, client: httpx.AsyncClient | None = None) -> None:
        self._ctx = ctx
        self._client = client or httpx.AsyncClient(follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver(self, run: Mapping[Any, Any], routine: Mapping[Any, Any]) -> Delivery:
        task = None
        if routine.get("task_id"):
            async with self._ctx.db.read() as conn:
                task = await task_store.get_task(conn, routine["task_id"])
        secret_params = open_secret_params(self._ctx.secrets, routine)
        body = dispatch_body(run, routine, task=task, secret_params=secret_params)
        sent = await self._post(routine, body, run["id"], run["attempt"])
        if isinstance(sent, Delivery):
            return sent
        return Delivery(
            True,
            http_status=sent.status_code,
            result=_sync_result(run["id"], sent, self._ctx.settings.json_max_depth),
        )

    async def deliver_cancel(self, run: Mapping[Any, Any], routine: Mapping[Any, Any]) -> Delivery:
        """Tell the executor that a run it was given is cancelled: the run's cancelled event,
        signed as a dispatch is, with `webhook-id` `{runId}:cancel`."""
        document = run_event(run)
        document["type"] = "dev.firehook.run.cancelled"
        sent = await self._post(routine, orjson.dumps(document), f"{run['id']}:cancel", 1)
        if isinstance(sent, Delivery):
            return sent
        return Delivery(True, http_status=sent.status_code)

    async def _post(
        self, routine: Mapping[Any, Any], body: bytes, delivery_id: str, attempt: int
    ) -> httpx.Response | Delivery:
        """POST a signed document to the routine's endpoint: the 2xx response, or how
        the delivery failed."""
        target = routine["dispatch"]
        secret_token = routine["dispatch_secret_enc"]
        headers = {"content-type": "application/json", "firehook-attempt": str(attempt)}
        if secret_token:
            secret = self._ctx.secrets.decrypt(secret_token, routine["id"].encode())
            headers |= sign_webhook(
                "standard_webhooks", secret, body, time.time(), delivery_id=delivery_id
            )
        started = time.perf_counter()
        try:
            response = await self._client.post(
                target["url"],
                content=body,
                headers=headers,
                timeout=float(target.get("timeoutSec", 10.0)),
            )
        except httpx.TimeoutException:
            DISPATCH_FAILURES.labels(reason="timeout").inc()
            return Delivery(False, error="timed out")
        except httpx.HTTPError as exc:
            DISPATCH_FAILURES.labels(reason="connection").inc()
            return Delivery(False, error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            DISPATCH_SECONDS.observe(time.perf_counter() - started)
        if not 200 <= response.status_code < 300:
            DISPATCH_FAILURES.labels(reason="status").inc()
            return Delivery(
                False, http_status=response.status_code, error=f"HTTP {response.status_code}"
            )
        return response


def _sync_result(run_id: str, response: httpx.Response, max_depth: int) -> RunResult | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        document = parse_json(response.content, "response", max_depth, members=True)
    except UnstorableJson as exc:
        # Not a result we can keep: the run stays running until reported or timed out.
        log.warning("executor response is not a storable result", run_id=run_id, reason=str(exc))
        return None
    if not isinstance(document, dict) or document.get("status") not in ("succeeded", "failed"):
        return None
    try:
        return RunResult.model_validate(
            {
                "runId": run_id,
                "status": document["status"],
                "output": document.get("output"),
                "error": document.get("error"),
                "linkedIssueId": document.get("linkedIssueId"),
            }
        )
    except ValidationError:
        return None
