"""Schedule tooling: validate an expression, read a schedule from English, scheduler status."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from firehook.context import context_of
from firehook.store import schedules as store
from gateway.access import authenticate
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api, QueryParam
from scheduler.describe import describe_schedule
from scheduler.dst import describe_dst, dst_applies
from scheduler.natural import UnrecognizedSchedule, parse_natural_schedule
from scheduler.timing import Schedule, upcoming_fires
from schemas.common import utc_iso
from schemas.cron import InvalidSchedule, validate_timezone
from schemas.errors import Unprocessable, ValidationFailed
from schemas.schedule_rules import DstPolicy, RepeatedHour, SkippedHour
from schemas.scheduling import (
    DstDescription,
    ParsedScheduleBody,
    ParseRequest,
    ParseResult,
    SchedulerStatus,
    ValidateQuery,
    ValidateResult,
)

api = Api()


def _local_iso(moment: datetime, schedule: Schedule) -> str:
    """A fire time in the schedule's own zone (as seed 003 shows them)."""
    if schedule.type == "cron":
        return moment.astimezone(schedule.zone).isoformat()
    return utc_iso(moment)


@api.operation(
    "GET",
    "/api/scheduler/validate",
    "Validate a schedule and list its next runs",
    "scheduler",
    response=ValidateResult,
    query=(
        QueryParam("type", {"enum": ["cron", "every", "at", "cadence"]}, required=True),
        QueryParam(
            "value",
            {"type": "string"},
            "cron expression, seconds (or 15m), ISO datetime, or cadence",
            True,
        ),
        QueryParam("timezone", {"type": "string", "default": "UTC"}),
        QueryParam(
            "from", {"type": "string", "format": "date-time"}, "list runs after this instant"
        ),
        QueryParam("count", {"type": "integer", "minimum": 1, "maximum": 100, "default": 3}),
        QueryParam("repeatedHour", {"enum": [p.value for p in RepeatedHour]}, "DST policy"),
        QueryParam("skippedHour", {"enum": [p.value for p in SkippedHour]}, "DST policy"),
    ),
)
async def validate_schedule(request: Request) -> Response:
    await authenticate(request)
    query = validate(ValidateQuery, dict(request.query_params))
    ctx = context_of(request)
    after = query.from_ or ctx.clock()
    if after.tzinfo is None:
        raise ValidationFailed("from must carry a timezone offset", {"from": "needs an offset"})
    try:
        validate_timezone(query.timezone)
        schedule = Schedule.from_value(query.type, query.value, query.timezone)
        if schedule.type == "cron":
            policy = DstPolicy.model_validate(
                {"repeatedHour": query.repeated_hour, "skippedHour": query.skipped_hour}
            )
            schedule = dataclasses.replace(schedule, dst=policy)
        runs = upcoming_fires(schedule, after, query.count)
    except InvalidSchedule as exc:
        return model_response(ValidateResult(valid=False, next_runs=[], error=str(exc)))
    result = ValidateResult(
        valid=True,
        next_runs=[_local_iso(run, schedule) for run in runs],
        human_readable=describe_schedule(schedule),
        dst=DstDescription(
            repeated_hour=query.repeated_hour,
            skipped_hour=query.skipped_hour,
            applies=dst_applies(schedule),
            description=describe_dst(schedule),
        ),
    )
    return model_response(result)


@api.operation(
    "POST",
    "/api/scheduler/parse-nl",
    "Read a schedule from everyday English",
    "scheduler",
    request=ParseRequest,
    response=ParseResult,
    errors=(400, 401, 422),
)
async def parse_natural_language(request: Request) -> Response:
    await authenticate(request)
    body = await parse_body(request, ParseRequest)
    ctx = context_of(request)
    try:
        parsed = parse_natural_schedule(body.text, body.timezone)
    except UnrecognizedSchedule as exc:
        # No model is consulted: text the grammar cannot read is refused, with phrases it can.
        raise Unprocessable(
            f"{exc} (schedules are read by a grammar; there is no LLM fallback)",
            {"text": "not understood", "examples": list(exc.examples)},
        ) from None
    except InvalidSchedule as exc:
        raise ValidationFailed(str(exc), {"timezone": str(exc)}) from None
    schedule = parsed.to_schedule()
    result = ParseResult(
        schedule=ParsedScheduleBody(
            type=parsed.type, expression=parsed.expression, timezone=parsed.timezone
        ),
        human_readable=describe_schedule(schedule, spoken=True),
        confidence=parsed.confidence,
        parse_method="regex",
        next_runs=[_local_iso(run, schedule) for run in upcoming_fires(schedule, ctx.clock(), 3)],
    )
    return model_response(result)


@api.operation(
    "GET",
    "/api/scheduler/status",
    "The scheduler engine's state",
    "scheduler",
    response=SchedulerStatus,
    errors=(401,),
)
async def scheduler_status(request: Request) -> Response:
    await authenticate(request)
    ctx = context_of(request)
    now = ctx.clock()
    ticker = ctx.services.get("ticker")
    async with ctx.db.read() as conn:
        loaded, due, earliest = await store.due_summary(conn, now)
    lag = max(0.0, (now - earliest).total_seconds()) if earliest is not None else 0.0
    status = SchedulerStatus(
        running=ticker.running if ticker is not None else None,
        triggers_loaded=ticker.triggers_loaded if ticker is not None else loaded,
        due_count=due,
        tick_interval_seconds=ctx.settings.scheduler_resync_sec,
        next_tick_at=earliest,
        ticker_lag_seconds=lag,
        last_tick_at=ticker.last_tick_at if ticker is not None else None,
        jobs_checked_last_tick=ticker.fired_last_tick if ticker is not None else None,
        resync_interval_seconds=ctx.settings.scheduler_resync_sec,
    )
    return model_response(status)
