"""Routines: create, list, get, patch, pause, resume, archive (Paperclip's shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import new_id
from firehook.store import routines as store
from firehook.store import runs as run_store
from gateway.access import (
    authenticate,
    load_company,
    load_routine,
    require_assignment,
    require_routine_manager,
    require_task_in_collection,
)
from gateway.api.tasks import require_unique_title_in_task, routine_task_columns
from gateway.api.triggers import require_schedulable
from gateway.changes import routine_changed
from gateway.http import list_response, model_response, parse_body, validate
from gateway.revisions import check_base_revision, record_revision
from gateway.routing import Api, QueryParam, links_to
from gateway.selectors import LABEL_SELECTOR_PARAM, read_selector
from gateway.signatures import generate_secret
from gateway.views import routine_extras, routine_view
from scheduler import reschedule_routine_triggers
from schemas.common import RoutineStatus, TriggerKind, validation_details
from schemas.errors import Conflict, ValidationFailed
from schemas.routines import (
    DispatchType,
    Routine,
    RoutineCreate,
    RoutineListQuery,
    RoutinePatch,
    can_transition,
)
from schemas.variables import RoutineVariable, sync_with_template

api = Api()

RECENT_RUNS = 25

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
    response=list[Routine],
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
        company = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
        rows, total = await store.list_routines(
            conn,
            company["id"],
            filters=filters,
            order_by=_SORT_COLUMNS[query.sort.lstrip("-")],
            descending=query.sort.startswith("-"),
            limit=query.limit,
            offset=query.offset,
            collection=principal.collection,
            label_selector=selector,
        )
        extras = await routine_extras(conn, ctx.secrets, rows)
        triggers = await store.list_triggers(conn, [row["id"] for row in rows])
    return list_response(
        rows,
        lambda row: routine_view(row, triggers[row["id"]], ctx, extras=extras[row["id"]]),
        reader="routine_list",
        total=total,
    )


@api.operation(
    "POST",
    "/api/companies/{companyId}/routines",
    "Create a routine",
    "routines",
    request=RoutineCreate,
    response=Routine,
    status=201,
    errors=(400, 401, 403, 404, 409),
    links=links_to(
        "routineId",
        "/id",
        "get_routine",
        "patch_routine",
        "pause_routine",
        "resume_routine",
        "archive_routine",
        "create_trigger",
        "run_routine",
        "list_runs",
    ),
)
async def create_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
    body = await parse_body(request, RoutineCreate)
    require_assignment(principal, body.assignee_agent_id)
    async with ctx.db.write() as conn:
        await require_task_in_collection(conn, principal, body.task_id)
        row, secret = await add_routine(conn, ctx, company["id"], body, principal=principal)
        extras = await routine_extras(conn, ctx.secrets, [row])
    view = routine_view(row, [], ctx, dispatch_signing_secret=secret, extras=extras[row["id"]])
    return model_response(view, 201)


async def add_routine(
    conn: AsyncConnection,
    ctx: Context,
    company_id: str,
    body: RoutineCreate,
    *,
    one_shot: bool = False,
    principal: Principal | None = None,
) -> tuple[RowMapping, str | None]:
    """Insert a routine of the company made from `body`: its row, and the signing secret of
    its HTTP dispatch when one was made (shown once). `one_shot` makes it the task's
    one-shot routine, which carries the task's direct runs (seed 000). Without an assignee
    or a project it is a draft, created paused; its first revision names `principal`."""
    now = ctx.clock()
    values = _columns(body)
    if body.is_draft and body.status is RoutineStatus.ACTIVE:
        values["status"] = RoutineStatus.PAUSED.value
    values["variables"] = _stored_variables(body.title, body.description, body.variables)
    values |= {
        "id": new_id(),
        "company_id": company_id,
        "created_at": now,
        "updated_at": now,
        "archived_at": now if body.status is RoutineStatus.ARCHIVED else None,
        "one_shot": True if one_shot else None,
    }
    values = await routine_task_columns(
        conn,
        ctx,
        values,
        company_id=company_id,
        dispatch_given="dispatch" in body.model_fields_set,
    )
    if body.status is not RoutineStatus.ARCHIVED and not one_shot:
        await require_unique_title_in_task(conn, values["task_id"], body.title, values["id"])
    secret = _new_dispatch_secret(ctx, values)
    await store.insert_routine(conn, values)
    await record_revision(conn, values["id"], principal, now, "Created routine")
    row = await store.get_routine(conn, values["id"])
    assert row is not None
    return row, secret


def _stored_variables(
    title: str | None, description: str | None, given: list[RoutineVariable]
) -> list[dict[str, Any]]:
    """The variables as stored: one per placeholder of the title and description."""
    return [v.model_dump(mode="json") for v in sync_with_template(title, description, given)]


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
    "Get a routine with its triggers, recent runs and active issue",
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
        recent, _ = await run_store.list_runs(
            conn, routine["id"], status=None, source=None, limit=RECENT_RUNS, offset=0
        )
    view = routine_view(
        routine, triggers[routine["id"]], ctx, extras=extras[routine["id"]], recent_runs=recent
    )
    return model_response(view)


@api.operation(
    "PATCH",
    "/api/routines/{routineId}",
    "Update a routine",
    "routines",
    request=RoutinePatch,
    response=Routine,
    errors=(400, 401, 403, 404, 409, 422),
)
async def patch_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_routine(conn, principal, request.path_params["routineId"])
    body = await parse_body(request, RoutinePatch)
    changes = _columns(body, exclude_unset=True)
    changes.pop("base_revision_id", None)
    return await _update(
        request, changes, principal, "Updated routine", base_revision_id=body.base_revision_id
    )


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
    return await _update(request, {"status": RoutineStatus.PAUSED.value}, principal, "Paused")


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
    return await _update(request, {"status": RoutineStatus.ACTIVE.value}, principal, "Resumed")


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
    return await _update(request, {"status": RoutineStatus.ARCHIVED.value}, principal, "Archived")


def _require_readable(row: dict[str, Any]) -> None:
    """Refuse a change whose resulting routine could not be read back (400 naming the field)."""
    try:
        routine_view(row)
    except ValidationError as exc:
        message, details = validation_details(exc)
        raise ValidationFailed(message, details) from None


def _columns(body: RoutineCreate | RoutinePatch, *, exclude_unset: bool = False) -> dict[str, Any]:
    """Column values of a request: snake_case names; nested policies stored camelCase."""
    values = body.model_dump(mode="json", by_alias=False, exclude_unset=exclude_unset)
    for name in ("retry", "dispatch", "condition", "delivery"):
        nested = getattr(body, name)
        if nested is not None:
            values[name] = nested.model_dump(mode="json")
    if body.variables is not None:
        values["variables"] = [v.model_dump(mode="json") for v in body.variables]
    return values


def _draft_changes(routine: RowMapping, changes: dict[str, Any]) -> None:
    """A routine without an assignee or a project stays paused (409 naming what is
    missing if asked to be active); one made a draft by a PATCH is paused."""
    merged = dict(routine) | changes
    missing = [
        name
        for column, name in (("assignee_agent_id", "assigneeAgentId"), ("project_id", "projectId"))
        if merged.get(column) is None
    ]
    if not missing or merged["status"] != RoutineStatus.ACTIVE:
        return
    if changes.get("status") == RoutineStatus.ACTIVE and routine["status"] != RoutineStatus.ACTIVE:
        raise Conflict(
            f"routine is a draft: set {' and '.join(missing)} before resuming it",
            {name: "required to resume" for name in missing},
        )
    changes["status"] = RoutineStatus.PAUSED.value


def _variable_changes(routine: RowMapping, changes: dict[str, Any]) -> None:
    """Keep the variables in step with the placeholders of the title and description."""
    if not {"title", "description", "variables"} & changes.keys():
        return
    merged = dict(routine) | changes
    given = [RoutineVariable.model_validate(v) for v in merged.get("variables") or []]
    changes["variables"] = _stored_variables(merged["title"], merged["description"], given)


async def _update(
    request: Request,
    principal_changes: dict[str, Any],
    principal: Principal,
    change_summary: str,
    *,
    base_revision_id: str | None = None,
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        row, triggers, secret = await change_routine(
            conn,
            ctx,
            principal,
            request.path_params["routineId"],
            principal_changes,
            change_summary=change_summary,
            base_revision_id=base_revision_id,
        )
        extras = await routine_extras(conn, ctx.secrets, [row])
    routine_changed(ctx, row["id"])
    view = routine_view(
        row, triggers, ctx, dispatch_signing_secret=secret, extras=extras[row["id"]]
    )
    return model_response(view)


async def change_routine(
    conn: AsyncConnection,
    ctx: Context,
    principal: Principal,
    routine_id: str,
    principal_changes: dict[str, Any],
    *,
    change_summary: str = "Updated routine",
    base_revision_id: str | None = None,
) -> tuple[RowMapping, list[RowMapping], str | None]:
    """Apply column changes to a routine under the lifecycle and access rules: its row, its
    triggers, and a new dispatch signing secret when one was made. A change is recorded as
    a revision; `base_revision_id`, when given, must be the latest (409 otherwise). The
    caller announces the change (`routine_changed`) once the transaction commits."""
    routine = await load_routine(conn, principal, routine_id)
    require_routine_manager(principal, routine)
    check_base_revision(routine, base_revision_id)
    principal_changes = await routine_task_columns(
        conn, ctx, principal_changes, company_id=routine["company_id"], routine=routine
    )
    _variable_changes(routine, principal_changes)
    changes = {k: v for k, v in principal_changes.items() if routine[k] != v}
    if "variables" in changes:
        present = (await store.list_triggers(conn, [routine["id"]]))[routine["id"]]
        if any(t["kind"] == TriggerKind.SCHEDULE and t["enabled"] for t in present):
            require_schedulable(changes["variables"])
    if "assignee_agent_id" in changes:
        require_assignment(principal, changes["assignee_agent_id"])
    if "task_id" in changes:
        await require_task_in_collection(conn, principal, changes["task_id"])
    current = RoutineStatus(routine["status"])
    if current is RoutineStatus.ARCHIVED and (
        changes or principal_changes.get("status") != RoutineStatus.ARCHIVED
    ):
        raise Conflict("routine is archived; archived routines cannot be changed or reactivated")
    target = RoutineStatus(changes.get("status", current))
    if not can_transition(current, target):
        raise Conflict(f"routine cannot go from {current} to {target}")
    _draft_changes(routine, changes)
    target = RoutineStatus(changes.get("status", current))
    renamed = "title" in changes or "task_id" in changes
    if renamed and target is not RoutineStatus.ARCHIVED and not routine["one_shot"]:
        merged = dict(routine) | changes
        await require_unique_title_in_task(conn, merged["task_id"], merged["title"], routine["id"])
    secret = None
    if "dispatch" in changes:
        merged = {"id": routine["id"], "dispatch_secret_enc": routine["dispatch_secret_enc"]}
        merged["dispatch"] = changes["dispatch"]
        secret = _new_dispatch_secret(ctx, merged)
        if secret is not None:
            changes["dispatch_secret_enc"] = merged["dispatch_secret_enc"]
    if changes:
        now = ctx.clock()
        _require_readable(dict(routine) | changes)
        changes["updated_at"] = now
        if target is RoutineStatus.ACTIVE:
            changes["paused_reason"] = None
        if target is RoutineStatus.ARCHIVED:
            changes["archived_at"] = now
        await store.update_routine(conn, routine["id"], changes)
        if current is RoutineStatus.PAUSED and target is RoutineStatus.ACTIVE:
            await reschedule_routine_triggers(conn, dict(routine) | changes, now, resumed=True)
        await record_revision(conn, routine["id"], principal, now, change_summary)
    row = await store.get_routine(conn, routine["id"])
    triggers = await store.list_triggers(conn, [routine["id"]])
    assert row is not None
    return row, triggers[routine["id"]], secret
