"""Runs: the manual-run request, the accepted-fire answer, run documents and completion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from schemas.common import ApiModel, Identifier, ResponseModel, RunSource, RunStatus

VariableInput = Annotated[str, Field(max_length=10_000)] | bool | int | float
LinkedIssueId = Annotated[str, Field(min_length=1, max_length=200)]


class ManualRun(ApiModel):
    source: Literal["manual", "api"] = "manual"
    trigger_id: Identifier | None = None
    payload: dict[str, Any] | None = None
    variables: Annotated[dict[str, VariableInput], Field(max_length=100)] | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class IssueRef(ResponseModel):
    """The executor's work item a run is linked to (Firehook creates no issues itself)."""

    id: str


class TriggerRef(ResponseModel):
    id: str
    kind: str
    label: str | None


class RunBrief(ResponseModel):
    id: str
    status: RunStatus
    triggered_at: datetime


class FireAccepted(ResponseModel):
    """The answer to a fire: the run, as far as it is known when the fire is durable.

    A gateway that publishes to Kafka answers before any consumer made the run: then the
    run has its derived `id` and `status: received`. `fireId` and `runId` are kept.
    """

    id: str
    company_id: str
    routine_id: str
    trigger_id: str | None
    source: RunSource
    status: RunStatus
    idempotency_key: str | None
    coalesced_into_run_id: str | None = None
    triggered_at: datetime
    trigger_payload: dict[str, Any] | None = None
    failure_reason: str | None = None
    linked_issue_id: str | None = None
    linked_issue: IssueRef | None = None
    trigger: TriggerRef | None = None
    fire_id: str | None
    run_id: str


class RunAttemptView(ResponseModel):
    attempt: int
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    http_status: int | None = None


class Run(ResponseModel):
    """A run, with Paperclip's names (`triggeredAt`, `triggerPayload`, `failureReason`,
    `trigger`, `linkedIssue`, `completedAt`) alongside Firehook's."""

    id: str
    run_id: str
    routine_id: str
    company_id: str
    trigger_id: str | None
    source: RunSource
    status: RunStatus
    reason: str | None
    idempotency_key: str | None
    fire_id: str | None
    payload: dict[str, Any] | None
    scheduled_for: datetime | None
    coalesced_into_run_id: str | None
    triggered_by_routine_id: str | None
    attempt: int
    attempts: list[RunAttemptView]
    output: Any
    error: str | None
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    next_attempt_at: datetime | None
    duration_ms: int | None = Field(description="From first dispatch to the end, when ended.")
    triggered_at: datetime
    trigger_payload: dict[str, Any] | None
    failure_reason: str | None
    completed_at: datetime | None
    trigger: TriggerRef | None
    linked_issue_id: str | None
    linked_issue: IssueRef | None
    title: str | None = Field(default=None, description="The routine title, variables rendered.")
    description: str | None = None


class RunListQuery(ApiModel):
    status: RunStatus | None = None
    source: RunSource | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class RunComplete(ApiModel):
    status: Literal["succeeded", "failed"]
    output: Any = None
    error: str | None = Field(default=None, max_length=10_000)
    linked_issue_id: LinkedIssueId | None = None
    attempt: int | None = Field(
        default=None, ge=1, le=1_000_000, description="409 unless this is the current attempt."
    )


class RunPatch(ApiModel):
    """What an executor may report while it works: the work item it created for the run."""

    linked_issue_id: LinkedIssueId


class RunClaim(ApiModel):
    """An executor takes one attempt of a dispatched run before it starts the work."""

    attempt: int = Field(ge=1, le=1_000_000)
