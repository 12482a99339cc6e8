"""Runs: manual run, history, one run, cancel, complete, and the run-event stream (SSE)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from consumers import lifecycle
from consumers.fires import applied_runs_of
from consumers.records import StatusChanges
from firehook.context import Context, context_of
from firehook.fires import publish_fires
from firehook.ids import is_uuid, new_id, run_id_for
from firehook.metrics import FIRES_ACCEPTED, FIRES_RECEIVED
from firehook.poison import POISON_ERRORS, skip_record
from firehook.store import routines as routine_store
from firehook.store import runs as store
from gateway.access import (
    RUN_NOT_FOUND,
    TRIGGER_NOT_FOUND,
    authenticate,
    load_company,
    load_routine,
    require_routine_manager,
)
from gateway.http import list_response, model_response, parse_body, validate
from gateway.routing import Api, QueryParam, links_to
from gateway.views import received_view, run_view
from schemas.common import RoutineStatus, RunSource, RunStatus, TriggerKind, utc_iso
from schemas.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from schemas.events import FireRequested
from schemas.runs import (
    FireAccepted,
    ManualRun,
    Run,
    RunClaim,
    RunComplete,
    RunListQuery,
    RunPatch,
    TriggerRef,
)
from schemas.variables import RoutineVariable, VariableError, resolve_values

api = Api()

REPLAYED = {"Idempotent-Replayed": "true"}
_SSE_KEEPALIVE_SEC = 15.0
# Event ids are a BIGINT sequence.
_MAX_EVENT_ID = 2**63 - 1
_SSE_BATCH = 500


async def accept_fire(
    ctx: Context, fire: FireRequested, trigger: RowMapping | None = None
) -> tuple[FireAccepted | Run, bool]:
    """Publish a fire; the run as far as it is known, and whether the fire repeated an earlier
    one. In embedded mode the run exists once the publish returns; with Kafka, it may not."""
    await publish_fires(ctx.bus, ctx.settings, [fire])
    applied = applied_runs_of(ctx)
    made = applied.take(fire) if applied is not None else None
    if made is not None:
        return run_view(made, trigger), False
    async with ctx.db.read() as conn:
        run = await store.get_run(conn, fire.run_id)
    if run is None:
        ref = (
            TriggerRef(id=trigger["id"], kind=trigger["kind"], label=trigger["label"])
            if trigger is not None
            else None
        )
        return received_view(fire, ref), False
    return run_view(run, trigger), run["fire_id"] != fire.fire_id


def manual_payload(
    routine: RowMapping, payload: dict[str, Any] | None, given: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The run's payload with the routine's variables resolved into `payload.variables`;
    422 naming the variable when one is missing or does not fit its type."""
    definitions = [RoutineVariable.model_validate(v) for v in routine["variables"] or []]
    if not definitions:
        return payload
    nested = (payload or {}).get("variables")
    provided = (nested if isinstance(nested, dict) else {}) | (given or {})
    try:
        resolved = resolve_values(definitions, provided)
    except VariableError as exc:
        raise Unprocessable(str(exc), {f"variables.{exc.name}": str(exc)}) from None
    return (payload or {}) | {"variables": resolved}


@api.operation(
    "POST",
    "/api/routines/{routineId}/run",
    "Fire a run now (manual run)",
    "runs",
    request=ManualRun,
    response=FireAccepted,
    status=202,
    errors=(400, 401, 403, 404, 409, 422, 503),
    request_optional=True,
    replayable=True,
    links=links_to("runId", "/runId", "get_run", "cancel_run", "complete_run"),
)
async def run_routine(request: Request) -> Response:
    principal = await authenticate(request)
    body = await parse_body(request, ManualRun, optional=True)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        require_routine_manager(principal, routine)
        if routine["status"] == RoutineStatus.ARCHIVED:
            raise Conflict("routine is archived")
        trigger = None
        if body.trigger_id is not None:
            trigger = (
                await routine_store.get_trigger(conn, body.trigger_id)
                if is_uuid(body.trigger_id)
                else None
            )
            if trigger is None or trigger["company_id"] != routine["company_id"]:
                raise NotFound(TRIGGER_NOT_FOUND)
            if trigger["routine_id"] != routine["id"]:
                raise Forbidden("trigger belongs to another routine")
            if not trigger["enabled"]:
                raise Conflict("trigger is disabled")
        key = body.idempotency_key
        fire_id = new_id()
        run_id = run_id_for(routine["id"], key if key is not None else f"fire:{fire_id}")
        if key is not None:
            existing = await store.get_run(conn, run_id)
            if existing is not None:
                # The same run, still 202 as Paperclip answers; the header says it is a repeat.
                return model_response(run_view(existing, trigger), 202, REPLAYED)
    payload = manual_payload(routine, body.payload, body.variables)
    source = (
        RunSource.API
        if trigger is not None and trigger["kind"] == TriggerKind.API
        else RunSource(body.source)
    )
    accepted, replayed = await fire_now(
        ctx,
        routine,
        source,
        fire_id=fire_id,
        run_id=run_id,
        trigger_id=body.trigger_id,
        idempotency_key=key,
        payload=payload,
        trigger=trigger,
    )
    return model_response(accepted, 202, REPLAYED if replayed else None)


async def fire_now(
    ctx: Context,
    routine: RowMapping,
    source: RunSource,
    *,
    fire_id: str | None = None,
    run_id: str | None = None,
    trigger_id: str | None = None,
    idempotency_key: str | None = None,
    payload: dict[str, Any] | None = None,
    trigger: RowMapping | None = None,
) -> tuple[FireAccepted | Run, bool]:
    """Fire a run of the routine now (a manual or api run); the run as far as it is known,
    and whether it repeated an earlier fire of the same idempotency key."""
    fire_id = fire_id or new_id()
    if run_id is None:
        run_id = run_id_for(
            routine["id"], idempotency_key if idempotency_key is not None else f"fire:{fire_id}"
        )
    fire = FireRequested(
        fire_id=fire_id,
        run_id=run_id,
        routine_id=routine["id"],
        company_id=routine["company_id"],
        source=source,
        trigger_id=trigger_id,
        idempotency_key=idempotency_key,
        payload=payload,
        requested_at=ctx.clock(),
    )
    FIRES_RECEIVED.labels(source=source.value).inc()
    accepted, replayed = await accept_fire(ctx, fire, trigger)
    if not replayed:
        FIRES_ACCEPTED.labels(source=source.value).inc()
    return accepted, replayed


@api.operation(
    "GET",
    "/api/routines/{routineId}/runs",
    "List a routine's runs, newest first",
    "runs",
    response=list[Run],
    query=(
        QueryParam("status", {"enum": [s.value for s in RunStatus]}),
        QueryParam("source", {"enum": [s.value for s in RunSource]}),
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ),
)
async def list_runs(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(RunListQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        rows, total = await store.list_runs(
            conn,
            routine["id"],
            status=query.status.value if query.status else None,
            source=query.source.value if query.source else None,
            limit=query.limit,
            offset=query.offset,
        )
        triggers = (await routine_store.list_triggers(conn, [routine["id"]]))[routine["id"]]
    by_id = {t["id"]: t for t in triggers}
    return list_response(
        rows,
        lambda row: run_view(row, by_id.get(row["trigger_id"])),
        reader="run_list",
        total=total,
    )


async def _load_run(ctx: Context, request: Request) -> tuple[RowMapping, RowMapping]:
    principal = await authenticate(request)
    run_id = request.path_params["runId"]
    async with ctx.db.read() as conn:
        run = await store.get_run(conn, run_id) if is_uuid(run_id) else None
        if run is None:
            raise NotFound(RUN_NOT_FOUND)
        try:
            routine = await load_routine(conn, principal, run["routine_id"])
        except NotFound:
            raise NotFound(RUN_NOT_FOUND) from None
    request.state.principal = principal
    return run, routine


async def _with_trigger(ctx: Context, run: RowMapping | dict[str, Any]) -> Run:
    trigger = None
    if run["trigger_id"] is not None:
        async with ctx.db.read() as conn:
            trigger = await routine_store.get_trigger(conn, run["trigger_id"])
    return run_view(run, trigger)


@api.operation("GET", "/api/runs/{runId}", "Get a run with its attempts", "runs", response=Run)
async def get_run(request: Request) -> Response:
    ctx = context_of(request)
    run, _ = await _load_run(ctx, request)
    return model_response(await _with_trigger(ctx, run))


@api.operation(
    "PATCH",
    "/api/runs/{runId}",
    "Link a run to the executor's work item (executors)",
    "runs",
    request=RunPatch,
    response=Run,
    errors=(400, 401, 403, 404),
)
async def patch_run(request: Request) -> Response:
    ctx = context_of(request)
    _, routine = await _load_run(ctx, request)
    require_routine_manager(request.state.principal, routine)
    body = await parse_body(request, RunPatch)
    changes = StatusChanges(ctx.settings, publish_to_bus=ctx.publish_run_events)
    async with ctx.db.write() as conn:
        updated = await lifecycle.link_issue(
            conn, request.path_params["runId"], body.linked_issue_id, changes, ctx.clock()
        )
        await changes.save(conn)
    return model_response(await _with_trigger(ctx, updated))


@api.operation(
    "POST",
    "/api/runs/{runId}/cancel",
    "Cancel a run that has not ended",
    "runs",
    response=Run,
    errors=(401, 403, 404, 409),
)
async def cancel_run(request: Request) -> Response:
    ctx = context_of(request)
    _, routine = await _load_run(ctx, request)
    require_routine_manager(request.state.principal, routine)
    cancelled = await cancel_run_now(ctx, request.path_params["runId"])
    return model_response(await _with_trigger(ctx, cancelled))


async def cancel_run_now(ctx: Context, run_id: str) -> dict[str, Any]:
    """Cancel a run that has not ended (409 when it has); the run after."""
    changes = StatusChanges(ctx.settings, publish_to_bus=ctx.publish_run_events)
    async with ctx.db.write() as conn:
        updated = await lifecycle.cancel_run(conn, run_id, changes, ctx.clock())
        await changes.save(conn)
    ctx.run_events.notify()
    ctx.outbox.notify()
    return updated


@api.operation(
    "POST",
    "/api/runs/{runId}/complete",
    "Report a run's end (executors)",
    "runs",
    request=RunComplete,
    response=Run,
    errors=(400, 401, 403, 404, 409),
)
async def complete_run(request: Request) -> Response:
    ctx = context_of(request)
    _, routine = await _load_run(ctx, request)
    require_routine_manager(request.state.principal, routine)
    body = await parse_body(request, RunComplete)
    changes = StatusChanges(ctx.settings, publish_to_bus=ctx.publish_run_events)
    async with ctx.db.write() as conn:
        updated = await lifecycle.complete_run(
            conn,
            request.path_params["runId"],
            RunStatus(body.status),
            changes,
            ctx.clock(),
            output=body.output,
            error=body.error,
            linked_issue_id=body.linked_issue_id,
            attempt=body.attempt,
        )
        await changes.save(conn)
    ctx.run_events.notify()
    ctx.outbox.notify()
    return model_response(await _with_trigger(ctx, updated))


@api.operation(
    "POST",
    "/api/runs/{runId}/claim",
    "Take one attempt of a dispatched run (executors; 409 when already taken)",
    "runs",
    request=RunClaim,
    response=Run,
    errors=(400, 401, 403, 404, 409),
)
async def claim_run(request: Request) -> Response:
    ctx = context_of(request)
    _, routine = await _load_run(ctx, request)
    require_routine_manager(request.state.principal, routine)
    body = await parse_body(request, RunClaim)
    changes = StatusChanges(ctx.settings, publish_to_bus=ctx.publish_run_events)
    async with ctx.db.write() as conn:
        updated = await lifecycle.claim_run(
            conn, request.path_params["runId"], body.attempt, changes, ctx.clock()
        )
        await changes.save(conn)
    ctx.run_events.notify()
    ctx.outbox.notify()
    return model_response(await _with_trigger(ctx, updated))


@api.operation(
    "GET",
    "/api/companies/{companyId}/events",
    "Run events as Server-Sent Events (resume with Last-Event-ID)",
    "runs",
    query=(
        QueryParam("routineId", {"type": "string"}, "Only this routine's events"),
        QueryParam(
            "lastEventId",
            {"type": "integer", "minimum": 0, "maximum": _MAX_EVENT_ID},
            "Resume after this event id (as the Last-Event-ID header)",
        ),
    ),
    extra_responses={
        "200": {
            "description": "text/event-stream of dev.firehook.run.* events",
            "content": {"text/event-stream": {}},
        }
    },
)
async def run_events(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
    query_last = request.query_params.get("lastEventId")
    if query_last is not None and _event_id(query_last) is None:
        raise ValidationFailed("lastEventId must be an integer from 0 to 2^63 - 1")
    # The header, sent by a reconnecting EventSource, is taken leniently: junk starts over.
    last = _event_id(request.headers.get("last-event-id") or query_last or "0") or 0
    routine_filter = request.query_params.get("routineId")
    stream = _event_stream(ctx, company["id"], last, routine_filter)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event_id(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= _MAX_EVENT_ID else None


def _sse_event(row: RowMapping) -> bytes:
    event = {
        "specversion": "1.0",
        "id": row["ce_id"],
        "source": "/firehook",
        "type": row["type"],
        "subject": row["run_id"],
        "time": utc_iso(row["created_at"]),
        "datacontenttype": "application/json",
        "data": row["data"],
    }
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        row["seq"],
        row["type"].encode(),
        orjson.dumps(event),
    )


async def _event_stream(
    ctx: Context, company_id: str, after: int, routine_id: str | None
) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    while True:
        waiter = asyncio.ensure_future(ctx.run_events.wait(_SSE_KEEPALIVE_SEC))
        async with ctx.db.read() as conn:
            rows = await store.run_events_after(conn, company_id, after, _SSE_BATCH)
        for row in rows:
            after = row["seq"]
            if routine_id is not None and row["routine_id"] != routine_id:
                continue
            try:
                chunk = _sse_event(row)
            except POISON_ERRORS as exc:
                # Skipped, not stopped at: a subscriber would otherwise never get past it.
                skip_record("sse", row["seq"], exc)
                continue
            yield chunk
        if len(rows) == _SSE_BATCH:
            waiter.cancel()
            continue
        await waiter
        if not rows:
            yield b": keepalive\n\n"
