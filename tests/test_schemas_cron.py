"""Cron parsing, time zone and cadence validation (schemas.cron)."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

import pytest

from schemas.cron import (
    Cadence,
    CronSpec,
    InvalidCadence,
    InvalidCronExpression,
    InvalidSchedule,
    UnknownTimezone,
    cadence_to_cron,
    parse_cron,
    validate_cadence,
    validate_timezone,
)

# --------------------------------------------------------------------------- parsing


def test_five_fields_expand_to_sorted_values() -> None:
    spec = parse_cron("0,30 9-17/4 1,15 JAN-MAR mon-fri")
    assert spec.seconds == (0,)
    assert spec.minutes == (0, 30)
    assert spec.hours == (9, 13, 17)
    assert spec.days_of_month == (1, 15)
    assert spec.months == (1, 2, 3)
    assert spec.days_of_week == (1, 2, 3, 4, 5)
    assert not spec.has_seconds
    assert not spec.dom_wildcard and not spec.dow_wildcard


def test_six_fields_lead_with_seconds() -> None:
    spec = parse_cron("*/20 30 2 * * *")
    assert spec.has_seconds
    assert spec.seconds == (0, 20, 40)
    assert spec.minutes == (30,)
    assert spec.hours == (2,)


def test_star_fills_the_whole_range() -> None:
    spec = parse_cron("* * * * *")
    assert spec.minutes == tuple(range(60))
    assert spec.hours == tuple(range(24))
    assert spec.days_of_month == tuple(range(1, 32))
    assert spec.months == tuple(range(1, 13))
    assert spec.days_of_week == tuple(range(7))
    assert spec.every_day


def test_seven_is_sunday_and_ranges_may_end_on_sunday() -> None:
    assert parse_cron("0 0 * * 7").days_of_week == (0,)
    assert parse_cron("0 0 * * 5-7").days_of_week == (0, 5, 6)
    assert parse_cron("0 0 * * FRI-SUN").days_of_week == (0, 5, 6)
    assert parse_cron("0 0 * * SAT,SUN").days_of_week == (0, 6)


def test_start_with_step_runs_to_the_end_of_the_field() -> None:
    assert parse_cron("5/15 * * * *").minutes == (5, 20, 35, 50)
    assert parse_cron("0 0 */10 * *").days_of_month == (1, 11, 21, 31)


def test_question_mark_is_a_day_wildcard() -> None:
    spec = parse_cron("0 12 ? * MON")
    assert spec.dom_wildcard
    assert spec.days_of_month == tuple(range(1, 32))
    assert spec.days_of_week == (1,)


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_macros(macro: str, equivalent: str) -> None:
    spec = parse_cron(macro)
    assert spec.expression == macro
    assert dataclasses.replace(spec, expression=equivalent) == parse_cron(equivalent)


def test_special_day_forms() -> None:
    spec = parse_cron("0 0 L,LW,15W * *")
    assert spec.last_day_of_month and spec.last_weekday_of_month
    assert spec.nearest_weekdays == (15,)
    assert spec.days_of_month == ()

    spec = parse_cron("0 0 ? * 5L,MON#1,FRIL,7#2")
    assert spec.last_weekdays == (5,)
    assert spec.nth_weekdays == ((0, 2), (1, 1))
    assert spec.days_of_week == ()


@pytest.mark.parametrize(
    ("expression", "fixed"),
    [
        ("30 2 * * *", True),
        ("0,30 1,2 * * *", True),
        ("0 1-3 * * *", True),
        ("15 30 2 * * *", True),
        ("@daily", True),
        ("0 * * * *", False),  # * in the hour
        ("@hourly", False),
        ("0 */2 * * *", False),  # a step in the hour
        ("0 1-5/2 * * *", False),
        ("* 2 * * *", False),  # minute-level wildcard
        ("*/15 2 * * *", False),
        ("0/15 2 * * *", False),
        ("*/10 30 2 * * *", False),  # second-level wildcard
    ],
)
def test_fixed_time_versus_wildcard_jobs(expression: str, fixed: bool) -> None:
    assert parse_cron(expression).fixed_time is fixed


def test_spec_is_immutable_and_hashable() -> None:
    spec = parse_cron("0 9 * * 1-5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.hours = (10,)  # type: ignore[misc]
    assert spec == parse_cron("0 9 * * 1-5")
    assert len({spec, parse_cron("0 9 * * 1-5")}) == 1
    assert isinstance(spec, CronSpec)


def test_whitespace_is_normalised() -> None:
    assert parse_cron("  0   9 * *\t1-5 ").expression == "0 9 * * 1-5"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "cron expression is empty"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6"),
        ("* * * * * * *", "got 7"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("60 * * * * *", "second field: 60 is out of range 0-59"),
        ("0 0 * FOO *", "month field: 'FOO' is not a number or a month name (JAN-DEC)"),
        ("0 0 * * FRY", "day-of-week field: 'FRY' is not a number or a day name (SUN-SAT)"),
        ("x * * * *", "minute field: 'X' is not a number"),
        ("*/0 * * * *", "minute field: step must be at least 1"),
        ("*/60 * * * *", "minute field: step 60 is larger than the field's range 0-59"),
        ("*/x * * * *", "minute field: step 'X' in '*/X' is not a number"),
        ("0 17-9 * * *", "hour field: range 17-9 goes backwards"),
        ("0 0 * * FRI-MON", "day-of-week field: range FRI-MON goes backwards"),
        ("1,,2 * * * *", "minute field: empty item in list '1,,2'"),
        ("? * * * *", "minute field: '?' is only allowed in the day-of-month and day-of-week"),
        ("0 0 * * L", "day-of-week field: 'L' needs a weekday before it"),
        ("0 0 * * MON#6", "day-of-week field: 'MON#6': the number after # must be 1-5"),
        ("0 0 * * MON#0", "the number after # must be 1-5"),
        ("0 0 W * *", "day-of-month field: 'W': W needs a single day before it"),
        ("0 0 1-5W * *", "W needs a single day before it"),
        ("0 0 L-3 * *", "day-of-month field: 'L-3' is not valid"),
        ("0 0 30 2 *", "day-of-month field: day 30 never occurs in FEB"),
        ("0 0 31 4,6 *", "day 31 never occurs in APR, JUN"),
        ("@reboot", "@reboot is not supported"),
        ("@fortnightly", "unknown macro '@fortnightly'; expected one of @yearly"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidCronExpression) as caught:
        parse_cron(expression)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidSchedule)


def test_error_names_the_field() -> None:
    with pytest.raises(InvalidCronExpression) as caught:
        parse_cron("0 25 * * *")
    assert caught.value.field_name == "hour"
    assert caught.value.expression == "0 25 * * *"


def test_day_29_of_february_is_allowed() -> None:
    assert parse_cron("0 0 29 2 *").days_of_month == (29,)


def test_impossible_day_is_fine_when_the_weekday_can_match() -> None:
    # Both day fields restricted: they are OR-ed, so Mondays in February still fire.
    assert parse_cron("0 0 30 2 MON").days_of_week == (1,)


# --------------------------------------------------------------------------- time zones


def test_validate_timezone_returns_the_zone() -> None:
    assert validate_timezone("America/New_York") == ZoneInfo("America/New_York")
    assert validate_timezone("UTC") == ZoneInfo("UTC")
    assert validate_timezone("utc") == ZoneInfo("UTC")
    assert validate_timezone("Etc/GMT+5") == ZoneInfo("Etc/GMT+5")
    assert validate_timezone("America/Argentina/Buenos_Aires").key == (
        "America/Argentina/Buenos_Aires"
    )


@pytest.mark.parametrize(
    "name",
    [
        "America/New_Yrok",
        "",
        "   ",
        "Mars/Olympus",
        "../etc/passwd",
        "/etc/passwd",
        "America",  # a directory, not a zone
        "localtime",
        "Europe/Paris ",
    ],
)
def test_validate_timezone_rejects_unknown_names(name: str) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        validate_timezone(name)
    assert "unknown timezone" in str(caught.value)
    assert "IANA" in str(caught.value)


# --------------------------------------------------------------------------- cadences


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("manual",), None),
        (("hourly",), "0 * * * *"),
        (("hourly", None, 15), "15 * * * *"),
        (("daily", 13, 30), "30 13 * * *"),
        (("daily", 6), "0 6 * * *"),
        (("weekdays", 9, 0), "0 9 * * 1-5"),
        (("weekly", 9, 0, 1), "0 9 * * 1"),
        (("weekly", 17, 45, "friday"), "45 17 * * 5"),
        (("weekly", 8, 0, "Sun"), "0 8 * * 0"),
        (("weekly", 8, 0, "3"), "0 8 * * 3"),
    ],
)
def test_cadence_to_cron(args: tuple[object, ...], expected: str | None) -> None:
    assert cadence_to_cron(*args) == expected  # type: ignore[arg-type]


def test_validate_cadence_normalises() -> None:
    assert validate_cadence("hourly") == Cadence("hourly", None, 0, None)
    assert validate_cadence("weekly", 9, None, "monday") == Cadence("weekly", 9, 0, 1)
    assert validate_cadence("manual") == Cadence("manual")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily",), "daily cadence requires hour_utc"),
        (("weekdays", None, 30), "weekdays cadence requires hour_utc"),
        (("weekly", None, 0, 1), "weekly cadence requires hour_utc"),
        (("weekly", 9), "weekly cadence requires day_of_week"),
        (("manual", 9), "manual cadence accepts no parameters"),
        (("manual", None, 0), "manual cadence accepts no parameters"),
        (("manual", None, None, 1), "manual cadence accepts no parameters"),
        (("hourly", 9), "hourly cadence does not accept hour_utc"),
        (("hourly", None, 0, 1), "hourly cadence does not accept day_of_week"),
        (("daily", 9, 0, 1), "daily cadence does not accept day_of_week"),
        (("daily", 24), "hour_utc must be between 0 and 23"),
        (("daily", -1), "hour_utc must be between 0 and 23"),
        (("daily", 9, 60), "minute_utc must be between 0 and 59"),
        (("weekly", 9, 0, 7), "day_of_week must be between 0 (Sunday) and 6"),
        (("weekly", 9, 0, "someday"), "day_of_week 'someday' is not a day"),
        (("daily", True), "hour_utc must be an integer"),
        (("daily", "9"), "hour_utc must be an integer"),
        (("fortnightly", 9), "unknown cadence type 'fortnightly'"),
    ],
)
def test_validate_cadence_messages(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidCadence) as caught:
        validate_cadence(*args)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
