"""Plain-English descriptions of schedules, for API responses and the CLI.

Deterministic: the same schedule always reads the same. Common shapes get natural
phrasing ("At 09:00, Monday through Friday (America/New_York)", "Every 15 minutes");
anything else is spelled out field by field rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from scheduler.timing import Schedule
from schemas.cron import CronSpec, parse_cron

__all__ = ["describe_at", "describe_cron", "describe_interval", "describe_schedule"]

DAY_NAMES: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
ORDINALS: Final = ("first", "second", "third", "fourth", "fifth")
# How people name the zones they most often mean, as seed 003 writes them.
_ZONE_NAMES: Final = {
    "America/Los_Angeles": "Pacific Time",
    "America/Denver": "Mountain Time",
    "America/Phoenix": "Mountain Time",
    "America/Chicago": "Central Time",
    "America/New_York": "Eastern Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
    "Europe/London": "UK Time",
    "Europe/Berlin": "Central European Time",
    "Europe/Paris": "Central European Time",
    "Asia/Kolkata": "India Time",
    "Asia/Tokyo": "Japan Time",
    "UTC": "UTC",
}
# Up to this many clock times are listed one by one ("At 09:00 and 17:00").
_MAX_LISTED_TIMES: Final = 6


def describe_schedule(schedule: Schedule, *, spoken: bool = False) -> str:
    """One line saying when the schedule fires; `spoken` reads clock times on the 12-hour
    clock and names the zone as people say it ("At 09:00 AM, ..., Pacific Time")."""
    if schedule.type == "every":
        assert schedule.interval_sec is not None
        return describe_interval(schedule.interval_sec)
    if schedule.type == "at":
        assert schedule.at is not None
        return describe_at(schedule.at)
    if schedule.type == "cadence":
        if schedule.spec is None:
            return "Manually only (never fires on its own)"
        return describe_cron(schedule.spec, "UTC", spoken=spoken)
    assert schedule.spec is not None
    return describe_cron(schedule.spec, schedule.timezone, spoken=spoken)


def describe_interval(seconds: int) -> str:
    """'Every 15 minutes', 'Every hour', 'Every 90 seconds'."""
    for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return _every(seconds // size, unit)
    return _every(seconds, "second")


def describe_at(at: datetime) -> str:
    """'Once at 2026-04-01 09:00 UTC'."""
    moment = at.astimezone(UTC)
    clock = "%H:%M:%S" if moment.second else "%H:%M"
    return f"Once at {moment.strftime('%Y-%m-%d ' + clock)} UTC"


def describe_cron(
    spec: CronSpec | str, timezone: str | None = None, *, spoken: bool = False
) -> str:
    """Describe a cron expression; the zone, when given, is named at the end."""
    cron = spec if isinstance(spec, CronSpec) else parse_cron(spec)
    time_phrase, is_clock = _time_phrase(cron, twelve_hour=spoken)
    day_phrase = _day_phrase(cron)
    parts = [time_phrase]
    if day_phrase:
        parts.append(day_phrase)
    elif is_clock and time_phrase.startswith("At "):
        parts.append("every day")
    month_phrase = "" if _is_single_date(cron) else _month_phrase(cron)
    if month_phrase:
        parts.append(month_phrase)
    text = ", ".join(parts)
    # An interval such as "Every 15 minutes" reads the same in every zone; a clock time or
    # a calendar day does not.
    if timezone and (is_clock or day_phrase or month_phrase):
        text += f", {_ZONE_NAMES.get(timezone, timezone)}" if spoken else f" ({timezone})"
    return text


# --------------------------------------------------------------------------- pieces


def _every(count: int, unit: str) -> str:
    return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _step(values: tuple[int, ...], start: int, size: int) -> int:
    """n when values are start, start+n, ... up to the end of the field; else 0."""
    if len(values) < 2 or values[0] != start:
        return 0
    step = values[1] - values[0]
    return step if values == tuple(range(start, size, step)) else 0


def _ranges(values: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _compact(values: Sequence[int]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in _ranges(values))


def _clock(
    hour: int, minute: int, second: int, with_seconds: bool, twelve_hour: bool = False
) -> str:
    shown = (hour % 12 or 12) if twelve_hour else hour
    text = f"{shown:02d}:{minute:02d}:{second:02d}" if with_seconds else f"{shown:02d}:{minute:02d}"
    return f"{text} {'AM' if hour < 12 else 'PM'}" if twelve_hour else text


def _seconds_suffix(spec: CronSpec) -> str:
    return "" if spec.seconds == (0,) else f" at second {_compact(spec.seconds)}"


def _time_phrase(spec: CronSpec, *, twelve_hour: bool = False) -> tuple[str, bool]:
    """The time-of-day part, and whether it names clock times."""
    sec, mins, hours = spec.seconds, spec.minutes, spec.hours
    all_sec, all_min, all_hours = len(sec) == 60, len(mins) == 60, len(hours) == 24

    if len(sec) > 1:
        if all_min and all_hours:
            if all_sec:
                return "Every second", False
            step = _step(sec, 0, 60)
            if step and 60 % step == 0:
                return _every(step, "second"), False
        return (
            f"At seconds {_compact(sec)} of minutes {_compact(mins)} past hours {_compact(hours)}",
            False,
        )

    second = sec[0]
    with_seconds = second != 0
    suffix = _seconds_suffix(spec)
    if all_hours:
        if all_min:
            return "Every minute" + suffix, False
        step = _step(mins, 0, 60)
        if step and 60 % step == 0:
            return _every(step, "minute") + suffix, False
        if len(mins) == 1:
            if mins[0] == 0 and not with_seconds:
                return "Every hour", False
            return f"Every hour at minute {mins[0]}" + suffix, False
        return f"At minutes {_compact(mins)} past every hour" + suffix, False

    if len(mins) * len(hours) <= _MAX_LISTED_TIMES:
        times = [_clock(h, m, second, with_seconds, twelve_hour) for h in hours for m in mins]
        return f"At {_join(times)}", True

    hour_step = _step(hours, hours[0], 24)
    if len(mins) == 1 and hour_step and 24 % hour_step == 0:
        text = _every(hour_step, "hour")
        if hours[0] or mins[0] or with_seconds:
            text += f" starting at {_clock(hours[0], mins[0], second, with_seconds, twelve_hour)}"
        return text, True

    runs = _ranges(hours)
    if len(runs) == 1:
        first, last = runs[0]
        span = (
            f"from {_clock(first, mins[0], second, with_seconds, twelve_hour)} "
            f"through {_clock(last, mins[-1], second, with_seconds, twelve_hour)}"
        )
        if all_min:
            return f"Every minute {span}" + suffix, True
        step = _step(mins, 0, 60)
        if step and 60 % step == 0:
            return f"{_every(step, 'minute')} {span}" + suffix, True
        if len(mins) == 1:
            return f"Every hour {span}", True

    return f"At minutes {_compact(mins)} past hours {_compact(hours)}" + suffix, True


def _weekday_phrase(spec: CronSpec) -> str:
    items: list[str] = []
    days = spec.days_of_week
    if len(days) == 7:
        items.append("every day")
    elif days:
        runs = _ranges(days)
        if len(runs) == 1 and runs[0][1] - runs[0][0] >= 2:
            items.append(f"{DAY_NAMES[runs[0][0]]} through {DAY_NAMES[runs[0][1]]}")
        else:
            # Listed Monday first, the way people write a week.
            ordered = sorted(days, key=lambda d: (d - 1) % 7)
            items.append("every " + _join([DAY_NAMES[d] for d in ordered]))
    for day, n in spec.nth_weekdays:
        items.append(f"on the {ORDINALS[n - 1]} {DAY_NAMES[day]} of the month")
    for day in spec.last_weekdays:
        items.append(f"on the last {DAY_NAMES[day]} of the month")
    return _join(items)


def _month_day_phrase(spec: CronSpec) -> str:
    items: list[str] = []
    days = spec.days_of_month
    if days:
        step = _step(days, days[0], 32)
        runs = _ranges(days)
        if len(days) == 1:
            items.append(f"on day {days[0]} of the month")
        elif step > 1 and len(days) > 3:
            items.append(f"on every {_ordinal_number(step)} day of the month from day {days[0]}")
        elif len(runs) == 1:
            items.append(f"on days {runs[0][0]} through {runs[0][1]} of the month")
        else:
            items.append(f"on days {_join([str(d) for d in days])} of the month")
    for day in spec.nearest_weekdays:
        items.append(f"on the weekday nearest day {day} of the month")
    if spec.last_day_of_month:
        items.append("on the last day of the month")
    if spec.last_weekday_of_month:
        items.append("on the last weekday of the month")
    return _join(items)


def _ordinal_number(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_single_date(spec: CronSpec) -> bool:
    """One plain day of one month, e.g. `0 0 1 1 *`: read as "on January 1"."""
    return (
        spec.dow_wildcard
        and len(spec.days_of_week) == 7
        and len(spec.months) == 1
        and len(spec.days_of_month) == 1
        and _only_plain_dom(spec)
    )


def _day_phrase(spec: CronSpec) -> str:
    if spec.every_day:
        return ""
    if _is_single_date(spec):
        return f"on {MONTH_NAMES[spec.months[0] - 1]} {spec.days_of_month[0]}"
    dom_free = spec.dom_wildcard and len(spec.days_of_month) == 31
    dow_free = spec.dow_wildcard and len(spec.days_of_week) == 7
    if dom_free and dow_free:
        return ""
    if dow_free:
        return _month_day_phrase(spec)
    if dom_free:
        return _weekday_phrase(spec)
    if spec.dom_wildcard or spec.dow_wildcard:
        # cron's AND rule: a day field written with * (e.g. */2) narrows the other one.
        return f"{_month_day_phrase(spec)}, if that day is {_plain_weekdays(spec)}"
    return f"{_month_day_phrase(spec)} or {_weekday_phrase(spec)}"


def _plain_weekdays(spec: CronSpec) -> str:
    phrase = _weekday_phrase(spec)
    return phrase.removeprefix("every ")


def _only_plain_dom(spec: CronSpec) -> bool:
    return not (spec.last_day_of_month or spec.last_weekday_of_month or spec.nearest_weekdays)


def _month_phrase(spec: CronSpec) -> str:
    months = spec.months
    if len(months) == 12:
        return ""
    runs = _ranges(months)
    if len(runs) == 1 and runs[0][1] - runs[0][0] >= 2:
        return f"{MONTH_NAMES[runs[0][0] - 1]} through {MONTH_NAMES[runs[0][1] - 1]}"
    return "in " + _join([MONTH_NAMES[m - 1] for m in months])
