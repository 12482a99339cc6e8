"""Backfills: the ticks of a past range of a routine's schedules, fired on request."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from schemas.common import ApiModel, ConcurrencyPolicy, ResponseModel
from schemas.occurrences import since_1970


class BackfillStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BackfillRange(ApiModel):
    """The inclusive range `[from, to]` of scheduled times to fire."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    overlap_policy: ConcurrencyPolicy | None = Field(
        default=None, description="Applies to the backfilled fires instead of the routine's."
    )

    _start = field_validator("start")(since_1970)
    _end = field_validator("end")(since_1970)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("to must not be before from")
        return self


class Backfill(ResponseModel):
    id: str
    routine_id: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    overlap_policy: ConcurrencyPolicy | None = None
    status: BackfillStatus
    total: int = Field(description="Ticks in the range, excluded ones included.")
    fired: int = Field(description="Ticks published so far (a repeated tick makes no new run).")
    excluded: int = Field(description="Ticks on exclusion dates, recorded and not fired.")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
