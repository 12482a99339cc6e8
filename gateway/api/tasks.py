"""Tasks: create, list, get, patch, delete, the init-params schema; and the task-related
fields of a routine (its task, overrides, default dispatch target and secret params)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from consumers.parameters import seal_secret_params
from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid, new_id
from firehook.store import tasks as store
from gateway.access import authenticate, load_company, require_board, task_visible
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api, QueryParam
from schemas.common import RoutineStatus
from schemas.errors import Conflict, NotFound, ValidationFailed
from schemas.tasks import (
    InitParamsSchema,
    InvalidOverrides,
    Task,
    TaskCreate,
    TaskList,
    TaskListQuery,
    TaskPatch,
    check_overrides,
)

api = Api()


def task_view(row: RowMapping) -> Task:
    return Task.model_validate(dict(row))


async def load_task(conn: AsyncConnection, principal: Principal, task_id: str) -> RowMapping:
    """The task, or 404 (also for another company's task, or another collection's for a
    collection-bound key)."""
    task = await store.get_task(conn, task_id) if is_uuid(task_id) else None
    if task is None or not task_visible(principal, task):
        raise NotFound("task not found")
    return task


def require_own_collection(principal: Principal, collection: str | None) -> None:
    """A collection-bound key keeps its tasks in its collection."""
    if principal.collection is not None and collection != principal.collection:
        raise ValidationFailed(
            f"collection: this key is bound to collection {principal.collection!r}",
            {"collection": "must be the key's collection"},
        )


def _columns(body: TaskCreate | TaskPatch, *, exclude_unset: bool = False) -> dict[str, Any]:
    values = body.model_dump(mode="json", by_alias=False, exclude_unset=exclude_unset)
    # Nested models in full, whatever the request left to their defaults.
    if body.dispatch is not None:
        values["dispatch"] = body.dispatch.model_dump(mode="json")  # stored camelCase
    if body.init_params is not None:
        values["init_params"] = [param.model_dump(mode="json") for param in body.init_params]
    return values


async def _require_unique_name(
    conn: AsyncConnection, company_id: str, collection: str | None, name: str, own_id: str
) -> None:
    existing = await store.find_task(conn, company_id, collection, name)
    if existing is not None and existing["id"] != own_id:
        where = f"collection {collection!r}" if collection is not None else "no collection"
        raise Conflict(
            f"a task named {name!r} already exists in {where}", {"taskId": existing["id"]}
        )


@api.operation(
    "POST",
    "/api/companies/{companyId}/tasks",
    "Create a task",
    "tasks",
    request=TaskCreate,
    response=Task,
    status=201,
    errors=(400, 401, 403, 404, 409),
)
async def create_task(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
    require_board(principal)
    body = await parse_body(request, TaskCreate)
    if principal.collection is not None and body.collection is None:
        body = body.model_copy(update={"collection": principal.collection})
    require_own_collection(principal, body.collection)
    now = ctx.clock()
    values = _columns(body) | {
        "id": new_id(),
        "company_id": company["id"],
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.db.write() as conn:
        await _require_unique_name(conn, company["id"], body.collection, body.name, values["id"])
        await store.insert_task(conn, values)
        row = await store.get_task(conn, values["id"])
    assert row is not None
    return model_response(task_view(row), 201)


@api.operation(
    "GET",
    "/api/companies/{companyId}/tasks",
    "List tasks",
    "tasks",
    response=TaskList,
    query=(
        QueryParam("collection", {"type": "string"}),
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ),
)
async def list_tasks(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(TaskListQuery, dict(request.query_params))
    ctx = context_of(request)
    collection = query.collection
    if principal.collection is not None:
        # A bound key lists its own collection; asking for another finds nothing.
        collection = principal.collection if collection in (None, principal.collection) else None
    async with ctx.db.read() as conn:
        company = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
        rows, total = await store.list_tasks(
            conn, company["id"], collection=collection, limit=query.limit, offset=query.offset
        )
        if principal.collection is not None and collection is None:
            rows, total = [], 0
    page = TaskList(
        data=[task_view(row) for row in rows], total=total, limit=query.limit, offset=query.offset
    )
    return model_response(page)


@api.operation("GET", "/api/tasks/{taskId}", "Get a task", "tasks", response=Task)
async def get_task(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await load_task(conn, principal, request.path_params["taskId"])
    return model_response(task_view(task))


@api.operation(
    "GET",
    "/api/tasks/{taskId}/init-params-schema",
    "The init params a routine may override (seed 000)",
    "tasks",
    response=InitParamsSchema,
)
async def init_params_schema(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await load_task(conn, principal, request.path_params["taskId"])
    return model_response(InitParamsSchema.model_validate({"keys": task["init_params"]}))


@api.operation(
    "PATCH",
    "/api/tasks/{taskId}",
    "Update a task",
    "tasks",
    request=TaskPatch,
    response=Task,
    errors=(400, 401, 403, 404, 409),
)
async def patch_task(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_task(conn, principal, request.path_params["taskId"])
    require_board(principal)
    body = await parse_body(request, TaskPatch)
    changes = _columns(body, exclude_unset=True)
    async with ctx.db.write() as conn:
        task = await load_task(conn, principal, request.path_params["taskId"])
        changes = {name: value for name, value in changes.items() if task[name] != value}
        if "collection" in changes:
            require_own_collection(principal, changes["collection"])
        if "name" in changes or "collection" in changes:
            merged = dict(task) | changes
            await _require_unique_name(
                conn, task["company_id"], merged["collection"], merged["name"], task["id"]
            )
        if changes:
            # Routines whose overrides the change leaves behind keep working with the
            # remaining keys; their responses warn about the stale ones.
            await store.update_task(conn, task["id"], changes | {"updated_at": ctx.clock()})
        row = await store.get_task(conn, task["id"])
    assert row is not None
    return model_response(task_view(row))


@api.operation(
    "DELETE",
    "/api/tasks/{taskId}",
    "Delete a task no routine uses",
    "tasks",
    status=204,
    errors=(401, 403, 404, 409),
)
async def delete_task(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    require_board(principal)
    async with ctx.db.write() as conn:
        task = await load_task(conn, principal, request.path_params["taskId"])
        users = await store.routines_of_task(
            conn, task["id"], statuses=[RoutineStatus.ACTIVE.value, RoutineStatus.PAUSED.value]
        )
        if users:
            raise Conflict(
                f"task is used by {len(users)} routine(s); archive them or change their task first",
                {"routineIds": [row["id"] for row in users[:20]]},
            )
        await store.delete_task(conn, task["id"])
    return Response(status_code=204)


async def require_unique_title_in_task(
    conn: AsyncConnection, task_id: str | None, title: str, own_id: str
) -> None:
    """A task's routines have distinct titles: seed 000 addresses them by name within
    (collection, task). Archived routines free their title."""
    if task_id is None or not is_uuid(task_id):
        return
    existing = await store.find_routine_of_task(conn, task_id, title, lock=True)
    if existing is not None and existing["id"] != own_id:
        raise Conflict(
            f"the task already has a routine named {title!r}", {"routineId": existing["id"]}
        )


async def routine_task_columns(
    conn: AsyncConnection,
    ctx: Context,
    values: dict[str, Any],
    *,
    company_id: str,
    routine: RowMapping | None = None,
    dispatch_given: bool = True,
) -> dict[str, Any]:
    """A routine's create values (or patch changes) with the task-related fields checked
    and in stored form: the task exists in the company, the overrides name its init params
    with values of their types, the task's dispatch target is the default, and secret
    params are sealed (replacing any before)."""
    values = dict(values)
    routine_id = routine["id"] if routine is not None else values["id"]
    if "secret_params" in values:
        values["secret_params_enc"] = seal_secret_params(
            ctx.secrets, routine_id, values.pop("secret_params")
        )
    if "init_params_overrides" in values and values["init_params_overrides"] is None:
        values["init_params_overrides"] = {}  # null in a patch clears them
    if "task_id" not in values and "init_params_overrides" not in values:
        # Untouched: stale overrides are reported as warnings, not refused here.
        return values
    merged = (dict(routine) if routine is not None else {}) | values
    task_id, overrides = merged.get("task_id"), merged.get("init_params_overrides") or {}
    if task_id is None:
        if overrides:
            message = "initParamsOverrides requires taskId: overrides apply to a task's init params"
            raise ValidationFailed(message, {"initParamsOverrides": "requires taskId"})
        return values
    task = await store.get_task(conn, task_id) if is_uuid(task_id) else None
    if task is None or task["company_id"] != company_id:
        raise ValidationFailed("taskId: task not found", {"taskId": "task not found"})
    try:
        check_overrides(task["init_params"], overrides)
    except InvalidOverrides as exc:
        raise ValidationFailed(
            str(exc), {"initParamsOverrides": str(exc), "keys": exc.keys}
        ) from None
    if routine is None and not dispatch_given and task["dispatch"]:
        values["dispatch"] = dict(task["dispatch"])
    return values
