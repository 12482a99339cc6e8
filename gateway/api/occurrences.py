"""The occurrence ledger of a trigger or a routine: what became of each scheduled tick."""

from __future__ import annotations

from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response

from firehook.context import context_of
from firehook.store import occurrences as store
from gateway.access import authenticate, load_routine, load_trigger
from gateway.http import list_response, validate
from gateway.routing import Api, QueryParam
from schemas.occurrences import Occurrence, OccurrenceQuery

api = Api()

_QUERY = (
    QueryParam("from", {"type": "string", "format": "date-time"}, "scheduled at or after"),
    QueryParam("to", {"type": "string", "format": "date-time"}, "scheduled before"),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}),
)


@api.operation(
    "GET",
    "/api/routine-triggers/{triggerId}/occurrences",
    "What became of each tick of a schedule trigger",
    "occurrences",
    response=list[Occurrence],
    query=_QUERY,
)
async def trigger_occurrences(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(OccurrenceQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        trigger, _ = await load_trigger(conn, principal, request.path_params["triggerId"])
        rows, total = await store.list_occurrences(
            conn, trigger_id=trigger["id"], start=query.start, end=query.end, limit=query.limit
        )
    return list_response(rows, _view, reader="occurrence_list", total=total)


@api.operation(
    "GET",
    "/api/routines/{routineId}/occurrences",
    "What became of each tick of a routine's schedule triggers",
    "occurrences",
    response=list[Occurrence],
    query=_QUERY,
)
async def routine_occurrences(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(OccurrenceQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        rows, total = await store.list_occurrences(
            conn, routine_id=routine["id"], start=query.start, end=query.end, limit=query.limit
        )
    return list_response(rows, _view, reader="occurrence_list", total=total)


def _view(row: RowMapping) -> Occurrence:
    """An occurrence row as the API shows it."""
    return Occurrence.model_validate(dict(row))
