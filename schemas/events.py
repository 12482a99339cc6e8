"""Event envelopes: CloudEvents 1.0 carried in Kafka binary mode (`ce_*` headers, JSON data).

`FireRequested` asks for a run; `RunEvent` reports one status change of a run;
`RunResult` is what an executor publishes when it finishes a run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from schemas.common import ConcurrencyPolicy, RunSource, RunStatus

SPEC_VERSION: Final = "1.0"
FIRE_REQUESTED: Final = "dev.firehook.fire.requested"
RUN_EVENT_PREFIX = "dev.firehook.run."
RUN_RESULT: Final = "dev.firehook.run.result"


class _EventData(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


class FireRequested(_EventData):
    """Data of `dev.firehook.fire.requested`: one fire of one routine."""

    fire_id: str
    run_id: str
    routine_id: str
    company_id: str
    source: RunSource
    trigger_id: str | None = None
    idempotency_key: str | None = Field(default=None, max_length=300)
    payload: dict[str, Any] | None = None
    scheduled_for: datetime | None = None
    requested_at: datetime
    triggered_by_routine_id: str | None = None
    triggered_by_run_id: str | None = None
    replay_conflict: bool = Field(
        default=False,
        description="The key came from a replay-protection fingerprint: a duplicate is refused.",
    )
    overlap_policy: ConcurrencyPolicy | None = Field(
        default=None, description="Applies instead of the routine's concurrency policy."
    )
    backfill_id: str | None = Field(
        default=None, description="The backfill that fired this past tick of a schedule."
    )


class RunAttempt(_EventData):
    attempt: int
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    http_status: int | None = None


class RoutineRef(_EventData):
    """What an executor needs of a run's routine to choose a handler (no secrets)."""

    id: str
    title: str
    assignee_agent_id: str | None = None
    project_id: str | None = None
    goal_id: str | None = None
    parent_issue_id: str | None = None
    priority: str | None = None
    task_id: str | None = None


class TaskRef(_EventData):
    id: str
    name: str
    collection: str


class RunEvent(_EventData):
    """Data of `dev.firehook.run.<status>`: the run as it is after one status change.

    A `dispatched` event also carries its routine, task and resolved parameters, so an
    executor can choose a handler and run it without calling the API.
    """

    run_id: str
    routine_id: str
    company_id: str
    status: RunStatus
    attempt: int
    source: RunSource
    trigger_id: str | None = None
    idempotency_key: str | None = None
    fire_id: str | None = None
    payload: dict[str, Any] | None = None
    scheduled_for: datetime | None = None
    coalesced_into_run_id: str | None = None
    triggered_by_routine_id: str | None = None
    reason: str | None = None
    output: Any = None
    error: str | None = None
    linked_issue_id: str | None = None
    title: str | None = None
    description: str | None = None
    created_at: datetime
    dispatched_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    attempts: list[RunAttempt] = Field(default_factory=list)
    routine: RoutineRef | None = None
    task: TaskRef | None = None
    parameters: dict[str, Any] | None = None


class RunResult(_EventData):
    """Data of `dev.firehook.run.result`: an executor reports how a run ended, or that it
    started (`running`), with the work item it links the run to."""

    run_id: str
    status: Literal["running", "succeeded", "failed"]
    linked_issue_id: str | None = Field(default=None, min_length=1, max_length=200)
    output: Any = None
    error: str | None = Field(default=None, max_length=10_000)
    attempt: int | None = None


class CloudEvent(BaseModel):
    """The envelope attributes of CloudEvents 1.0 (structured form, as in JSON Schema files)."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = None


class FireRequestedEvent(CloudEvent):
    type: Literal["dev.firehook.fire.requested"] = FIRE_REQUESTED
    data: FireRequested


class RunEventEnvelope(CloudEvent):
    data: RunEvent


class RunResultEvent(CloudEvent):
    type: Literal["dev.firehook.run.result"] = RUN_RESULT
    data: RunResult


def run_event_type(status: RunStatus) -> str:
    """The CloudEvents type of a run's status change."""
    return RUN_EVENT_PREFIX + status.value


def run_event_id(run_id: str, status: RunStatus, attempt: int) -> str:
    """Stable per run, status and attempt, so consumers can dedupe redeliveries."""
    return f"{run_id}:{status.value}:{attempt}"
