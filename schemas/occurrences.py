"""The occurrence ledger as clients read it: what became of each tick of a schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from schemas.common import ApiModel, ResponseModel

OccurrenceOutcome = Literal["fired", "skipped", "coalesced", "missed", "excluded"]


class Occurrence(ResponseModel):
    trigger_id: str
    routine_id: str
    scheduled_for: datetime
    outcome: OccurrenceOutcome
    reason: str | None = None
    run_id: str | None = Field(default=None, description="The run the tick made, if any.")
    handled_at: datetime
    lateness_sec: float | None = Field(
        default=None, description="Seconds between the scheduled time and its handling."
    )
    origin: Literal["scheduler", "backfill"]


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def since_1970(value: datetime) -> datetime:
    """An instant with an offset, from 1970 on, in UTC; raises ValueError otherwise."""
    if value.tzinfo is None:
        raise ValueError("must carry a timezone offset, e.g. 2026-04-01T09:00:00Z")
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if instant < _EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return instant


def _aware(value: datetime | None) -> datetime | None:
    return since_1970(value) if value is not None else None


class OccurrenceQuery(ApiModel):
    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")
    limit: int = Field(default=500, ge=1, le=5_000)

    _start = field_validator("start")(_aware)
    _end = field_validator("end")(_aware)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("to must not be before from")
        return self
