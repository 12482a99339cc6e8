"""Statistics, the schedule calendar, the activity heatmap and quiet-time suggestions.

`/api/scheduler/stats` answers in seed 003's snake_case; the company- and
routine-scoped documents are camelCase like the rest of the native API.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from schemas import cron
from schemas.common import ApiModel, Identifier, ResponseModel, RunStatus

STATS_WINDOW_DAYS = 30
CALENDAR_MAX_DAYS = 92
CALENDAR_MAX_FIRES_PER_TRIGGER = 1_000
DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron numbering: 0 is Sunday
HEAT_LEVELS = 4
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

# A run "ran" unless its fire was finalised at once without executing anything.
NOT_EXECUTED_STATUSES = frozenset({RunStatus.SKIPPED, RunStatus.COALESCED, RunStatus.RECEIVED})
SUCCESS_STATUSES = frozenset({RunStatus.SUCCEEDED})
FAILURE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT})
OUTCOME_STATUSES = SUCCESS_STATUSES | FAILURE_STATUSES


def run_counters(by_status: dict[str, int]) -> tuple[int, int, int]:
    """(runs that executed, succeeded, failed or timed out) from counts by status."""
    ran = sum(n for status, n in by_status.items() if status not in NOT_EXECUTED_STATUSES)
    succeeded = sum(by_status.get(status, 0) for status in SUCCESS_STATUSES)
    failed = sum(by_status.get(status, 0) for status in FAILURE_STATUSES)
    return ran, succeeded, failed


def success_rate(by_status: dict[str, int]) -> float | None:
    """Succeeded over ended with an outcome (succeeded, failed, timed out); None if none."""
    _, succeeded, failed = run_counters(by_status)
    ended = succeeded + failed
    return round(succeeded / ended, 4) if ended else None


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, as everywhere in the API.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_timezone(value: str) -> str:
    cron.validate_timezone(value)
    return value


class SchedulerStatsQuery(ApiModel):
    company_id: Identifier | None = Field(
        default=None, description="Required with an admin key; others see their own company."
    )


class SchedulerStats(BaseModel):
    """Seed 003's aggregate statistics of one company."""

    total_jobs: int = Field(description="Routines that are not archived.")
    active_jobs: int
    total_runs_today: int = Field(description="Runs that executed since 00:00 UTC.")
    success_rate: float | None = Field(
        description="Succeeded / (succeeded + failed + timed out) over the window; null if none."
    )
    avg_duration_seconds: float | None = Field(
        description="Mean time from start to end of the runs that ended in the window."
    )
    jobs_by_status: dict[str, int]
    window_days: int = STATS_WINDOW_DAYS


class RoutineStats(ResponseModel):
    routine_id: str
    run_count: int = Field(description="Runs that executed (not skipped or coalesced).")
    success_count: int
    failure_count: int = Field(description="Runs that failed or timed out.")
    runs_by_status: dict[str, int]
    success_rate: float | None
    avg_duration_seconds: float | None
    last_run: datetime | None
    last_status: str | None
    last_fired_at: datetime | None
    next_run_at: datetime | None


class CalendarQuery(ApiModel):
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    routine_id: Identifier | None = None

    _aware = field_validator("from_", "to")(_aware)

    def window(self, now: datetime, default_days: int = 7) -> tuple[datetime, datetime]:
        """The window asked for: from now for `default_days` unless given."""
        start = self.from_ or now
        end = self.to or start + timedelta(days=default_days)
        if end <= start:
            raise ValueError("to must be after from")
        if end - start > timedelta(days=CALENDAR_MAX_DAYS):
            raise ValueError(f"the window is longer than {CALENDAR_MAX_DAYS} days")
        return start, end


class CalendarFire(ResponseModel):
    at: datetime
    trigger_id: str


class CalendarRoutine(ResponseModel):
    routine_id: str
    title: str
    fires: list[CalendarFire]
    truncated: bool = Field(
        default=False,
        description=f"A trigger had more than {CALENDAR_MAX_FIRES_PER_TRIGGER} fires in the "
        "window; only its first ones are listed.",
    )


class Calendar(ResponseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    routines: list[CalendarRoutine]
    total_fires: int


class HeatmapQuery(ApiModel):
    weeks: int = Field(default=4, ge=1, le=52)
    timezone: str = "UTC"

    _tz = field_validator("timezone")(_check_timezone)


class Heatmap(ResponseModel):
    """Run activity by weekday and hour: `counts[day][hour]`, days from Sunday (as cron)."""

    timezone: str
    weeks: int
    from_: datetime = Field(alias="from")
    to: datetime
    days: list[str]
    counts: list[list[int]] = Field(description="7 rows (Sun..Sat) of 24 hourly run counts.")
    levels: list[list[int]] = Field(
        description=f"The counts scaled to 0..{HEAT_LEVELS} against the busiest hour."
    )
    max: int
    total: int


DayPattern = Literal[
    "daily", "weekdays", "weekends", "sun", "mon", "tue", "wed", "thu", "fri", "sat"
]


class SuggestionQuery(ApiModel):
    time: str | None = Field(
        default=None, description="HH:MM near which to look; the current time by default."
    )
    days: DayPattern = "daily"
    timezone: str = "UTC"
    weeks: int = Field(default=4, ge=1, le=52)
    count: int = Field(default=3, ge=1, le=10)
    within_hours: int = Field(default=3, ge=1, le=12)

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _time_is_a_clock_time(self) -> Self:
        if self.time is not None and not _CLOCK.fullmatch(self.time):
            raise ValueError("time must be HH:MM (24-hour clock)")
        return self

    def clock(self) -> tuple[int, int] | None:
        """The requested (hour, minute), if given."""
        match = _CLOCK.fullmatch(self.time) if self.time is not None else None
        return (int(match.group(1)), int(match.group(2))) if match else None


class Suggestion(ResponseModel):
    time: str
    days: str
    reason: str
    cron_expression: str
    timezone: str
    runs_per_week: float = Field(description="Average runs per week in this hour and these days.")


class Suggestions(ResponseModel):
    suggestions: list[Suggestion]
