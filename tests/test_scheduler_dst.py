"""Cron across daylight-saving changes, with Debian cron's (cronie's) semantics.

* Fixed-time jobs (explicit second, minute and hour, no `*` or step) fire once when a
  time repeats (at its first occurrence) and, when a time is skipped, at the instant the
  clock jumps.
* Other jobs follow real time: every instant whose local time matches.

The transitions used (from the tz database; these years are settled history):

    America/New_York    2025-03-09 07:00Z  02:00 EST -> 03:00 EDT
                        2025-11-02 06:00Z  02:00 EDT -> 01:00 EST
    Europe/London       2025-03-30 01:00Z  01:00 GMT -> 02:00 BST
                        2025-10-26 01:00Z  02:00 BST -> 01:00 GMT
    Europe/Berlin       2025-03-30 01:00Z  02:00 CET -> 03:00 CEST
                        2025-10-26 01:00Z  03:00 CEST -> 02:00 CET
    Australia/Lord_Howe 2025-04-05 15:00Z  02:00 (+11) -> 01:30 (+10:30), on April 6 locally
                        2025-10-04 15:30Z  02:00 (+10:30) -> 02:30 (+11), on October 5
    Asia/Hebron         2021-03-26 22:00Z  00:00 (+02) -> 01:00 (+03) on March 27: midnight skipped
                        2021-10-28 22:00Z  01:00 (+03) -> 00:00 (+02) on October 29
                        2019-10-25 21:00Z  00:00 (+03) on Oct 26 -> 23:00 (+02) on Oct 25
"""

from __future__ import annotations

import calendar
import itertools
import random
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from scheduler.timing import cron_fires, next_cron_fire
from schemas.cron import CronSpec, parse_cron


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, zone: str, after: str, count: int) -> list[str]:
    found = itertools.islice(cron_fires(expression, zone, utc(after)), count)
    return [f.strftime("%Y-%m-%d %H:%M:%S") for f in found]


def test_the_zone_data_matches_the_transitions_assumed_here() -> None:
    def offset(zone: str, instant: str) -> float:
        delta = utc(instant).astimezone(ZoneInfo(zone)).utcoffset()
        assert delta is not None
        return delta.total_seconds() / 3600

    checks = [
        ("America/New_York", "2025-03-09 07:00", -5, -4),
        ("America/New_York", "2025-11-02 06:00", -4, -5),
        ("Europe/London", "2025-03-30 01:00", 0, 1),
        ("Europe/London", "2025-10-26 01:00", 1, 0),
        ("Europe/Berlin", "2025-03-30 01:00", 1, 2),
        ("Europe/Berlin", "2025-10-26 01:00", 2, 1),
        ("Australia/Lord_Howe", "2025-04-05 15:00", 11, 10.5),
        ("Australia/Lord_Howe", "2025-10-04 15:30", 10.5, 11),
        ("Asia/Hebron", "2021-03-26 22:00", 2, 3),
        ("Asia/Hebron", "2021-10-28 22:00", 3, 2),
        ("Asia/Hebron", "2019-10-25 21:00", 3, 2),
    ]
    for zone, instant, before, after in checks:
        second_before = (utc(instant) - timedelta(seconds=1)).isoformat(sep=" ")[:19]
        assert offset(zone, second_before) == before, zone
        assert offset(zone, instant) == after, zone


# --------------------------------------------------------------------------- New York


def test_new_york_spring_forward_fixed_time_fires_at_the_jump() -> None:
    # 02:30 does not exist on 2025-03-09: it fires at 03:00 EDT = 07:00Z.
    assert fires("30 2 * * *", "America/New_York", "2025-03-08 12:00", 2) == [
        "2025-03-09 07:00:00",
        "2025-03-10 06:30:00",  # 02:30 EDT
    ]
    assert next_cron_fire("0 2 * * *", "America/New_York", utc("2025-03-08 12:00")) == utc(
        "2025-03-09 07:00"
    )
    # Two skipped times of one job make one fire, not two.
    assert fires("0,30 2 * * *", "America/New_York", "2025-03-08 12:00", 2) == [
        "2025-03-09 07:00:00",
        "2025-03-10 06:00:00",
    ]
    # A job at 03:00 is unaffected and also fires at 07:00Z.
    assert next_cron_fire("0 3 * * *", "America/New_York", utc("2025-03-08 12:00")) == utc(
        "2025-03-09 07:00"
    )


def test_new_york_spring_forward_wildcard_jobs_skip_the_missing_hour() -> None:
    assert fires("0 * * * *", "America/New_York", "2025-03-09 05:30", 3) == [
        "2025-03-09 06:00:00",  # 01:00 EST
        "2025-03-09 07:00:00",  # 03:00 EDT; 02:00 never happened
        "2025-03-09 08:00:00",
    ]
    # Every 30 minutes within hour 2: nothing on the 9th.
    assert next_cron_fire("*/30 2 * * *", "America/New_York", utc("2025-03-09 05:00")) == utc(
        "2025-03-10 06:00"
    )


def test_new_york_fall_back_fixed_time_fires_once() -> None:
    # 01:30 happens twice on 2025-11-02; the job fires at the first, 01:30 EDT = 05:30Z.
    assert fires("30 1 * * *", "America/New_York", "2025-11-01 12:00", 2) == [
        "2025-11-02 05:30:00",
        "2025-11-03 06:30:00",  # 01:30 EST
    ]
    # Asking again from the first fire, or from inside the repeated hour, skips the repeat.
    assert next_cron_fire("30 1 * * *", "America/New_York", utc("2025-11-02 05:30")) == utc(
        "2025-11-03 06:30"
    )
    assert next_cron_fire("30 1 * * *", "America/New_York", utc("2025-11-02 06:10")) == utc(
        "2025-11-03 06:30"
    )
    # Explicit lists and ranges are fixed times too.
    assert fires("0 1,3 * * *", "America/New_York", "2025-11-02 04:30", 2) == [
        "2025-11-02 05:00:00",  # 01:00 EDT, once
        "2025-11-02 08:00:00",  # 03:00 EST
    ]


def test_new_york_fall_back_wildcard_jobs_fire_in_both_hours() -> None:
    assert fires("0 * * * *", "America/New_York", "2025-11-02 03:30", 4) == [
        "2025-11-02 04:00:00",  # 00:00 EDT
        "2025-11-02 05:00:00",  # 01:00 EDT
        "2025-11-02 06:00:00",  # 01:00 EST
        "2025-11-02 07:00:00",  # 02:00 EST
    ]
    # A step in the hour field follows real time.
    assert fires("0 1-3/2 * * *", "America/New_York", "2025-11-02 04:30", 3) == [
        "2025-11-02 05:00:00",
        "2025-11-02 06:00:00",
        "2025-11-02 08:00:00",
    ]
    # So does a minute-level wildcard in a fixed hour.
    assert fires("*/20 1 * * *", "America/New_York", "2025-11-02 04:59", 7) == [
        "2025-11-02 05:00:00",
        "2025-11-02 05:20:00",
        "2025-11-02 05:40:00",
        "2025-11-02 06:00:00",
        "2025-11-02 06:20:00",
        "2025-11-02 06:40:00",
        "2025-11-03 06:00:00",
    ]


def test_new_york_six_field_expressions() -> None:
    assert fires("30 30 2 * * *", "America/New_York", "2025-03-08 12:00", 2) == [
        "2025-03-09 07:00:00",  # skipped 02:30:30 fires at the jump
        "2025-03-10 06:30:30",
    ]
    assert fires("15 30 1 * * *", "America/New_York", "2025-11-01 12:00", 2) == [
        "2025-11-02 05:30:15",
        "2025-11-03 06:30:15",
    ]
    assert fires("*/20 30 1 * * *", "America/New_York", "2025-11-02 05:00", 6) == [
        "2025-11-02 05:30:00",
        "2025-11-02 05:30:20",
        "2025-11-02 05:30:40",
        "2025-11-02 06:30:00",
        "2025-11-02 06:30:20",
        "2025-11-02 06:30:40",
    ]
    assert next_cron_fire("*/20 30 2 * * *", "America/New_York", utc("2025-03-08 12:00")) == utc(
        "2025-03-10 06:30"
    )


def test_croniter_would_fire_twice_but_we_do_not() -> None:
    """The bug DESIGN.md warns about: a fixed-time job repeated on fall-back day."""
    croniter = pytest.importorskip("croniter").croniter
    tz = ZoneInfo("America/New_York")
    start = utc("2025-11-01 12:00").astimezone(tz)
    theirs = croniter("30 1 * * *", start)
    their_fires = [theirs.get_next(datetime).astimezone(UTC) for _ in range(3)]
    ours = list(itertools.islice(cron_fires("30 1 * * *", tz, utc("2025-11-01 12:00")), 2))
    assert their_fires[:2] == [utc("2025-11-02 05:30"), utc("2025-11-02 06:30")]
    assert ours == [utc("2025-11-02 05:30"), utc("2025-11-03 06:30")]


# --------------------------------------------------------------------------- London, Berlin


def test_london_both_transitions() -> None:
    # 01:30 GMT is skipped on 2025-03-30: fires when the clock jumps, 01:00Z.
    assert fires("30 1 * * *", "Europe/London", "2025-03-29 12:00", 2) == [
        "2025-03-30 01:00:00",
        "2025-03-31 00:30:00",  # 01:30 BST
    ]
    assert fires("0 * * * *", "Europe/London", "2025-03-29 23:30", 3) == [
        "2025-03-30 00:00:00",  # 00:00 GMT
        "2025-03-30 01:00:00",  # 02:00 BST
        "2025-03-30 02:00:00",
    ]
    # 01:30 repeats on 2025-10-26: once, at 01:30 BST = 00:30Z.
    assert fires("30 1 * * *", "Europe/London", "2025-10-25 12:00", 2) == [
        "2025-10-26 00:30:00",
        "2025-10-27 01:30:00",  # 01:30 GMT
    ]
    assert fires("0 * * * *", "Europe/London", "2025-10-25 23:30", 3) == [
        "2025-10-26 00:00:00",  # 01:00 BST
        "2025-10-26 01:00:00",  # 01:00 GMT
        "2025-10-26 02:00:00",  # 02:00 GMT
    ]
    # Weekday job in the week of the change: Friday on GMT, Monday on BST.
    assert fires("0 9 * * MON-FRI", "Europe/London", "2025-03-28 00:00", 2) == [
        "2025-03-28 09:00:00",
        "2025-03-31 08:00:00",
    ]


def test_berlin_both_transitions() -> None:
    assert fires("30 2 * * *", "Europe/Berlin", "2025-03-29 12:00", 2) == [
        "2025-03-30 01:00:00",  # skipped 02:30 CET fires at the jump to 03:00 CEST
        "2025-03-31 00:30:00",  # 02:30 CEST
    ]
    assert fires("30 2 * * *", "Europe/Berlin", "2025-10-25 12:00", 2) == [
        "2025-10-26 00:30:00",  # 02:30 CEST, once
        "2025-10-27 01:30:00",  # 02:30 CET
    ]
    assert fires("*/30 * * * *", "Europe/Berlin", "2025-10-26 00:15", 4) == [
        "2025-10-26 00:30:00",  # 02:30 CEST
        "2025-10-26 01:00:00",  # 02:00 CET
        "2025-10-26 01:30:00",  # 02:30 CET
        "2025-10-26 02:00:00",  # 03:00 CET
    ]
    # Last day of the month at midnight, in local time.
    assert next_cron_fire("0 0 L * *", "Europe/Berlin", utc("2025-10-30 00:00")) == utc(
        "2025-10-30 23:00"
    )


# --------------------------------------------------------------------------- Lord Howe


def test_lord_howe_half_hour_fall_back() -> None:
    # 01:30-01:59 repeats on 2025-04-06 (local): +11 until 15:00Z, then +10:30.
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2025-04-05 12:00", 2) == [
        "2025-04-05 14:45:00",  # 01:45 (+11), once
        "2025-04-06 15:15:00",  # 01:45 (+10:30) the next day
    ]
    assert fires("*/15 1 * * *", "Australia/Lord_Howe", "2025-04-05 12:00", 7) == [
        "2025-04-05 14:00:00",  # 01:00 (+11)
        "2025-04-05 14:15:00",
        "2025-04-05 14:30:00",  # 01:30 (+11)
        "2025-04-05 14:45:00",
        "2025-04-05 15:00:00",  # 01:30 (+10:30), again
        "2025-04-05 15:15:00",
        "2025-04-06 14:30:00",  # 01:00 (+10:30) the next day
    ]
    # Hourly jobs are not repeated: 01:00 is before the repeated half hour.
    assert fires("0 * * * *", "Australia/Lord_Howe", "2025-04-05 12:30", 4) == [
        "2025-04-05 13:00:00",  # 00:00 (+11)
        "2025-04-05 14:00:00",  # 01:00 (+11)
        "2025-04-05 15:30:00",  # 02:00 (+10:30), 90 real minutes later
        "2025-04-05 16:30:00",
    ]


def test_lord_howe_half_hour_spring_forward() -> None:
    # 02:00-02:29 is skipped on 2025-10-05 (local), the jump is at 15:30Z.
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2025-10-04 12:00", 2) == [
        "2025-10-04 15:30:00",
        "2025-10-05 15:15:00",  # 02:15 (+11)
    ]
    assert next_cron_fire("0 2 * * *", "Australia/Lord_Howe", utc("2025-10-04 12:00")) == utc(
        "2025-10-04 15:30"
    )
    assert next_cron_fire("45 2 * * *", "Australia/Lord_Howe", utc("2025-10-04 12:00")) == utc(
        "2025-10-04 15:45"
    )
    assert fires("*/15 2 * * *", "Australia/Lord_Howe", "2025-10-04 15:00", 2) == [
        "2025-10-04 15:30:00",  # 02:30 (+11); 02:00 and 02:15 did not exist
        "2025-10-04 15:45:00",
    ]
    assert fires("0 * * * *", "Australia/Lord_Howe", "2025-10-04 14:00", 2) == [
        "2025-10-04 14:30:00",  # 01:00 (+10:30)
        "2025-10-04 16:00:00",  # 03:00 (+11); no 02:00
    ]


# --------------------------------------------------------------------------- Hebron


def test_hebron_midnight_skipped() -> None:
    # Midnight of 2021-03-27 does not exist; a midnight job fires at the jump, 22:00Z.
    assert fires("0 0 * * *", "Asia/Hebron", "2021-03-25 12:00", 3) == [
        "2021-03-25 22:00:00",  # March 26 00:00 (+02)
        "2021-03-26 22:00:00",  # March 27: 01:00 (+03), the first instant of the day
        "2021-03-27 21:00:00",  # March 28 00:00 (+03)
    ]
    assert next_cron_fire("@daily", "Asia/Hebron", utc("2021-03-26 12:00")) == utc(
        "2021-03-26 22:00"
    )
    assert next_cron_fire("30 0 * * *", "Asia/Hebron", utc("2021-03-26 12:00")) == utc(
        "2021-03-26 22:00"
    )
    assert fires("0 * * * *", "Asia/Hebron", "2021-03-26 20:30", 3) == [
        "2021-03-26 21:00:00",  # 23:00 (+02) on the 26th
        "2021-03-26 22:00:00",  # 01:00 (+03) on the 27th
        "2021-03-26 23:00:00",
    ]


def test_hebron_first_hour_repeated() -> None:
    # 00:00-00:59 of 2021-10-29 happens twice.
    assert fires("30 0 * * *", "Asia/Hebron", "2021-10-27 12:00", 3) == [
        "2021-10-27 21:30:00",  # October 28 00:30 (+03)
        "2021-10-28 21:30:00",  # October 29 00:30 (+03), once
        "2021-10-29 22:30:00",  # October 30 00:30 (+02)
    ]
    assert fires("0 0 * * *", "Asia/Hebron", "2021-10-28 12:00", 2) == [
        "2021-10-28 21:00:00",
        "2021-10-29 22:00:00",
    ]
    assert fires("*/30 0 * * *", "Asia/Hebron", "2021-10-28 12:00", 5) == [
        "2021-10-28 21:00:00",
        "2021-10-28 21:30:00",
        "2021-10-28 22:00:00",
        "2021-10-28 22:30:00",
        "2021-10-29 22:00:00",
    ]
    # A job for that date only.
    assert fires("0 0 29 10 *", "Asia/Hebron", "2021-10-01 00:00", 1) == ["2021-10-28 21:00:00"]


def test_hebron_midnight_falls_back_into_the_previous_day() -> None:
    # At 21:00Z the clock goes from October 26 00:00 (+03) back to October 25 23:00 (+02).
    assert fires("30 23 * * *", "Asia/Hebron", "2019-10-25 12:00", 2) == [
        "2019-10-25 20:30:00",  # 23:30 (+03), once
        "2019-10-26 21:30:00",  # 23:30 (+02) on the 26th
    ]
    assert fires("*/30 23 * * *", "Asia/Hebron", "2019-10-25 12:00", 5) == [
        "2019-10-25 20:00:00",
        "2019-10-25 20:30:00",
        "2019-10-25 21:00:00",  # 23:00 (+02), the second time
        "2019-10-25 21:30:00",
        "2019-10-26 21:00:00",
    ]
    # Midnight of October 26 is first reached after the repeated hour, at 22:00Z.
    assert next_cron_fire("0 0 * * *", "Asia/Hebron", utc("2019-10-25 12:00")) == utc(
        "2019-10-25 22:00"
    )
    # Asked from inside the repeated hour, the wildcard job still sees the rest of it.
    assert next_cron_fire("*/30 23 * * *", "Asia/Hebron", utc("2019-10-25 20:45")) == utc(
        "2019-10-25 21:00"
    )


# --------------------------------------------------------------------------- brute force


def _date_matches(spec: CronSpec, day: date) -> bool:
    length = calendar.monthrange(day.year, day.month)[1]
    weekday = (day.weekday() + 1) % 7
    if day.month not in spec.months:
        return False
    dom = day.day in spec.days_of_month or (spec.last_day_of_month and day.day == length)
    dow = weekday in spec.days_of_week
    dow = dow or (weekday in spec.last_weekdays and day.day + 7 > length)
    dow = dow or (weekday, (day.day - 1) // 7 + 1) in spec.nth_weekdays
    if spec.dom_wildcard or spec.dow_wildcard:
        return dom and dow
    return dom or dow


def _wall_matches(spec: CronSpec, wall: datetime) -> bool:
    return (
        wall.second in spec.seconds
        and wall.minute in spec.minutes
        and wall.hour in spec.hours
        and _date_matches(spec, wall.date())
    )


def _brute_force_next(spec: CronSpec, tz: tzinfo, after: datetime) -> datetime | None:
    """Walk real time minute by minute, the way cron's daemon does (5-field specs only)."""
    start = int(after.timestamp()) // 60 * 60
    if not spec.fixed_time:
        for minute in range(start + 60, start + 3 * 86_400, 60):
            if _wall_matches(spec, datetime.fromtimestamp(minute, tz)):
                return datetime.fromtimestamp(minute, UTC)
        return None
    # cronie's virtual clock: the furthest local time reached so far. Walls it jumps over
    # run at the jump; walls it revisits do not run again.
    reached = datetime.fromtimestamp(start - 86_400, tz).replace(tzinfo=None)
    for minute in range(start - 86_400 + 60, start + 3 * 86_400, 60):
        wall = datetime.fromtimestamp(minute, tz).replace(tzinfo=None)
        if wall <= reached:
            continue
        step, hit = reached + timedelta(minutes=1), False
        while step <= wall and not hit:
            hit = _wall_matches(spec, step)
            step += timedelta(minutes=1)
        reached = wall
        if hit and minute > after.timestamp():
            return datetime.fromtimestamp(minute, UTC)
    return None


TRANSITIONS = {
    "America/New_York": ["2025-03-09 07:00", "2025-11-02 06:00"],
    "Europe/London": ["2025-03-30 01:00", "2025-10-26 01:00"],
    "Australia/Lord_Howe": ["2025-04-05 15:00", "2025-10-04 15:30"],
    "Asia/Hebron": ["2021-03-26 22:00", "2021-10-28 22:00", "2019-10-25 21:00"],
}
HOUR_FIELDS = ["0", "1", "2", "23", "0,1", "1-3", "*", "*/2", "22-23,0-2", "0-3/2"]


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
def test_matches_a_minute_by_minute_walk_near_transitions(zone: str) -> None:
    rnd = random.Random(zone)
    tz = ZoneInfo(zone)
    for _ in range(120):
        minute = rnd.choice(["0", "30", "15,45", "*/20", "*", "59", str(rnd.randint(0, 59))])
        spec = parse_cron(f"{minute} {rnd.choice(HOUR_FIELDS)} * * *")
        transition = utc(rnd.choice(TRANSITIONS[zone]))
        after = transition + timedelta(seconds=rnd.randrange(-30 * 3600, 30 * 3600))
        expected = _brute_force_next(spec, tz, after)
        assert next_cron_fire(spec, tz, after) == expected, (spec.expression, after)
