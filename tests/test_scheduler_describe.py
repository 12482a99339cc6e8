"""Plain-English descriptions of schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler.describe import describe_at, describe_cron, describe_interval, describe_schedule
from scheduler.timing import Schedule


@pytest.mark.parametrize(
    ("expression", "zone", "text"),
    [
        ("0 9 * * 1-5", "America/New_York", "At 09:00, Monday through Friday (America/New_York)"),
        ("0 9 * * MON-FRI", "UTC", "At 09:00, Monday through Friday (UTC)"),
        ("*/15 * * * *", "UTC", "Every 15 minutes"),
        ("* * * * *", "UTC", "Every minute"),
        ("0 * * * *", "UTC", "Every hour"),
        ("@hourly", "UTC", "Every hour"),
        ("30 * * * *", "UTC", "Every hour at minute 30"),
        ("0 */2 * * *", "Europe/Berlin", "Every 2 hours (Europe/Berlin)"),
        ("0 1-23/2 * * *", "UTC", "Every 2 hours starting at 01:00 (UTC)"),
        ("0 9,17 * * *", "UTC", "At 09:00 and 17:00, every day (UTC)"),
        ("@daily", "UTC", "At 00:00, every day (UTC)"),
        (
            "30 8 * * 1#1",
            "Europe/Paris",
            "At 08:30, on the first Monday of the month (Europe/Paris)",
        ),
        ("0 18 * * 5L", "UTC", "At 18:00, on the last Friday of the month (UTC)"),
        ("0 0 L * *", "UTC", "At 00:00, on the last day of the month (UTC)"),
        ("0 0 LW * *", "UTC", "At 00:00, on the last weekday of the month (UTC)"),
        ("0 0 15W * *", "UTC", "At 00:00, on the weekday nearest day 15 of the month (UTC)"),
        ("0 6 1 * *", "UTC", "At 06:00, on day 1 of the month (UTC)"),
        ("0 9 1,15 * *", "UTC", "At 09:00, on days 1 and 15 of the month (UTC)"),
        ("@yearly", "UTC", "At 00:00, on January 1 (UTC)"),
        ("0 12 15 3 *", "UTC", "At 12:00, on March 15 (UTC)"),
        ("@weekly", "UTC", "At 00:00, every Sunday (UTC)"),
        ("0 10 * * 0,6", "Asia/Tokyo", "At 10:00, every Saturday and Sunday (Asia/Tokyo)"),
        ("0 7 * * 1,3,5", "UTC", "At 07:00, every Monday, Wednesday and Friday (UTC)"),
        ("0 0 1 * MON", "UTC", "At 00:00, on day 1 of the month or every Monday (UTC)"),
        ("0 0 * 1-3 *", "UTC", "At 00:00, every day, January through March (UTC)"),
        ("0 0 * 1,7 *", "UTC", "At 00:00, every day, in January and July (UTC)"),
        ("*/10 * * * * *", "UTC", "Every 10 seconds"),
        ("30 0 9 * * *", "UTC", "At 09:00:30, every day (UTC)"),
        (
            "*/15 9-16 * * 1-5",
            "UTC",
            "Every 15 minutes from 09:00 through 16:45, Monday through Friday (UTC)",
        ),
        ("0 9-17 * * *", "UTC", "Every hour from 09:00 through 17:00 (UTC)"),
    ],
)
def test_common_shapes(expression: str, zone: str, text: str) -> None:
    assert describe_cron(expression, zone) == text


def test_exotic_shapes_are_spelled_out() -> None:
    assert (
        describe_cron("7,13,43 1,2,3,5,8 * * *")
        == "At minutes 7, 13, 43 past hours 1-3, 5, 8, every day"
    )
    # */7 is not "every 7 minutes": it restarts at the top of the hour.
    assert (
        describe_cron("*/7 * * * *")
        == "At minutes 0, 7, 14, 21, 28, 35, 42, 49, 56 past every hour"
    )
    assert describe_cron("0 0 */2 * MON") == (
        "At 00:00, on every 2nd day of the month from day 1, if that day is Monday"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "Every second"),
        (30, "Every 30 seconds"),
        (60, "Every minute"),
        (90, "Every 90 seconds"),
        (900, "Every 15 minutes"),
        (3600, "Every hour"),
        (5400, "Every 90 minutes"),
        (7200, "Every 2 hours"),
        (86_400, "Every day"),
        (604_800, "Every week"),
        (1_209_600, "Every 2 weeks"),
    ],
)
def test_intervals(seconds: int, text: str) -> None:
    assert describe_interval(seconds) == text
    assert describe_schedule(Schedule.from_interval(seconds)) == text


def test_one_shot_is_shown_in_utc() -> None:
    at = datetime(2026, 4, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert describe_at(at) == "Once at 2026-04-01 09:00 UTC"
    assert describe_schedule(Schedule.from_datetime(at)) == "Once at 2026-04-01 09:00 UTC"
    assert describe_at(datetime(2026, 4, 1, 9, 0, 30, tzinfo=UTC)) == (
        "Once at 2026-04-01 09:00:30 UTC"
    )


def test_schedules_of_every_type() -> None:
    assert describe_schedule(Schedule.from_cron("0 9 * * 1-5", "America/New_York")) == (
        "At 09:00, Monday through Friday (America/New_York)"
    )
    assert describe_schedule(Schedule.from_cadence("weekdays", 9)) == (
        "At 09:00, Monday through Friday (UTC)"
    )
    assert describe_schedule(Schedule.from_cadence("weekly", 17, 30, 5)) == (
        "At 17:30, every Friday (UTC)"
    )
    assert describe_schedule(Schedule.from_cadence("hourly", minute_utc=15)) == (
        "Every hour at minute 15"
    )
    assert describe_schedule(Schedule.from_cadence("manual")) == (
        "Manually only (never fires on its own)"
    )


def test_descriptions_are_deterministic() -> None:
    schedule = Schedule.from_cron("15 10 * * 1,3,5", "Europe/London")
    assert len({describe_schedule(schedule) for _ in range(5)}) == 1


def test_spoken_descriptions_use_the_12_hour_clock_and_everyday_zone_names() -> None:
    def spoken(expression: str, zone: str) -> str:
        return describe_schedule(Schedule.from_cron(expression, zone), spoken=True)

    assert spoken("0 9 * * 1-5", "America/Los_Angeles") == (
        "At 09:00 AM, Monday through Friday, Pacific Time"
    )
    assert spoken("30 0 * * *", "UTC") == "At 12:30 AM, every day, UTC"
    assert spoken("0 12,17 * * *", "America/New_York") == (
        "At 12:00 PM and 05:00 PM, every day, Eastern Time"
    )
    # A zone without an everyday name is named as it is; intervals name no zone.
    assert spoken("0 8 * * 1", "Asia/Singapore") == "At 08:00 AM, every Monday, Asia/Singapore"
    assert spoken("*/15 * * * *", "America/Los_Angeles") == "Every 15 minutes"
