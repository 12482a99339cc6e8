"""Runs: the manual-run request, the accepted-fire answer, run documents and completion."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from schemas.common import ApiModel, Identifier, ResponseModel, RunSource, RunStatus


class ManualRun(ApiModel):
    source: Literal["manual", "api"] = "manual"
    trigger_id: Identifier | None = None
    payload: dict[str, Any] | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class FireAccepted(ResponseModel):
    """The answer to a fire: durable, with the id its run has (or will have)."""

    fire_id: str
    run_id: str
    idempotency_key: str | None
    status: RunStatus | None = Field(
        default=None, description="The run's status when already known (embedded mode)."
    )


class RunAttemptView(ResponseModel):
    attempt: int
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    http_status: int | None = None


class Run(ResponseModel):
    id: str
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


class RunList(ResponseModel):
    data: list[Run]
    total: int
    limit: int
    offset: int


class RunListQuery(ApiModel):
    status: RunStatus | None = None
    source: RunSource | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class RunComplete(ApiModel):
    status: Literal["succeeded", "failed"]
    output: Any = None
    error: str | None = Field(default=None, max_length=10_000)
    attempt: int | None = Field(
        default=None, ge=1, le=1_000_000, description="409 unless this is the current attempt."
    )


class RunClaim(ApiModel):
    """An executor takes one attempt of a dispatched run before it starts the work."""

    attempt: int = Field(ge=1, le=1_000_000)
