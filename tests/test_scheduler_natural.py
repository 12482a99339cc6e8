"""Everyday-English schedules read by the deterministic grammar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.natural import (
    EXAMPLES,
    ParsedSchedule,
    UnrecognizedSchedule,
    parse_natural_schedule,
)
from scheduler.timing import next_fire
from schemas.cron import InvalidSchedule, UnknownTimezone


@pytest.mark.parametrize(
    ("text", "expression", "zone"),
    [
        ("every weekday at 9am Pacific", "0 9 * * 1-5", "America/Los_Angeles"),
        ("first Monday of the month at 08:30 Europe/Paris", "30 8 * * 1#1", "Europe/Paris"),
        ("daily at noon", "0 12 * * *", "UTC"),
        ("every day at midnight", "0 0 * * *", "UTC"),
        ("every monday at 5pm", "0 17 * * 1", "UTC"),
        ("weekly on friday at 17:30", "30 17 * * 5", "UTC"),
        ("on the 1st of every month at 6am", "0 6 1 * *", "UTC"),
        ("every day at 9am Eastern", "0 9 * * *", "America/New_York"),
        ("every weekday at 8:15 am central time", "15 8 * * 1-5", "America/Chicago"),
        ("every weekday at 7AM Mountain", "0 7 * * 1-5", "America/Denver"),
        ("at 9:30am every weekday in London", "30 9 * * 1-5", "Europe/London"),
        ("mon-fri at 08:00 Berlin", "0 8 * * 1-5", "Europe/Berlin"),
        ("every saturday and sunday at 10am Tokyo", "0 10 * * 0,6", "Asia/Tokyo"),
        ("every weekend at 10am", "0 10 * * 0,6", "UTC"),
        ("monday through friday at 6pm CET", "0 18 * * 1-5", "Europe/Berlin"),
        ("last friday of the month at 18:00", "0 18 * * 5L", "UTC"),
        (
            "on the last day of the month at 23:30 America/new_york",
            "30 23 L * *",
            "America/New_York",
        ),
        ("on the 1st and 15th of every month at 9am", "0 9 1,15 * *", "UTC"),
        ("every year on march 15 at noon", "0 12 15 3 *", "UTC"),
        ("at 9am and 5pm on weekdays", "0 9,17 * * 1-5", "UTC"),
        ("every sunday at 6pm GMT", "0 18 * * 0", "UTC"),
        ("every tuesday at 9am in Asia/Kolkata", "0 9 * * 2", "Asia/Kolkata"),
        ("hourly at :15", "15 * * * *", "UTC"),
        ("every 2 hours at :30", "30 */2 * * *", "UTC"),
        ("every 15 minutes between 9am and 5pm on weekdays", "*/15 9-16 * * 1-5", "UTC"),
        ("every 15 minutes on weekdays", "*/15 * * * 1-5", "UTC"),
    ],
)
def test_cron_phrases(text: str, expression: str, zone: str) -> None:
    parsed = parse_natural_schedule(text)
    assert (parsed.type, parsed.expression, parsed.timezone) == ("cron", expression, zone)
    assert parsed.confidence >= 0.9


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("every 15 minutes", 900),
        ("hourly", 3600),
        ("every hour", 3600),
        ("every 2 hours", 7200),
        ("every 90 minutes", 5400),
        ("every 30 seconds", 30),
        ("every minute", 60),
        ("every half hour", 1800),
        ("Every 5 Minutes.", 300),
    ],
)
def test_interval_phrases_become_every(text: str, seconds: int) -> None:
    parsed = parse_natural_schedule(text)
    assert (parsed.type, parsed.expression) == ("every", str(seconds))
    assert parsed.confidence == 0.95


def test_every_15_minutes_ticks_on_the_quarter_hours() -> None:
    schedule = parse_natural_schedule("every 15 minutes").to_schedule()
    assert next_fire(schedule, datetime(2026, 3, 1, 10, 7, tzinfo=UTC)) == datetime(
        2026, 3, 1, 10, 15, tzinfo=UTC
    )


def test_human_readable_and_shape() -> None:
    parsed = parse_natural_schedule("every weekday at 9am Pacific")
    assert parsed == ParsedSchedule(
        type="cron",
        expression="0 9 * * 1-5",
        timezone="America/Los_Angeles",
        human_readable="At 09:00, Monday through Friday (America/Los_Angeles)",
        confidence=0.95,
    )


def test_one_shot_times() -> None:
    parsed = parse_natural_schedule("at 2026-05-01 09:00 UTC")
    assert (parsed.type, parsed.expression) == ("at", "2026-05-01T09:00:00+00:00")
    assert parsed.human_readable == "Once at 2026-05-01 09:00 UTC"

    parsed = parse_natural_schedule("2026-05-01T09:00:00Z")
    assert parsed.expression == "2026-05-01T09:00:00+00:00"

    # Read in the named zone: 09:00 in Paris in May is 07:00Z.
    parsed = parse_natural_schedule("on 2026-05-01 at 9am Europe/Paris")
    assert (parsed.expression, parsed.timezone) == ("2026-05-01T07:00:00+00:00", "Europe/Paris")

    parsed = parse_natural_schedule("on May 1st, 2026 at 9am Eastern")
    assert parsed.expression == "2026-05-01T13:00:00+00:00"

    parsed = parse_natural_schedule("2026-05-01T09:00:00+02:00")
    assert parsed.expression == "2026-05-01T07:00:00+00:00"


def test_one_shot_in_a_skipped_hour_is_refused() -> None:
    with pytest.raises(UnrecognizedSchedule, match="does not exist in America/New_York"):
        parse_natural_schedule("at 2025-03-09 02:30 America/New_York")


def test_default_timezone_applies_when_none_is_named() -> None:
    parsed = parse_natural_schedule("every weekday at 9am", default_timezone="Europe/Berlin")
    assert parsed.timezone == "Europe/Berlin"
    with pytest.raises(UnknownTimezone):
        parse_natural_schedule("every weekday at 9am", default_timezone="Nowhere/Special")


def test_cron_text_passes_through() -> None:
    parsed = parse_natural_schedule("0 9 * * 1-5", default_timezone="America/New_York")
    assert (parsed.type, parsed.expression, parsed.confidence) == ("cron", "0 9 * * 1-5", 1.0)
    assert parsed.timezone == "America/New_York"
    assert parse_natural_schedule("@daily").expression == "@daily"


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("daily", "0 0 * * *"),
        ("weekly", "0 0 * * 0"),
        ("monthly", "0 0 1 * *"),
        ("every day", "0 0 * * *"),
    ],
)
def test_assumed_midnight_lowers_confidence(text: str, expression: str) -> None:
    parsed = parse_natural_schedule(text)
    assert parsed.expression == expression
    assert parsed.confidence == 0.8


def test_vaguer_readings_have_lower_confidence() -> None:
    assert parse_natural_schedule("every day at 9").confidence == 0.85
    every_other = parse_natural_schedule("every other day at 7am")
    assert every_other.expression == "0 7 */2 * *"
    assert every_other.confidence == 0.75
    assert parse_natural_schedule("at 9am").confidence == 0.7


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("banana", "did not understand 'banana'"),
        ("", "the text is empty"),
        ("every day at 25:00", "25:00 is not a time of day"),
        ("every second tuesday", "could mean every other week or once a month"),
        ("every 7 minutes on weekdays", "every 7 minutes does not divide the hour"),
        ("every 2 weeks", "cron cannot count weeks"),
        ("every monday at 9:30am and 5pm", "must share their minutes"),
        ("every hour at 9am", "do not go together"),
        ("twice a fortnight", "did not understand"),
        ("Pacific", "only a time zone was given"),
        ("every 15 minutes between 9:30am and 5pm", "must start and end on the hour"),
        ("every 15 minutes between 5pm and 9am", "ends before it starts"),
    ],
)
def test_unparseable_text_lists_examples(text: str, reason: str) -> None:
    with pytest.raises(UnrecognizedSchedule) as caught:
        parse_natural_schedule(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, InvalidSchedule)
    assert caught.value.examples == EXAMPLES
    assert "every weekday at 9am Pacific" in str(caught.value)


def test_every_example_parses() -> None:
    for example in EXAMPLES:
        parsed = parse_natural_schedule(example)
        assert parsed.to_schedule() is not None
