"""Next-fire computation away from DST changes: cron fields, every, at, Schedule.

Expected instants are worked out by hand from the calendar (2026-03-01 is a Sunday,
2026-05-01 a Friday, 2026-08-01 a Saturday) and written as UTC literals.
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cronsim import CronSim

from scheduler.timing import (
    UNIX_EPOCH,
    Schedule,
    ScheduleNeverFires,
    cron_fires,
    cron_fires_between,
    fires_between,
    next_at_fire,
    next_cron_fire,
    next_every_fire,
    next_fire,
    upcoming_fires,
)
from schemas.cron import Cadence, InvalidCronExpression, InvalidSchedule, UnknownTimezone


def utc(text: str) -> datetime:
    """'2026-03-02 09:00' or '2026-03-02 09:00:30' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, after: str, count: int, tz: str = "UTC") -> list[str]:
    found = itertools.islice(cron_fires(expression, tz, utc(after)), count)
    return [f.strftime("%Y-%m-%d %H:%M:%S") for f in found]


# --------------------------------------------------------------------------- cron, UTC


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 9 * * 1-5", "2026-03-01 00:00", "2026-03-02 09:00"),  # Sunday -> Monday
        ("0 9 * * MON-FRI", "2026-03-06 09:00", "2026-03-09 09:00"),  # Friday -> Monday
        ("*/15 * * * *", "2026-03-01 10:07:30", "2026-03-01 10:15"),
        ("*/15 * * * *", "2026-03-01 23:50", "2026-03-02 00:00"),
        ("* * * * *", "2026-03-01 10:07:30", "2026-03-01 10:08"),
        ("5/20 * * * *", "2026-03-01 10:46", "2026-03-01 11:05"),
        ("0 0 1 * *", "2026-03-01 00:00", "2026-04-01 00:00"),
        ("0 12 * JAN,JUL *", "2026-03-01 00:00", "2026-07-01 12:00"),
        ("@yearly", "2026-03-01 00:00", "2027-01-01 00:00"),
        ("@monthly", "2026-03-15 00:00", "2026-04-01 00:00"),
        ("@weekly", "2026-03-02 00:00", "2026-03-08 00:00"),  # Sunday
        ("@daily", "2026-03-01 00:00", "2026-03-02 00:00"),
        ("@hourly", "2026-03-01 10:00", "2026-03-01 11:00"),
        ("0 0 * * 7", "2026-03-02 00:00", "2026-03-08 00:00"),  # 7 = Sunday
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),  # next leap year
        ("0 0 * 2 MON#5", "2026-03-01 00:00", "2044-02-29 00:00"),  # Feb with 5 Mondays
    ],
)
def test_next_fire_utc(expression: str, after: str, expected: str) -> None:
    assert next_cron_fire(expression, "UTC", utc(after)) == utc(expected)


def test_last_day_of_month_follows_the_calendar() -> None:
    assert fires("0 0 L * *", "2026-01-31 00:00", 3) == [
        "2026-02-28 00:00:00",
        "2026-03-31 00:00:00",
        "2026-04-30 00:00:00",
    ]
    assert next_cron_fire("0 0 L 2 *", "UTC", utc("2027-03-01 00:00")) == utc("2028-02-29 00:00")


def test_last_weekday_of_month() -> None:
    # 2026-05-31 is a Sunday, so the last weekday of May is Friday the 29th.
    assert next_cron_fire("0 0 LW * *", "UTC", utc("2026-05-01 00:00")) == utc("2026-05-29 00:00")
    # 2026-04-30 is a Thursday.
    assert next_cron_fire("0 0 LW * *", "UTC", utc("2026-04-01 00:00")) == utc("2026-04-30 00:00")


def test_nearest_weekday_stays_in_the_month() -> None:
    # 2026-08-15 is a Saturday: the nearest weekday is Friday the 14th.
    assert next_cron_fire("0 0 15W * *", "UTC", utc("2026-08-01 00:00")) == utc("2026-08-14 00:00")
    # 2026-08-01 is a Saturday: Friday would be in July, so Monday the 3rd.
    assert next_cron_fire("0 0 1W * *", "UTC", utc("2026-07-31 00:00")) == utc("2026-08-03 00:00")
    # 2026-05-31 is a Sunday: Monday would be in June, so Friday the 29th.
    assert next_cron_fire("0 0 31W * *", "UTC", utc("2026-05-01 00:00")) == utc("2026-05-29 00:00")
    # 2026-03-16 is a Monday: no move.
    assert next_cron_fire("0 0 16W * *", "UTC", utc("2026-03-01 00:00")) == utc("2026-03-16 00:00")


def test_nth_and_last_weekday_of_month() -> None:
    assert fires("30 8 * * MON#1", "2026-03-01 00:00", 2) == [
        "2026-03-02 08:30:00",
        "2026-04-06 08:30:00",  # April 2026 starts on a Wednesday
    ]
    assert next_cron_fire("0 0 * * 5L", "UTC", utc("2026-05-01 00:00")) == utc("2026-05-29 00:00")
    assert next_cron_fire("0 0 * * FRIL", "UTC", utc("2026-05-01 00:00")) == utc("2026-05-29 00:00")
    assert next_cron_fire("0 0 ? * 3#2", "UTC", utc("2026-03-01 00:00")) == utc("2026-03-11 00:00")


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 1st of the month or any Monday, whichever comes first.
    assert fires("0 0 1 * MON", "2026-03-03 00:00", 4) == [
        "2026-03-09 00:00:00",
        "2026-03-16 00:00:00",
        "2026-03-23 00:00:00",
        "2026-03-30 00:00:00",
    ]
    assert next_cron_fire("0 0 1 * MON", "UTC", utc("2026-03-30 00:00")) == utc("2026-04-01 00:00")
    assert fires("0 0 13 * FRI", "2026-03-01 00:00", 3) == [
        "2026-03-06 00:00:00",
        "2026-03-13 00:00:00",
        "2026-03-20 00:00:00",
    ]


def test_day_fields_are_and_ed_when_one_starts_with_a_star() -> None:
    # As in Vixie cron and cronie: */2 counts as a wildcard, so only odd-numbered Mondays.
    assert fires("0 0 */2 * MON", "2026-03-01 00:00", 2) == [
        "2026-03-09 00:00:00",
        "2026-03-23 00:00:00",
    ]
    assert fires("0 0 ? * MON", "2026-03-01 00:00", 2) == [
        "2026-03-02 00:00:00",
        "2026-03-09 00:00:00",
    ]


def test_six_field_expressions_fire_on_seconds() -> None:
    assert fires("*/20 * * * * *", "2026-03-01 10:00:05", 3) == [
        "2026-03-01 10:00:20",
        "2026-03-01 10:00:40",
        "2026-03-01 10:01:00",
    ]
    assert next_cron_fire("30 0 9 * * *", "UTC", utc("2026-03-01 00:00")) == utc(
        "2026-03-01 09:00:30"
    )
    assert next_cron_fire("59 59 23 31 12 *", "UTC", utc("2026-03-01 00:00")) == utc(
        "2026-12-31 23:59:59"
    )


def test_fire_is_strictly_after() -> None:
    expression = "0 9 * * 1-5"
    assert next_cron_fire(expression, "UTC", utc("2026-03-02 09:00")) == utc("2026-03-03 09:00")
    just_after = utc("2026-03-02 09:00") + timedelta(microseconds=1)
    assert next_cron_fire(expression, "UTC", just_after) == utc("2026-03-03 09:00")
    just_before = utc("2026-03-02 09:00") - timedelta(microseconds=1)
    assert next_cron_fire(expression, "UTC", just_before) == utc("2026-03-02 09:00")


def test_result_is_utc_whatever_the_zone_of_after() -> None:
    after = datetime(2026, 3, 2, 4, 0, tzinfo=timezone(timedelta(hours=-5)))  # 09:00Z
    fire = next_cron_fire("0 9 * * 1-5", "UTC", after)
    assert fire == utc("2026-03-03 09:00")
    assert fire.tzinfo is UTC


def test_cron_in_a_zone_without_dst_change_nearby() -> None:
    # New York is on EST (UTC-5) until 2026-03-08.
    assert next_cron_fire("0 9 * * MON-FRI", "America/New_York", utc("2026-03-02 00:00")) == utc(
        "2026-03-02 14:00"
    )
    # Tokyo has no DST: UTC+9 all year, so 09:00 JST is 00:00Z.
    assert next_cron_fire("0 9 * * *", "Asia/Tokyo", utc("2026-07-01 01:00")) == utc(
        "2026-07-02 00:00"
    )
    # Fixed offsets from the datetime module work too.
    plus_two = timezone(timedelta(hours=2))
    assert next_cron_fire("0 9 * * *", plus_two, utc("2026-07-01 08:00")) == utc("2026-07-02 07:00")


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_cron_fire("* * * * *", "UTC", datetime(2026, 3, 1))


def test_unknown_zone_and_bad_expression() -> None:
    with pytest.raises(UnknownTimezone):
        next_cron_fire("* * * * *", "Mars/Olympus", utc("2026-03-01 00:00"))
    with pytest.raises(InvalidCronExpression):
        next_cron_fire("* * *", "UTC", utc("2026-03-01 00:00"))


def test_expression_that_never_fires() -> None:
    # */30 is the 1st and 31st, and (a star field) must coincide with the third Monday,
    # which always falls on the 15th-21st.
    with pytest.raises(ScheduleNeverFires, match="no fire time"):
        next_cron_fire("0 0 */30 * MON#3", "UTC", utc("2026-03-01 00:00"))


def test_cron_fires_between_is_half_open() -> None:
    assert cron_fires_between(
        "0 */6 * * *", "UTC", utc("2026-03-01 00:00"), utc("2026-03-02 00:00")
    ) == [
        utc("2026-03-01 06:00"),
        utc("2026-03-01 12:00"),
        utc("2026-03-01 18:00"),
        utc("2026-03-02 00:00"),
    ]


def _random_field(rnd: random.Random, low: int, high: int) -> str:
    kind = rnd.random()
    if kind < 0.3:
        return "*"
    if kind < 0.45:
        return f"*/{rnd.randint(2, (high - low) // 2 + 1)}"
    if kind < 0.6:
        a = rnd.randint(low, high)
        return f"{a}-{rnd.randint(a, high)}"
    if kind < 0.75:
        return ",".join(str(v) for v in sorted(rnd.sample(range(low, high + 1), 3)))
    if kind < 0.85:
        # a-b/step with a < b: cronsim reads a one-value range with a step differently.
        a = rnd.randint(low, high - 1)
        return f"{a}-{rnd.randint(a + 1, high)}/{rnd.randint(1, 5)}"
    return str(rnd.randint(low, high))


def test_agrees_with_cronsim_in_utc() -> None:
    """In UTC there is no DST to disagree about; cronsim serves as an independent check."""
    rnd = random.Random(20260301)
    for _ in range(1500):
        dom = rnd.choice(["L", "LW", _random_field(rnd, 1, 28), _random_field(rnd, 1, 28)])
        dow = rnd.choice(
            [f"{rnd.randint(0, 6)}L", f"{rnd.randint(0, 7)}#{rnd.randint(1, 5)}"]
            + [_random_field(rnd, 0, 7)] * 3
        )
        fields = [_random_field(rnd, 0, 59), _random_field(rnd, 0, 23), dom]
        fields += [_random_field(rnd, 1, 12), dow]
        if rnd.random() < 0.3:
            fields.insert(0, _random_field(rnd, 0, 59))
        expression = " ".join(fields)
        after = utc("2024-01-01 00:00") + timedelta(seconds=rnd.randrange(86_400 * 365 * 3))
        try:
            expected = next(CronSim(expression, after.replace(tzinfo=None))).replace(tzinfo=UTC)
        except StopIteration:
            with pytest.raises(ScheduleNeverFires):
                next_cron_fire(expression, "UTC", after)
            continue
        assert next_cron_fire(expression, "UTC", after) == expected, (expression, after)


def test_next_fire_is_fast() -> None:
    # A field-wise search; checking minute by minute would take seconds for a yearly job.
    after = utc("2026-03-01 00:00")
    start = time.perf_counter()
    for i in range(2000):
        next_cron_fire("0 0 1 1 *", "America/New_York", after + timedelta(hours=i))
    assert time.perf_counter() - start < 1.0


# --------------------------------------------------------------------------- every


def test_every_is_anchored_to_the_unix_epoch() -> None:
    assert next_every_fire(900, utc("2026-03-01 10:07:30")) == utc("2026-03-01 10:15")
    assert next_every_fire(3600, utc("2026-03-01 10:00")) == utc("2026-03-01 11:00")
    # 2026-03-01 00:00Z is 1772323200 s after the epoch, which is 4 past a multiple of 7.
    assert next_every_fire(7, utc("2026-03-01 00:00")) == utc("2026-03-01 00:00:03")
    # ... and an exact multiple of 5400 (90 minutes).
    assert next_every_fire(5400, utc("2026-03-01 00:00")) == utc("2026-03-01 01:30")


def test_every_replicas_agree_whenever_they_ask() -> None:
    ticks = {
        next_every_fire(600, utc("2026-03-01 10:00") + timedelta(seconds=s)) for s in range(600)
    }
    assert ticks == {utc("2026-03-01 10:10")}


def test_every_with_a_custom_anchor() -> None:
    anchor = utc("2026-03-01 00:05")
    assert next_every_fire(3600, utc("2026-03-01 10:07"), anchor) == utc("2026-03-01 11:05")
    # Ticks extend before the anchor too.
    assert next_every_fire(3600, utc("2026-02-28 23:00"), anchor) == utc("2026-02-28 23:05")


@pytest.mark.parametrize("interval", [0, -5, True, 1.5, 10**12])
def test_every_rejects_bad_intervals(interval: int) -> None:
    with pytest.raises(InvalidSchedule, match="every interval"):
        next_every_fire(interval, utc("2026-03-01 00:00"))


# --------------------------------------------------------------------------- at


def test_at_in_the_future_and_past() -> None:
    at = datetime(2026, 4, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert next_at_fire(at, utc("2026-03-01 00:00")) == utc("2026-04-01 09:00")
    assert next_at_fire(at, utc("2026-04-01 09:00")) is None
    assert next_at_fire(at, utc("2026-05-01 00:00")) is None


# --------------------------------------------------------------------------- Schedule


def test_schedule_cron_upcoming_fires_cross_dst() -> None:
    schedule = Schedule.from_cron("0 9 * * 1-5", "America/New_York")
    # Friday on EST, then Monday and Tuesday on EDT (clocks changed on Sunday 2026-03-08).
    assert upcoming_fires(schedule, utc("2026-03-06 12:00"), 3) == [
        utc("2026-03-06 14:00"),
        utc("2026-03-09 13:00"),
        utc("2026-03-10 13:00"),
    ]


def test_schedule_every_and_at() -> None:
    assert next_fire(Schedule.from_interval(900), utc("2026-03-01 10:07")) == utc(
        "2026-03-01 10:15"
    )
    once = Schedule.from_datetime(utc("2026-04-01 09:00"))
    assert upcoming_fires(once, utc("2026-03-01 00:00"), 3) == [utc("2026-04-01 09:00")]
    assert next_fire(once, utc("2026-04-01 09:00")) is None


def test_schedule_cadence_runs_in_utc() -> None:
    weekly = Schedule.from_cadence("weekly", 9, 30, "monday")
    assert weekly.cadence == Cadence("weekly", 9, 30, 1)
    assert next_fire(weekly, utc("2026-03-01 00:00")) == utc("2026-03-02 09:30")
    hourly = Schedule.from_cadence("hourly", minute_utc=15)
    assert next_fire(hourly, utc("2026-03-01 10:20")) == utc("2026-03-01 11:15")
    manual = Schedule.from_cadence("manual")
    assert next_fire(manual, utc("2026-03-01 00:00")) is None
    assert upcoming_fires(manual, utc("2026-03-01 00:00"), 3) == []


def test_fires_between_with_a_limit() -> None:
    schedule = Schedule.from_cron("*/10 * * * *")
    window = (utc("2026-03-01 10:00"), utc("2026-03-01 11:00"))
    assert len(fires_between(schedule, *window)) == 6
    assert fires_between(schedule, *window, limit=2) == [
        utc("2026-03-01 10:10"),
        utc("2026-03-01 10:20"),
    ]


@pytest.mark.parametrize(
    ("type_", "value", "zone", "after", "expected"),
    [
        ("cron", "0 9 * * 1-5", "America/New_York", "2026-03-02 00:00", "2026-03-02 14:00"),
        ("every", "3600", "UTC", "2026-03-01 10:30", "2026-03-01 11:00"),
        ("every", "15m", "UTC", "2026-03-01 10:07", "2026-03-01 10:15"),
        ("every", "2h", "UTC", "2026-03-01 10:07", "2026-03-01 12:00"),
        ("at", "2026-04-01T09:00:00Z", "UTC", "2026-03-01 00:00", "2026-04-01 09:00"),
        ("at", "2026-04-01T09:00", "Europe/Paris", "2026-03-01 00:00", "2026-04-01 07:00"),
        ("cadence", "daily:13:30", "UTC", "2026-03-01 00:00", "2026-03-01 13:30"),
        ("cadence", "weekdays:09:00", "UTC", "2026-03-01 00:00", "2026-03-02 09:00"),
        ("cadence", "weekly:friday:17:00", "UTC", "2026-03-01 00:00", "2026-03-06 17:00"),
        ("cadence", "weekly:1:08:00", "UTC", "2026-03-01 00:00", "2026-03-02 08:00"),
        ("cadence", "hourly:45", "UTC", "2026-03-01 00:00", "2026-03-01 00:45"),
        ("cadence", "hourly", "UTC", "2026-03-01 00:00", "2026-03-01 01:00"),
    ],
)
def test_schedule_from_validate_endpoint_values(
    type_: str, value: str, zone: str, after: str, expected: str
) -> None:
    schedule = Schedule.from_value(type_, value, zone)
    assert next_fire(schedule, utc(after)) == utc(expected)


def test_manual_cadence_from_value_has_no_fire() -> None:
    assert next_fire(Schedule.from_value("cadence", "manual"), utc("2026-03-01 00:00")) is None


@pytest.mark.parametrize(
    ("type_", "value", "error", "message"),
    [
        ("cron", "0 9 * *", InvalidCronExpression, "expected 5 fields"),
        ("every", "soon", InvalidSchedule, "is not a number of seconds"),
        ("every", "0", InvalidSchedule, "every interval must be between 1"),
        ("at", "next tuesday", InvalidSchedule, "is not an ISO 8601 datetime"),
        ("cadence", "daily", InvalidSchedule, "daily cadence requires hour_utc"),
        ("cadence", "fortnightly:09:00", InvalidSchedule, "not understood"),
        ("cadence", "weekly:09:00", InvalidSchedule, "not understood"),
        ("interval", "60", InvalidSchedule, "unknown schedule type 'interval'"),
        ("at", "2025-03-09T02:30", InvalidSchedule, "does not exist in America/New_York"),
    ],
)
def test_schedule_from_value_errors(
    type_: str, value: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Schedule.from_value(type_, value, "America/New_York")


def test_schedule_validates_on_construction() -> None:
    with pytest.raises(UnknownTimezone):
        Schedule.from_cron("0 9 * * *", "Europe/Atlantis")
    with pytest.raises(InvalidSchedule, match="must include a UTC offset"):
        Schedule.from_datetime(datetime(2026, 4, 1, 9, 0))
    with pytest.raises(InvalidSchedule, match="requires an expression"):
        Schedule("cron")
    with pytest.raises(InvalidSchedule, match="unknown schedule type"):
        Schedule("sometimes")  # type: ignore[arg-type]


def test_schedule_is_an_immutable_value() -> None:
    a = Schedule.from_cron("0 9 * * 1-5", "America/New_York")
    b = Schedule.from_cron("0 9 * * 1-5", "America/New_York")
    assert a == b and hash(a) == hash(b)
    assert a.spec is not None and a.spec.hours == (9,)
    assert Schedule.from_interval(60).anchor == UNIX_EPOCH
