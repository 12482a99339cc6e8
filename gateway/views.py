"""Stored rows as API response models."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import RowMapping

from firehook.context import Context
from schemas.common import RoutineStatus, SigningMode, TriggerKind
from schemas.routines import Routine
from schemas.triggers import Trigger

UNSIGNED_WARNING = (
    "signingMode is none: anyone who knows the URL can fire this routine; "
    "use a signing mode unless the URL itself is kept secret"
)


def routine_view(
    row: RowMapping,
    triggers: Sequence[RowMapping] | None = None,
    ctx: Context | None = None,
    *,
    dispatch_signing_secret: str | None = None,
) -> Routine:
    """The routine as clients see it; `nextRunAt` only while it is active."""
    values = dict(row) | {"dispatch_signing_secret": dispatch_signing_secret}
    active = row["status"] == RoutineStatus.ACTIVE
    values["next_run_at"] = row["next_run_at"] if active else None
    if triggers is not None:
        assert ctx is not None
        values["triggers"] = [trigger_view(t, ctx, routine_status=row["status"]) for t in triggers]
    return Routine.model_validate(values)


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
        public_id=row["public_id"],
        public_url=ctx.public_url(row["public_id"]) if is_webhook else None,
        signing_mode=row["signing_mode"],
        replay_window_sec=row["replay_window_sec"],
        max_body_bytes=row["max_body_bytes"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        secret=secret,
        next_run_at=row["next_run_at"] if firing else None,
        last_fired_at=row["last_fired_at"],
        last_rotated_at=row["last_rotated_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        warnings=warnings,
    )
