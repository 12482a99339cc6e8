"""Next-fire computation: pure functions of (schedule, timezone, after).

Instants are handled as integer Unix seconds and local wall-clock times as integer
"wall seconds" (the local date and time read as if it were UTC), so the search is plain
integer arithmetic. A local day is split into segments of constant UTC offset; a cron
job is matched against the wall clock inside each segment.

Daylight-saving changes follow Debian cron (cronie):

* a fixed-time job (no `*` or step in its second, minute or hour field) fires once when
  the clock falls back and its time repeats, at the first occurrence; a time skipped when
  the clock springs forward fires at the transition instant;
* any other job follows real time: it fires at every instant whose wall-clock time
  matches, so `0 * * * *` fires twice in the repeated hour and not at all in the skipped one.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final, Literal

from schemas.cron import (
    Cadence,
    CronSpec,
    InvalidSchedule,
    cadence_to_cron,
    parse_cron,
    validate_cadence,
    validate_timezone,
)
from schemas.schedule_rules import DstPolicy

__all__ = [
    "UNIX_EPOCH",
    "Schedule",
    "ScheduleNeverFires",
    "ScheduleType",
    "cron_fires",
    "cron_fires_between",
    "fires_between",
    "next_at_fire",
    "next_cron_fire",
    "next_every_fire",
    "next_fire",
    "upcoming_fires",
]

UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_DST: Final = ("once_first", "at_transition")
ScheduleType = Literal["cron", "every", "at", "cadence"]

_DAY: Final = 86_400
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
# A local day's instants lie within this margin of its wall-clock bounds: real UTC offsets
# stay within -12h..+14h. Since 1970 no zone has had two transitions less than 166 hours
# apart, so the 56-hour window around a day holds at most one of them.
_WINDOW_MARGIN: Final = 16 * 3600
# Expressions that match a rare date (Feb 29 on a Monday) fire within 28-40 years.
_SEARCH_YEARS: Final = 100
_MAX_YEAR: Final = 9998
_MAX_INTERVAL: Final = 100 * 366 * _DAY


class ScheduleNeverFires(InvalidSchedule):
    """A schedule with no fire time left (within a century for cron)."""


# --------------------------------------------------------------------------- time zones


def _offset(tz: tzinfo, instant: int) -> int:
    """UTC offset of `tz` at a Unix instant, in seconds."""
    offset = datetime.fromtimestamp(instant, tz).utcoffset()
    return 0 if offset is None else offset.days * _DAY + offset.seconds


_Segment = tuple[int, int, int]  # (start instant, end instant, UTC offset), end exclusive
_Dst = tuple[str, str]  # (repeated-hour policy, skipped-hour policy)


@lru_cache(maxsize=65_536)
def _day_segments(tz: tzinfo, day: int) -> tuple[_Segment, ...]:
    """Constant-offset stretches of time around local day `day` (days since 1970-01-01)."""
    start = day * _DAY - _WINDOW_MARGIN
    end = (day + 1) * _DAY + _WINDOW_MARGIN
    first = _offset(tz, start)
    last = _offset(tz, end)
    if first == last:
        return ((start, end, first),)
    # One transition in the window (see _WINDOW_MARGIN): find its instant by bisection.
    lo, hi = start, end
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(tz, mid) == first:
            lo = mid
        else:
            hi = mid
    return ((start, hi, first), (hi, end, last))


# --------------------------------------------------------------------------- calendar


@lru_cache(maxsize=16_384)
def _month_days(rule: tuple[object, ...], year: int, month: int) -> tuple[int, ...]:
    """Days of `month` that satisfy a spec's day-of-month / day-of-week rule, ascending."""
    (dom, dow, last, last_weekday, nearest, last_dows, nth, dom_wild, dow_wild) = rule
    assert isinstance(dom, frozenset) and isinstance(dow, frozenset)
    assert isinstance(nearest, tuple)
    assert isinstance(last_dows, frozenset) and isinstance(nth, frozenset)
    monday_based, length = calendar.monthrange(year, month)
    first_dow = (monday_based + 1) % 7  # cron numbering, Sunday = 0

    def weekday(day: int) -> int:
        return (first_dow + day - 1) % 7

    dom_days = {d for d in dom if d <= length}
    if last:
        dom_days.add(length)
    if last_weekday:
        wd = weekday(length)
        dom_days.add(length - 1 if wd == 6 else length - 2 if wd == 0 else length)
    for day in nearest:
        if day > length:
            continue
        wd = weekday(day)
        # Nearest weekday without leaving the month (Quartz): the 1st on a Saturday
        # moves to Monday the 3rd, the last day on a Sunday to Friday.
        if wd == 6:
            dom_days.add(day - 1 if day > 1 else day + 2)
        elif wd == 0:
            dom_days.add(day + 1 if day < length else day - 2)
        else:
            dom_days.add(day)

    dow_days = {
        d
        for d in range(1, length + 1)
        if (wd := weekday(d)) in dow
        or (wd in last_dows and d + 7 > length)
        or (wd, (d + 6) // 7) in nth
    }
    days = dom_days & dow_days if (dom_wild or dow_wild) else dom_days | dow_days
    return tuple(sorted(days))


def _next_matching_day(spec: CronSpec, day: int, last_year: int) -> int:
    """First local day >= `day` (days since 1970-01-01) whose date matches, or -1."""
    d = date.fromordinal(day + _EPOCH_ORDINAL)
    year, month, mday = d.year, d.month, d.day
    months = spec.months
    if month not in months:
        i = bisect_right(months, month)
        if i == len(months):
            year, month = year + 1, months[0]
        else:
            month = months[i]
        mday = 1
    while year <= last_year:
        days = _month_days(spec._day_rule, year, month)
        i = bisect_left(days, mday)
        if i < len(days):
            return date(year, month, days[i]).toordinal() - _EPOCH_ORDINAL
        i = bisect_right(months, month)
        if i == len(months):
            year, month = year + 1, months[0]
        else:
            month = months[i]
        mday = 1
    return -1


def _next_time_of_day(spec: CronSpec, second: int) -> int:
    """First allowed second of the day >= `second`, or -1."""
    hour, rest = divmod(second, 3600)
    minute, sec = divmod(rest, 60)
    hour_ge = spec._hour_ge
    next_hour = hour_ge[hour]
    if next_hour == hour:
        minute_ge = spec._minute_ge
        next_minute = minute_ge[minute]
        if next_minute == minute:
            next_second = spec._second_ge[sec]
            if next_second >= 0:
                return second - sec + next_second
            next_minute = minute_ge[minute + 1]
        if next_minute >= 0:
            return hour * 3600 + next_minute * 60 + spec.seconds[0]
        next_hour = hour_ge[hour + 1]
    if next_hour < 0:
        return -1
    return next_hour * 3600 + spec.minutes[0] * 60 + spec.seconds[0]


def _first_wall(spec: CronSpec, day_start: int, lo: int, hi: int) -> int:
    """First matching wall time in [lo, hi), all within the day starting at day_start; or -1."""
    if lo >= hi:
        return -1
    tod = _next_time_of_day(spec, lo - day_start)
    if tod < 0 or day_start + tod >= hi:
        return -1
    return day_start + tod


def _first_fire_in_day(
    spec: CronSpec,
    segments: tuple[_Segment, ...],
    day_start: int,
    after: int,
    dst: _Dst = ("once_first", "at_transition"),
) -> int:
    """Earliest instant > `after` at which the job fires for this local day, or -1."""
    day_end = day_start + _DAY
    if spec.fixed_time and len(segments) > 1:
        repeated, skipped = dst
        # Follow the furthest wall time reached so far, as cronie's "virtual time" does:
        # walls it jumps over fire at the jump, walls it revisits do not fire again
        # (the defaults; `dst` may ask to skip the jumped walls, or to fire the
        # revisited ones instead of, or as well as, their first passing).
        reached = segments[0][0] + segments[0][2]
        for index, (start, end, offset) in enumerate(segments):
            wall_start, wall_end = start + offset, end + offset
            if wall_start > reached and start > after and skipped == "at_transition":
                lo, hi = max(reached, day_start), min(wall_start, day_end)
                if _first_wall(spec, day_start, lo, hi) >= 0:
                    return start
            floor = reached if repeated == "once_first" else wall_start
            lo = max(wall_start, floor, day_start, after + offset + 1)
            hi = min(wall_end, day_end)
            if repeated == "once_second" and index + 1 < len(segments):
                # Walls the next segment passes again fire only then.
                hi = min(hi, segments[index + 1][0] + segments[index + 1][2])
            wall = _first_wall(spec, day_start, lo, hi)
            if wall >= 0:
                return wall - offset
            reached = max(reached, wall_end)
        return -1
    for start, end, offset in segments:
        lo = max(start + offset, day_start, after + offset + 1)
        wall = _first_wall(spec, day_start, lo, min(end + offset, day_end))
        if wall >= 0:
            return wall - offset
    return -1


def _earliest_of_next_day(segments: tuple[_Segment, ...], next_day_start: int) -> int:
    """Earliest instant in the window whose wall time falls on or after next_day_start."""
    candidates = [
        moment
        for start, end, offset in segments
        if (moment := max(start, next_day_start - offset)) < end
    ]
    return min(candidates, default=segments[-1][1])


def _next_cron_instant(
    spec: CronSpec, tz: tzinfo, after: int, dst: _Dst = ("once_first", "at_transition")
) -> int:
    day = (after + _offset(tz, after)) // _DAY
    segments = _day_segments(tz, day)
    if len(segments) > 1 and segments[1][2] < segments[0][2]:
        # The clock goes back near this day, possibly into the previous date, whose
        # repeated times may still be ahead of `after`.
        day -= 1
    # day // 365 overestimates the years since 1970 a little, which only widens the horizon.
    last_year = min(_MAX_YEAR, 1970 + day // 365 + _SEARCH_YEARS)
    every_date = spec._every_date
    while True:
        if not every_date:
            day = _next_matching_day(spec, day, last_year)
            if day < 0:
                raise ScheduleNeverFires(
                    f"cron expression {spec.expression!r} has no fire time in the "
                    f"{_SEARCH_YEARS} years after {datetime.fromtimestamp(after, UTC):%Y-%m-%d}"
                )
        segments = _day_segments(tz, day)
        day_start = day * _DAY
        if len(segments) == 1:
            # The usual day, one UTC offset throughout: a plain time-of-day search.
            offset = segments[0][2]
            wall = _first_wall(
                spec, day_start, max(day_start, after + offset + 1), day_start + _DAY
            )
            if wall >= 0:
                return wall - offset
            day += 1
            continue
        fire = _first_fire_in_day(spec, segments, day_start, after, dst)
        if fire >= 0:
            next_start = day_start + _DAY
            if fire > _earliest_of_next_day(segments, next_start):
                # Only when a backward shift crosses midnight can the next local day
                # begin before this one ends; take whichever fire comes first.
                following = day + 1 if every_date else _next_matching_day(spec, day + 1, last_year)
                if following == day + 1:
                    other = _first_fire_in_day(
                        spec, _day_segments(tz, following), next_start, after, dst
                    )
                    if other >= 0:
                        fire = min(fire, other)
            return fire
        day += 1


# --------------------------------------------------------------------------- public API


def _unix_seconds(moment: datetime) -> int:
    """Whole Unix seconds of an aware datetime, rounded down."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (e.g. 2026-03-01T09:00:00+00:00)")
    # Dropping the microseconds first keeps the float exact, so this is a true floor.
    return int(moment.replace(microsecond=0).timestamp())


def _as_spec(spec: CronSpec | str) -> CronSpec:
    return spec if isinstance(spec, CronSpec) else parse_cron(spec)


def _as_tz(tz: tzinfo | str) -> tzinfo:
    return validate_timezone(tz) if isinstance(tz, str) else tz


def next_cron_fire(
    spec: CronSpec | str,
    tz: tzinfo | str,
    after: datetime,
    dst: DstPolicy | None = None,
) -> datetime:
    """First fire of a cron job in zone `tz` strictly after `after`, as an aware UTC datetime;
    `dst` chooses what a fixed-time job does in repeated and skipped hours."""
    rule = _DEFAULT_DST if dst is None else (dst.repeated_hour.value, dst.skipped_hour.value)
    instant = _next_cron_instant(_as_spec(spec), _as_tz(tz), _unix_seconds(after), rule)
    return datetime.fromtimestamp(instant, UTC)


def cron_fires(spec: CronSpec | str, tz: tzinfo | str, after: datetime) -> Iterator[datetime]:
    """Endless iterator over a cron job's fires strictly after `after` (aware UTC datetimes)."""
    cron, zone = _as_spec(spec), _as_tz(tz)
    instant = _unix_seconds(after)
    while True:
        instant = _next_cron_instant(cron, zone, instant)
        yield datetime.fromtimestamp(instant, UTC)


def cron_fires_between(
    spec: CronSpec | str, tz: tzinfo | str, start: datetime, end: datetime
) -> list[datetime]:
    """Fires in the half-open interval (start, end]."""
    fires = []
    for fire in cron_fires(spec, tz, start):
        if fire > end:
            break
        fires.append(fire)
    return fires


def next_every_fire(interval_sec: int, after: datetime, anchor: datetime = UNIX_EPOCH) -> datetime:
    """First tick of anchor + k * interval strictly after `after`.

    Anchoring to a fixed instant (the Unix epoch by default) makes every replica agree on
    the ticks, whenever it started.
    """
    _check_interval(interval_sec)
    _unix_seconds(after)
    _unix_seconds(anchor)
    step = timedelta(seconds=interval_sec)
    ticks = (after - anchor) // step + 1
    return (anchor + ticks * step).astimezone(UTC)


def next_at_fire(at: datetime, after: datetime) -> datetime | None:
    """The one-shot time if it is strictly after `after`, else None."""
    _unix_seconds(at)
    _unix_seconds(after)
    return at.astimezone(UTC) if at > after else None


def _check_interval(interval_sec: int) -> None:
    if isinstance(interval_sec, bool) or not isinstance(interval_sec, int):
        raise InvalidSchedule("every interval must be a whole number of seconds")
    if not 1 <= interval_sec <= _MAX_INTERVAL:
        raise InvalidSchedule(f"every interval must be between 1 and {_MAX_INTERVAL} seconds")


_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": _DAY}
_INTERVAL_TEXT = re.compile(r"(\d+)\s*([smhd]?)", re.IGNORECASE)
_CADENCE_TIME = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a trigger fires: a cron expression in a zone, an interval, a one-shot time,
    or a cadence preset (UTC). Validated on construction; build it with the from_* helpers.
    """

    type: ScheduleType
    expression: str | None = None
    timezone: str = "UTC"
    interval_sec: int | None = None
    anchor: datetime = UNIX_EPOCH
    at: datetime | None = None
    cadence: Cadence | None = None
    dst: DstPolicy | None = None
    # Parsed once so that a ticker holding many schedules does not re-parse on every tick.
    spec: CronSpec | None = field(init=False, repr=False, compare=False)
    zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec: CronSpec | None = None
        zone: tzinfo = validate_timezone(self.timezone)
        if self.type == "cron":
            if self.expression is None:
                raise InvalidSchedule("cron schedule requires an expression")
            spec = parse_cron(self.expression)
        elif self.type == "every":
            if self.interval_sec is None:
                raise InvalidSchedule("every schedule requires interval_sec")
            _check_interval(self.interval_sec)
            if self.anchor.utcoffset() is None:
                raise InvalidSchedule("every anchor must be timezone-aware")
        elif self.type == "at":
            if self.at is None:
                raise InvalidSchedule("at schedule requires a datetime")
            if self.at.utcoffset() is None:
                raise InvalidSchedule(
                    "at datetime must include a UTC offset, e.g. 2026-04-01T09:00:00Z"
                )
        elif self.type == "cadence":
            if self.cadence is None:
                raise InvalidSchedule("cadence schedule requires a cadence")
            expression = cadence_to_cron(
                self.cadence.type,
                self.cadence.hour_utc,
                self.cadence.minute_utc,
                self.cadence.day_of_week,
            )
            zone = UTC
            spec = None if expression is None else parse_cron(expression)
        else:
            raise InvalidSchedule(
                f"unknown schedule type {self.type!r}; expected cron, every, at or cadence"
            )
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "zone", zone)

    @classmethod
    def from_cron(
        cls, expression: str, timezone: str = "UTC", dst: DstPolicy | None = None
    ) -> Schedule:
        """A cron schedule evaluated in an IANA zone, with a DST policy (cronie's by default)."""
        return cls("cron", expression=expression, timezone=timezone, dst=dst)

    @classmethod
    def from_interval(cls, interval_sec: int, anchor: datetime = UNIX_EPOCH) -> Schedule:
        """Every `interval_sec` seconds, on ticks anchor + k * interval."""
        return cls("every", interval_sec=interval_sec, anchor=anchor)

    @classmethod
    def from_datetime(cls, at: datetime) -> Schedule:
        """Once, at an aware datetime."""
        return cls("at", at=at)

    @classmethod
    def from_cadence(
        cls,
        type: str,
        hour_utc: int | None = None,
        minute_utc: int | None = None,
        day_of_week: int | str | None = None,
    ) -> Schedule:
        """A cadence preset (manual, hourly, daily, weekdays, weekly); times in UTC."""
        return cls("cadence", cadence=validate_cadence(type, hour_utc, minute_utc, day_of_week))

    @classmethod
    def from_value(cls, type: str, value: str, timezone: str = "UTC") -> Schedule:
        """Build from the validate endpoint's `type` and `value` strings.

        every: seconds, or a number with s/m/h/d; at: ISO 8601 (a naive time is read in
        `timezone`); cadence: `manual`, `hourly[:MM]`, `daily:HH:MM`, `weekdays:HH:MM`,
        `weekly:DAY:HH:MM` (DAY 0-6 from Sunday, or a name).
        """
        text = value.strip()
        if type == "cron":
            return cls.from_cron(text, timezone)
        if type == "every":
            match = _INTERVAL_TEXT.fullmatch(text)
            if not match:
                raise InvalidSchedule(
                    f"every interval {value!r} is not a number of seconds (e.g. 3600 or 15m)"
                )
            unit = match.group(2).lower() or "s"
            return cls.from_interval(int(match.group(1)) * _UNIT_SECONDS[unit])
        if type == "at":
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise InvalidSchedule(
                    f"at value {value!r} is not an ISO 8601 datetime (e.g. 2026-04-01T09:00:00Z)"
                ) from exc
            if moment.utcoffset() is None:
                zone = validate_timezone(timezone)
                local = moment
                moment = local.replace(tzinfo=zone)
                if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
                    raise InvalidSchedule(
                        f"{local:%Y-%m-%d %H:%M} does not exist in {timezone} (clocks go forward)"
                    )
            return cls.from_datetime(moment)
        if type == "cadence":
            return _cadence_from_text(text)
        raise InvalidSchedule(
            f"unknown schedule type {type!r}; expected cron, every, at or cadence"
        )


def _cadence_from_text(text: str) -> Schedule:
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if not rest:
        # validate_cadence says what is missing ("daily cadence requires hour_utc").
        return Schedule.from_cadence(kind)
    if kind == "hourly" and rest.strip().isdigit():
        return Schedule.from_cadence(kind, minute_utc=int(rest))
    day: str | None = None
    if kind == "weekly":
        day, _, rest = rest.partition(":")
    match = _CADENCE_TIME.fullmatch(rest.strip())
    if kind not in ("daily", "weekdays", "weekly") or not match:
        raise InvalidSchedule(
            f"cadence value {text!r} not understood; use manual, hourly:MM, daily:HH:MM, "
            "weekdays:HH:MM or weekly:DAY:HH:MM"
        )
    return Schedule.from_cadence(
        kind, int(match.group(1)), int(match.group(2)), day.strip() if day else None
    )


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first fire strictly after `after` (aware UTC), or None if it has none."""
    if schedule.type == "every":
        assert schedule.interval_sec is not None
        return next_every_fire(schedule.interval_sec, after, schedule.anchor)
    if schedule.type == "at":
        assert schedule.at is not None
        return next_at_fire(schedule.at, after)
    if schedule.spec is None:  # manual cadence
        _unix_seconds(after)
        return None
    return next_cron_fire(schedule.spec, schedule.zone, after, schedule.dst)


def upcoming_fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """Up to `count` fires strictly after `after`, in order."""
    fires: list[datetime] = []
    moment = after
    while len(fires) < count:
        fire = next_fire(schedule, moment)
        if fire is None:
            break
        fires.append(fire)
        moment = fire
    return fires


def fires_between(
    schedule: Schedule, start: datetime, end: datetime, limit: int | None = None
) -> list[datetime]:
    """Fires in (start, end], the first `limit` of them when given (for catch-up)."""
    fires: list[datetime] = []
    moment = start
    while limit is None or len(fires) < limit:
        fire = next_fire(schedule, moment)
        if fire is None or fire > end:
            break
        fires.append(fire)
        moment = fire
    return fires
