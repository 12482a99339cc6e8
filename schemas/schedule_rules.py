"""Rules a schedule trigger adds to its schedule: a DST policy and exclusion dates."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from schemas.common import ApiModel

MAX_EXCLUDE_DATES = 366
MAX_EXCLUDE_RANGE_DAYS = 3_660


class RepeatedHour(StrEnum):
    """What a fixed-time job does when the clock falls back and its time comes twice."""

    ONCE_FIRST = "once_first"
    ONCE_SECOND = "once_second"
    TWICE = "twice"


class SkippedHour(StrEnum):
    """What a fixed-time job does when the clock springs forward over its time."""

    AT_TRANSITION = "at_transition"
    SKIP = "skip"


class DstPolicy(ApiModel):
    """How a cron trigger with a fixed time of day treats daylight-saving changes.

    Jobs with `*` or a step in the second, minute or hour field follow real time
    and are not affected."""

    model_config = ApiModel.model_config | ConfigDict(frozen=True)

    repeated_hour: RepeatedHour = RepeatedHour.ONCE_FIRST
    skipped_hour: SkippedHour = SkippedHour.AT_TRANSITION


def parse_exclusion(text: str) -> tuple[date, date]:
    """`YYYY-MM-DD`, or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`; raises ValueError."""
    first, dots, last = text.partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if dots else start
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)"
        ) from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    if (end - start).days >= MAX_EXCLUDE_RANGE_DAYS:
        raise ValueError(f"{text!r} spans more than {MAX_EXCLUDE_RANGE_DAYS} days")
    return start, end


def _check_exclusions(values: list[str]) -> list[str]:
    for value in values:
        parse_exclusion(value)
    return values


ExcludeDates = Annotated[
    list[Annotated[str, Field(max_length=22)]],
    Field(max_length=MAX_EXCLUDE_DATES),
    AfterValidator(_check_exclusions),
]
EXCLUDE_DATES_DOC = (
    "Dates in the trigger's zone (UTC unless cron with a timezone) on which no tick fires: "
    "`YYYY-MM-DD` or inclusive ranges `YYYY-MM-DD..YYYY-MM-DD`; such ticks are recorded "
    "as `excluded`."
)
