"""Run status changes as stored rows, RunEvents and outbox messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.parameters import Row, resolve_parameters
from firehook.cloudevents import event_headers
from firehook.fires import fire_message
from firehook.settings import Settings
from firehook.store import runs as runs_store
from schemas.common import RunStatus, utc_iso
from schemas.events import FireRequested, RunEvent, run_event_id, run_event_type

DISPATCH_HTTP_TOPIC = "firehook.internal.dispatch-http"
# Outbox rows that tell an HTTP executor a run it was given is cancelled (cancel_other).
CANCEL_HTTP_TOPIC = "firehook.internal.cancel-http"


# Set by `executor_context` on dispatched events only, never read from a run row.
_EXECUTOR_FIELDS = ("routine", "task", "parameters")
# (column, JSON name) of every other RunEvent field; "run_id" is the row's "id".
_RUN_EVENT_FIELDS = [
    ("id" if name == "run_id" else name, field.alias or name)
    for name, field in RunEvent.model_fields.items()
    if name not in _EXECUTOR_FIELDS
]


def executor_context(routine: Row, task: Row | None, payload: Any) -> dict[str, Any]:
    """What a `dispatched` event tells an executor beyond the run: its routine (to choose a
    handler), its task and its resolved parameters. Secret params never go here."""
    return {
        "routine": {
            "id": routine["id"],
            "title": routine["title"],
            "assigneeAgentId": routine["assignee_agent_id"],
            "projectId": routine["project_id"],
            "goalId": routine["goal_id"],
            "parentIssueId": routine["parent_issue_id"],
            "priority": routine["priority"],
            "taskId": routine["task_id"],
        },
        "task": (
            {"id": task["id"], "name": task["name"], "collection": task["collection"]}
            if task is not None
            else None
        ),
        "parameters": resolve_parameters(task, routine, payload),
    }


def run_event(run: Mapping[str, Any]) -> dict[str, Any]:
    """The RunEvent data of a run row (or the values about to become one), JSON-ready.

    Built by hand rather than through the pydantic model because the consumer does
    this for every fire; tests hold it to the RunEvent schema.
    """
    data: dict[str, Any] = {}
    for column, name in _RUN_EVENT_FIELDS:
        value = run.get(column)
        if isinstance(value, datetime):
            value = batch_iso(value)
        data[name] = value
    if data["attempts"] is None:
        data["attempts"] = []
    return data


def batch_iso(value: datetime) -> str:
    """`utc_iso(value)`, formatted once for the one `now` a whole batch of rows shares."""
    # Matched by identity, not equality: equal instants in other zones read differently.
    # The cache holds the instance, so its identity cannot pass to another object.
    last = _last_iso[0]
    if last[0] is value:
        return last[1]
    text = utc_iso(value)
    _last_iso[0] = (value, text)
    return text


_EPOCH = datetime.fromtimestamp(0, UTC)
_last_iso: list[tuple[datetime, str]] = [(_EPOCH, utc_iso(_EPOCH))]


class StatusChanges:
    """Collects the events of one transaction's status changes, written at its end."""

    def __init__(self, settings: Settings, *, publish_to_bus: bool) -> None:
        self._settings = settings
        self._publish = publish_to_bus
        self.events: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def record(
        self, run: Mapping[str, Any], now: datetime, executor: Mapping[str, Any] | None = None
    ) -> None:
        """Note that `run` (its values after the change) reached its current status;
        `executor` (from `executor_context`) is added to a dispatched run's event."""
        status = RunStatus(run["status"])
        data = run_event(run)
        if executor is not None and status is RunStatus.DISPATCHED:
            data |= executor
        ce_id = run_event_id(run["id"], status, run["attempt"])
        self.events.append(
            {
                "company_id": run["company_id"],
                "routine_id": run["routine_id"],
                "run_id": run["id"],
                "ce_id": ce_id,
                "type": run_event_type(status),
                "data": data,
                "created_at": now,
            }
        )
        if self._publish:
            headers = event_headers(
                event_id=ce_id,
                event_type=run_event_type(status),
                time=now,
                subject=run["id"],
            )
            self.outbox.append(
                {
                    "topic": self._settings.topic_runs,
                    "key": run["routine_id"],
                    "headers": [[name, text] for name, text in headers],
                    "body": data,
                    "created_at": now,
                }
            )

    def request_fire(self, fire: FireRequested, now: datetime) -> None:
        """Queue a fire on the fires topic (chains): sent once this transaction commits."""
        message = fire_message(self._settings, fire)
        self.outbox.append(
            {
                "topic": message.topic,
                "key": message.key,
                "headers": [[name, value.decode()] for name, value in message.headers],
                "body": fire.model_dump(mode="json"),
                "created_at": now,
            }
        )

    async def save(self, conn: AsyncConnection) -> None:
        """Write the collected events and outbox messages, in the caller's transaction."""
        await runs_store.add_run_events(conn, self.events)
        await runs_store.add_to_outbox(conn, self.outbox)

    def dispatch_http(self, run: Mapping[str, Any], now: datetime) -> None:
        """Queue the HTTP delivery of the run's current attempt."""
        self.outbox.append(
            {
                "topic": DISPATCH_HTTP_TOPIC,
                "key": run["routine_id"],
                "headers": [],
                "body": {"runId": run["id"], "attempt": run["attempt"]},
                "created_at": now,
            }
        )


def cancel_http(changes: StatusChanges, run: Mapping[str, Any], now: datetime) -> None:
    """Queue the signed cancel call of a run an HTTP executor was given."""
    changes.outbox.append(
        {
            "topic": CANCEL_HTTP_TOPIC,
            "key": run["routine_id"],
            "headers": [],
            "body": {"runId": run["id"], "attempt": run["attempt"]},
            "created_at": now,
        }
    )


def attempts_with(
    attempts: Sequence[Mapping[str, Any]], entry: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The attempt history with `entry` replacing the entry of the same attempt number."""
    kept = [dict(a) for a in attempts if a.get("attempt") != entry["attempt"]]
    return sorted([*kept, dict(entry)], key=lambda a: int(a["attempt"]))
