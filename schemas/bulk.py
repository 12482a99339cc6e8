"""Bulk actions over the routines a label selector matches."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.common import ApiModel, ConcurrencyPolicy, ResponseModel, RoutineStatus
from schemas.labels import MAX_SELECTOR_LENGTH

BulkActionName = Literal["pause", "resume", "archive", "backfill"]
BulkOutcomeName = Literal["applied", "would_apply", "unchanged", "refused", "forbidden"]


class BulkAction(ApiModel):
    selector: str = Field(
        min_length=1,
        max_length=MAX_SELECTOR_LENGTH,
        description="Label selector; it must name at least one requirement.",
    )
    action: BulkActionName
    dry_run: bool = False
    start: datetime | None = Field(default=None, alias="from", description="backfill only")
    end: datetime | None = Field(default=None, alias="to", description="backfill only")
    overlap_policy: ConcurrencyPolicy | None = Field(default=None, description="backfill only")

    @model_validator(mode="after")
    def _range_for_backfill(self) -> Self:
        given = {"from": self.start, "to": self.end, "overlapPolicy": self.overlap_policy}
        if self.action == "backfill":
            for name in ("from", "to"):
                if given[name] is None:
                    raise ValueError(f"{name} is required for a backfill")
        else:
            extra = [name for name, value in given.items() if value is not None]
            if extra:
                raise ValueError(f"{extra[0]} applies only to a backfill")
        return self


class BulkOutcome(ResponseModel):
    routine_id: str
    title: str
    status: RoutineStatus = Field(description="The routine's status after the action.")
    outcome: BulkOutcomeName
    reason: str | None = None
    backfill_id: str | None = None


class BulkResult(ResponseModel):
    action: BulkActionName
    dry_run: bool
    matched: int
    results: list[BulkOutcome]
