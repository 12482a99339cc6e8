"""Stored rows as API response models."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.parameters import open_secret_params
from firehook.context import Context
from firehook.crypto import SecretBox, SecretDecryptionError
from firehook.store import runs as run_store
from firehook.store import stats as stats_store
from firehook.store import tasks as task_store
from firehook.store.stats import RunCounts
from schemas.common import ACTIVE_RUN_STATUSES, RoutineStatus, RunStatus, SigningMode, TriggerKind
from schemas.events import FireRequested
from schemas.routines import Routine
from schemas.runs import FireAccepted, Run, RunAttemptView, TriggerRef
from schemas.stats import NOT_EXECUTED_STATUSES, run_counters
from schemas.tasks import stale_overrides
from schemas.triggers import Trigger

UNSIGNED_WARNING = (
    "signingMode is none: anyone who knows the URL can fire this routine; "
    "use a signing mode unless the URL itself is kept secret"
)


@dataclass(frozen=True, slots=True)
class RoutineExtras:
    """What a routine's response shows beyond its row: its task, secret keys and counters."""

    task: RowMapping | None = None
    secret_param_keys: list[str] = field(default_factory=list)
    secrets_unreadable: bool = False
    counts: RunCounts | None = None
    active_issue_id: str | None = None


async def routine_extras(
    conn: AsyncConnection, secrets: SecretBox, rows: Sequence[RowMapping]
) -> dict[str, RoutineExtras]:
    """The extras of each routine, in four queries whatever the number of routines."""
    ids = [row["id"] for row in rows]
    tasks = await task_store.get_tasks(conn, (r["task_id"] for r in rows if r["task_id"]))
    counts = await stats_store.routine_run_counts(
        conn, ids, not_executed=[s.value for s in NOT_EXECUTED_STATUSES]
    )
    issues = await run_store.active_linked_issues(conn, ids, [s.value for s in ACTIVE_RUN_STATUSES])
    extras: dict[str, RoutineExtras] = {}
    for row in rows:
        keys: list[str] = []
        unreadable = False
        try:
            keys = sorted(open_secret_params(secrets, row))
        except SecretDecryptionError:
            unreadable = True
        extras[row["id"]] = RoutineExtras(
            task=tasks.get(row["task_id"]) if row["task_id"] else None,
            secret_param_keys=keys,
            secrets_unreadable=unreadable,
            counts=counts.get(row["id"]),
            active_issue_id=issues.get(row["id"]),
        )
    return extras


def routine_view(
    row: Mapping[Any, Any],
    triggers: Sequence[RowMapping] | None = None,
    ctx: Context | None = None,
    *,
    dispatch_signing_secret: str | None = None,
    extras: RoutineExtras | None = None,
    recent_runs: Sequence[RowMapping] | None = None,
) -> Routine:
    """The routine as clients see it; `nextRunAt` only while it is active."""
    values = dict(row) | {"dispatch_signing_secret": dispatch_signing_secret}
    active = row["status"] == RoutineStatus.ACTIVE
    values["next_run_at"] = row["next_run_at"] if active else None
    values["init_params_overrides"] = row.get("init_params_overrides") or {}
    values["variables"] = row.get("variables") or []
    values["draft"] = row["assignee_agent_id"] is None or row["project_id"] is None
    if recent_runs is not None:
        kinds = {t["id"]: t for t in triggers or ()}
        values["recent_runs"] = [run_view(run, kinds.get(run["trigger_id"])) for run in recent_runs]
    values["default_payload"] = row.get("default_payload") or {}
    values["labels"] = row.get("labels") or {}
    if triggers is not None:
        assert ctx is not None
        values["triggers"] = [trigger_view(t, ctx, routine_status=row["status"]) for t in triggers]
    if extras is not None:
        values |= _extra_values(row, extras)
    return Routine.model_validate(values)


def _extra_values(row: Mapping[Any, Any], extras: RoutineExtras) -> dict[str, object]:
    warnings: list[str] = []
    if row.get("task_id") and extras.task is None:
        warnings.append(f"task {row['task_id']} no longer exists; runs get no init params")
    elif extras.task is not None:
        stale = stale_overrides(extras.task["init_params"], row.get("init_params_overrides") or {})
        warnings.extend(
            f"initParamsOverrides key {key!r} {why}; it is ignored until the routine is "
            "edited to remove it"
            for key, why in sorted(stale.items())
        )
    if extras.secrets_unreadable:
        warnings.append("secretParams cannot be decrypted with the configured keys")
    values: dict[str, object] = {
        "secret_param_keys": extras.secret_param_keys,
        "warnings": warnings,
        "active_issue": {"id": extras.active_issue_id} if extras.active_issue_id else None,
    }
    counts = extras.counts
    if counts is not None:
        ran, succeeded, failed = run_counters(counts.by_status)
        values |= {
            "run_count": ran,
            "success_count": succeeded,
            "failure_count": failed,
            "last_run": {
                "id": counts.last_run_id,
                "status": counts.last_status,
                "triggered_at": counts.last_run,
            }
            if counts.last_run_id
            else None,
            "last_status": counts.last_status,
        }
    return values


def run_view(row: Mapping[Any, Any], trigger: Mapping[Any, Any] | None = None) -> Run:
    """A run with Paperclip's names beside Firehook's; `trigger` is its trigger's row."""
    values = dict(row)
    started, finished = row["created_at"], row["finished_at"]
    values["duration_ms"] = int((finished - started).total_seconds() * 1000) if finished else None
    values |= _paperclip_fields(row, trigger)
    values["completed_at"] = finished
    return Run.model_validate(values)


def _paperclip_fields(row: Mapping[str, Any], trigger: Mapping[str, Any] | None) -> dict[str, Any]:
    """Paperclip's names for a run's fields, as plain values (the model path and the
    answers built without it share them)."""
    status = row["status"]
    failed = status in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.SKIPPED)
    issue = row.get("linked_issue_id")
    return {
        "run_id": row["id"],
        "triggered_at": row.get("scheduled_for") or row["created_at"],
        "trigger_payload": row["payload"],
        "failure_reason": (row.get("error") or row.get("reason")) if failed else None,
        "trigger": {"id": trigger["id"], "kind": trigger["kind"], "label": trigger["label"]}
        if trigger is not None
        else None,
        "linked_issue_id": issue,
        "linked_issue": {"id": issue} if issue else None,
    }


# --- answers to a fire, built without the models ---------------------------------------
#
# A webhook's answer is the run its fire just made (or, through Kafka, the fire itself).
# Validating that into `Run` and dumping it back costs more than the rest of the answer;
# these build the same document straight from values the process made itself, in the
# models' field order, for `gateway.http.document_response` to encode.


def _answer_fields(model: type[BaseModel]) -> tuple[tuple[str, str, bool, Any], ...]:
    return tuple(
        (name, info.alias or name, info.is_required(), info.default)
        for name, info in model.model_fields.items()
    )


_RUN_FIELDS: Final = _answer_fields(Run)
_FIRE_ACCEPTED_FIELDS: Final = _answer_fields(FireAccepted)
_ATTEMPT_KEYS: Final = tuple(
    info.alias or name for name, info in RunAttemptView.model_fields.items()
)
_ATTEMPTS: Final = TypeAdapter(list[RunAttemptView])
# A timestamp as `utc_iso` writes it: the model would parse it and print it unchanged.
_CANONICAL_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z")


def _document(
    fields: tuple[tuple[str, str, bool, Any], ...], values: dict[str, Any]
) -> dict[str, Any]:
    # A missing required value fails as the model's validation would (a 500).
    return {
        alias: values[name] if required else values.get(name, default)
        for name, alias, required, default in fields
    }


def _attempts_document(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attempts as `Run` prints them; anything unusual goes through the model."""
    document: list[dict[str, Any]] = []
    for attempt in attempts:
        if not (attempt.keys() <= set(_ATTEMPT_KEYS) and _plain_attempt(attempt)):
            return list(_ATTEMPTS.dump_python(_ATTEMPTS.validate_python(attempts), mode="json"))
        document.append({key: attempt.get(key) for key in _ATTEMPT_KEYS})
    return document


def _plain_attempt(attempt: Mapping[str, Any]) -> bool:
    if type(attempt.get("attempt")) is not int or type(attempt.get("status")) is not str:
        return False
    for key in ("startedAt", "finishedAt"):
        value = attempt.get(key)
        if value is not None and not (type(value) is str and _CANONICAL_TIME.fullmatch(value)):
            return False
    error, http_status = attempt.get("error"), attempt.get("httpStatus")
    return (error is None or type(error) is str) and (
        http_status is None or type(http_status) is int
    )


def created_run_document(row: Mapping[str, Any], trigger: Mapping[str, Any]) -> dict[str, Any]:
    """`run_view(row, trigger)` as JSON, for a run the consumer of this process just made."""
    values = dict(row)
    started, finished = row["created_at"], row["finished_at"]
    values["duration_ms"] = int((finished - started).total_seconds() * 1000) if finished else None
    values |= _paperclip_fields(row, trigger)
    values["completed_at"] = finished
    values["attempts"] = _attempts_document(row["attempts"])
    return _document(_RUN_FIELDS, values)


def received_document(fire: FireRequested, trigger: Mapping[str, Any]) -> dict[str, Any]:
    """`received_view(fire, TriggerRef(**trigger))` as JSON."""
    return _document(
        _FIRE_ACCEPTED_FIELDS,
        {
            "id": fire.run_id,
            "run_id": fire.run_id,
            "fire_id": fire.fire_id,
            "company_id": fire.company_id,
            "routine_id": fire.routine_id,
            "trigger_id": fire.trigger_id,
            "source": fire.source,
            "status": RunStatus.RECEIVED,
            "idempotency_key": fire.idempotency_key,
            "triggered_at": fire.scheduled_for or fire.requested_at,
            "trigger_payload": fire.payload,
            "trigger": {"id": trigger["id"], "kind": trigger["kind"], "label": trigger["label"]},
        },
    )


def received_view(fire: FireRequested, trigger: TriggerRef | None = None) -> FireAccepted:
    """The answer to a durable fire whose run no consumer has made yet: its derived id."""
    return FireAccepted(
        id=fire.run_id,
        run_id=fire.run_id,
        fire_id=fire.fire_id,
        company_id=fire.company_id,
        routine_id=fire.routine_id,
        trigger_id=fire.trigger_id,
        source=fire.source,
        status=RunStatus.RECEIVED,
        idempotency_key=fire.idempotency_key,
        triggered_at=fire.scheduled_for or fire.requested_at,
        trigger_payload=fire.payload,
        trigger=trigger,
    )


def trigger_view(
    row: RowMapping, ctx: Context, *, routine_status: str, secret: str | None = None
) -> Trigger:
    """The trigger as clients see it; its secret only when just created or rotated."""
    firing = row["enabled"] and routine_status == RoutineStatus.ACTIVE
    warnings: list[str] = []
    is_webhook = row["kind"] == TriggerKind.WEBHOOK
    if is_webhook and row["signing_mode"] == SigningMode.NONE:
        warnings.append(UNSIGNED_WARNING)
    return Trigger(
        id=row["id"],
        routine_id=row["routine_id"],
        kind=row["kind"],
        label=row["label"],
        enabled=row["enabled"],
        cron_expression=row["cron_expression"],
        timezone=row["timezone"],
        cadence=row["cadence"],
        every=row["every_sec"],
        at=row["at"],
        jitter_sec=row["jitter_sec"],
        exclude_dates=row.get("exclude_dates"),
        dst_policy=row.get("dst_policy"),
        public_id=row["public_id"],
        public_url=ctx.public_url(row["public_id"]) if is_webhook else None,
        signing_mode=row["signing_mode"],
        replay_window_sec=row["replay_window_sec"],
        max_body_bytes=row["max_body_bytes"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        hmac=row.get("signing_config"),
        secret=secret,
        next_run_at=row["next_run_at"] if firing else None,
        last_fired_at=row["last_fired_at"],
        last_rotated_at=row["last_rotated_at"],
        condition=row.get("condition") or None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        warnings=warnings,
    )
