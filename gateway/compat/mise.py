"""Seed 000, the Jetty/Mise routines API at `/api/v1`: tasks by (collection, name), their
routines by name, cadences, run-now, trajectories, and the one-shot run of a task.

Only translation lives here: a routine is a native routine of the task (its title is the
name) with at most one cadence schedule trigger; a trajectory is a run. Access,
validation, scheduling and policies are the core's, reached through the same functions
the native API calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from consumers.parameters import PAYLOAD_PARAMS_KEY, resolve_parameters
from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid, new_id, run_id_for
from firehook.metrics import FIRES_ACCEPTED, FIRES_RECEIVED
from firehook.store import routines as routine_store
from firehook.store import runs as run_store
from firehook.store import tasks as task_store
from gateway.access import (
    authenticate,
    require_assignment,
    require_routine_manager,
    task_visible,
)
from gateway.api.routines import add_routine, change_routine
from gateway.api.runs import accept_fire
from gateway.api.triggers import add_trigger, change_trigger, remove_trigger
from gateway.changes import routine_changed, trigger_changed
from gateway.http import (
    JSONResponse,
    error_response,
    model_response,
    on_unexpected_error,
    read_json,
    validate,
)
from gateway.routing import Api, Handler, QueryParam
from gateway.views import RoutineExtras, routine_extras
from schemas.common import RoutineStatus, RunSource, RunStatus, TriggerKind
from schemas.errors import FirehookError, NotFound, ValidationFailed
from schemas.events import FireRequested
from schemas.mise import (
    CONCURRENCY_OF,
    OVERLAP_OF,
    MiseOneShotRun,
    MiseRoutineCreate,
    MiseRoutineList,
    MiseRoutinePatch,
    MiseRoutineRead,
    MiseRunsQuery,
    MiseTrajectory,
    MiseTrajectoryList,
    MiseWorkflowResponse,
)
from schemas.routines import RoutineCreate
from schemas.tasks import InitParamsSchema, InvalidOverrides, check_overrides, stale_overrides
from schemas.triggers import Cadence, CadenceType, ScheduleTriggerCreate, TriggerPatch

api = Api()

TAG = "mise (seed 000)"
# Routines made here are complete native routines; these fill the fields seed 000 lacks.
DEFAULT_ASSIGNEE = "mise"
ONE_SHOT_TITLE = "{task} (one-shot runs)"
_ROUTINES = "/api/v1/routines/{collection}/{task}"
_ROUTINE = _ROUTINES + "/{name}"
_NOT_CADENCE_WARNING = (
    "the routine's schedule is not a cadence (it was made through another API); "
    "cadence shows null and PATCH of cadence adds one beside it"
)


def _with_detail(handler: Handler) -> Handler:
    """Errors of this surface carry their message in `detail` too, as Mise's do."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except FirehookError as error:
            answer: Response = error_response(error)
        except Exception as exc:
            answer = await on_unexpected_error(request, exc)
        body = orjson.loads(answer.body)
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name in ("retry-after", "www-authenticate")
        }
        return JSONResponse(body | {"detail": body["error"]}, answer.status_code, headers)

    return endpoint


def _operation(
    method: str, path: str, summary: str, **options: Any
) -> Callable[[Handler], Handler]:
    register = api.operation(method, path, summary, TAG, **options)

    def decorate(handler: Handler) -> Handler:
        register(_with_detail(handler))
        return handler

    return decorate


# -- lookups ---------------------------------------------------------------------------------


async def _load_task(
    conn: AsyncConnection, principal: Principal, collection: str, name: str
) -> RowMapping:
    """The company's task `name` in `collection`: 404 also outside the key's collection."""
    task = None
    if principal.company_id is not None and _storable(collection) and _storable(name):
        task = await task_store.find_task(conn, principal.company_id, collection, name)
    if task is None or not task_visible(principal, task):
        raise NotFound("task not found")
    return task


async def _task_of(conn: AsyncConnection, request: Request, principal: Principal) -> RowMapping:
    params = request.path_params
    return await _load_task(conn, principal, params["collection"], params["task"])


def _storable(name: str) -> bool:
    """Whether a name from the path can name anything stored (no NUL, which PostgreSQL
    refuses even in a comparison; not longer than names are)."""
    return 0 < len(name) <= 200 and "\x00" not in name


async def _load_routine(conn: AsyncConnection, task: RowMapping, name: str) -> RowMapping:
    if not _storable(name):
        raise NotFound("routine not found")
    routine = await task_store.find_routine_of_task(conn, task["id"], name)
    if routine is None:
        raise NotFound("routine not found")
    return routine


def _cadence_trigger(triggers: Sequence[RowMapping]) -> RowMapping | None:
    return next((t for t in triggers if t["kind"] == TriggerKind.SCHEDULE and t["cadence"]), None)


def _routine_read(
    routine: RowMapping, task: RowMapping, triggers: Sequence[RowMapping], extras: RoutineExtras
) -> MiseRoutineRead:
    warnings: list[str] = []
    schedules = [t for t in triggers if t["kind"] == TriggerKind.SCHEDULE]
    cadence_trigger = _cadence_trigger(triggers)
    cadence: Cadence | None = Cadence(type=CadenceType.MANUAL)
    if cadence_trigger is not None:
        cadence = Cadence.model_validate(cadence_trigger["cadence"])
    elif schedules:
        cadence = None
        warnings.append(_NOT_CADENCE_WARNING)
    overrides = routine["init_params_overrides"] or {}
    stale = stale_overrides(task["init_params"], overrides)
    warnings.extend(
        f"init_params_overrides key {key!r} {why}; it is ignored until the routine is edited "
        "to remove it"
        for key, why in sorted(stale.items())
    )
    if extras.secrets_unreadable:
        warnings.append("secret_params cannot be decrypted with the configured keys")
    active = routine["status"] == RoutineStatus.ACTIVE
    manual = cadence is not None and cadence.type is CadenceType.MANUAL
    return MiseRoutineRead(
        id=routine["id"],
        name=routine["title"],
        collection=task["collection"],
        task=task["name"],
        cadence=cadence,
        init_params_overrides=overrides,
        secret_params=extras.secret_param_keys,
        paused=routine["status"] == RoutineStatus.PAUSED,
        overlap_policy=OVERLAP_OF[routine["concurrency_policy"]],
        next_run_at=routine["next_run_at"] if active and not manual else None,
        warnings=warnings,
        created_at=routine["created_at"],
        updated_at=routine["updated_at"],
    )


async def _reads(
    conn: AsyncConnection, ctx: Context, task: RowMapping, routines: Sequence[RowMapping]
) -> list[MiseRoutineRead]:
    ids = [routine["id"] for routine in routines]
    triggers = await routine_store.list_triggers(conn, ids)
    extras = await routine_extras(conn, ctx.secrets, routines)
    return [_routine_read(r, task, triggers[r["id"]], extras[r["id"]]) for r in routines]


async def _read(
    conn: AsyncConnection, ctx: Context, task: RowMapping, routine_id: str
) -> MiseRoutineRead:
    routine = await routine_store.get_routine(conn, routine_id)
    assert routine is not None
    return (await _reads(conn, ctx, task, [routine]))[0]


# -- request bodies --------------------------------------------------------------------------


Body = TypeVar("Body", MiseRoutineCreate, MiseRoutinePatch)


async def _routine_body(request: Request, model: type[Body]) -> Body:
    """The body, its cadence checked first so that its message is the seed's own
    (`daily cadence requires hour_utc`)."""
    data = await read_json(request)
    if data is None:
        raise ValidationFailed("request body is required")
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    if isinstance(data.get("cadence"), dict):
        try:
            validate(Cadence, data["cadence"])
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, {"cadence": exc.message}) from None
    parsed: Body = validate(model, data)
    return parsed


def _check_init_params(task: RowMapping, params: dict[str, Any]) -> None:
    try:
        check_overrides(task["init_params"], params)
    except InvalidOverrides as exc:
        raise ValidationFailed(str(exc), {"init_params": str(exc), "keys": exc.keys}) from None


def _native_create(
    principal: Principal,
    task: RowMapping,
    *,
    title: str,
    status: RoutineStatus,
    overlap: str,
    overrides: dict[str, Any],
    secrets: dict[str, str] | None,
) -> RoutineCreate:
    body: RoutineCreate = RoutineCreate.model_validate(
        {
            "title": title,
            "assigneeAgentId": principal.agent_id or DEFAULT_ASSIGNEE,
            "projectId": task["collection"],
            "status": status.value,
            "concurrencyPolicy": overlap,
            "taskId": task["id"],
            "initParamsOverrides": overrides,
            "secretParams": secrets or None,
        }
    )
    return body


def _schedule(cadence: Cadence) -> ScheduleTriggerCreate:
    body: ScheduleTriggerCreate = ScheduleTriggerCreate.model_validate(
        {"kind": "schedule", "label": "cadence", "cadence": cadence.model_dump(mode="json")}
    )
    return body


# -- tasks -----------------------------------------------------------------------------------


@_operation(
    "GET",
    "/api/v1/tasks/{collection}/{task}/init-params-schema",
    "The init params a routine of the task may override",
    response=InitParamsSchema,
)
async def mise_init_params_schema(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
    return model_response(InitParamsSchema.model_validate({"keys": task["init_params"]}))


# -- routines --------------------------------------------------------------------------------


@_operation(
    "POST",
    _ROUTINES,
    "Create a routine of the task (RoutineCreate → RoutineRead)",
    request=MiseRoutineCreate,
    response=MiseRoutineRead,
    status=201,
    errors=(400, 401, 403, 404, 409, 413, 415),
)
async def mise_create_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await _task_of(conn, request, principal)
    body = await _routine_body(request, MiseRoutineCreate)
    async with ctx.db.write() as conn:
        task = await _task_of(conn, request, principal)
        native = _native_create(
            principal,
            task,
            title=body.name,
            status=RoutineStatus.PAUSED if body.paused else RoutineStatus.ACTIVE,
            overlap=CONCURRENCY_OF[body.overlap_policy].value,
            overrides=body.init_params_overrides,
            secrets=body.secret_params,
        )
        require_assignment(principal, native.assignee_agent_id)
        routine, _ = await add_routine(conn, ctx, task["company_id"], native)
        if body.cadence.type is not CadenceType.MANUAL:
            await add_trigger(conn, ctx, routine, _schedule(body.cadence))
        read = await _read(conn, ctx, task, routine["id"])
    routine_changed(ctx, routine["id"])
    return model_response(read, 201)


@_operation("GET", _ROUTINES, "List the task's routines, oldest first", response=MiseRoutineList)
async def mise_list_routines(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        routines = await task_store.list_routines_of_task(conn, task["id"])
        reads = await _reads(conn, ctx, task, routines)
    return model_response(MiseRoutineList(reads))


@_operation("GET", _ROUTINE, "Get a routine", response=MiseRoutineRead)
async def mise_get_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        routine = await _load_routine(conn, task, request.path_params["name"])
        read = await _read(conn, ctx, task, routine["id"])
    return model_response(read)


@_operation(
    "PATCH",
    _ROUTINE,
    "Update a routine (any RoutineCreate field); a new cadence applies from the next fire",
    request=MiseRoutinePatch,
    response=MiseRoutineRead,
    errors=(400, 401, 403, 404, 409, 413, 415),
)
async def mise_patch_routine(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        await _load_routine(conn, task, request.path_params["name"])
    body = await _routine_body(request, MiseRoutinePatch)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["title"] = body.name
    if "init_params_overrides" in given:
        changes["init_params_overrides"] = body.init_params_overrides
    if "secret_params" in given:
        changes["secret_params"] = body.secret_params or None
    if body.paused is not None:
        status = RoutineStatus.PAUSED if body.paused else RoutineStatus.ACTIVE
        changes["status"] = status.value
    if body.overlap_policy is not None:
        changes["concurrency_policy"] = CONCURRENCY_OF[body.overlap_policy].value
    async with ctx.db.write() as conn:
        task = await _task_of(conn, request, principal)
        routine = await _load_routine(conn, task, request.path_params["name"])
        routine, _, _ = await change_routine(conn, ctx, principal, routine["id"], changes)
        if body.cadence is not None:
            await _replace_cadence(conn, ctx, routine, body.cadence)
        read = await _read(conn, ctx, task, routine["id"])
    routine_changed(ctx, routine["id"])
    trigger_changed(ctx, None)
    return model_response(read)


async def _replace_cadence(
    conn: AsyncConnection, ctx: Context, routine: RowMapping, cadence: Cadence
) -> None:
    """The routine's cadence trigger follows `cadence`: gone for manual, else created or
    changed in place (a run under way is not touched; the next fire follows the new one)."""
    now = ctx.clock()
    triggers = (await routine_store.list_triggers(conn, [routine["id"]]))[routine["id"]]
    current = _cadence_trigger(triggers)
    if cadence.type is CadenceType.MANUAL:
        if current is not None:
            await remove_trigger(conn, now, current)
        return
    if current is None:
        await add_trigger(conn, ctx, routine, _schedule(cadence))
        return
    patch = TriggerPatch.model_validate({"cadence": cadence.model_dump(mode="json")})
    await change_trigger(conn, ctx, current, routine, patch)


@_operation(
    "DELETE",
    _ROUTINE,
    "Delete a routine (archived: its runs stay readable natively)",
    status=204,
    errors=(401, 403, 404),
)
async def mise_delete_routine(request: Request) -> Response:
    await _set_status(request, RoutineStatus.ARCHIVED)
    return Response(status_code=204)


@_operation(
    "POST",
    _ROUTINE + "/pause",
    "Pause a routine: the row stays, the schedule stops firing",
    response=MiseRoutineRead,
    errors=(401, 403, 404),
)
async def mise_pause_routine(request: Request) -> Response:
    return model_response(await _set_status(request, RoutineStatus.PAUSED))


@_operation(
    "POST",
    _ROUTINE + "/resume",
    "Resume a paused routine (missed ticks are not fired)",
    response=MiseRoutineRead,
    errors=(401, 403, 404),
)
async def mise_resume_routine(request: Request) -> Response:
    return model_response(await _set_status(request, RoutineStatus.ACTIVE))


async def _set_status(request: Request, status: RoutineStatus) -> MiseRoutineRead:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        task = await _task_of(conn, request, principal)
        routine = await _load_routine(conn, task, request.path_params["name"])
        await change_routine(conn, ctx, principal, routine["id"], {"status": status.value})
        read = await _read(conn, ctx, task, routine["id"])
    routine_changed(ctx, routine["id"])
    return read


# -- runs ------------------------------------------------------------------------------------


async def _fire(
    ctx: Context, routine: RowMapping, task: RowMapping, payload: dict[str, Any] | None
) -> MiseWorkflowResponse:
    fire_id = new_id()
    fire = FireRequested(
        fire_id=fire_id,
        run_id=run_id_for(routine["id"], f"fire:{fire_id}"),
        routine_id=routine["id"],
        company_id=routine["company_id"],
        source=RunSource.MANUAL,
        payload=payload,
        requested_at=ctx.clock(),
    )
    FIRES_RECEIVED.labels(source=RunSource.MANUAL.value).inc()
    accepted, _ = await accept_fire(ctx, fire)
    FIRES_ACCEPTED.labels(source=RunSource.MANUAL.value).inc()
    return MiseWorkflowResponse(
        workflow_id=accepted.run_id,
        trajectory_id=accepted.run_id,
        status=(accepted.status or RunStatus.RECEIVED).value,
        collection=task["collection"],
        task=task["name"],
        routine_id=None if routine["one_shot"] else routine["id"],
    )


_RUN_ERRORS = (400, 401, 403, 404, 409, 413, 415, 503)


@_operation(
    "POST",
    _ROUTINE + "/run-now",
    "Fire the routine once now (WorkflowResponse)",
    response=MiseWorkflowResponse,
    errors=(401, 403, 404, 503),
)
async def mise_run_now(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        routine = await _load_routine(conn, task, request.path_params["name"])
    require_routine_manager(principal, routine)
    return model_response(await _fire(ctx, routine, task, None))


def _trajectory(run: RowMapping, routine: RowMapping, task: RowMapping) -> MiseTrajectory:
    return MiseTrajectory(
        trajectory_id=run["id"],
        workflow_id=run["id"],
        status=run["status"],
        collection=task["collection"],
        task=task["name"],
        routine_id=None if routine["one_shot"] else routine["id"],
        triggered_by_routine_id=run["triggered_by_routine_id"],
        source=run["source"],
        init_params=resolve_parameters(task, routine, run["payload"]),
        reason=run["reason"],
        scheduled_for=run["scheduled_for"],
        created_at=run["created_at"],
        updated_at=run["updated_at"],
        finished_at=run["finished_at"],
        output=run["output"],
        error=run["error"],
    )


@_operation(
    "GET",
    _ROUTINE + "/runs",
    "The routine's trajectories, newest first",
    response=MiseTrajectoryList,
    query=(
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ),
)
async def mise_list_runs(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(MiseRunsQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        routine = await _load_routine(conn, task, request.path_params["name"])
        rows, _ = await run_store.list_runs(
            conn, routine["id"], status=None, source=None, limit=query.limit, offset=query.offset
        )
    return model_response(MiseTrajectoryList([_trajectory(row, routine, task) for row in rows]))


@_operation(
    "POST",
    "/api/v1/run/{collection}/{task}",
    "Run the task once with these init params (WorkflowResponse)",
    request=MiseOneShotRun,
    response=MiseWorkflowResponse,
    errors=_RUN_ERRORS,
)
async def mise_run_task(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await _task_of(conn, request, principal)
    data = await read_json(request)
    if data is not None and not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    body = validate(MiseOneShotRun, data or {})
    async with ctx.db.write() as conn:
        task = await _task_of(conn, request, principal)
        _check_init_params(task, body.init_params)
        routine = await task_store.find_one_shot_routine(conn, task["id"])
        if routine is None:
            native = _native_create(
                principal,
                task,
                title=ONE_SHOT_TITLE.format(task=task["name"])[:200],
                status=RoutineStatus.ACTIVE,
                overlap="always_enqueue",
                overrides={},
                secrets=None,
            )
            require_assignment(principal, native.assignee_agent_id)
            routine, _ = await add_routine(conn, ctx, task["company_id"], native, one_shot=True)
    require_routine_manager(principal, routine)
    payload = {PAYLOAD_PARAMS_KEY: body.init_params} if body.init_params else None
    return model_response(await _fire(ctx, routine, task, payload))


@_operation(
    "GET",
    "/api/v1/trajectories/{collection}/{task}/{trajectory_id}",
    "One trajectory of the task (poll it after a run)",
    response=MiseTrajectory,
)
async def mise_get_trajectory(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    trajectory_id = request.path_params["trajectory_id"]
    async with ctx.db.read() as conn:
        task = await _task_of(conn, request, principal)
        run = await run_store.get_run(conn, trajectory_id) if is_uuid(trajectory_id) else None
        routine = await routine_store.get_routine(conn, run["routine_id"]) if run else None
    if run is None or routine is None or routine["task_id"] != task["id"]:
        raise NotFound("trajectory not found")
    return model_response(_trajectory(run, routine, task))
