"""Seed 003's scheduler API: jobs, job runs, chains, smart scheduling, in its snake_case.

A job is a routine with exactly one schedule trigger; a job run is a run; a chain is a
chain. These models only carry the seed's shapes; the rules are the core's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from schemas.chains import MAX_CHAIN_EDGES, MAX_CHAIN_ROUTINES, EdgeType
from schemas.common import Identifier, LongText, ShortText
from schemas.conditions import Condition
from schemas.routines import Delivery, RetryStrategy
from schemas.stats import DayPattern

JobStatus = Literal["active", "paused", "completed", "failed"]
JobRunStatus = Literal["pending", "running", "completed", "failed", "cancelled", "skipped"]
JOB_STATUSES: tuple[JobStatus, ...] = ("active", "paused", "completed", "failed")
JOB_RUN_STATUSES: tuple[JobRunStatus, ...] = (
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "skipped",
)
MAX_INTERVAL_SEC = 366 * 86_400


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Query(_Request):
    company_id: Identifier | None = Field(
        default=None,
        alias="companyId",
        description="The company; required with an admin key, the key's own company otherwise.",
    )


class JobSchedule(_Request):
    """`cron` needs `expression` (and takes `timezone`), `every` needs `interval` seconds,
    `at` needs `datetime` with an offset."""

    type: Literal["cron", "every", "at"]
    expression: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    interval: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_SEC)
    datetime_: datetime | None = Field(default=None, alias="datetime")

    @model_validator(mode="after")
    def _fields_of_type(self) -> Self:
        needed = {"cron": "expression", "every": "interval", "at": "datetime"}[self.type]
        given = {
            "expression": self.expression,
            "interval": self.interval,
            "datetime": self.datetime_,
        }
        if given[needed] is None:
            raise ValueError(f"a {self.type} schedule needs {needed}")
        foreign = sorted(
            name for name, value in given.items() if value is not None and name != needed
        )
        if foreign:
            raise ValueError(f"a {self.type} schedule takes no {foreign[0]}")
        if self.datetime_ is not None and self.datetime_.tzinfo is None:
            raise ValueError("datetime must carry an offset, e.g. 2026-04-01T09:00:00Z")
        if self.datetime_ is not None:
            try:
                self.datetime_.astimezone(UTC)
            except OverflowError:
                raise ValueError("datetime is outside the calendar in UTC") from None
        return self


class JobRetry(_Request):
    max_attempts: int = Field(default=1, ge=1, le=20)
    strategy: RetryStrategy = RetryStrategy.EXPONENTIAL
    base_delay: int = Field(default=60, ge=0, le=86_400, description="Seconds.")


class JobCreate(_Request):
    name: ShortText
    goal: LongText | None = None
    agent_id: Identifier | None = Field(
        default=None, description="Default: the agent of an agent key, else `scheduler`."
    )
    schedule: JobSchedule
    delivery: Delivery | None = None
    condition: Condition | None = None
    retry: JobRetry | None = None


class JobUpdate(_Request):
    """Only the fields sent change; `goal`, `delivery` and `condition` may be null to clear."""

    name: ShortText | None = None
    goal: LongText | None = None
    agent_id: Identifier | None = None
    schedule: JobSchedule | None = None
    delivery: Delivery | None = None
    condition: Condition | None = None
    retry: JobRetry | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> Self:
        for name in ("name", "agent_id", "schedule", "retry"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class JobScheduleView(BaseModel):
    type: Literal["cron", "every", "at"]
    expression: str | None = None
    interval: int | None = None
    datetime_: datetime | None = Field(default=None, alias="datetime")
    timezone: str

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The seed shows each type with its own fields only.
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class JobConditionView(BaseModel):
    type: str
    expression: str


class JobRetryView(BaseModel):
    max_attempts: int
    strategy: str
    base_delay: int


class JobDeliveryView(BaseModel):
    channel: str
    format: str


class Job(BaseModel):
    id: str
    name: str
    goal: str | None
    schedule: JobScheduleView
    status: JobStatus
    agent_id: str
    next_run_at: datetime | None = Field(description="In the job's zone.")
    last_run_at: datetime | None = Field(description="In the job's zone.")
    run_count: int = Field(description="Runs that executed (not skipped or coalesced).")
    created_at: datetime
    delivery: JobDeliveryView | None
    condition: JobConditionView | None
    retry: JobRetryView


class JobList(BaseModel):
    jobs: list[Job]
    count: int = Field(description="Every job that matches, not only this page.")


class JobListQuery(_Query):
    status: JobStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class JobTriggered(BaseModel):
    run_id: str
    status: JobRunStatus | None = Field(
        default=None, description="The run's status when already known (embedded mode)."
    )


class JobRun(BaseModel):
    id: str
    job_id: str
    status: JobRunStatus
    started_at: datetime | None
    completed_at: datetime | None
    output: Any
    error: str | None
    reason: str | None = Field(description="Why a run was skipped or cancelled, when known.")
    trigger: str = Field(description="schedule, manual, api, webhook or chain.")
    scheduled_for: datetime | None
    attempt: int
    created_at: datetime


class JobRunList(BaseModel):
    runs: list[JobRun]
    count: int


class JobRunListQuery(_Request):
    status: JobRunStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class JobStats(BaseModel):
    job_id: str
    run_count: int
    success_count: int
    failure_count: int = Field(description="Failed or timed out.")
    runs_by_status: dict[str, int] = Field(description="Job run statuses.")
    success_rate: float | None
    avg_duration_seconds: float | None
    last_run_at: datetime | None
    next_run_at: datetime | None


class CalendarQuery(_Query):
    from_: datetime | None = Field(default=None, alias="from", description="Default: now.")
    to: datetime | None = Field(default=None, description="Default: from + 7 days.")
    job_id: Identifier | None = None


class CalendarJob(BaseModel):
    job_id: str
    name: str
    timezone: str
    fires: list[datetime] = Field(description="In the job's zone, earliest first.")
    truncated: bool


class CalendarData(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    jobs: list[CalendarJob]
    total_fires: int

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)


class HeatmapQuery(_Query):
    weeks: int = Field(default=4, ge=1, le=52)
    timezone: str = Field(default="UTC", max_length=64)


class HeatmapData(BaseModel):
    """`grid[hour][day]`: 24 rows (00..23 local hour) of 7 columns (Sun..Sat)."""

    timezone: str
    weeks: int
    from_: datetime = Field(alias="from")
    to: datetime
    hours: list[int]
    days: list[str]
    grid: list[list[int]] = Field(description="Executed runs, 24 rows by 7 days.")
    levels: list[list[int]] = Field(description="The grid scaled 0..4 to its busiest hour.")
    max: int
    total: int

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)


class SuggestionsQuery(_Query):
    time: str | None = Field(default=None, description="HH:MM; default now.")
    days: DayPattern = "weekdays"
    timezone: str = Field(default="UTC", max_length=64)
    weeks: int = Field(default=4, ge=1, le=52)
    count: int = Field(default=3, ge=1, le=10)
    within_hours: int = Field(default=3, ge=1, le=12)


class SmartSuggestion(BaseModel):
    time: str
    days: str
    reason: str
    cron_expression: str
    timezone: str
    runs_per_week: float


class SmartSuggestions(BaseModel):
    suggestions: list[SmartSuggestion]


class ChainEdgeIn(_Request):
    from_: Identifier = Field(alias="from", description="The upstream job's id.")
    to: Identifier
    type: EdgeType = EdgeType.ON_SUCCESS


class ChainCreateIn(_Request):
    name: ShortText
    description: LongText | None = None
    jobs: list[Identifier] | None = Field(
        default=None,
        max_length=MAX_CHAIN_ROUTINES,
        description="The chain's jobs; by default those its edges name.",
    )
    edges: list[ChainEdgeIn] = Field(min_length=1, max_length=MAX_CHAIN_EDGES)


class ChainEdgeOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    type: EdgeType

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)


class JobChain(BaseModel):
    id: str
    name: str
    description: str | None
    jobs: list[str]
    edges: list[ChainEdgeOut]
    created_at: datetime


class JobChainList(BaseModel):
    chains: list[JobChain]
    count: int


class ChainListQuery(_Query):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)
