"""DST policies of schedule triggers, from hand-worked instants.

New York 2026: clocks go 02:00 EST -> 03:00 EDT on 8 March (07:00Z) and
02:00 EDT -> 01:00 EST on 1 November (06:00Z). London 2026: 01:00 GMT -> 02:00 BST
on 29 March (01:00Z) and 02:00 BST -> 01:00 GMT on 25 October (01:00Z). Lord Howe
shifts by thirty minutes: 02:00 LHDT (+11) -> 01:30 LHST (+10:30) on 5 April 2026
(15:00Z), and 02:00 LHST -> 02:30 LHDT on 4 October 2026 (15:30Z on the 3rd).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from scheduler.timing import Schedule, fires_between
from schemas.schedule_rules import DstPolicy
from tests.conftest import Tenant, routine_body


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, zone: str, start: str, end: str, **policy: str) -> list[str]:
    dst = DstPolicy.model_validate(policy) if policy else None
    schedule = Schedule.from_cron(expression, zone, dst)
    return [f"{f:%Y-%m-%dT%H:%M}" for f in fires_between(schedule, utc(start), utc(end))]


NY, LONDON, LORD_HOWE = "America/New_York", "Europe/London", "Australia/Lord_Howe"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["2026-11-01T05:30"]),
        ({"repeatedHour": "once_first"}, ["2026-11-01T05:30"]),
        ({"repeatedHour": "once_second"}, ["2026-11-01T06:30"]),
        ({"repeatedHour": "twice"}, ["2026-11-01T05:30", "2026-11-01T06:30"]),
    ],
)
def test_new_york_repeated_hour(policy: dict[str, str], expected: list[str]) -> None:
    got = fires("30 1 * * *", NY, "2026-10-31T12:00", "2026-11-02T00:00", **policy)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["2026-03-08T07:00", "2026-03-09T06:30"]),
        ({"skippedHour": "at_transition"}, ["2026-03-08T07:00", "2026-03-09T06:30"]),
        ({"skippedHour": "skip"}, ["2026-03-09T06:30"]),
    ],
)
def test_new_york_skipped_hour(policy: dict[str, str], expected: list[str]) -> None:
    got = fires("30 2 * * *", NY, "2026-03-07T12:00", "2026-03-09T12:00", **policy)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["2026-10-25T00:30"]),
        ({"repeatedHour": "once_second"}, ["2026-10-25T01:30"]),
        ({"repeatedHour": "twice"}, ["2026-10-25T00:30", "2026-10-25T01:30"]),
    ],
)
def test_london_repeated_hour(policy: dict[str, str], expected: list[str]) -> None:
    got = fires("30 1 * * *", LONDON, "2026-10-24T12:00", "2026-10-25T23:00", **policy)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [({}, ["2026-03-29T01:00"]), ({"skippedHour": "skip"}, [])],
)
def test_london_skipped_hour(policy: dict[str, str], expected: list[str]) -> None:
    got = fires("30 1 * * *", LONDON, "2026-03-28T12:00", "2026-03-29T23:00", **policy)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["2026-04-04T14:45"]),
        ({"repeatedHour": "once_second"}, ["2026-04-04T15:15"]),
        ({"repeatedHour": "twice"}, ["2026-04-04T14:45", "2026-04-04T15:15"]),
    ],
)
def test_lord_howe_half_hour_repeat(policy: dict[str, str], expected: list[str]) -> None:
    # 01:45 comes at +11 (14:45Z) and again at +10:30 (15:15Z).
    got = fires("45 1 * * *", LORD_HOWE, "2026-04-04T12:00", "2026-04-05T12:00", **policy)
    assert got == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, ["2026-10-03T15:30", "2026-10-04T15:15"]),
        ({"skippedHour": "skip"}, ["2026-10-04T15:15"]),
    ],
)
def test_lord_howe_half_hour_gap(policy: dict[str, str], expected: list[str]) -> None:
    # 02:15 does not exist on 4 October; at the transition means 02:00 LHST = 15:30Z.
    got = fires("15 2 * * *", LORD_HOWE, "2026-10-03T12:00", "2026-10-04T23:00", **policy)
    assert got == expected


def test_jobs_that_follow_real_time_are_not_affected() -> None:
    for policy in ({}, {"repeatedHour": "once_second"}, {"skippedHour": "skip"}):
        hourly = fires("0 * * * *", NY, "2026-11-01T04:30", "2026-11-01T07:30", **policy)
        assert hourly == ["2026-11-01T05:00", "2026-11-01T06:00", "2026-11-01T07:00"]


def test_ordinary_days_are_not_affected() -> None:
    for policy in ({}, {"repeatedHour": "twice"}, {"skippedHour": "skip"}):
        got = fires("30 1 * * *", NY, "2026-06-01T00:00", "2026-06-03T00:00", **policy)
        assert got == ["2026-06-01T05:30", "2026-06-02T05:30"]


async def test_triggers_store_validate_and_follow_the_policy(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    routine = await client.post(
        f"/api/companies/{tenant.company_id}/routines", json=routine_body(), headers=board
    )
    path = f"/api/routines/{routine.json()['id']}/triggers"
    body: dict[str, Any] = {
        "kind": "schedule",
        "cronExpression": "30 1 * * *",
        "timezone": NY,
        "dstPolicy": {"repeatedHour": "twice", "skippedHour": "skip"},
    }
    created = await client.post(path, json=body, headers=board)
    assert created.status_code == 201, created.text
    trigger = created.json()["trigger"]
    assert trigger["dstPolicy"] == {"repeatedHour": "twice", "skippedHour": "skip"}
    for bad in (
        {"repeatedHour": "thrice"},
        {"skippedHour": "later"},
        {"other": "x"},
    ):
        response = await client.post(path, json=body | {"dstPolicy": bad}, headers=board)
        assert response.status_code == 400, bad
        assert any(key.startswith("dstPolicy") for key in response.json()["details"])
    interval = await client.post(
        path, json={"kind": "schedule", "every": 60, "dstPolicy": {}}, headers=board
    )
    assert interval.status_code == 400
    patched = await client.patch(
        f"/api/routine-triggers/{trigger['id']}",
        json={"dstPolicy": {"repeatedHour": "once_second"}},
        headers=board,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["dstPolicy"] == {
        "repeatedHour": "once_second",
        "skippedHour": "at_transition",
    }


async def test_validate_describes_the_policy(client: httpx.AsyncClient, tenant: Tenant) -> None:
    params = {
        "type": "cron",
        "value": "30 1 * * *",
        "timezone": NY,
        "from": "2026-10-31T12:00:00Z",
        "count": "3",
        "repeatedHour": "twice",
    }
    response = await client.get(
        "/api/scheduler/validate", params=params, headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["next_runs"] == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-02T01:30:00-05:00",
    ]
    assert result["dst"]["applies"] is True
    assert "both occurrences" in result["dst"]["description"]
    hourly = await client.get(
        "/api/scheduler/validate",
        params={"type": "cron", "value": "0 * * * *", "timezone": NY},
        headers=Tenant.auth(tenant.board),
    )
    assert hourly.json()["dst"]["applies"] is False
    bad = await client.get(
        "/api/scheduler/validate",
        params={"type": "cron", "value": "0 1 * * *", "skippedHour": "never"},
        headers=Tenant.auth(tenant.board),
    )
    assert bad.status_code == 400
