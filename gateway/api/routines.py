"""Routines: create, list, get, patch, pause, resume, archive."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import new_id
from firehook.store import routines as store
from gateway.access import (
    authenticate,
    load_company,
    load_routine,
    require_assignment,
    require_routine_manager,
)
from gateway.api.tasks import routine_task_columns
from gateway.changes import routine_changed
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api, QueryParam
from gateway.selectors import LABEL_SELECTOR_PARAM, read_selector
from gateway.signatures import generate_secret
from gateway.views import routine_extras, routine_view
from scheduler import reschedule_routine_triggers
from schemas.common import RoutineStatus
from schemas.errors import Conflict
from schemas.routines import (
    DispatchType,
    Routine,
    RoutineCreate,
    RoutineList,
    RoutineListQuery,
    RoutinePatch,
    can_transition,
)

api = Api()

_SORT_COLUMNS = {"createdAt": "created_at", "title": "title", "nextRunAt": "next_run_at"}
_LIST_QUERY = (
    QueryParam("status", {"enum": [s.value for s in RoutineStatus]}),
    QueryParam("assigneeAgentId", {"type": "string"}),
    QueryParam("projectId", {"type": "string"}),
    QueryParam("priority", {"enum": ["critical", "high", "medium", "low"]}),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
    QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    QueryParam(
        "sort", {"enum": ["createdAt", "-createdAt", "title", "-title", "nextRunAt", "-nextRunAt"]}
    ),
    LABEL_SELECTOR_PARAM,
)


@api.operation(
    "GET",
    "/api/companies/{companyId}/routines",
    "List routines",
    "routines",
    response=RoutineList,
    query=_LIST_QUERY,
)
async def list_routines(request: Request) -> Response:
    principal = await authenticate(request)
    params = dict(request.query_params)
    selector = read_selector(params.pop("labelSelector", None))
    query = validate(RoutineListQuery, params)
    ctx = context_of(request)
    filters = {
        column: value.value if hasattr(value, "value") else value
        for column, value in (
            ("status", query.status),
            ("assignee_agent_id", query.assignee_agent_id),
            ("project_id", query.project_id),
            ("priority", query.priority),
        )
        if value is not None
    }
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        rows, total = await store.list_routines(
            conn,
            company["id"],
            filters=filters,
            order_by=_SORT_COLUMNS[query.sort.lstrip("-")],
            descending=query.sort.startswith("-"),
            limit=query.limit,
            offset=query.offset,
            label_selector=selector,
        )
        extras = await routine_extras(conn, ctx.secrets, rows)
    page = RoutineList(
        data=[routine_view(row, extras=extras[row["id"]]) for row in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )
    return model_response(page)


@api.operation(
    "POST",
    "/api/companies/{companyId}/routines",
    "Create a routine",
    "routines",
    request=RoutineCreate,
    response=Routine,
    status=201,
    errors=(400, 401, 403, 404),
)
async def create_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
    body = await parse_body(request, RoutineCreate)
    require_assignment(principal, body.assignee_agent_id)
    now = ctx.clock()
    values = _columns(body)
    values |= {
        "id": new_id(),
        "company_id": company["id"],
        "created_at": now,
        "updated_at": now,
        "archived_at": now if body.status is RoutineStatus.ARCHIVED else None,
    }
    async with ctx.db.write() as conn:
        values = await routine_task_columns(
            conn,
            ctx,
            values,
            company_id=company["id"],
            dispatch_given="dispatch" in body.model_fields_set,
        )
        secret = _new_dispatch_secret(ctx, values)
        await store.insert_routine(conn, values)
        row = await store.get_routine(conn, values["id"])
        assert row is not None
        extras = await routine_extras(conn, ctx.secrets, [row])
    view = routine_view(row, [], ctx, dispatch_signing_secret=secret, extras=extras[row["id"]])
    return model_response(view, 201)


def _new_dispatch_secret(ctx: Context, values: dict[str, Any]) -> str | None:
    """A signing secret for http dispatch, the first time a routine dispatches over HTTP."""
    dispatch = values.get("dispatch")
    if (
        not dispatch
        or dispatch.get("type") != DispatchType.HTTP
        or values.get("dispatch_secret_enc")
    ):
        return None
    secret = generate_secret("standard_webhooks")
    values["dispatch_secret_enc"] = ctx.secrets.encrypt(secret, values["id"].encode())
    return secret


@api.operation(
    "GET",
    "/api/routines/{routineId}",
    "Get a routine with its triggers",
    "routines",
    response=Routine,
)
async def get_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        triggers = await store.list_triggers(conn, [routine["id"]])
        extras = await routine_extras(conn, ctx.secrets, [routine])
    view = routine_view(routine, triggers[routine["id"]], ctx, extras=extras[routine["id"]])
    return model_response(view)


@api.operation(
    "PATCH",
    "/api/routines/{routineId}",
    "Update a routine",
    "routines",
    request=RoutinePatch,
    response=Routine,
    errors=(400, 401, 403, 404, 409),
)
async def patch_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_routine(conn, principal, request.path_params["routineId"])
    body = await parse_body(request, RoutinePatch)
    return await _update(request, _columns(body, exclude_unset=True), principal)


@api.operation(
    "POST",
    "/api/routines/{routineId}/pause",
    "Pause a routine",
    "routines",
    response=Routine,
    errors=(401, 403, 404, 409),
)
async def pause_routine(request: Request) -> Response:
    principal = await authenticate(request)
    return await _update(request, {"status": RoutineStatus.PAUSED.value}, principal)


@api.operation(
    "POST",
    "/api/routines/{routineId}/resume",
    "Resume a paused routine",
    "routines",
    response=Routine,
    errors=(401, 403, 404, 409),
)
async def resume_routine(request: Request) -> Response:
    principal = await authenticate(request)
    return await _update(request, {"status": RoutineStatus.ACTIVE.value}, principal)


@api.operation(
    "DELETE",
    "/api/routines/{routineId}",
    "Archive a routine (terminal)",
    "routines",
    response=Routine,
    errors=(401, 403, 404),
)
async def archive_routine(request: Request) -> Response:
    principal = await authenticate(request)
    return await _update(request, {"status": RoutineStatus.ARCHIVED.value}, principal)


def _columns(body: RoutineCreate | RoutinePatch, *, exclude_unset: bool = False) -> dict[str, Any]:
    """Column values of a request: snake_case names; nested policies stored camelCase."""
    values = body.model_dump(mode="json", by_alias=False, exclude_unset=exclude_unset)
    for name in ("retry", "dispatch", "condition", "delivery"):
        nested = getattr(body, name)
        if nested is not None:
            values[name] = nested.model_dump(mode="json")
    return values


async def _update(
    request: Request, principal_changes: dict[str, Any], principal: Principal
) -> Response:
    ctx = context_of(request)
    routine_id = request.path_params["routineId"]
    async with ctx.db.write() as conn:
        routine = await load_routine(conn, principal, routine_id)
        require_routine_manager(principal, routine)
        principal_changes = await routine_task_columns(
            conn, ctx, principal_changes, company_id=routine["company_id"], routine=routine
        )
        changes = {k: v for k, v in principal_changes.items() if routine[k] != v}
        if "assignee_agent_id" in changes:
            require_assignment(principal, changes["assignee_agent_id"])
        current = RoutineStatus(routine["status"])
        if current is RoutineStatus.ARCHIVED and (
            changes or principal_changes.get("status") != RoutineStatus.ARCHIVED
        ):
            raise Conflict(
                "routine is archived; archived routines cannot be changed or reactivated"
            )
        target = RoutineStatus(changes.get("status", current))
        if not can_transition(current, target):
            raise Conflict(f"routine cannot go from {current} to {target}")
        secret = None
        if "dispatch" in changes:
            merged = {"id": routine["id"], "dispatch_secret_enc": routine["dispatch_secret_enc"]}
            merged["dispatch"] = changes["dispatch"]
            secret = _new_dispatch_secret(ctx, merged)
            if secret is not None:
                changes["dispatch_secret_enc"] = merged["dispatch_secret_enc"]
        if changes:
            now = ctx.clock()
            changes["updated_at"] = now
            if target is RoutineStatus.ACTIVE:
                changes["paused_reason"] = None
            if target is RoutineStatus.ARCHIVED:
                changes["archived_at"] = now
            await store.update_routine(conn, routine["id"], changes)
            if current is RoutineStatus.PAUSED and target is RoutineStatus.ACTIVE:
                await reschedule_routine_triggers(conn, dict(routine) | changes, now, resumed=True)
        row = await store.get_routine(conn, routine["id"])
        triggers = await store.list_triggers(conn, [routine["id"]])
        assert row is not None
        extras = await routine_extras(conn, ctx.secrets, [row])
    routine_changed(ctx, routine["id"])
    view = routine_view(
        row,
        triggers[routine["id"]],
        ctx,
        dispatch_signing_secret=secret,
        extras=extras[routine["id"]],
    )
    return model_response(view)
