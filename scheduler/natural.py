"""Everyday-English schedules ("every weekday at 9am Pacific") turned into schedules.

A small deterministic grammar, no network: the text is read as up to four clauses
that may come in any order: how often ("every 15 minutes", "hourly"), which days
("on weekdays", "the first Monday of the month", "on the 1st of every month"), at what
time ("at 9am", "at noon", "at 17:30") and in which zone (a trailing "Pacific",
"Europe/Paris", "London", ...). A plain cron expression or an ISO date-time also works.

"every N seconds/minutes/hours" becomes an `every` schedule, not `*/N` cron: it means a
fixed spacing, which cron cannot give when N does not divide the hour or day (`*/7`
fires at :56 and again at :00; there is no cron for "every 90 minutes"), and being
anchored to the Unix epoch, intervals that do divide the hour still land on :00, :15...
in UTC. Once days or a time window are named ("every 15 minutes on weekdays"), cron is
used, since only cron knows calendar days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from scheduler.describe import describe_schedule
from scheduler.timing import Schedule, ScheduleType
from schemas.cron import InvalidSchedule, UnknownTimezone, parse_cron, validate_timezone

__all__ = ["EXAMPLES", "ParsedSchedule", "UnrecognizedSchedule", "parse_natural_schedule"]

EXAMPLES: Final = (
    "every weekday at 9am Pacific",
    "every 15 minutes",
    "hourly",
    "daily at noon",
    "every monday at 5pm",
    "weekly on friday at 17:30 Europe/London",
    "first Monday of the month at 08:30 Europe/Paris",
    "on the 1st of every month at 6am",
    "every 15 minutes between 9am and 5pm on weekdays",
    "at 2026-05-01 09:00 UTC",
    "0 9 * * 1-5",
)


class UnrecognizedSchedule(InvalidSchedule):
    """Text the grammar cannot read; carries example phrases that do work."""

    def __init__(self, text: str, reason: str | None = None) -> None:
        self.text = text
        self.examples: tuple[str, ...] = EXAMPLES
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"could not understand {text!r} as a schedule{detail}; try for example "
            + ", ".join(repr(e) for e in EXAMPLES[:5])
        )


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    """The reading of a phrase: `expression` is a cron expression, a number of seconds
    (every) or an ISO 8601 UTC datetime (at); confidence is 0-1."""

    type: ScheduleType
    expression: str
    timezone: str
    human_readable: str
    confidence: float

    def to_schedule(self) -> Schedule:
        """The Schedule this reading stands for."""
        return _build(self.type, self.expression, self.timezone)


def _build(kind: ScheduleType, expression: str, zone: str) -> Schedule:
    if kind == "every":
        return Schedule.from_interval(int(expression))
    if kind == "at":
        return Schedule.from_datetime(datetime.fromisoformat(expression))
    return Schedule.from_cron(expression, zone)


def _result(kind: ScheduleType, expression: str, zone: str, confidence: float) -> ParsedSchedule:
    schedule = _build(kind, expression, zone)
    return ParsedSchedule(kind, expression, zone, describe_schedule(schedule), confidence)


# --------------------------------------------------------------------------- zones

_ZONE_WORDS: Final[dict[str, str]] = {
    **dict.fromkeys(("utc", "z", "zulu", "gmt", "universal"), "UTC"),
    **dict.fromkeys(("pacific", "pt", "pst", "pdt"), "America/Los_Angeles"),
    **dict.fromkeys(("mountain", "mt", "mst", "mdt"), "America/Denver"),
    **dict.fromkeys(("central", "ct", "cst", "cdt"), "America/Chicago"),
    **dict.fromkeys(("eastern", "et", "est", "edt"), "America/New_York"),
    **dict.fromkeys(("alaska", "akst", "akdt"), "America/Anchorage"),
    **dict.fromkeys(("hawaii", "hst"), "Pacific/Honolulu"),
    **dict.fromkeys(("cet", "cest", "central european"), "Europe/Berlin"),
    **dict.fromkeys(("bst", "uk"), "Europe/London"),
    **dict.fromkeys(("ist", "india"), "Asia/Kolkata"),
    **dict.fromkeys(("jst", "japan"), "Asia/Tokyo"),
    **dict.fromkeys(("aest", "aedt"), "Australia/Sydney"),
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "los angeles": "America/Los_Angeles",
    "new york": "America/New_York",
    "boston": "America/New_York",
    "toronto": "America/Toronto",
    "chicago": "America/Chicago",
    "denver": "America/Denver",
    "london": "Europe/London",
    "dublin": "Europe/Dublin",
    "lisbon": "Europe/Lisbon",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "amsterdam": "Europe/Amsterdam",
    "madrid": "Europe/Madrid",
    "rome": "Europe/Rome",
    "zurich": "Europe/Zurich",
    "stockholm": "Europe/Stockholm",
    "moscow": "Europe/Moscow",
    "dubai": "Asia/Dubai",
    "mumbai": "Asia/Kolkata",
    "singapore": "Asia/Singapore",
    "hong kong": "Asia/Hong_Kong",
    "shanghai": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "seoul": "Asia/Seoul",
    "tokyo": "Asia/Tokyo",
    "sydney": "Australia/Sydney",
    "melbourne": "Australia/Melbourne",
    "auckland": "Pacific/Auckland",
    "sao paulo": "America/Sao_Paulo",
    "mexico city": "America/Mexico_City",
}


def _canonical_case(name: str) -> str:
    """europe/paris -> Europe/Paris, america/new_york -> America/New_York."""
    parts = []
    for part in name.split("/"):
        words = re.split(r"([_-])", part)
        parts.append("".join(w if w in "_-" else w[:1].upper() + w[1:].lower() for w in words))
    return "/".join(parts)


def _resolve_zone(words: str) -> str | None:
    key = words.strip("() ").lower()
    key = key.removesuffix(" time").removesuffix(" timezone").strip()
    if key in _ZONE_WORDS:
        return _ZONE_WORDS[key]
    candidate = words.strip("() ")
    if "/" not in candidate:
        return None
    for name in (candidate, _canonical_case(candidate)):
        try:
            validate_timezone(name)
        except UnknownTimezone:
            continue
        return name
    return None


def _split_zone(text: str) -> tuple[str, str | None]:
    """Take a zone off the end of the text: 'every day at 9am new york time'."""
    tokens = text.split()
    for size in range(min(4, len(tokens)), 0, -1):
        zone = _resolve_zone(" ".join(tokens[-size:]))
        if zone:
            rest = tokens[:-size]
            if rest and rest[-1].lower() in ("in", "at"):
                rest = rest[:-1]
            return " ".join(rest), zone
    return text, None


# --------------------------------------------------------------------------- clauses

_DAY_WORDS: Final[dict[str, int]] = {
    "sunday": 0, "sun": 0, "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2,
    "wednesday": 3, "wed": 3, "thursday": 4, "thu": 4, "thur": 4, "thurs": 4,
    "friday": 5, "fri": 5, "saturday": 6, "sat": 6,
}  # fmt: skip
_MONTH_WORDS: Final[dict[str, int]] = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_NTH_WORDS: Final[dict[str, int]] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
}  # fmt: skip
_NUMBER_WORDS: Final[dict[str, int]] = {
    "a": 1, "an": 1, "one": 1, "other": 2, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
}  # fmt: skip
_UNIT_SECONDS: Final[dict[str, int]] = {
    "second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "hr": 3600,
    "day": 86_400, "week": 604_800,
}  # fmt: skip

_DAY = r"(?:" + "|".join(sorted(_DAY_WORDS, key=len, reverse=True)) + r")"
_MONTH = r"(?:" + "|".join(sorted(_MONTH_WORDS, key=len, reverse=True)) + r")"
_NTH = r"(?:" + "|".join(_NTH_WORDS) + r"|last)"
_TIME = (
    r"(?:\d{1,2}(?::\d{2})?\s*[ap]\.?m\.?(?![a-z])|\d{1,2}:\d{2}(?::\d{2})?"
    r"|noon|midday|midnight|\d{1,2}\s*o'?clock)"
)
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_MONTH_END = r"(?:of\s+)?(?:the|every|each|a)\s+month"

_RE_INTERVAL = re.compile(
    r"\b(?:every|each)\s+(?:(?P<n>\d+|" + "|".join(_NUMBER_WORDS) + r")\s+)?"
    r"(?P<unit>second|sec|minute|min|hour|hr|day|week)s?\b"
)
_RE_HALF_HOUR = re.compile(r"\bevery\s+(?P<part>half|quarter)\s+(?:of\s+)?(?:an?\s+)?hour\b")
_RE_HOURLY = re.compile(r"\bhourly\b")
_RE_WINDOW = re.compile(
    rf"\b(?:between|from)\s+(?P<start>{_TIME})\s+(?:and|to|until|till|-)\s+(?P<end>{_TIME})"
)
_RE_MINUTE_MARK = re.compile(
    r"\bat\s+(?::(?P<colon>\d{2})\b|(?P<past>\d{1,2})\s+(?:minutes?\s+)?past(?:\s+the\s+hour)?"
    r"|(?P<half>half\s+past)(?:\s+the\s+hour)?)"
)
_RE_TIMES = re.compile(rf"(?:\bat\s+)?(?P<times>{_TIME}(?:\s*(?:,|and|&)\s*(?:at\s+)?{_TIME})*)")
_RE_BARE_HOUR = re.compile(r"\bat\s+(?P<h>\d{1,2})\b(?!\s*(?:st|nd|rd|th|:|/|-))")

_RE_NTH_WEEKDAY = re.compile(
    rf"\b(?:(?:every\s+month|monthly)\s+)?(?:on\s+)?(?:the\s+|every\s+)?(?P<nth>{_NTH})\s+"
    rf"(?P<day>{_DAY})\s+{_MONTH_END}\b"
)
_RE_AMBIGUOUS_NTH = re.compile(
    rf"\bevery\s+(?:other|second|third|fourth|fifth|2nd|3rd|4th|5th)\s+{_DAY}s?\b"
    rf"(?!\s+{_MONTH_END})"
)
_RE_LAST_DAY = re.compile(
    rf"\b(?:(?:every\s+month|monthly)\s+)?(?:on\s+)?(?:the\s+)?last\s+(?P<kind>day|weekday)"
    rf"(?:\s+{_MONTH_END})?\b"
)
_RE_DOM = re.compile(
    rf"\b(?:on\s+)?(?:the\s+)?(?P<days>{_ORD}(?:\s*(?:,|and|&)\s*(?:the\s+)?{_ORD})*)\s+"
    rf"(?:day\s+)?{_MONTH_END}\b"
)
_RE_MONTHLY_ON = re.compile(
    rf"\b(?:every\s+month|monthly|each\s+month)\s+on\s+(?:the\s+)?"
    rf"(?P<days>{_ORD}(?:\s*(?:,|and|&)\s*(?:the\s+)?{_ORD})*)\b"
)
_RE_FIRST_DAY = re.compile(rf"\b(?:on\s+)?(?:the\s+)?first\s+day\s+{_MONTH_END}\b")
_RE_YEARLY = re.compile(
    rf"\b(?:(?:every\s+year|yearly|annually)\s+)?(?:on\s+|every\s+)?"
    rf"(?:(?P<mon>{_MONTH})\s+(?P<day>{_ORD})|(?:the\s+)?(?P<day2>{_ORD})\s+of\s+(?P<mon2>{_MONTH}))"
    rf"(?:\s+(?:every|each)\s+year)?\b"
)
_RE_WEEKDAYS = re.compile(
    r"\b(?:every\s+|on\s+|each\s+)?(?:week\s*days?|work\s*days?|business\s+days?)\b"
)
_RE_WEEKENDS = re.compile(r"\b(?:every\s+|on\s+|each\s+)?(?:the\s+)?weekends?\b")
_RE_DAY_RANGE = re.compile(
    rf"\b(?:every\s+|on\s+|from\s+)?(?P<a>{_DAY})s?\s*(?:-|to|through|thru|until)\s*(?P<b>{_DAY})s?\b"
)
_RE_DAY_LIST = re.compile(
    rf"\b(?:(?:weekly|every\s+week|once\s+a\s+week)\s+)?(?:every\s+|on\s+|each\s+)?"
    rf"(?P<days>{_DAY}s?(?:\s*(?:,|and|&|or)\s*(?:on\s+)?{_DAY}s?)*)\b"
)
_RE_DAILY = re.compile(r"\b(?:every\s*day|daily|each\s+day|every\s+night|nightly|once\s+a\s+day)\b")
_RE_WEEKLY = re.compile(r"\b(?:weekly|every\s+week|once\s+a\s+week)\b")
_RE_MONTHLY = re.compile(r"\b(?:monthly|every\s+month|once\s+a\s+month)\b")
_RE_YEARLY_ALONE = re.compile(r"\b(?:yearly|annually|every\s+year|once\s+a\s+year)\b")
# Words that may remain once every clause has been taken out.
_FILLER = {"at", "on", "the", "every", "each", "and", "of", "run", "fire", "please", "in", ","}


@dataclass
class _Clauses:
    interval: tuple[int, str] | None = None  # (count, unit)
    minute_mark: int | None = None
    window: tuple[tuple[int, int], tuple[int, int]] | None = None
    times: list[tuple[int, int]] | None = None
    bare_hour: bool = False
    dom: str = "*"
    month: str = "*"
    dow: str = "*"
    day_clause: str | None = None  # which kind of day clause was found
    assumed: bool = False  # a default was filled in (lower confidence)


def _parse_time(text: str, original: str) -> tuple[int, int]:
    t = text.strip().replace(".", "")
    if t in ("noon", "midday"):
        return 12, 0
    if t == "midnight":
        return 0, 0
    match = re.fullmatch(r"(\d{1,2})\s*o'?clock", t)
    if match:
        return _check_clock(int(match.group(1)), 0, original)
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*([ap]m)?", t)
    if not match:
        raise UnrecognizedSchedule(original, f"{text!r} is not a time of day")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise UnrecognizedSchedule(original, f"{hour} is not an hour on a 12-hour clock")
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    return _check_clock(hour, minute, original)


def _check_clock(hour: int, minute: int, original: str) -> tuple[int, int]:
    if hour > 23 or minute > 59:
        raise UnrecognizedSchedule(original, f"{hour:02d}:{minute:02d} is not a time of day")
    return hour, minute


def _ordinal_days(text: str, original: str) -> list[int]:
    days = [int(d) for d in re.findall(r"\d{1,2}", text)]
    if any(not 1 <= d <= 31 for d in days):
        raise UnrecognizedSchedule(original, "days of the month run from 1 to 31")
    return days


def _take(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str] | None, str]:
    match = pattern.search(text)
    if not match:
        return None, text
    return match, f"{text[: match.start()]} {text[match.end() :]}"


def _extract(text: str, original: str) -> _Clauses:
    c = _Clauses()
    rest = text
    if _RE_AMBIGUOUS_NTH.search(text):
        raise UnrecognizedSchedule(
            original,
            "'every second Tuesday' could mean every other week or once a month; "
            "say 'the second Tuesday of the month'",
        )

    match, rest = _take(_RE_WINDOW, rest)
    if match:
        c.window = (_parse_time(match["start"], original), _parse_time(match["end"], original))
    match, rest = _take(_RE_MINUTE_MARK, rest)
    if match:
        c.minute_mark = 30 if match["half"] else int(match["colon"] or match["past"])
        if c.minute_mark > 59:
            raise UnrecognizedSchedule(original, "minutes past the hour run from 0 to 59")

    # Day clauses, most specific first so "first monday of the month" is not read as
    # "monday".
    match, rest = _take(_RE_NTH_WEEKDAY, rest)
    if match:
        day = _DAY_WORDS[match["day"]]
        c.dow = f"{day}L" if match["nth"] == "last" else f"{day}#{_NTH_WORDS[match['nth']]}"
        c.day_clause = "nth"
    if c.day_clause is None:
        match, rest = _take(_RE_LAST_DAY, rest)
        if match:
            c.dom = "L" if match["kind"] == "day" else "LW"
            c.day_clause = "dom"
    if c.day_clause is None:
        match, rest = _take(_RE_FIRST_DAY, rest)
        if match:
            c.dom, c.day_clause = "1", "dom"
    if c.day_clause is None:
        for pattern in (_RE_DOM, _RE_MONTHLY_ON):
            match, rest = _take(pattern, rest)
            if match:
                c.dom = ",".join(
                    str(d) for d in sorted(set(_ordinal_days(match["days"], original)))
                )
                c.day_clause = "dom"
                break
    if c.day_clause is None:
        match, rest = _take(_RE_YEARLY, rest)
        if match:
            month = _MONTH_WORDS[match["mon"] or match["mon2"]]
            (day,) = _ordinal_days(match["day"] or match["day2"], original)
            c.dom, c.month, c.day_clause = str(day), str(month), "yearly"
    if c.day_clause is None:
        match, rest = _take(_RE_WEEKDAYS, rest)
        if match:
            c.dow, c.day_clause = "1-5", "weekdays"
    if c.day_clause is None:
        match, rest = _take(_RE_WEEKENDS, rest)
        if match:
            c.dow, c.day_clause = "0,6", "weekends"
    if c.day_clause is None:
        match, rest = _take(_RE_DAY_RANGE, rest)
        if match:
            a, b = _DAY_WORDS[match["a"]], _DAY_WORDS[match["b"]]
            c.dow = f"{a}-{b}" if a < b else f"{a}-7" if b == 0 else f"{a}-6,0-{b}"
            c.day_clause = "weekly"

    # Times before the plain day list so that "mon" in "9am mon" is still a day.
    match, rest = _take(_RE_TIMES, rest)
    if match:
        c.times = [
            _parse_time(t, original)
            for t in re.split(r"\s*(?:,|and|&)\s*(?:at\s+)?", match["times"])
        ]
    else:
        match, rest = _take(_RE_BARE_HOUR, rest)
        if match:
            c.times = [_check_clock(int(match["h"]), 0, original)]
            c.bare_hour = True

    if c.day_clause is None:
        match, rest = _take(_RE_DAY_LIST, rest)
        if match:
            names = re.findall(_DAY, match["days"])
            c.dow = ",".join(str(d) for d in sorted({_DAY_WORDS[n] for n in names}))
            c.day_clause = "weekly"

    match, rest = _take(_RE_HALF_HOUR, rest)
    if match:
        c.interval = (30 if match["part"] == "half" else 15, "minute")
    if c.interval is None:
        match, rest = _take(_RE_INTERVAL, rest)
        if match:
            count = match["n"] or "1"
            value = int(count) if count.isdigit() else _NUMBER_WORDS[count]
            if value < 1:
                raise UnrecognizedSchedule(original, "an interval must be at least 1")
            unit = match["unit"]
            c.interval = (value, {"sec": "second", "min": "minute", "hr": "hour"}.get(unit, unit))
    if c.interval is None:
        match, rest = _take(_RE_HOURLY, rest)
        if match:
            c.interval = (1, "hour")

    for pattern, kind in (
        (_RE_DAILY, "daily"),
        (_RE_WEEKLY, "weekly-alone"),
        (_RE_MONTHLY, "monthly"),
        (_RE_YEARLY_ALONE, "yearly-alone"),
    ):
        match, rest = _take(pattern, rest)
        if match and c.day_clause is None:
            c.day_clause = kind

    leftover = [w for w in re.split(r"[\s,]+", rest) if w and w not in _FILLER]
    if leftover:
        raise UnrecognizedSchedule(original, f"did not understand {' '.join(leftover)!r}")
    return c


def _clock_fields(c: _Clauses, original: str) -> tuple[str, str]:
    """Cron minute and hour fields for the named times (midnight when none)."""
    if not c.times:
        c.assumed = True
        return "0", "0"
    minutes = {m for _, m in c.times}
    if len(minutes) > 1:
        raise UnrecognizedSchedule(
            original, "several times in one schedule must share their minutes (9:30 and 17:30)"
        )
    hours = ",".join(str(h) for h in sorted({h for h, _ in c.times}))
    return str(minutes.pop()), hours


def _cron_from_clauses(c: _Clauses, original: str) -> tuple[ScheduleType, str, float]:
    if c.window and (c.interval is None or c.interval[1] not in ("second", "minute", "hour")):
        raise UnrecognizedSchedule(
            original, "a time window needs an interval, e.g. every 15 minutes"
        )
    if c.minute_mark is not None and (c.interval is None or c.interval[1] != "hour"):
        raise UnrecognizedSchedule(original, "'at :MM' goes with hourly schedules")

    day_kind = c.day_clause
    if day_kind == "monthly" and c.dom == "*":
        c.dom, c.assumed = "1", True
    elif day_kind == "yearly-alone" and c.dom == "*":
        c.dom, c.month, c.assumed = "1", "1", True
    elif day_kind == "weekly-alone" and c.dow == "*":
        c.dow, c.assumed = "0", True  # @weekly's Sunday
    days = f"{c.dom} {c.month} {c.dow}"

    if c.interval:
        count, unit = c.interval
        if unit in ("second", "minute", "hour"):
            return _sub_daily(c, count, unit, days, original)
        if unit == "week":
            if count != 1:
                raise UnrecognizedSchedule(
                    original, "cron cannot count weeks; use a day of the week or every N days"
                )
            if c.dow == "*":
                c.dow, c.assumed = "0", True
            minute, hour = _clock_fields(c, original)
            return "cron", f"{minute} {hour} {c.dom} {c.month} {c.dow}", _confidence(c)
        # days
        minute, hour = _clock_fields(c, original)
        if count == 1:
            return "cron", f"{minute} {hour} {days}", _confidence(c)
        if c.dom != "*" or c.dow != "*":
            raise UnrecognizedSchedule(original, "every N days cannot be combined with days")
        if count > 31:
            raise UnrecognizedSchedule(original, "every N days works up to 31 days")
        # */N restarts on the 1st of each month, hence the lower confidence.
        return "cron", f"{minute} {hour} */{count} {c.month} *", min(_confidence(c), 0.75)

    if c.day_clause is None and not c.times:
        raise UnrecognizedSchedule(original, "no frequency, day or time found")
    minute, hour = _clock_fields(c, original)
    confidence = _confidence(c)
    if c.day_clause is None:
        confidence = min(confidence, 0.7)  # "at 9am" alone: read as every day
    return "cron", f"{minute} {hour} {days}", confidence


def _sub_daily(
    c: _Clauses, count: int, unit: str, days: str, original: str
) -> tuple[ScheduleType, str, float]:
    if c.times:
        raise UnrecognizedSchedule(
            original, f"'every {count} {unit}s' and a time of day do not go together"
        )
    seconds = count * _UNIT_SECONDS[unit]
    restricted = days != "* * *" or c.window or c.minute_mark is not None
    if not restricted:
        return "every", str(seconds), 0.95
    hours = "*"
    if c.window:
        (h1, m1), (h2, m2) = c.window
        if m1 or m2:
            # A cron hour field cannot start or stop mid-hour.
            raise UnrecognizedSchedule(original, "a time window must start and end on the hour")
        # "between 9am and 5pm": up to the last hour that starts inside the window.
        last = h2 - 1
        if last < h1:
            raise UnrecognizedSchedule(original, "the time window ends before it starts")
        hours = f"{h1}-{last}" if last > h1 else str(h1)
    if unit == "hour":
        if count > 1 and 24 % count:
            raise UnrecognizedSchedule(original, f"every {count} hours does not divide the day")
        minute = str(c.minute_mark or 0)
        step = f"{hours}/{count}" if count > 1 else hours
        if count > 1 and hours != "*" and "-" not in hours:
            step = hours
        return "cron", f"{minute} {step} {days}", _confidence(c)
    if c.minute_mark is not None:
        raise UnrecognizedSchedule(original, "'at :MM' goes with hourly schedules")
    if unit == "minute":
        if 60 % count:
            raise UnrecognizedSchedule(original, f"every {count} minutes does not divide the hour")
        minutes = "*" if count == 1 else f"*/{count}"
        return "cron", f"{minutes} {hours} {days}", _confidence(c)
    if 60 % count:
        raise UnrecognizedSchedule(original, f"every {count} seconds does not divide the minute")
    secs = "*" if count == 1 else f"*/{count}"
    return "cron", f"{secs} * {hours} {days}", _confidence(c)


def _confidence(c: _Clauses) -> float:
    if c.assumed:
        return 0.8
    if c.bare_hour:
        return 0.85
    return 0.95


# --------------------------------------------------------------------------- one-shot

_RE_AT_ISO = re.compile(
    r"(?:once\s+)?(?:at\s+|on\s+)?(?P<date>\d{4}-\d{2}-\d{2})"
    rf"(?:(?:\s+at\s+|\s+|t)(?P<time>{_TIME}|\d{{1,2}}:\d{{2}}:\d{{2}}(?:\.\d+)?))?"
    r"\s*(?P<offset>z|[+-]\d{2}:?\d{2})?"
)
_RE_AT_WORDS = re.compile(
    rf"(?:once\s+)?(?:at\s+|on\s+)?(?P<mon>{_MONTH})\s+(?P<day>{_ORD}),?\s+(?P<year>\d{{4}})"
    rf"(?:\s+at\s+(?P<time>{_TIME}))?"
)


def _one_shot(text: str, zone: str, original: str) -> ParsedSchedule | None:
    match = _RE_AT_ISO.fullmatch(text)
    if match:
        year, month, day = (int(p) for p in match["date"].split("-"))
        offset = match["offset"]
    else:
        match = _RE_AT_WORDS.fullmatch(text)
        if not match:
            return None
        year, month = int(match["year"]), _MONTH_WORDS[match["mon"]]
        (day,) = _ordinal_days(match["day"], original)
        offset = None
    hour, minute = _parse_time(match["time"], original) if match["time"] else (0, 0)
    second = 0
    if match["time"] and match["time"].count(":") == 2:
        second = int(float(match["time"].rsplit(":", 1)[1]))
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise UnrecognizedSchedule(original, str(exc)) from exc
    if offset:
        stamp = datetime.fromisoformat(
            local.isoformat() + ("+00:00" if offset == "z" else _colon_offset(offset))
        )
        moment = stamp.astimezone(UTC)
    else:
        moment = _localize(local, validate_timezone(zone), original)
    confidence = 0.95 if match["time"] else 0.8
    return _result("at", moment.isoformat(), zone, confidence)


def _colon_offset(offset: str) -> str:
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"


def _localize(local: datetime, zone: ZoneInfo, original: str) -> datetime:
    aware = local.replace(tzinfo=zone)
    moment = aware.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != local:
        raise UnrecognizedSchedule(
            original, f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks go forward)"
        )
    return moment  # for a repeated hour, fold=0 picks its first occurrence


# --------------------------------------------------------------------------- entry point


def parse_natural_schedule(text: str, default_timezone: str = "UTC") -> ParsedSchedule:
    """Read an everyday-English schedule; raise UnrecognizedSchedule (with examples) if unsure."""
    if not isinstance(text, str) or not text.strip():
        raise UnrecognizedSchedule(str(text), "the text is empty")
    validate_timezone(default_timezone)
    cleaned = " ".join(text.strip().rstrip(".!").split())

    try:
        spec = parse_cron(cleaned)
    except InvalidSchedule:
        pass
    else:
        return _result("cron", spec.expression, default_timezone, 1.0)

    body, zone = _split_zone(cleaned)
    zone = zone or default_timezone
    lowered = body.lower()
    if not lowered.strip():
        raise UnrecognizedSchedule(text, "only a time zone was given")

    one_shot = _one_shot(lowered, zone, text)
    if one_shot:
        return one_shot

    clauses = _extract(lowered, text)
    kind, expression, confidence = _cron_from_clauses(clauses, text)
    return _result(kind, expression, zone if kind == "cron" else "UTC", confidence)
