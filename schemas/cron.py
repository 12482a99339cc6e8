"""Cron expressions, time zones and cadence presets: parsing and validation.

Everything here is pure data: a cron expression becomes an immutable `CronSpec`
that the scheduler searches over; nothing in this module knows about clocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CADENCE_TYPES",
    "Cadence",
    "CadenceType",
    "CronSpec",
    "InvalidCadence",
    "InvalidCronExpression",
    "InvalidSchedule",
    "UnknownTimezone",
    "cadence_to_cron",
    "parse_cron",
    "validate_cadence",
    "validate_timezone",
]


class InvalidSchedule(ValueError):
    """A schedule (cron, cadence, interval, one-shot time or time zone) that cannot be used."""


class InvalidCronExpression(InvalidSchedule):
    """A cron expression that does not parse; the message names the field and the problem."""

    def __init__(self, expression: str, problem: str, field_name: str | None = None) -> None:
        self.expression = expression
        self.problem = problem
        self.field_name = field_name
        super().__init__(f"{field_name} field: {problem}" if field_name else problem)


class UnknownTimezone(InvalidSchedule):
    """A time zone name that is not in the IANA database."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown timezone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'"
        )


class InvalidCadence(InvalidSchedule):
    """A cadence preset whose parameters do not fit its type."""


# --------------------------------------------------------------------------- cron

DAY_NAMES: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES: Final = (
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
)  # fmt: skip

MACROS: Final[dict[str, str]] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Longest month in which each day number can occur (February counts its leap day).
_MONTH_LENGTH: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_NUMBER = re.compile(r"\d+")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # value of the first name (JAN=1, SUN=0)


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, MONTH_NAMES, 1)
# 7 is accepted as a second spelling of Sunday, as every cron does.
_DOW = _Field("day-of-week", 0, 7, DAY_NAMES, 0)


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed cron expression: the allowed values of each field and the special day rules.

    Weekdays are numbered 0-6 from Sunday. `dom_wildcard` / `dow_wildcard` record that the
    field was written starting with `*` or `?`: as in Vixie cron and cronie, the two day fields
    are OR-ed only when neither is a wildcard, otherwise both must match.
    """

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    last_day_of_month: bool = False
    last_weekday_of_month: bool = False
    nearest_weekdays: tuple[int, ...] = ()
    last_weekdays: tuple[int, ...] = ()
    nth_weekdays: tuple[tuple[int, int], ...] = ()
    dom_wildcard: bool = True
    dow_wildcard: bool = True
    has_seconds: bool = False
    fixed_time: bool = True
    # Lookup tables for the scheduler's search: _x_ge[v] is the smallest allowed value >= v,
    # or -1 when there is none. Derived from the fields above, so left out of eq/hash.
    _second_ge: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _minute_ge: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _hour_ge: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _day_rule: tuple[object, ...] = field(init=False, repr=False, compare=False)
    _every_date: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_second_ge", _ge_table(self.seconds, 60))
        object.__setattr__(self, "_minute_ge", _ge_table(self.minutes, 60))
        object.__setattr__(self, "_hour_ge", _ge_table(self.hours, 24))
        object.__setattr__(
            self,
            "_day_rule",
            (
                frozenset(self.days_of_month),
                frozenset(self.days_of_week),
                self.last_day_of_month,
                self.last_weekday_of_month,
                self.nearest_weekdays,
                frozenset(self.last_weekdays),
                frozenset(self.nth_weekdays),
                self.dom_wildcard,
                self.dow_wildcard,
            ),
        )
        object.__setattr__(self, "_every_date", self.every_day and len(self.months) == 12)

    @property
    def every_day(self) -> bool:
        """True when the expression puts no restriction on the day of month or week."""
        return (
            self.dom_wildcard
            and self.dow_wildcard
            and len(self.days_of_month) == 31
            and len(self.days_of_week) == 7
            and not self.last_day_of_month
            and not self.last_weekday_of_month
            and not self.nearest_weekdays
            and not self.last_weekdays
            and not self.nth_weekdays
        )


@lru_cache(maxsize=1024)
def _ge_table(values: tuple[int, ...], size: int) -> tuple[int, ...]:
    table = [-1] * (size + 1)
    nxt = -1
    allowed = set(values)
    for v in range(size - 1, -1, -1):
        if v in allowed:
            nxt = v
        table[v] = nxt
    return tuple(table)


def parse_cron(expression: str) -> CronSpec:
    """Parse a 5-field (or 6-field, seconds first) cron expression or an @macro.

    Raises InvalidCronExpression with a message that names the field and the problem.
    """
    if not isinstance(expression, str):
        raise InvalidCronExpression(repr(expression), "cron expression must be a string")
    text = " ".join(expression.split())
    if not text:
        raise InvalidCronExpression(expression, "cron expression is empty")
    return _parse_normalized(text)


# Specs are immutable, so triggers that share an expression can share its parse: a
# scheduler loading many triggers parses each distinct expression once.
@lru_cache(maxsize=8192)
def _parse_normalized(text: str) -> CronSpec:
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise InvalidCronExpression(
                text, "@reboot is not supported: a schedule needs a time of day"
            )
        if macro not in MACROS:
            raise InvalidCronExpression(
                text, f"unknown macro {text!r}; expected one of {', '.join(MACROS)}"
            )
        return _parse_fields(text, MACROS[macro].split())
    return _parse_fields(text, text.split())


def _parse_fields(expression: str, parts: list[str]) -> CronSpec:
    if len(parts) not in (5, 6):
        raise InvalidCronExpression(
            expression,
            "expected 5 fields (minute hour day-of-month month day-of-week) "
            f"or 6 with a leading seconds field, got {len(parts)}",
        )
    has_seconds = len(parts) == 6
    parts = [p.upper() for p in parts]
    sec_text = parts[0] if has_seconds else "0"
    min_text, hour_text, dom_text, mon_text, dow_text = parts[-5:]

    seconds = _parse_plain(expression, _SECOND, sec_text)
    minutes = _parse_plain(expression, _MINUTE, min_text)
    hours = _parse_plain(expression, _HOUR, hour_text)
    months = _parse_plain(expression, _MONTH, mon_text)
    dom = _parse_dom(expression, dom_text)
    dow = _parse_dow(expression, dow_text)

    dom_wildcard = dom_text[0] in "*?"
    dow_wildcard = dow_text[0] in "*?"

    # cronie treats a job whose minute or hour field is a wildcard as "wildcard" and one
    # with explicit values as "fixed-time"; the two differ only across DST changes. A step
    # (`0-23/2`) repeats through the day like `*`, so it counts as a wildcard too.
    time_texts = (sec_text, min_text, hour_text)
    fixed_time = not any("*" in t or "/" in t for t in time_texts)

    if dom_wildcard or dow_wildcard:
        _check_dom_reachable(expression, dom, months)

    return CronSpec(
        expression=expression,
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        days_of_month=dom.days,
        months=months,
        days_of_week=dow.days,
        last_day_of_month=dom.last,
        last_weekday_of_month=dom.last_weekday,
        nearest_weekdays=dom.nearest_weekdays,
        last_weekdays=dow.last,
        nth_weekdays=dow.nth,
        dom_wildcard=dom_wildcard,
        dow_wildcard=dow_wildcard,
        has_seconds=has_seconds,
        fixed_time=fixed_time,
    )


def _check_dom_reachable(expression: str, dom: _DomParts, months: tuple[int, ...]) -> None:
    # When the day-of-month must match on its own (the other day field is a wildcard),
    # "30 2" would be a schedule that never fires: reject it here rather than at run time.
    if dom.last or dom.last_weekday:
        return
    longest = max(_MONTH_LENGTH[m] for m in months)
    days = dom.days + dom.nearest_weekdays
    if days and min(days) > longest:
        names = ", ".join(MONTH_NAMES[m - 1] for m in months)
        raise InvalidCronExpression(
            expression,
            f"day {min(days)} never occurs in {names}, so the schedule would never fire",
            _DOM.name,
        )


def _split_items(expression: str, fld: _Field, text: str) -> list[str]:
    items = text.split(",")
    if any(not item for item in items):
        raise InvalidCronExpression(expression, f"empty item in list {text!r}", fld.name)
    return items


def _parse_plain(expression: str, fld: _Field, text: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in _split_items(expression, fld, text):
        values.update(_parse_range_item(expression, fld, item))
    return tuple(sorted(values))


def _parse_value(expression: str, fld: _Field, token: str) -> int:
    if _NUMBER.fullmatch(token):
        value = int(token)
    elif token in fld.names:
        value = fld.names.index(token) + fld.name_base
    else:
        if fld.names:
            kind = "a day name (SUN-SAT)" if fld is _DOW else "a month name (JAN-DEC)"
            problem = f"{token!r} is not a number or {kind}"
        else:
            problem = f"{token!r} is not a number"
        raise InvalidCronExpression(expression, problem, fld.name)
    if not fld.low <= value <= fld.high:
        raise InvalidCronExpression(
            expression, f"{value} is out of range {fld.low}-{fld.high}", fld.name
        )
    return value


def _parse_range_item(expression: str, fld: _Field, item: str) -> list[int]:
    """Values of one list item: `*`, `?`, `N`, `A-B`, with an optional `/step`."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text):
            raise InvalidCronExpression(
                expression, f"step {step_text!r} in {item!r} is not a number", fld.name
            )
        step = int(step_text)
        if step == 0:
            raise InvalidCronExpression(expression, "step must be at least 1", fld.name)
        span = fld.high - fld.low
        if step > span:
            raise InvalidCronExpression(
                expression,
                f"step {step} is larger than the field's range {fld.low}-{fld.high}",
                fld.name,
            )
    if base in ("*", "?"):
        if base == "?" and fld not in (_DOM, _DOW):
            raise InvalidCronExpression(
                expression,
                "'?' is only allowed in the day-of-month and day-of-week fields",
                fld.name,
            )
        start, end = fld.low, fld.high
    elif "-" in base:
        start_text, _, end_text = base.partition("-")
        start = _parse_value(expression, fld, start_text)
        end = _parse_value(expression, fld, end_text)
        # SAT-SUN and FRI-SUN read naturally; Sunday at the end of a range means day 7.
        if fld is _DOW and end == 0 and start > 0:
            end = 7
        if end < start:
            raise InvalidCronExpression(
                expression,
                f"range {start_text}-{end_text} goes backwards; split it into two ranges",
                fld.name,
            )
    else:
        start = _parse_value(expression, fld, base)
        # "5/15" means "from 5 to the end, every 15", as in Quartz and croniter.
        end = fld.high if slash else start
    values = list(range(start, end + 1, step))
    if fld is _DOW:
        values = [v % 7 for v in values]
    return values


@dataclass(frozen=True, slots=True)
class _DomParts:
    days: tuple[int, ...]
    last: bool
    last_weekday: bool
    nearest_weekdays: tuple[int, ...]


def _parse_dom(expression: str, text: str) -> _DomParts:
    days: set[int] = set()
    nearest: set[int] = set()
    last = last_weekday = False
    for item in _split_items(expression, _DOM, text):
        if item == "L":
            last = True
        elif item == "LW":
            last_weekday = True
        elif item.endswith("W"):
            day_text = item[:-1]
            if not _NUMBER.fullmatch(day_text):
                raise InvalidCronExpression(
                    expression,
                    f"{item!r}: W needs a single day before it, e.g. 15W",
                    _DOM.name,
                )
            nearest.add(_parse_value(expression, _DOM, day_text))
        elif "L" in item or "W" in item:
            raise InvalidCronExpression(
                expression,
                f"{item!r} is not valid; use L (last day), LW (last weekday) or e.g. 15W",
                _DOM.name,
            )
        else:
            days.update(_parse_range_item(expression, _DOM, item))
    return _DomParts(tuple(sorted(days)), last, last_weekday, tuple(sorted(nearest)))


@dataclass(frozen=True, slots=True)
class _DowParts:
    days: tuple[int, ...]
    last: tuple[int, ...]
    nth: tuple[tuple[int, int], ...]


def _parse_dow(expression: str, text: str) -> _DowParts:
    days: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in _split_items(expression, _DOW, text):
        if "#" in item:
            day_text, _, n_text = item.partition("#")
            day = _parse_value(expression, _DOW, day_text) % 7
            if not _NUMBER.fullmatch(n_text) or not 1 <= int(n_text) <= 5:
                raise InvalidCronExpression(
                    expression,
                    f"{item!r}: the number after # must be 1-5 (e.g. MON#1, the first Monday)",
                    _DOW.name,
                )
            nth.add((day, int(n_text)))
        elif item.endswith("L") and item != "L":
            last.add(_parse_value(expression, _DOW, item[:-1]) % 7)
        elif item == "L":
            raise InvalidCronExpression(
                expression,
                "'L' needs a weekday before it, e.g. 5L or FRIL for the last Friday",
                _DOW.name,
            )
        else:
            days.update(_parse_range_item(expression, _DOW, item))
    return _DowParts(tuple(sorted(days)), tuple(sorted(last)), tuple(sorted(nth)))


# --------------------------------------------------------------------------- time zones


def validate_timezone(name: str) -> ZoneInfo:
    """Return the IANA zone `name`, or raise UnknownTimezone."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownTimezone(str(name))
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return ZoneInfo("UTC")
    # "localtime" would make a schedule depend on the machine it runs on.
    if name in ("localtime", "posixrules") or not _ZONE_NAME.fullmatch(name):
        raise UnknownTimezone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # ValueError: keys that are not relative paths; OSError: e.g. a directory name.
        raise UnknownTimezone(name) from exc


# --------------------------------------------------------------------------- cadences

CadenceType = Literal["manual", "hourly", "daily", "weekdays", "weekly"]
CADENCE_TYPES: Final[tuple[str, ...]] = get_args(CadenceType)

_DAY_WORDS: Final[dict[str, int]] = {
    **{name.lower(): i for i, name in enumerate(DAY_NAMES)},
    **{
        full: i
        for i, full in enumerate(
            ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
        )
    },
}


@dataclass(frozen=True, slots=True)
class Cadence:
    """A validated cadence preset; times are UTC, day_of_week 0-6 from Sunday."""

    type: CadenceType
    hour_utc: int | None = None
    minute_utc: int | None = None
    day_of_week: int | None = None


def _check_int(name: str, value: object, low: int, high: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCadence(f"{name} must be an integer")
    if not low <= value <= high:
        raise InvalidCadence(f"{name} must be between {low}{hint} and {high}")
    return value


def _day_of_week(value: int | str) -> int:
    if isinstance(value, str):
        key = value.strip().lower()
        if key.isdigit():
            value = int(key)
        elif key in _DAY_WORDS:
            return _DAY_WORDS[key]
        else:
            raise InvalidCadence(
                f"day_of_week {value!r} is not a day; use 0-6 (0 = Sunday) or a name like 'monday'"
            )
    # 7 is not accepted: the presets use cron's 0-6 with a single spelling per day.
    return _check_int("day_of_week", value, 0, 6, " (Sunday)")


def validate_cadence(
    type: str,
    hour_utc: int | None = None,
    minute_utc: int | None = None,
    day_of_week: int | str | None = None,
) -> Cadence:
    """Check a cadence preset's parameters (seed 000's rules) and return it normalised.

    minute_utc defaults to 0; manual accepts no parameter besides its type.
    """
    if type not in CADENCE_TYPES:
        raise InvalidCadence(
            f"unknown cadence type {type!r}; expected one of {', '.join(CADENCE_TYPES)}"
        )
    if type == "manual":
        if hour_utc is not None or minute_utc is not None or day_of_week is not None:
            raise InvalidCadence("manual cadence accepts no parameters")
        return Cadence("manual")
    if type == "hourly":
        if hour_utc is not None:
            raise InvalidCadence("hourly cadence does not accept hour_utc")
        if day_of_week is not None:
            raise InvalidCadence("hourly cadence does not accept day_of_week")
    elif hour_utc is None:
        raise InvalidCadence(f"{type} cadence requires hour_utc")
    if type == "weekly" and day_of_week is None:
        raise InvalidCadence("weekly cadence requires day_of_week")
    if type in ("daily", "weekdays") and day_of_week is not None:
        raise InvalidCadence(f"{type} cadence does not accept day_of_week")

    minute = 0 if minute_utc is None else _check_int("minute_utc", minute_utc, 0, 59)
    hour = None if hour_utc is None else _check_int("hour_utc", hour_utc, 0, 23)
    dow = None if day_of_week is None else _day_of_week(day_of_week)
    return Cadence(cast(CadenceType, type), hour, minute, dow)


def cadence_to_cron(
    type: str,
    hour_utc: int | None = None,
    minute_utc: int | None = None,
    day_of_week: int | str | None = None,
) -> str | None:
    """The cron expression (UTC) of a cadence preset; None for manual, which never fires."""
    cadence = validate_cadence(type, hour_utc, minute_utc, day_of_week)
    minute = cadence.minute_utc
    if cadence.type == "manual":
        return None
    if cadence.type == "hourly":
        return f"{minute} * * * *"
    if cadence.type == "daily":
        return f"{minute} {cadence.hour_utc} * * *"
    if cadence.type == "weekdays":
        return f"{minute} {cadence.hour_utc} * * 1-5"
    return f"{minute} {cadence.hour_utc} * * {cadence.day_of_week}"
