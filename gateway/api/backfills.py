"""Backfills: fire the ticks of a past range of a routine's schedules; progress; cancel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid, new_id
from firehook.store import backfills as store
from firehook.store import occurrences
from firehook.store import routines as routine_store
from firehook.store.occurrences import Outcome, tick_record
from gateway.access import authenticate, load_routine, require_routine_manager
from gateway.http import model_response, parse_body
from gateway.routing import Api
from scheduler.backfill import backfill_ticks, backfills_of
from schemas.backfills import Backfill, BackfillRange, BackfillStatus
from schemas.common import RoutineStatus, TriggerKind
from schemas.errors import Conflict, NotFound, Unprocessable

api = Api()


async def start_backfill(ctx: Context, routine: RowMapping, body: BackfillRange) -> Backfill:
    """Check the range, record the backfill and start firing its ticks (in this process).

    422 for a range in the future, longer than the limits, or of a routine without a
    schedule trigger; 409 for an archived routine."""
    settings = ctx.settings
    now = ctx.clock()
    if routine["status"] == RoutineStatus.ARCHIVED:
        raise Conflict("routine is archived; it cannot be backfilled")
    if body.end > now:
        raise Unprocessable("to: a backfill covers the past only", {"to": "is in the future"})
    if body.end - body.start > timedelta(days=settings.backfill_max_range_days):
        limit = f"at most {settings.backfill_max_range_days:g} days"
        raise Unprocessable(f"the range must span {limit}", {"to": limit})
    async with ctx.db.write() as conn:
        triggers = (await routine_store.list_triggers(conn, [routine["id"]]))[routine["id"]]
        schedules = [t for t in triggers if t["kind"] == TriggerKind.SCHEDULE]
        if not schedules:
            raise Unprocessable("the routine has no schedule trigger to backfill")
        ticks = backfill_ticks(schedules, body.start, body.end, settings.backfill_max_ticks)
        if ticks is None:
            limit = f"at most {settings.backfill_max_ticks} ticks"
            raise Unprocessable(f"the range holds more than {limit}", {"from": limit})
        backfill_id = new_id()
        values = {
            "id": backfill_id,
            "company_id": routine["company_id"],
            "routine_id": routine["id"],
            "range_from": body.start,
            "range_to": body.end,
            "overlap_policy": body.overlap_policy.value if body.overlap_policy else None,
            "status": BackfillStatus.RUNNING.value if ticks.fire else BackfillStatus.COMPLETED,
            "total": len(ticks.fire) + len(ticks.excluded),
            "fired": 0,
            "excluded": len(ticks.excluded),
            "created_at": now,
            "updated_at": now,
            "finished_at": None if ticks.fire else now,
        }
        await store.insert_backfill(conn, values)
        await occurrences.record_ticks(
            conn,
            [
                tick_record(trigger, tick, Outcome.EXCLUDED, "an excluded date", now, "backfill")
                for trigger, tick in ticks.excluded
            ],
        )
        row = await store.get_backfill(conn, backfill_id)
    assert row is not None
    if ticks.fire:
        backfills_of(ctx).start(backfill_id, ticks.fire, body.overlap_policy)
    return backfill_view(row)


def backfill_view(row: RowMapping) -> Backfill:
    return Backfill.model_validate(dict(row) | {"start": row["range_from"], "end": row["range_to"]})


async def _load_backfill(request: Request, principal: Principal) -> RowMapping:
    backfill_id = request.path_params["backfillId"]
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        row = await store.get_backfill(conn, backfill_id) if is_uuid(backfill_id) else None
        if row is not None:
            await load_routine(conn, principal, row["routine_id"])
    if row is None:
        raise NotFound("backfill not found")
    return row


@api.operation(
    "POST",
    "/api/routines/{routineId}/backfill",
    "Fire every tick of the routine's schedules in a past range",
    "backfills",
    request=BackfillRange,
    response=Backfill,
    status=202,
    errors=(400, 401, 403, 404, 409, 422),
)
async def create_backfill(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
    require_routine_manager(principal, routine)
    body = await parse_body(request, BackfillRange)
    return model_response(await start_backfill(ctx, routine, body), 202)


@api.operation(
    "GET",
    "/api/backfills/{backfillId}",
    "A backfill's progress",
    "backfills",
    response=Backfill,
    errors=(401, 404),
)
async def get_backfill(request: Request) -> Response:
    principal = await authenticate(request)
    return model_response(backfill_view(await _load_backfill(request, principal)))


@api.operation(
    "POST",
    "/api/backfills/{backfillId}/cancel",
    "Cancel a running backfill (the ticks already fired stay fired)",
    "backfills",
    response=Backfill,
    errors=(401, 403, 404, 409),
)
async def cancel_backfill(request: Request) -> Response:
    principal = await authenticate(request)
    row = await _load_backfill(request, principal)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        routine = await load_routine(conn, principal, row["routine_id"])
        require_routine_manager(principal, routine)
        if not await store.cancel_backfill(conn, row["id"], ctx.clock()):
            raise Conflict(f"the backfill is {row['status']}; only a running one can be cancelled")
        fresh = await store.get_backfill(conn, row["id"])
    assert fresh is not None
    await backfills_of(ctx).wait(row["id"])
    return model_response(backfill_view(fresh))
