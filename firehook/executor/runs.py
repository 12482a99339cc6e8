"""What a handler gets: one attempt of one run, read from a `dispatched` run event."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

log = structlog.get_logger("firehook.executor")


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Run:
    """One attempt of a run, as its handler sees it. Holds no secret: `secretParams` go
    only to HTTP executors, in the signed dispatch body."""

    id: str
    attempt: int
    routine_id: str
    company_id: str
    payload: dict[str, Any] | None
    parameters: dict[str, Any]
    variables: dict[str, Any] | None
    context: dict[str, Any]
    deadline: datetime | None
    traceparent: str | None = None
    secret_params: dict[str, str] = field(default_factory=dict, repr=False)
    """Only for HTTP executors: the signed dispatch carries the routine's secret params."""
    linked_issue_id: str | None = None
    progress_notes: list[dict[str, Any]] = field(default_factory=list)
    link_issue: Callable[[Run, str], Awaitable[None]] | None = field(default=None, repr=False)
    """How the transport tells the core of a linked issue at once (None: only at the end)."""

    @classmethod
    def from_event(cls, data: Mapping[str, Any], traceparent: str | None = None) -> Run:
        """The run of a `dev.firehook.run.dispatched` event's data (or an HTTP dispatch)."""
        routine = data.get("routine") or {"id": data["routineId"]}
        context = {
            "routine": dict(routine),
            "task": data.get("task"),
            "source": data.get("source"),
            "triggerId": data.get("triggerId"),
            "idempotencyKey": data.get("idempotencyKey"),
            "fireId": data.get("fireId"),
            "scheduledFor": data.get("scheduledFor"),
            "createdAt": data.get("createdAt"),
            "delivery": data.get("delivery"),
        }
        return cls(
            id=str(data["runId"]),
            attempt=int(data["attempt"]),
            routine_id=str(data["routineId"]),
            company_id=str(data["companyId"]),
            payload=data.get("payload"),
            parameters=dict(data.get("parameters") or {}),
            variables=data.get("variables"),
            context=context,
            deadline=_when(data.get("deadlineAt")),
            traceparent=traceparent,
        )

    @property
    def key(self) -> tuple[str, int]:
        """(run id, attempt): what the executor group handles once."""
        return self.id, self.attempt

    @property
    def title(self) -> str | None:
        title = self.context["routine"].get("title")
        return str(title) if title is not None else None

    @property
    def task(self) -> str | None:
        task = self.context.get("task")
        return str(task["name"]) if task else None

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """Until the run's deadline (None: no deadline)."""
        if self.deadline is None:
            return None
        return (self.deadline - (now or datetime.now(UTC))).total_seconds()

    async def report_progress(
        self,
        message: str | None = None,
        *,
        fraction: float | None = None,
        linked_issue_id: str | None = None,
    ) -> None:
        """Note progress while running: notes are logged by the executor. A linked issue
        id reaches the core at once where the transport can tell it (`PATCH
        /api/runs/{id}` with the gateway's API, a `running` result on Kafka), and is
        added to the result's output in any case."""
        note = {"message": message, "fraction": fraction, "linkedIssueId": linked_issue_id}
        self.progress_notes.append(note)
        log.info("run progress", run_id=self.id, attempt=self.attempt, **note)
        if linked_issue_id is not None and linked_issue_id != self.linked_issue_id:
            self.linked_issue_id = linked_issue_id
            if self.link_issue is not None:
                await self.link_issue(self, linked_issue_id)
                return
        await asyncio.sleep(0)


class MovedOn:
    """Which attempts later run events show are over (a result, a claim, a cancel, a newer
    attempt): they are not to start. Remembers the most recent `limit` runs."""

    def __init__(self, limit: int = 200_000) -> None:
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def note(self, run_id: str, attempt: int) -> None:
        """Attempts up to `attempt` of `run_id` are over."""
        self._attempts[run_id] = max(attempt, self._attempts.get(run_id, 0))
        self._attempts.move_to_end(run_id)
        if len(self._attempts) > self._limit:
            self._attempts.popitem(last=False)

    def covers(self, run: Run) -> bool:
        return self._attempts.get(run.id, 0) >= run.attempt
