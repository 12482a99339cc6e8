"""Seed 004's Schedules API: a workflow's cron schedule, its requests, answers and executions.

Times in answers are text already: `nextRun`, `lastRun` and the execution times carry
the schedule's own timezone offset, `createdAt` and `updatedAt` are UTC with `Z`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from schemas import cron
from schemas.common import ApiModel, Identifier, ResponseModel, RunStatus

ExecutionStatus = Literal["success", "failed", "running", "cancelled", "skipped"]
InputData = Annotated[list[Any], Field(max_length=1_000)]
CronText = Annotated[str, Field(max_length=200)]
ZoneName = Annotated[str, Field(max_length=64)]


def _check_cron(value: str | None) -> str | None:
    if value is not None:
        cron.parse_cron(value)
    return value


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        cron.validate_timezone(value)
    return value


class WorkflowScheduleCreate(ApiModel):
    workflow_id: Identifier
    cron_expression: CronText
    timezone: ZoneName = Field(default="UTC", description="IANA timezone")
    enabled: bool = Field(default=True, description="Enable immediately")
    input_data: InputData | None = Field(default=None, description="Input data for each run")

    _cron = field_validator("cron_expression")(_check_cron)
    _tz = field_validator("timezone")(_check_timezone)


class WorkflowScheduleUpdate(ApiModel):
    """The fields sent are changed, the others kept; only `inputData` may be null (cleared)."""

    # Absent is None; a null sent for these is refused (the schema shows no null).
    workflow_id: Identifier | SkipJsonSchema[None] = None
    cron_expression: CronText | SkipJsonSchema[None] = None
    timezone: ZoneName | SkipJsonSchema[None] = None
    enabled: bool | SkipJsonSchema[None] = None
    input_data: InputData | None = None
    # A client may PUT back the schedule it read: the fields it cannot set are ignored.
    id: Any = Field(default=None, description="Read-only; ignored")
    workflow_name: Any = Field(default=None, description="Read-only; ignored")
    next_run: Any = Field(default=None, description="Read-only; ignored")
    last_run: Any = Field(default=None, description="Read-only; ignored")
    last_status: Any = Field(default=None, description="Read-only; ignored")
    run_count: Any = Field(default=None, description="Read-only; ignored")
    success_count: Any = Field(default=None, description="Read-only; ignored")
    failure_count: Any = Field(default=None, description="Read-only; ignored")
    created_at: Any = Field(default=None, description="Read-only; ignored")
    updated_at: Any = Field(default=None, description="Read-only; ignored")

    _cron = field_validator("cron_expression")(_check_cron)
    _tz = field_validator("timezone")(_check_timezone)

    @field_validator("workflow_id", "cron_expression", "timezone", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class WorkflowScheduleQuery(ApiModel):
    workflow_id: Identifier | None = None
    enabled: bool | None = None
    company_id: Identifier | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class WorkflowSchedule(ResponseModel):
    id: str
    workflow_id: str
    workflow_name: str | None = Field(description="null if the task no longer exists")
    cron_expression: str
    timezone: str
    enabled: bool
    input_data: list[Any]
    next_run: str | None
    last_run: str | None
    last_status: ExecutionStatus | None
    run_count: int
    success_count: int
    failure_count: int
    created_at: str
    updated_at: str


class WorkflowScheduleList(ResponseModel):
    data: list[WorkflowSchedule]
    total: int


class WorkflowScheduleState(ResponseModel):
    id: str
    enabled: bool
    next_run: str | None


class ScheduleHistoryQuery(ApiModel):
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ScheduleExecution(ResponseModel):
    execution_id: str
    scheduled_time: str
    started_at: str | None
    finished_at: str | None
    status: ExecutionStatus
    duration: int | None = Field(description="Milliseconds from start to finish")
    error: str | None = Field(default=None, description="Present when the run reported one")


class ScheduleExecutionList(ResponseModel):
    data: list[ScheduleExecution]
    total: int


EXECUTION_STATUS: dict[RunStatus, ExecutionStatus] = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "failed",
    RunStatus.RECEIVED: "running",
    RunStatus.DISPATCHED: "running",
    RunStatus.RUNNING: "running",
    RunStatus.RETRY_PENDING: "running",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.SKIPPED: "skipped",
    RunStatus.COALESCED: "skipped",
}
