"""Exclusion dates of a schedule trigger: whether a tick falls on one. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from functools import lru_cache

from schemas.schedule_rules import parse_exclusion

Exclusions = tuple[tuple[date, date], ...]


@lru_cache(maxsize=4_096)
def _parsed(values: tuple[str, ...]) -> Exclusions:
    return tuple(sorted(parse_exclusion(value) for value in values))


def exclusions_of(values: Sequence[str] | None) -> Exclusions:
    """The validated `excludeDates` of a trigger, as inclusive date ranges."""
    return _parsed(tuple(values)) if values else ()


def is_excluded(tick: datetime, zone: tzinfo, exclusions: Exclusions) -> bool:
    """Whether the local date of `tick` in `zone` lies in one of the ranges."""
    if not exclusions:
        return False
    day = tick.astimezone(zone).date()
    return any(start <= day <= end for start, end in exclusions)
