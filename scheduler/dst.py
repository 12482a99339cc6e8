"""What a schedule does when daylight saving repeats or skips an hour, in words. Pure."""

from __future__ import annotations

from scheduler.timing import Schedule
from schemas.schedule_rules import DstPolicy, RepeatedHour, SkippedHour

_REPEATED = {
    RepeatedHour.ONCE_FIRST: "fires once, at the first occurrence",
    RepeatedHour.ONCE_SECOND: "fires once, at the second occurrence",
    RepeatedHour.TWICE: "fires at both occurrences",
}
_SKIPPED = {
    SkippedHour.AT_TRANSITION: "fires at the transition instant",
    SkippedHour.SKIP: "does not fire that day",
}


def dst_applies(schedule: Schedule) -> bool:
    """Whether a DST policy changes anything: only cron jobs with a fixed time of day in a
    zone; other jobs follow real time."""
    return schedule.type == "cron" and schedule.spec is not None and schedule.spec.fixed_time


def describe_dst(schedule: Schedule) -> str:
    """One sentence on the schedule's behaviour around daylight-saving changes."""
    if schedule.type != "cron":
        return "Not affected by daylight saving: the schedule is in UTC or an interval."
    if not dst_applies(schedule):
        return (
            "Follows real time across daylight-saving changes: it fires at every instant "
            "whose local time matches, twice in a repeated hour and never in a skipped one."
        )
    policy = schedule.dst or DstPolicy()
    return (
        f"When the clock falls back and its time repeats, it {_REPEATED[policy.repeated_hour]}; "
        f"when the clock springs forward over its time, it {_SKIPPED[policy.skipped_hour]}."
    )
