"""Run events built by hand on the hot path stay true to the RunEvent schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from consumers.records import batch_iso, run_event
from schemas.common import utc_iso
from schemas.events import RunEvent


def test_run_event_matches_the_schema() -> None:
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    row = {
        "id": "7b0b8c8e-3a61-5a55-9a0b-1f0a0f0e0d0c",
        "routine_id": "r",
        "company_id": "c",
        "status": "dispatched",
        "attempt": 1,
        "source": "schedule",
        "trigger_id": "t",
        "idempotency_key": "schedule:t:2026-03-01T09:00:00Z",
        "fire_id": "f",
        "payload": {"a": 1},
        "scheduled_for": now,
        "coalesced_into_run_id": None,
        "triggered_by_routine_id": None,
        "reason": None,
        "output": None,
        "error": None,
        "created_at": now,
        "dispatched_at": now,
        "finished_at": None,
        "deadline_at": now,
        "attempts": [{"attempt": 1, "status": "dispatched", "startedAt": "2026-03-01T09:00:00Z"}],
        "updated_at": now,
        "unrelated_column": "ignored",
    }
    data = run_event(row)
    parsed = RunEvent.model_validate(data)
    assert parsed.run_id == row["id"]
    # Executor fields (routine, task, parameters) are added to dispatched events only.
    dumped = parsed.model_dump(mode="json", exclude_unset=False)
    for name in ("routine", "task", "parameters"):
        assert dumped.pop(name) is None
    assert set(data) == set(dumped)
    assert {k: v for k, v in data.items() if k != "attempts"} == {
        k: v for k, v in dumped.items() if k != "attempts"
    }
    assert dumped["attempts"][0]["startedAt"] == "2026-03-01T09:00:00Z"
    assert data["scheduledFor"] == "2026-03-01T09:00:00Z"


def test_batch_iso_formats_by_instance_not_by_equal_instant() -> None:
    utc = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    paris = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc == paris
    assert batch_iso(utc) == "2026-03-01T12:00:00Z"
    assert batch_iso(utc) == "2026-03-01T12:00:00Z"
    assert batch_iso(paris) == utc_iso(paris) == "2026-03-01T13:00:00+01:00"
    assert batch_iso(utc) == "2026-03-01T12:00:00Z"
