"""Triggers: add, patch, delete, rotate a webhook secret."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from pydantic.alias_generators import to_camel as _camel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import new_id, new_public_id
from firehook.store import routines as store
from firehook.store import tasks as task_store
from gateway.access import authenticate, load_routine, load_trigger, require_routine_manager
from gateway.changes import trigger_changed
from gateway.http import model_response, parse_body, read_json, validate
from gateway.providers import generate_secret, validate_user_secret
from gateway.revisions import record_revision
from gateway.routing import Api, links_to
from gateway.views import trigger_view
from scheduler import next_run_for_trigger
from schemas.common import RoutineStatus, SigningMode, TriggerKind
from schemas.conditions import Condition
from schemas.cron import InvalidCronExpression, InvalidSchedule, UnknownTimezone
from schemas.errors import Conflict, Unprocessable, ValidationFailed
from schemas.schedule_rules import DstPolicy
from schemas.triggers import (
    ApiTriggerCreate,
    RotateSecret,
    ScheduleTriggerCreate,
    SecretMaterial,
    Trigger,
    TriggerCreate,
    TriggerPatch,
    TriggerWithSecret,
    WebhookTriggerCreate,
)
from schemas.variables import RoutineVariable, without_defaults

api = Api()
_create_adapter: TypeAdapter[Any] = TypeAdapter(TriggerCreate)

_SCHEDULE_FIELDS = {"cron_expression", "timezone", "cadence", "every", "at", "jitter_sec"}
_SCHEDULE_FIELDS |= {"exclude_dates", "dst_policy"}
_WEBHOOK_FIELDS = {
    "signing_mode",
    "replay_window_sec",
    "max_body_bytes",
    "rate_limit_per_minute",
    "hmac",
}
_SCHEDULE_SHAPES = {"cron_expression", "cadence", "every", "at"}
# Well-formed but meaningless: 422, as Paperclip. A cadence's problems stay 400 (seed 000).
_SEMANTIC = (InvalidCronExpression, UnknownTimezone)


def _require_mutable(routine: RowMapping) -> None:
    if routine["status"] == RoutineStatus.ARCHIVED:
        raise Conflict("routine is archived; its triggers cannot be changed")


def _secret_for(mode: SigningMode, given: str | None) -> str:
    try:
        if given is None:
            # A public-key preset has no secret to make: the user must give the key.
            return generate_secret(mode.value)
        validate_user_secret(mode.value, given)
    except ValueError as exc:
        raise ValidationFailed(f"secret: {exc}", {"secret": str(exc)}) from None
    return given


def _schedule_columns(
    body: ScheduleTriggerCreate | TriggerPatch, kept_timezone: str | None = None
) -> dict[str, Any]:
    """The schedule columns of a body; a cron without a timezone keeps `kept_timezone`."""
    timezone = body.timezone if "timezone" in body.model_fields_set else kept_timezone
    return {
        "cron_expression": body.cron_expression,
        "timezone": (timezone or "UTC") if body.cron_expression is not None else None,
        "cadence": body.cadence.model_dump(mode="json") if body.cadence is not None else None,
        "every_sec": body.every,
        "at": body.at,
    }


def schedule_rule_columns(body: ScheduleTriggerCreate) -> dict[str, Any]:
    """The DST policy and exclusion dates of a new schedule trigger, as stored."""
    dst = body.dst_policy.model_dump(mode="json") if body.dst_policy is not None else None
    return {"exclude_dates": body.exclude_dates, "dst_policy": dst}


def next_run_of(values: dict[str, Any], now: datetime) -> datetime | None:
    """The trigger's first fire after now; a schedule that can never fire is a 422."""
    try:
        first = next_run_for_trigger(values, now)
    except InvalidSchedule as exc:
        raise Unprocessable(f"schedule: {exc}", {"schedule": str(exc)}) from None
    if first is None and values.get("at") is not None:
        # A value out of range, as `every: 0` is: 400, which the seed surfaces answer too.
        raise ValidationFailed("at: the time is in the past", {"at": "must be in the future"})
    return first


def require_schedulable(variables: list[dict[str, Any]] | None) -> None:
    """A schedule fires with defaults only: 422 if a required variable has none (Paperclip)."""
    missing = without_defaults([RoutineVariable.model_validate(v) for v in variables or []])
    if missing:
        names = ", ".join(missing)
        message = f"Scheduled routines require defaults for required variables: {names}"
        raise Unprocessable(message, {f"variables.{name}": "needs a default" for name in missing})


def _answer(
    ctx: Context, row: RowMapping, routine_status: str, secret: str | None, status: int = 200
) -> Response:
    trigger = trigger_view(row, ctx, routine_status=routine_status, secret=secret)
    material = None
    if secret is not None and trigger.public_url is not None:
        material = SecretMaterial(webhook_url=trigger.public_url, webhook_secret=secret)
    return model_response(TriggerWithSecret(trigger=trigger, secret_material=material), status)


@api.operation(
    "POST",
    "/api/routines/{routineId}/triggers",
    "Add a trigger",
    "triggers",
    request=TriggerCreate,
    response=TriggerWithSecret,
    status=201,
    errors=(400, 401, 403, 404, 409, 422),
    links=links_to("triggerId", "/trigger/id", "patch_trigger", "delete_trigger", "rotate_secret")
    | links_to("publicId", "/trigger/publicId", "fire_webhook"),
)
async def create_trigger(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
    require_routine_manager(principal, routine)
    _require_mutable(routine)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    body = validate(_create_adapter, data, unprocessable=_SEMANTIC)
    async with ctx.db.write() as conn:
        row, secret = await add_trigger(conn, ctx, routine, body, principal=principal)
    trigger_changed(ctx, row["public_id"])
    return _answer(ctx, row, routine["status"], secret, 201)


async def add_trigger(
    conn: AsyncConnection,
    ctx: Context,
    routine: RowMapping,
    body: ScheduleTriggerCreate | WebhookTriggerCreate | ApiTriggerCreate,
    *,
    principal: Principal | None = None,
) -> tuple[RowMapping, str | None]:
    """Insert a trigger of the routine: its row, and its webhook secret (shown once). The
    change is a revision of the routine by `principal`. The caller announces it
    (`trigger_changed`) once the transaction commits."""
    now, trigger_id = ctx.clock(), new_id()
    values: dict[str, Any] = {
        "id": trigger_id,
        "routine_id": routine["id"],
        "company_id": routine["company_id"],
        "kind": body.kind,
        "label": body.label,
        "enabled": body.enabled,
        "condition": body.condition.model_dump(mode="json") if body.condition else None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    secret: str | None = None
    if isinstance(body, ScheduleTriggerCreate):
        require_schedulable(routine["variables"])
        values |= _schedule_columns(body) | {"jitter_sec": body.jitter_sec}
        values |= schedule_rule_columns(body)
        values["next_run_at"] = next_run_of(values, now) if body.enabled else None
    elif isinstance(body, WebhookTriggerCreate):
        secret = _secret_for(body.signing_mode, body.secret)
        values |= {
            "public_id": new_public_id(),
            "signing_mode": body.signing_mode.value,
            "replay_window_sec": body.replay_window_sec,
            "max_body_bytes": body.max_body_bytes,
            "rate_limit_per_minute": body.rate_limit_per_minute,
            "signing_config": body.hmac.model_dump(mode="json") if body.hmac else None,
            "secret_enc": ctx.secrets.encrypt(secret, trigger_id.encode()),
            "last_rotated_at": now,
        }
    await store.insert_trigger(conn, values)
    await store.refresh_routine_next_run(conn, routine["id"], now)
    if values["condition"] is not None:
        await task_store.refresh_trigger_conditions(conn, routine["id"])
    await record_revision(conn, routine["id"], principal, now, f"Created {body.kind} trigger")
    row = await store.get_trigger(conn, trigger_id)
    assert row is not None
    return row, secret


@api.operation(
    "PATCH",
    "/api/routine-triggers/{triggerId}",
    "Update a trigger",
    "triggers",
    request=TriggerPatch,
    response=Trigger,
    errors=(400, 401, 403, 404, 409, 422),
)
async def patch_trigger(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_trigger(conn, principal, request.path_params["triggerId"])
    body = await parse_body(request, TriggerPatch, unprocessable=_SEMANTIC)
    async with ctx.db.write() as conn:
        trigger, routine = await load_trigger(
            conn, principal, request.path_params["triggerId"], lock_routine=True
        )
        require_routine_manager(principal, routine)
        row = await change_trigger(conn, ctx, trigger, routine, body, principal=principal)
    trigger_changed(ctx, trigger["public_id"])
    return model_response(trigger_view(row, ctx, routine_status=routine["status"]))


async def change_trigger(
    conn: AsyncConnection,
    ctx: Context,
    trigger: RowMapping,
    routine: RowMapping,
    body: TriggerPatch,
    *,
    principal: Principal | None = None,
) -> RowMapping:
    """Apply a patch to a trigger of a routine that is not archived, only to the fields it
    sends; its row after. The change is a revision of the routine by `principal`. The
    caller announces it (`trigger_changed`) once the transaction commits."""
    _require_mutable(routine)
    changes = _trigger_changes(trigger, body)
    if changes:
        now = ctx.clock()
        changes["updated_at"] = now
        if trigger["kind"] == TriggerKind.SCHEDULE:
            merged = dict(trigger) | changes
            enabled = merged["enabled"]
            changes["next_run_at"] = next_run_of(merged, now) if enabled else None
        await store.update_trigger(conn, trigger["id"], changes)
        await store.refresh_routine_next_run(conn, routine["id"], now)
        if "condition" in changes:
            await task_store.refresh_trigger_conditions(conn, routine["id"])
        summary = f"Updated {trigger['kind']} trigger"
        await record_revision(conn, routine["id"], principal, now, summary)
    row = await store.get_trigger(conn, trigger["id"])
    assert row is not None
    return row


def _trigger_changes(trigger: RowMapping, body: TriggerPatch) -> dict[str, Any]:
    given = body.model_fields_set
    kind = TriggerKind(trigger["kind"])
    allowed = {"label", "enabled", "condition"}
    allowed |= _SCHEDULE_FIELDS if kind is TriggerKind.SCHEDULE else set()
    allowed |= _WEBHOOK_FIELDS if kind is TriggerKind.WEBHOOK else set()
    foreign = [_camel(name) for name in sorted(given - allowed)]
    if foreign:
        raise ValidationFailed(
            f"{kind} triggers have no field {foreign[0]}", {name: "not allowed" for name in foreign}
        )
    changes: dict[str, Any] = {}
    for name in given & (allowed - _SCHEDULE_SHAPES - {"timezone"}):
        value = getattr(body, name)
        if isinstance(value, Condition | DstPolicy):
            value = value.model_dump(mode="json")
        changes[name] = value.value if isinstance(value, SigningMode) else value
    if kind is TriggerKind.WEBHOOK:
        _signing_config_change(trigger, changes)
    if kind is TriggerKind.SCHEDULE and given & (_SCHEDULE_SHAPES | {"timezone"}):
        if given & _SCHEDULE_SHAPES:
            # A PATCH changes only what it sends: a new cron keeps the trigger's timezone.
            changes |= _schedule_columns(body, kept_timezone=trigger["timezone"])
        elif trigger["cron_expression"] is None:
            raise ValidationFailed("timezone applies only to cronExpression")
        else:
            changes["timezone"] = body.timezone or "UTC"
    return {name: value for name, value in changes.items() if trigger[name] != value}


def _signing_config_change(trigger: RowMapping, changes: dict[str, Any]) -> None:
    """Turn a patch's `hmac` into its column; custom_hmac needs one, other modes none."""
    mode = changes.get("signing_mode", trigger["signing_mode"])
    if "hmac" in changes:
        config = changes.pop("hmac")
        changes["signing_config"] = config.model_dump(mode="json") if config else None
    config_after = changes.get("signing_config", trigger["signing_config"])
    if mode == SigningMode.CUSTOM_HMAC and config_after is None:
        raise ValidationFailed("hmac: required for signingMode custom_hmac", {"hmac": "required"})
    if mode != SigningMode.CUSTOM_HMAC and config_after is not None:
        if changes.get("signing_config") is not None:
            raise ValidationFailed(
                "hmac: only for signingMode custom_hmac", {"hmac": "not allowed"}
            )
        changes["signing_config"] = None


@api.operation(
    "DELETE",
    "/api/routine-triggers/{triggerId}",
    "Delete a trigger",
    "triggers",
    status=204,
    errors=(401, 403, 404, 409),
)
async def delete_trigger(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        trigger, routine = await load_trigger(
            conn, principal, request.path_params["triggerId"], lock_routine=True
        )
        require_routine_manager(principal, routine)
        _require_mutable(routine)
        await remove_trigger(conn, ctx.clock(), trigger, principal=principal)
    trigger_changed(ctx, trigger["public_id"])
    return Response(status_code=204)


async def remove_trigger(
    conn: AsyncConnection,
    now: datetime,
    trigger: RowMapping,
    *,
    principal: Principal | None = None,
) -> None:
    """Delete a trigger and update its routine's copies (next run, conditions); the change
    is a revision of the routine by `principal`. The caller announces it
    (`trigger_changed`) once the transaction commits."""
    await store.delete_trigger(conn, trigger["id"])
    await store.refresh_routine_next_run(conn, trigger["routine_id"], now)
    if trigger["condition"] is not None:
        await task_store.refresh_trigger_conditions(conn, trigger["routine_id"])
    summary = f"Deleted {trigger['kind']} trigger"
    await record_revision(conn, trigger["routine_id"], principal, now, summary)


@api.operation(
    "POST",
    "/api/routine-triggers/{triggerId}/rotate-secret",
    "Rotate a webhook trigger's secret (new secret shown once)",
    "triggers",
    request=RotateSecret,
    request_optional=True,
    response=TriggerWithSecret,
    errors=(400, 401, 403, 404, 409, 422),
)
async def rotate_secret(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_trigger(conn, principal, request.path_params["triggerId"])
    body = await parse_body(request, RotateSecret, optional=True)
    async with ctx.db.write() as conn:
        trigger, routine = await load_trigger(conn, principal, request.path_params["triggerId"])
        require_routine_manager(principal, routine)
        _require_mutable(routine)
        if trigger["kind"] != TriggerKind.WEBHOOK:
            raise Unprocessable("Only webhook triggers can rotate secrets")
        secret = _secret_for(SigningMode(trigger["signing_mode"]), body.secret)
        now = ctx.clock()
        grace = body.grace_period_sec
        await store.update_trigger(
            conn,
            trigger["id"],
            {
                "secret_enc": ctx.secrets.encrypt(secret, trigger["id"].encode()),
                "previous_secret_enc": trigger["secret_enc"] if grace else None,
                "previous_secret_expires_at": now + timedelta(seconds=grace) if grace else None,
                "last_rotated_at": now,
                "updated_at": now,
            },
        )
        row = await store.get_trigger(conn, trigger["id"])
    assert row is not None
    trigger_changed(ctx, trigger["public_id"])
    return _answer(ctx, row, routine["status"], secret)
