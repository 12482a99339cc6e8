"""Seed 004's Schedules API at /api/v1/schedules, translated onto tasks, routines and runs.

A workflow is a task; a schedule is a routine of that task whose only schedule trigger
is a cron expression (`firehook.store.task_schedules`); an execution is one of its runs.
Routines, triggers and their rules are the native API's (`change_routine`, `add_trigger`,
...); this module parses the seed's shapes, renders them, and answers the seed's errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid
from firehook.store import routines as routine_store
from firehook.store import runs as run_store
from firehook.store import stats as stats_store
from firehook.store import task_schedules as store
from firehook.store import tasks as task_store
from gateway.access import (
    authenticate,
    load_company,
    require_assignment,
    require_routine_manager,
    routine_visible,
    task_visible,
)
from gateway.api.routines import add_routine, change_routine
from gateway.api.triggers import add_trigger, change_trigger
from gateway.changes import routine_changed
from gateway.http import JSONResponse, model_response, read_json, validate
from gateway.routing import Api, QueryParam
from schemas.common import Role, RoutineStatus, RunStatus
from schemas.cron import validate_timezone
from schemas.errors import Conflict, NotFound, ValidationFailed
from schemas.routines import RoutineCreate
from schemas.stats import NOT_EXECUTED_STATUSES, run_counters
from schemas.triggers import ScheduleTriggerCreate, TriggerPatch
from schemas.workflow_schedules import (
    EXECUTION_STATUS,
    ScheduleExecution,
    ScheduleExecutionList,
    ScheduleHistoryQuery,
    WorkflowSchedule,
    WorkflowScheduleCreate,
    WorkflowScheduleList,
    WorkflowScheduleQuery,
    WorkflowScheduleState,
    WorkflowScheduleUpdate,
)

api = Api()
TAG = "schedules (seed 004)"
BASE = "/api/v1/schedules"
# Routine fields the seed does not carry. An agent key's schedules are assigned to the
# agent (agents manage only their own routines); other keys' to this surface.
SURFACE_ASSIGNEE = "schedules"
SURFACE_PROJECT = "schedules"
_NOT_EXECUTED = [status.value for status in NOT_EXECUTED_STATUSES]
_COMPANY_ID = QueryParam(
    "companyId", {"type": "string"}, "The company, with an admin key (others: their own)"
)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


# -- the seed's errors ------------------------------------------------------------------------


def _schedule_not_found() -> NotFound:
    return NotFound("Schedule not found")


def _invalid_cron() -> ValidationFailed:
    return ValidationFailed("Invalid cron expression", {"cronExpression": "Invalid format"})


def _unknown_workflow() -> ValidationFailed:
    return ValidationFailed("Workflow not found", {"workflowId": "Workflow not found"})


def _parse(model: type[M], data: Any) -> M:
    """Validate against the seed's shape; a 400 naming each field, as the seed shows it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details: dict[str, str] = {}
        for item in exc.errors(include_url=False, include_input=False):
            field = str(item["loc"][0]) if item["loc"] else "body"
            if field not in details:
                details[field] = _problem(field, item["type"], str(item["msg"]))
        field = next(iter(details))
        if field == "cronExpression":
            raise _invalid_cron() from None
        raise ValidationFailed(_summary(field, details[field]), details) from None


def _problem(field: str, kind: str, message: str) -> str:
    message = message.removeprefix("Value error, ")
    if field == "cronExpression":
        return "Invalid format"
    if message == "cannot be null":
        return "Must not be null"
    if field == "timezone" and kind == "value_error":
        return "Unknown IANA timezone"
    if kind == "missing":
        return "Required"
    if kind == "extra_forbidden":
        return "Unknown field"
    return message


def _summary(field: str, problem: str) -> str:
    if problem == "Required":
        return f"{field} is required"
    if problem == "Unknown field":
        return f"Unknown field {field}"
    return f"Invalid {field}"


async def _fires(write: Awaitable[T]) -> T:
    """Run a trigger write; a cron expression that never fires is the seed's invalid cron."""
    try:
        return await write
    except ValidationFailed as exc:
        if "schedule" in exc.details:
            raise _invalid_cron() from None
        raise


async def _json_object(request: Request) -> dict[str, Any]:
    data = await read_json(request)
    if data is None:
        raise ValidationFailed("request body is required")
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    return data


# -- loading, with the access rules of the native API ----------------------------------------


async def _load(conn: AsyncConnection, principal: Principal, schedule_id: str) -> RowMapping:
    """The schedule, or the seed's 404 (also for another company's, or an archived one)."""
    row = await store.get_task_schedule(conn, schedule_id) if is_uuid(schedule_id) else None
    if row is None or not await routine_visible(conn, principal, row):
        raise _schedule_not_found()
    return row


async def _company_of(
    conn: AsyncConnection, principal: Principal, company_id: str | None, *, required: bool
) -> str | None:
    """The company named by `?companyId=` (checked), else the key's own company."""
    if company_id is not None:
        return str((await load_company(conn, principal, company_id, collection_scoped=True))["id"])
    if principal.role is Role.ADMIN:
        if required:
            raise ValidationFailed(
                "companyId is required with an admin key", {"companyId": "Required"}
            )
        return None
    return principal.company_id


async def _workflow(
    conn: AsyncConnection, principal: Principal, workflow_id: str, company_id: str | None
) -> RowMapping:
    """The task, locked until commit (one schedule per workflow), or the seed's 400."""
    task = await store.lock_task(conn, workflow_id) if is_uuid(workflow_id) else None
    if task is None:
        raise _unknown_workflow()
    if company_id is not None and task["company_id"] != company_id:
        raise _unknown_workflow()
    if not task_visible(principal, task):
        raise _unknown_workflow()
    return task


async def _require_no_other_schedule(
    conn: AsyncConnection, task_id: str, routine_id: str | None = None
) -> None:
    if await store.schedule_of_task(conn, task_id, other_than=routine_id) is not None:
        raise Conflict("Schedule already exists for this workflow")


# -- rendering ---------------------------------------------------------------------------------


def _local(value: datetime | None, zone: ZoneInfo, *, millis: bool = False) -> str | None:
    """ISO 8601 in the schedule's timezone, with its offset at that instant; as the seed,
    ticks to the second (unless they have a fraction), execution times to the millisecond."""
    if value is None:
        return None
    local = value.astimezone(zone)
    return local.isoformat(timespec="milliseconds" if millis or local.microsecond else "seconds")


def _utc(value: datetime) -> str:
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec).replace("+00:00", "Z")


def _zone(row: RowMapping) -> ZoneInfo:
    return validate_timezone(row["timezone"] or "UTC")


def _is_enabled(row: RowMapping) -> bool:
    return bool(row["status"] == RoutineStatus.ACTIVE and row["trigger_enabled"])


def _next_run(row: RowMapping) -> str | None:
    return _local(row["trigger_next_run_at"], _zone(row)) if _is_enabled(row) else None


def _input_data(row: RowMapping) -> list[Any]:
    given = (row["default_payload"] or {}).get("inputData")
    return given if isinstance(given, list) else []


async def _views(conn: AsyncConnection, rows: Sequence[RowMapping]) -> list[WorkflowSchedule]:
    ids = [row["id"] for row in rows]
    tasks = await task_store.get_tasks(conn, (row["task_id"] for row in rows))
    counts = await stats_store.routine_run_counts(conn, ids, not_executed=_NOT_EXECUTED)
    latest = await store.latest_executed_runs(conn, ids, not_executed=_NOT_EXECUTED)
    views = []
    for row in rows:
        zone = _zone(row)
        task = tasks.get(row["task_id"])
        ran, succeeded, failed = run_counters(counts[row["id"]].by_status)
        last = latest.get(row["id"])
        views.append(
            WorkflowSchedule(
                id=row["id"],
                workflow_id=row["task_id"],
                workflow_name=task["name"] if task is not None else None,
                cron_expression=row["cron_expression"],
                timezone=row["timezone"] or "UTC",
                enabled=_is_enabled(row),
                input_data=_input_data(row),
                next_run=_next_run(row),
                last_run=_local(last.tick, zone) if last else None,
                last_status=EXECUTION_STATUS[RunStatus(last.status)] if last else None,
                run_count=ran,
                success_count=succeeded,
                failure_count=failed,
                created_at=_utc(row["created_at"]),
                updated_at=_utc(row["updated_at"]),
            )
        )
    return views


async def _view(conn: AsyncConnection, schedule_id: str) -> WorkflowSchedule:
    row = await store.get_task_schedule(conn, schedule_id)
    assert row is not None
    return (await _views(conn, [row]))[0]


def _execution(run: RowMapping, zone: ZoneInfo) -> dict[str, Any]:
    started = run["started_at"] or run["dispatched_at"]
    finished = run["finished_at"]
    ended_after_start = started is not None and finished is not None
    execution = ScheduleExecution(
        execution_id=run["id"],
        scheduled_time=_local(run["scheduled_for"] or run["created_at"], zone) or "",
        started_at=_local(started, zone, millis=True),
        finished_at=_local(finished, zone, millis=True),
        status=EXECUTION_STATUS[RunStatus(run["status"])],
        duration=round((finished - started).total_seconds() * 1000) if ended_after_start else None,
        error=run["error"],
    )
    # The seed shows `error` only on executions that have one.
    return execution.model_dump(mode="json", exclude={"error"} if run["error"] is None else None)


# -- operations --------------------------------------------------------------------------------


@api.operation(
    "GET",
    BASE,
    "List schedules",
    TAG,
    response=WorkflowScheduleList,
    query=(
        QueryParam("workflowId", {"type": "string"}, "Filter by workflow"),
        QueryParam("enabled", {"type": "boolean"}, "Filter by enabled status"),
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
        _COMPANY_ID,
    ),
)
async def list_schedules(request: Request) -> Response:
    principal = await authenticate(request)
    query = _parse(WorkflowScheduleQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company_id = await _company_of(conn, principal, query.company_id, required=True)
        assert company_id is not None
        rows: Sequence[RowMapping] = []
        total = 0
        # Workflow ids are UUIDs: any other text matches none (and never reaches SQL).
        if query.workflow_id is None or is_uuid(query.workflow_id):
            rows, total = await store.list_task_schedules(
                conn,
                company_id,
                task_id=query.workflow_id,
                enabled=query.enabled,
                limit=query.limit,
                offset=query.offset,
                collection=principal.collection,
            )
        views = await _views(conn, rows)
    return model_response(WorkflowScheduleList(data=views, total=total))


@api.operation(
    "GET", BASE + "/{id}", "Get a schedule", TAG, response=WorkflowSchedule, errors=(401, 404)
)
async def get_schedule(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        row = await _load(conn, principal, request.path_params["id"])
        view = (await _views(conn, [row]))[0]
    return model_response(view)


@api.operation(
    "POST",
    BASE,
    "Create a schedule",
    TAG,
    request=WorkflowScheduleCreate,
    response=WorkflowSchedule,
    status=201,
    query=(_COMPANY_ID,),
    errors=(400, 401, 403, 404, 409, 413, 415),
)
async def create_schedule(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    body = _parse(WorkflowScheduleCreate, await _json_object(request))
    async with ctx.db.write() as conn:
        company_id = await _company_of(
            conn, principal, request.query_params.get("companyId"), required=False
        )
        task = await _workflow(conn, principal, body.workflow_id, company_id)
        await _require_no_other_schedule(conn, task["id"])
        assignee = principal.agent_id if principal.role is Role.AGENT else SURFACE_ASSIGNEE
        routine_body = validate(
            RoutineCreate,
            {
                "title": task["name"],
                "assigneeAgentId": assignee,
                "projectId": SURFACE_PROJECT,
                "taskId": task["id"],
                "status": RoutineStatus.ACTIVE if body.enabled else RoutineStatus.PAUSED,
                "defaultPayload": (
                    {"inputData": body.input_data} if body.input_data is not None else None
                ),
            },
        )
        require_assignment(principal, routine_body.assignee_agent_id)
        routine, _ = await add_routine(conn, ctx, task["company_id"], routine_body)
        trigger_body = validate(
            ScheduleTriggerCreate,
            {"kind": "schedule", "cronExpression": body.cron_expression, "timezone": body.timezone},
        )
        await _fires(add_trigger(conn, ctx, routine, trigger_body))
        view = await _view(conn, routine["id"])
    routine_changed(ctx, routine["id"])
    return model_response(view, 201)


@api.operation(
    "PUT",
    BASE + "/{id}",
    "Update a schedule (the fields sent)",
    TAG,
    request=WorkflowScheduleUpdate,
    response=WorkflowSchedule,
    errors=(400, 401, 403, 404, 409, 413, 415),
)
async def update_schedule(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    schedule_id = request.path_params["id"]
    async with ctx.db.read() as conn:
        await _load(conn, principal, schedule_id)
    body = _parse(WorkflowScheduleUpdate, await _json_object(request))
    given = body.model_fields_set
    async with ctx.db.write() as conn:
        row = await _load(conn, principal, schedule_id)
        require_routine_manager(principal, row)
        changes: dict[str, Any] = {}
        if body.workflow_id is not None and body.workflow_id != row["task_id"]:
            task = await _workflow(conn, principal, body.workflow_id, row["company_id"])
            await _require_no_other_schedule(conn, task["id"], row["id"])
            changes |= {"task_id": task["id"], "title": task["name"]}
        if "input_data" in given:
            payload = dict(row["default_payload"] or {})
            payload.pop("inputData", None)
            if body.input_data is not None:
                payload["inputData"] = body.input_data
            changes["default_payload"] = payload or None
        if "enabled" in given:
            changes["status"] = (
                RoutineStatus.ACTIVE if body.enabled else RoutineStatus.PAUSED
            ).value
        if changes:
            await change_routine(conn, ctx, principal, row["id"], changes)
        patch: dict[str, Any] = {}
        if "cron_expression" in given:
            # The native patch resets an unnamed timezone to UTC; the seed keeps it.
            patch["cronExpression"] = body.cron_expression
            patch["timezone"] = body.timezone if "timezone" in given else row["timezone"]
        elif "timezone" in given:
            patch["timezone"] = body.timezone
        if body.enabled and not row["trigger_enabled"]:
            patch["enabled"] = True
        if patch:
            await _change_cron_trigger(conn, ctx, row, patch)
        view = await _view(conn, row["id"])
    routine_changed(ctx, row["id"])
    return model_response(view)


async def _change_cron_trigger(
    conn: AsyncConnection, ctx: Context, row: RowMapping, patch: dict[str, Any]
) -> None:
    trigger = await routine_store.get_trigger(conn, row["trigger_id"])
    routine = await routine_store.get_routine(conn, row["id"])
    assert trigger is not None and routine is not None
    await _fires(change_trigger(conn, ctx, trigger, routine, validate(TriggerPatch, patch)))


@api.operation(
    "DELETE",
    BASE + "/{id}",
    "Delete a schedule (archives its routine)",
    TAG,
    status=204,
    errors=(401, 403, 404),
)
async def delete_schedule(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        row = await _load(conn, principal, request.path_params["id"])
        await change_routine(
            conn, ctx, principal, row["id"], {"status": RoutineStatus.ARCHIVED.value}
        )
    routine_changed(ctx, row["id"])
    return Response(status_code=204)


async def _set_enabled(request: Request, enabled: bool) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        row = await _load(conn, principal, request.path_params["id"])
        status = RoutineStatus.ACTIVE if enabled else RoutineStatus.PAUSED
        await change_routine(conn, ctx, principal, row["id"], {"status": status.value})
        if enabled and not row["trigger_enabled"]:
            await _change_cron_trigger(conn, ctx, row, {"enabled": True})
        fresh = await store.get_task_schedule(conn, row["id"])
        assert fresh is not None
    routine_changed(ctx, row["id"])
    state = WorkflowScheduleState(
        id=fresh["id"], enabled=_is_enabled(fresh), next_run=_next_run(fresh)
    )
    return model_response(state)


@api.operation(
    "POST",
    BASE + "/{id}/enable",
    "Enable a schedule",
    TAG,
    response=WorkflowScheduleState,
    errors=(401, 403, 404),
)
async def enable_schedule(request: Request) -> Response:
    return await _set_enabled(request, True)


@api.operation(
    "POST",
    BASE + "/{id}/disable",
    "Disable a schedule",
    TAG,
    response=WorkflowScheduleState,
    errors=(401, 403, 404),
)
async def disable_schedule(request: Request) -> Response:
    return await _set_enabled(request, False)


@api.operation(
    "GET",
    BASE + "/{id}/history",
    "A schedule's executions, newest first",
    TAG,
    response=ScheduleExecutionList,
    query=(
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ),
)
async def schedule_history(request: Request) -> Response:
    principal = await authenticate(request)
    query = _parse(ScheduleHistoryQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        row = await _load(conn, principal, request.path_params["id"])
        runs, total = await run_store.list_runs(
            conn, row["id"], status=None, source=None, limit=query.limit, offset=query.offset
        )
    zone = _zone(row)
    return JSONResponse({"data": [_execution(run, zone) for run in runs], "total": total})
