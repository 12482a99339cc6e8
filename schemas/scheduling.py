"""Schedule tooling: validate, natural-language parsing, the scheduler's status.

These endpoints come from the scheduler API of seed 003, whose fields are
snake_case (`next_runs`, `human_readable`), so these models keep its names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.schedule_rules import RepeatedHour, SkippedHour

ScheduleKind = Literal["cron", "every", "at", "cadence"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValidateQuery(_Request):
    type: ScheduleKind
    value: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    from_: datetime | None = Field(default=None, alias="from")
    count: int = Field(default=3, ge=1, le=100, description="Three by default, as in seed 003.")
    repeated_hour: RepeatedHour = Field(default=RepeatedHour.ONCE_FIRST, alias="repeatedHour")
    skipped_hour: SkippedHour = Field(default=SkippedHour.AT_TRANSITION, alias="skippedHour")


class DstDescription(BaseModel):
    repeated_hour: RepeatedHour
    skipped_hour: SkippedHour
    applies: bool = Field(description="False where the schedule follows real time or UTC.")
    description: str


class ValidateResult(BaseModel):
    valid: bool
    next_runs: list[str]
    human_readable: str | None = None
    error: str | None = None
    dst: DstDescription | None = None


class ParseRequest(_Request):
    text: str = Field(min_length=1, max_length=500)
    timezone: str = Field(
        default="UTC", max_length=64, description="Zone when the text names none."
    )


class ParsedScheduleBody(BaseModel):
    type: ScheduleKind
    expression: str
    timezone: str


class ParseResult(BaseModel):
    schedule: ParsedScheduleBody
    human_readable: str = Field(
        description="12-hour clock and the zone's everyday name, as in seed 003."
    )
    confidence: float
    parse_method: Literal["regex"] = Field(
        description="Always regex: a deterministic grammar reads the text; nothing else does."
    )
    next_runs: list[str]


class SchedulerStatus(BaseModel):
    running: bool | None = Field(
        description="Whether this process's ticker runs; null where another process schedules."
    )
    triggers_loaded: int
    due_count: int
    tick_interval_seconds: float = Field(
        description="The longest the ticker waits before it looks at the schedules again "
        "(it also wakes at each due time and at each change made through this process)."
    )
    next_tick_at: datetime | None
    ticker_lag_seconds: float
    last_tick_at: datetime | None = None
    jobs_checked_last_tick: int | None = None
    resync_interval_seconds: float
