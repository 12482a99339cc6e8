"""Seed 003's scheduler API at /api/scheduler: jobs, job runs, chains, smart scheduling and
calendar data, translated to and from routines, runs and chains.

A job is a routine (not archived) with exactly one schedule trigger: `name` is its title,
`goal` its description and the `goal` of its default payload, `agent_id` its assignee,
`schedule` the trigger. Every call goes through the functions the native API calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid
from firehook.store import chains as chain_store
from firehook.store import runs as run_store
from firehook.store import stats as stats_store
from firehook.store.scheduled_routines import single_schedule_routines
from gateway.access import (
    authenticate,
    load_company,
    load_routine,
    require_assignment,
    require_board,
    require_routine_manager,
)
from gateway.api.chains import add_chain, chain_view, load_chain
from gateway.api.routines import add_routine, change_routine
from gateway.api.runs import cancel_run_now, fire_now
from gateway.api.stats import (
    calendar_of,
    heatmap_of,
    quiet_times,
    routine_stats_of,
    weekly_activity,
)
from gateway.api.triggers import add_trigger, change_trigger
from gateway.changes import routine_changed, trigger_changed
from gateway.http import JSONResponse, parse_body, validate
from gateway.routing import Api, QueryParam
from schemas.chains import Chain, ChainCreate
from schemas.common import RoutineStatus, RunSource, RunStatus
from schemas.cron import InvalidSchedule, cadence_to_cron, parse_cron, validate_timezone
from schemas.errors import NotFound, Unprocessable, ValidationFailed
from schemas.routines import RoutineCreate
from schemas.scheduler_jobs import (
    JOB_RUN_STATUSES,
    JOB_STATUSES,
    CalendarData,
    CalendarJob,
    CalendarQuery,
    ChainCreateIn,
    ChainEdgeOut,
    ChainListQuery,
    HeatmapData,
    HeatmapQuery,
    Job,
    JobChain,
    JobChainList,
    JobConditionView,
    JobCreate,
    JobDeliveryView,
    JobList,
    JobListQuery,
    JobRetry,
    JobRetryView,
    JobRun,
    JobRunList,
    JobRunListQuery,
    JobRunStatus,
    JobSchedule,
    JobScheduleView,
    JobStats,
    JobStatus,
    JobTriggered,
    JobUpdate,
    SmartSuggestion,
    SmartSuggestions,
    SuggestionsQuery,
)
from schemas.stats import NOT_EXECUTED_STATUSES, DayPattern, SuggestionQuery
from schemas.stats import CalendarQuery as NativeCalendarQuery
from schemas.triggers import ScheduleTriggerCreate, TriggerPatch

api = Api()
TAG = "scheduler (seed 003)"
DEFAULT_AGENT_ID = "scheduler"
DEFAULT_PROJECT_ID = "scheduler"

_NOT_EXECUTED = [status.value for status in NOT_EXECUTED_STATUSES]
_LISTED = [RoutineStatus.ACTIVE.value, RoutineStatus.PAUSED.value]
# Each native run status as a job run status, and back.
_RUN_STATUS: dict[RunStatus, JobRunStatus] = {
    RunStatus.RECEIVED: "pending",
    RunStatus.RETRY_PENDING: "pending",
    RunStatus.DISPATCHED: "running",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.SKIPPED: "skipped",
    RunStatus.COALESCED: "skipped",
}
_NATIVE_STATUSES: dict[str, list[str]] = {
    job_status: [native.value for native, mapped in _RUN_STATUS.items() if mapped == job_status]
    for job_status in JOB_RUN_STATUSES
}
_STILL_RUNNING = {
    RunStatus.RECEIVED,
    RunStatus.DISPATCHED,
    RunStatus.RUNNING,
    RunStatus.RETRY_PENDING,
}
_FAILED = {RunStatus.FAILED, RunStatus.TIMED_OUT}

_COMPANY_QUERY = QueryParam(
    "companyId",
    {"type": "string", "minLength": 1, "maxLength": 200},
    "The company; required with an admin key, the key's own company otherwise",
)
_PAGE = (
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
    QueryParam("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}),
)


def _answer(model: BaseModel, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), status_code=status_code)


async def _company(conn: AsyncConnection, principal: Principal, company_id: str | None) -> str:
    chosen = company_id or principal.company_id
    if chosen is None:
        raise ValidationFailed("companyId is required with an admin key", {"companyId": "required"})
    company = await load_company(conn, principal, chosen)
    return str(company["id"])


# --------------------------------------------------------------------------- jobs as views


def _zone_of(trigger: Mapping[Any, Any]) -> str:
    return str(trigger["timezone"] or "UTC") if trigger["cron_expression"] else "UTC"


def _in_zone(moment: datetime | None, zone: str) -> datetime | None:
    return moment.astimezone(ZoneInfo(zone)) if moment is not None else None


def _schedule_view(trigger: Mapping[Any, Any]) -> JobScheduleView | None:
    """The trigger as a seed schedule; None for a manual cadence, which never fires."""
    if trigger["cron_expression"]:
        return JobScheduleView(
            type="cron", expression=trigger["cron_expression"], timezone=_zone_of(trigger)
        )
    if trigger["cadence"]:
        cadence = trigger["cadence"]
        expression = cadence_to_cron(
            cadence["type"],
            cadence.get("hour_utc"),
            cadence.get("minute_utc"),
            cadence.get("day_of_week"),
        )
        if expression is None:
            return None
        return JobScheduleView(type="cron", expression=expression, timezone="UTC")
    if trigger["every_sec"]:
        return JobScheduleView(type="every", interval=trigger["every_sec"], timezone="UTC")
    if trigger["at"] is not None:
        return JobScheduleView.model_validate(
            {"type": "at", "datetime": trigger["at"], "timezone": "UTC"}
        )
    return None


def _once_and_done(trigger: Mapping[Any, Any], now: datetime) -> bool:
    """A one-shot whose time has passed: it can never fire again."""
    return trigger["at"] is not None and trigger["next_run_at"] is None and trigger["at"] <= now


def _job_status(
    routine: Mapping[Any, Any], trigger: Mapping[Any, Any], last_status: str | None, now: datetime
) -> JobStatus:
    if routine["status"] == RoutineStatus.PAUSED:
        return "paused"
    if _once_and_done(trigger, now):
        if last_status in _STILL_RUNNING:
            return "active"
        return "failed" if last_status in _FAILED else "completed"
    return "active" if trigger["enabled"] else "paused"


def _job_view(
    routine: Mapping[Any, Any],
    trigger: Mapping[Any, Any],
    counts: stats_store.RunCounts,
    now: datetime,
) -> Job | None:
    schedule = _schedule_view(trigger)
    if schedule is None:
        return None
    zone = _zone_of(trigger)
    status = _job_status(routine, trigger, counts.last_status, now)
    retry = routine["retry"] or {}
    delivery, condition = routine["delivery"], routine["condition"]
    defaults = routine["default_payload"] or {}
    goal = defaults.get("goal") if isinstance(defaults.get("goal"), str) else None
    ran = sum(n for s, n in counts.by_status.items() if s not in NOT_EXECUTED_STATUSES)
    return Job(
        id=routine["id"],
        name=routine["title"],
        goal=goal if goal is not None else routine["description"],
        schedule=schedule,
        status=status,
        agent_id=routine["assignee_agent_id"],
        next_run_at=_in_zone(routine["next_run_at"], zone) if status == "active" else None,
        last_run_at=_in_zone(counts.last_run, zone),
        run_count=ran,
        created_at=routine["created_at"],
        delivery=JobDeliveryView.model_validate(delivery) if delivery else None,
        condition=JobConditionView.model_validate(condition) if condition else None,
        retry=JobRetryView(
            max_attempts=retry.get("maxAttempts", 1),
            strategy=retry.get("strategy", "exponential"),
            base_delay=retry.get("baseDelaySec", 60),
        ),
    )


async def _job_views(
    conn: AsyncConnection, pairs: Sequence[tuple[RowMapping, RowMapping]], now: datetime
) -> list[Job]:
    counts = await stats_store.routine_run_counts(
        conn, [routine["id"] for routine, _ in pairs], not_executed=_NOT_EXECUTED
    )
    views = (
        _job_view(routine, trigger, counts.get(routine["id"], stats_store.RunCounts()), now)
        for routine, trigger in pairs
    )
    return [view for view in views if view is not None]


async def _load_job(
    conn: AsyncConnection, principal: Principal, job_id: str
) -> tuple[RowMapping, RowMapping]:
    """The job's routine and schedule trigger; 404 for anything that is not a job."""
    try:
        routine = await load_routine(conn, principal, job_id)
    except NotFound:
        raise NotFound("job not found") from None
    pairs = await single_schedule_routines(conn, routine_id=routine["id"], statuses=_LISTED)
    if not pairs or _schedule_view(pairs[0][1]) is None:
        raise NotFound("job not found")
    return pairs[0]


async def _job_answer(
    ctx: Context, job_id: str, principal: Principal, status: int = 200
) -> Response:
    async with ctx.db.read() as conn:
        routine, trigger = await _load_job(conn, principal, job_id)
        (job,) = await _job_views(conn, [(routine, trigger)], ctx.clock())
    return _answer(job, status)


# --------------------------------------------------------------------------- jobs as requests


def _checked(schedule: JobSchedule, zone: str) -> None:
    """Well-formed but meaningless schedules are 422, as the core's are."""
    try:
        if schedule.type == "cron":
            assert schedule.expression is not None
            parse_cron(schedule.expression)
        validate_timezone(zone)
    except InvalidSchedule as exc:
        field = "schedule.expression" if schedule.type == "cron" else "schedule.timezone"
        raise Unprocessable(f"{field}: {exc}", {field: str(exc)}) from None
    if schedule.type != "cron" and zone != "UTC":
        # Only cron reads a zone: an interval or an instant is the same everywhere.
        raise Unprocessable(
            f"schedule.timezone: {schedule.type} schedules run in UTC; only cron takes a zone",
            {"schedule.timezone": "only cron schedules take a timezone other than UTC"},
        )


def _schedule_fields(schedule: JobSchedule, zone: str) -> dict[str, Any]:
    """The native schedule fields (camelCase) of a seed schedule."""
    _checked(schedule, zone)
    if schedule.type == "cron":
        return {"cronExpression": schedule.expression, "timezone": zone}
    if schedule.type == "every":
        return {"every": schedule.interval}
    assert schedule.datetime_ is not None
    return {"at": schedule.datetime_.isoformat()}


def _retry_policy(retry: JobRetry) -> dict[str, Any]:
    return {
        "maxAttempts": retry.max_attempts,
        "strategy": retry.strategy.value,
        "baseDelaySec": retry.base_delay,
        "maxDelaySec": max(3_600, retry.base_delay),
    }


def _agent_of(principal: Principal, given: str | None) -> str:
    if given is not None:
        return given
    return principal.agent_id if principal.agent_id is not None else DEFAULT_AGENT_ID


@api.operation(
    "GET",
    "/api/scheduler/jobs",
    "List jobs (routines with one schedule trigger)",
    TAG,
    response=JobList,
    query=(
        QueryParam("status", {"enum": list(JOB_STATUSES)}),
        *_PAGE,
        _COMPANY_QUERY,
    ),
)
async def list_jobs(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(JobListQuery, dict(request.query_params))
    ctx = context_of(request)
    now = ctx.clock()
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, query.company_id)
        pairs = await single_schedule_routines(conn, company_id=company_id, statuses=_LISTED)
        pairs = [pair for pair in pairs if _schedule_view(pair[1]) is not None]
        if query.status is not None:
            # Only a finished one-shot's status depends on its runs; the rest is on the rows.
            finished = [r["id"] for r, t in pairs if _once_and_done(t, now)]
            last = await stats_store.routine_run_counts(conn, finished, not_executed=_NOT_EXECUTED)
            pairs = [
                (r, t)
                for r, t in pairs
                if _job_status(r, t, last[r["id"]].last_status if r["id"] in last else None, now)
                == query.status
            ]
        page = pairs[query.offset : query.offset + query.limit]
        jobs = await _job_views(conn, page, now)
    return _answer(JobList(jobs=jobs, count=len(pairs)))


@api.operation(
    "POST",
    "/api/scheduler/jobs",
    "Create a job",
    TAG,
    request=JobCreate,
    response=Job,
    status=201,
    query=(_COMPANY_QUERY,),
    errors=(400, 401, 403, 404, 422),
)
async def create_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, request.query_params.get("companyId"))
    body = await parse_body(request, JobCreate)
    agent_id = _agent_of(principal, body.agent_id)
    require_assignment(principal, agent_id)
    zone = body.schedule.timezone or "UTC"
    trigger_body = validate(
        ScheduleTriggerCreate, {"kind": "schedule"} | _schedule_fields(body.schedule, zone)
    )
    routine: dict[str, Any] = {
        "title": body.name,
        "description": body.goal,
        "assigneeAgentId": agent_id,
        "projectId": DEFAULT_PROJECT_ID,
        "defaultPayload": {"goal": body.goal} if body.goal is not None else None,
    }
    if body.delivery is not None:
        routine["delivery"] = body.delivery.model_dump(mode="json")
    if body.condition is not None:
        routine["condition"] = body.condition.model_dump(mode="json")
    if body.retry is not None:
        routine["retry"] = _retry_policy(body.retry)
    routine_body = validate(RoutineCreate, routine)
    async with ctx.db.write() as conn:
        row, _ = await add_routine(conn, ctx, company_id, routine_body)
        trigger, _ = await add_trigger(conn, ctx, row, trigger_body)
    routine_changed(ctx, row["id"])
    trigger_changed(ctx, trigger["public_id"])
    return await _job_answer(ctx, row["id"], principal, 201)


@api.operation("GET", "/api/scheduler/jobs/{id}", "Get a job", TAG, response=Job)
async def get_job(request: Request) -> Response:
    principal = await authenticate(request)
    return await _job_answer(context_of(request), request.path_params["id"], principal)


@api.operation(
    "PUT",
    "/api/scheduler/jobs/{id}",
    "Update a job (only the fields sent)",
    TAG,
    request=JobUpdate,
    response=Job,
    errors=(400, 401, 403, 404, 409, 422),
)
async def update_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    job_id = request.path_params["id"]
    async with ctx.db.read() as conn:
        await _load_job(conn, principal, job_id)
    body = await parse_body(request, JobUpdate)
    sent = body.model_fields_set
    async with ctx.db.write() as conn:
        routine, trigger = await _load_job(conn, principal, job_id)
        require_routine_manager(principal, routine)
        changes = _routine_changes(routine, body, sent)
        if changes:
            routine, _, _ = await change_routine(conn, ctx, principal, routine["id"], changes)
        if body.schedule is not None:
            schedule = body.schedule
            zone = schedule.timezone or (_zone_of(trigger) if schedule.type == "cron" else "UTC")
            patch = _schedule_fields(schedule, zone)
            if not trigger["enabled"] and _once_and_done(trigger, ctx.clock()):
                # A finished one-shot given a new schedule is a live job again.
                patch["enabled"] = True
            await change_trigger(conn, ctx, trigger, routine, validate(TriggerPatch, patch))
    routine_changed(ctx, routine["id"])
    trigger_changed(ctx, trigger["public_id"])
    return await _job_answer(ctx, job_id, principal)


def _routine_changes(routine: RowMapping, body: JobUpdate, sent: set[str]) -> dict[str, Any]:
    """Routine columns for the job fields sent."""
    changes: dict[str, Any] = {}
    if "name" in sent:
        changes["title"] = body.name
    if "goal" in sent:
        defaults = dict(routine["default_payload"] or {})
        defaults.pop("goal", None)
        if body.goal is not None:
            defaults["goal"] = body.goal
        changes["description"] = body.goal
        changes["default_payload"] = defaults or None
    if "agent_id" in sent:
        changes["assignee_agent_id"] = body.agent_id
    if "delivery" in sent:
        changes["delivery"] = body.delivery.model_dump(mode="json") if body.delivery else None
    if "condition" in sent:
        changes["condition"] = body.condition.model_dump(mode="json") if body.condition else None
    if "retry" in sent and body.retry is not None:
        changes["retry"] = _retry_policy(body.retry)
    return changes


@api.operation(
    "DELETE",
    "/api/scheduler/jobs/{id}",
    "Delete a job (its routine is archived; its runs are kept)",
    TAG,
    status=204,
    errors=(401, 403, 404),
)
async def delete_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        routine, _ = await _load_job(conn, principal, request.path_params["id"])
        await change_routine(
            conn, ctx, principal, routine["id"], {"status": RoutineStatus.ARCHIVED.value}
        )
    routine_changed(ctx, routine["id"])
    return Response(status_code=204)


@api.operation(
    "POST",
    "/api/scheduler/jobs/{id}/pause",
    "Pause a job",
    TAG,
    response=Job,
    errors=(401, 403, 404, 409),
)
async def pause_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        routine, _ = await _load_job(conn, principal, request.path_params["id"])
        await change_routine(
            conn, ctx, principal, routine["id"], {"status": RoutineStatus.PAUSED.value}
        )
    routine_changed(ctx, routine["id"])
    return await _job_answer(ctx, routine["id"], principal)


@api.operation(
    "POST",
    "/api/scheduler/jobs/{id}/resume",
    "Resume a paused job",
    TAG,
    response=Job,
    errors=(401, 403, 404, 409),
)
async def resume_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        routine, trigger = await _load_job(conn, principal, request.path_params["id"])
        routine, _, _ = await change_routine(
            conn, ctx, principal, routine["id"], {"status": RoutineStatus.ACTIVE.value}
        )
        if not trigger["enabled"] and not _once_and_done(trigger, ctx.clock()):
            patch = validate(TriggerPatch, {"enabled": True})
            await change_trigger(conn, ctx, trigger, routine, patch)
    routine_changed(ctx, routine["id"])
    trigger_changed(ctx, trigger["public_id"])
    return await _job_answer(ctx, routine["id"], principal)


@api.operation(
    "POST",
    "/api/scheduler/jobs/{id}/trigger",
    "Run a job now, whatever its schedule",
    TAG,
    response=JobTriggered,
    status=202,
    errors=(401, 403, 404, 503),
)
async def trigger_job(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine, _ = await _load_job(conn, principal, request.path_params["id"])
    require_routine_manager(principal, routine)
    accepted, _ = await fire_now(ctx, routine, RunSource.MANUAL)
    status = _RUN_STATUS[accepted.status] if accepted.status is not None else None
    return _answer(JobTriggered(run_id=accepted.run_id, status=status), 202)


# --------------------------------------------------------------------------- job runs


def _run_view(run: Mapping[Any, Any]) -> JobRun:
    status = _RUN_STATUS[RunStatus(run["status"])]
    error = run["error"]
    if error is None and run["status"] == RunStatus.TIMED_OUT:
        error = "timed out"
    return JobRun(
        id=run["id"],
        job_id=run["routine_id"],
        status=status,
        started_at=run["started_at"] or run["dispatched_at"],
        completed_at=run["finished_at"],
        output=run["output"],
        error=error,
        reason=run["reason"],
        trigger=run["source"],
        scheduled_for=run["scheduled_for"],
        attempt=run["attempt"],
        created_at=run["created_at"],
    )


@api.operation(
    "GET",
    "/api/scheduler/jobs/{id}/runs",
    "List a job's runs, newest first",
    TAG,
    response=JobRunList,
    query=(QueryParam("status", {"enum": list(JOB_RUN_STATUSES)}), *_PAGE),
)
async def list_job_runs(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(JobRunListQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine, _ = await _load_job(conn, principal, request.path_params["id"])
        rows, total = await run_store.list_runs(
            conn,
            routine["id"],
            status=None,
            source=None,
            statuses=_NATIVE_STATUSES[query.status] if query.status is not None else None,
            limit=query.limit,
            offset=query.offset,
        )
    return _answer(JobRunList(runs=[_run_view(row) for row in rows], count=total))


async def _load_job_run(
    ctx: Context, principal: Principal, job_id: str, run_id: str
) -> tuple[RowMapping, RowMapping]:
    async with ctx.db.read() as conn:
        routine, _ = await _load_job(conn, principal, job_id)
        run = await run_store.get_run(conn, run_id) if is_uuid(run_id) else None
    if run is None or run["routine_id"] != routine["id"]:
        raise NotFound("run not found")
    return routine, run


@api.operation(
    "GET", "/api/scheduler/jobs/{id}/runs/{run_id}", "Get one run of a job", TAG, response=JobRun
)
async def get_job_run(request: Request) -> Response:
    principal = await authenticate(request)
    _, run = await _load_job_run(
        context_of(request), principal, request.path_params["id"], request.path_params["run_id"]
    )
    return _answer(_run_view(run))


@api.operation(
    "POST",
    "/api/scheduler/jobs/{id}/runs/{run_id}/cancel",
    "Cancel a run of a job that has not ended",
    TAG,
    response=JobRun,
    errors=(401, 403, 404, 409),
)
async def cancel_job_run(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    routine, run = await _load_job_run(
        ctx, principal, request.path_params["id"], request.path_params["run_id"]
    )
    require_routine_manager(principal, routine)
    return _answer(_run_view(await cancel_run_now(ctx, run["id"])))


@api.operation(
    "GET", "/api/scheduler/jobs/{id}/stats", "Statistics of a job's runs", TAG, response=JobStats
)
async def job_stats(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine, trigger = await _load_job(conn, principal, request.path_params["id"])
        native = await routine_stats_of(conn, routine)
        (job,) = await _job_views(conn, [(routine, trigger)], ctx.clock())
    by_status: dict[str, int] = {}
    for status, count in native.runs_by_status.items():
        mapped = _RUN_STATUS[RunStatus(status)]
        by_status[mapped] = by_status.get(mapped, 0) + count
    zone = _zone_of(trigger)
    stats = JobStats(
        job_id=routine["id"],
        run_count=native.run_count,
        success_count=native.success_count,
        failure_count=native.failure_count,
        runs_by_status=by_status,
        success_rate=native.success_rate,
        avg_duration_seconds=native.avg_duration_seconds,
        last_run_at=_in_zone(native.last_run, zone),
        next_run_at=job.next_run_at,
    )
    return _answer(stats)


# --------------------------------------------------------------------------- calendar, smart


@api.operation(
    "GET",
    "/api/scheduler/calendar-data",
    "Every scheduled fire of every active job in a window",
    TAG,
    response=CalendarData,
    query=(
        QueryParam("from", {"type": "string", "format": "date-time"}, "Default: now"),
        QueryParam("to", {"type": "string", "format": "date-time"}, "Default: from + 7 days"),
        QueryParam("job_id", {"type": "string", "minLength": 1, "maxLength": 200}, "Only this job"),
        _COMPANY_QUERY,
    ),
)
async def calendar_data(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(CalendarQuery, dict(request.query_params))
    window = validate(
        NativeCalendarQuery,
        {"from": query.from_, "to": query.to} if query.from_ or query.to else {},
    )
    ctx = context_of(request)
    try:
        start, end = window.window(ctx.clock())
    except OverflowError:
        raise ValidationFailed("the window reaches past the calendar", {"to": "too far"}) from None
    except ValueError as exc:
        raise ValidationFailed(str(exc), {"to": str(exc)}) from None
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, query.company_id)
        pairs = await single_schedule_routines(
            conn, company_id=company_id, statuses=[RoutineStatus.ACTIVE.value]
        )
        calendar = await calendar_of(conn, company_id, start, end, routine_id=query.job_id)
    zones = {routine["id"]: _zone_of(trigger) for routine, trigger in pairs}
    jobs = [
        CalendarJob(
            job_id=entry.routine_id,
            name=entry.title,
            timezone=zones[entry.routine_id],
            fires=[fire.at.astimezone(ZoneInfo(zones[entry.routine_id])) for fire in entry.fires],
            truncated=entry.truncated,
        )
        for entry in calendar.routines
        if entry.routine_id in zones
    ]
    document = CalendarData.model_validate(
        {"from": start, "to": end, "jobs": jobs, "total_fires": sum(len(j.fires) for j in jobs)}
    )
    return _answer(document)


@api.operation(
    "GET",
    "/api/scheduler/smart/heatmap",
    "Run activity as a 24x7 grid: grid[hour][day], days Sun..Sat",
    TAG,
    response=HeatmapData,
    query=(
        QueryParam("weeks", {"type": "integer", "minimum": 1, "maximum": 52, "default": 4}),
        QueryParam("timezone", {"type": "string", "default": "UTC"}, "IANA zone of the grid"),
        _COMPANY_QUERY,
    ),
    errors=(400, 401, 404, 422),
)
async def smart_heatmap(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(HeatmapQuery, dict(request.query_params))
    _zone(query.timezone)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, query.company_id)
        native = await heatmap_of(conn, company_id, ctx.clock(), query.weeks, query.timezone)
    document = HeatmapData.model_validate(
        {
            "timezone": native.timezone,
            "weeks": native.weeks,
            "from": native.from_,
            "to": native.to,
            "hours": list(range(24)),
            "days": native.days,
            "grid": [list(column) for column in zip(*native.counts, strict=True)],
            "levels": [list(column) for column in zip(*native.levels, strict=True)],
            "max": native.max,
            "total": native.total,
        }
    )
    return _answer(document)


def _zone(name: str) -> None:
    try:
        validate_timezone(name)
    except InvalidSchedule as exc:
        raise Unprocessable(f"timezone: {exc}", {"timezone": str(exc)}) from None


@api.operation(
    "GET",
    "/api/scheduler/smart/suggestions",
    "Quiet times to schedule a job, from the activity of recent weeks",
    TAG,
    response=SmartSuggestions,
    query=(
        QueryParam("time", {"type": "string", "pattern": "^\\d{1,2}:\\d{2}$"}, "HH:MM"),
        QueryParam(
            "days",
            {"enum": list(get_args(DayPattern))},
            "weekdays (default), daily, weekends or one day",
        ),
        QueryParam("timezone", {"type": "string", "default": "UTC"}),
        QueryParam("weeks", {"type": "integer", "minimum": 1, "maximum": 52, "default": 4}),
        QueryParam("count", {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}),
        QueryParam("within_hours", {"type": "integer", "minimum": 1, "maximum": 12, "default": 3}),
        _COMPANY_QUERY,
    ),
    errors=(400, 401, 404, 422),
)
async def smart_suggestions(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(SuggestionsQuery, dict(request.query_params))
    _zone(query.timezone)
    native = validate(
        SuggestionQuery,
        {
            "time": query.time,
            "days": query.days,
            "timezone": query.timezone,
            "weeks": query.weeks,
            "count": query.count,
            "withinHours": query.within_hours,
        },
    )
    ctx = context_of(request)
    now = ctx.clock()
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, query.company_id)
        _, counts = await weekly_activity(conn, company_id, now, native.weeks, native.timezone)
    local = now.astimezone(ZoneInfo(native.timezone))
    hour, minute = native.clock() or (local.hour, local.minute)
    found = quiet_times(counts, native, hour, minute)
    suggestions = [SmartSuggestion.model_validate(s.model_dump(by_alias=False)) for s in found]
    return _answer(SmartSuggestions(suggestions=suggestions))


# --------------------------------------------------------------------------- chains


def _chain_view(chain: Chain) -> JobChain:
    return JobChain(
        id=chain.id,
        name=chain.name,
        description=chain.description,
        jobs=chain.routines,
        edges=[
            ChainEdgeOut.model_validate({"from": e.from_routine, "to": e.to, "type": e.type})
            for e in chain.edges
        ],
        created_at=chain.created_at,
    )


@api.operation(
    "POST",
    "/api/scheduler/chains",
    "Create a chain of jobs (a DAG; a cycle is refused)",
    TAG,
    request=ChainCreateIn,
    response=JobChain,
    status=201,
    query=(_COMPANY_QUERY,),
    errors=(400, 401, 403, 404),
)
async def create_job_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, request.query_params.get("companyId"))
    require_board(principal)
    body = await parse_body(request, ChainCreateIn)
    native = validate(
        ChainCreate,
        {
            "name": body.name,
            "description": body.description,
            "routines": body.jobs,
            "edges": [{"from": e.from_, "to": e.to, "type": e.type.value} for e in body.edges],
        },
    )
    async with ctx.db.write() as conn:
        chain = await add_chain(conn, ctx, company_id, native)
    return _answer(_chain_view(chain), 201)


@api.operation(
    "GET",
    "/api/scheduler/chains",
    "List chains",
    TAG,
    response=JobChainList,
    query=(*_PAGE, _COMPANY_QUERY),
)
async def list_job_chains(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(ChainListQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company_id = await _company(conn, principal, query.company_id)
        rows, total = await chain_store.list_chains(
            conn, company_id, limit=query.limit, offset=query.offset
        )
        edges = await chain_store.edges_of_chains(conn, [row["id"] for row in rows])
    chains = [_chain_view(chain_view(row, edges[row["id"]])) for row in rows]
    return _answer(JobChainList(chains=chains, count=total))


@api.operation("GET", "/api/scheduler/chains/{id}", "Get a chain", TAG, response=JobChain)
async def get_job_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        chain = await load_chain(conn, principal, request.path_params["id"])
        edges = await chain_store.edges_of_chains(conn, [chain["id"]])
    return _answer(_chain_view(chain_view(chain, edges[chain["id"]])))


@api.operation(
    "DELETE",
    "/api/scheduler/chains/{id}",
    "Delete a chain (runs already fired are kept)",
    TAG,
    status=204,
    errors=(401, 403, 404),
)
async def delete_job_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        chain = await load_chain(conn, principal, request.path_params["id"])
        require_board(principal)
        await chain_store.delete_chain(conn, chain["id"])
    return Response(status_code=204)
