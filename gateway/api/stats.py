"""Statistics (company and routine), the schedule calendar, the activity heatmap and
suggested quiet times (seeds 003 and 004)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.context import context_of
from firehook.store import stats as store
from gateway.access import authenticate, load_company, load_routine
from gateway.http import model_response, validate
from gateway.routing import Api, QueryParam
from scheduler import schedule_of
from scheduler.timing import fires_between
from schemas.common import RoutineStatus
from schemas.errors import ValidationFailed
from schemas.stats import (
    CALENDAR_MAX_FIRES_PER_TRIGGER,
    DAY_NAMES,
    HEAT_LEVELS,
    NOT_EXECUTED_STATUSES,
    OUTCOME_STATUSES,
    STATS_WINDOW_DAYS,
    Calendar,
    CalendarFire,
    CalendarQuery,
    CalendarRoutine,
    Heatmap,
    HeatmapQuery,
    RoutineStats,
    SchedulerStats,
    SchedulerStatsQuery,
    Suggestion,
    SuggestionQuery,
    Suggestions,
    run_counters,
    success_rate,
)

api = Api()

_NOT_EXECUTED = [status.value for status in NOT_EXECUTED_STATUSES]
_OUTCOMES = [status.value for status in OUTCOME_STATUSES]
_DAYS_OF: dict[str, tuple[tuple[int, ...], str, str]] = {
    # pattern: (cron weekday numbers, label, cron day-of-week field)
    "daily": (tuple(range(7)), "every day", "*"),
    "weekdays": ((1, 2, 3, 4, 5), "Mon-Fri", "1-5"),
    "weekends": ((0, 6), "Sat-Sun", "0,6"),
    **{name.lower(): ((day,), name, str(day)) for day, name in enumerate(DAY_NAMES)},
}


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


@api.operation(
    "GET",
    "/api/scheduler/stats",
    "Aggregate statistics of a company (seed 003)",
    "stats",
    response=SchedulerStats,
    query=(
        QueryParam(
            "companyId",
            {"type": "string"},
            "The company; required with an admin key, the key's own company otherwise",
        ),
    ),
)
async def scheduler_stats(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(SchedulerStatsQuery, dict(request.query_params))
    company_id = query.company_id or principal.company_id
    if company_id is None:
        raise ValidationFailed("companyId is required with an admin key", {"companyId": "required"})
    ctx = context_of(request)
    now = ctx.clock()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, company_id)
        by_status = await store.routine_counts_by_status(conn, company["id"])
        today = await store.count_runs_since(
            conn, company["id"], midnight, not_executed=_NOT_EXECUTED
        )
        ended = await store.outcomes(
            conn,
            statuses=_OUTCOMES,
            company_id=company["id"],
            since=now - timedelta(days=STATS_WINDOW_DAYS),
        )
    jobs = {RoutineStatus.ACTIVE.value: 0, RoutineStatus.PAUSED.value: 0}
    jobs |= {s: n for s, n in by_status.items() if s != RoutineStatus.ARCHIVED}
    stats = SchedulerStats(
        total_jobs=sum(jobs.values()),
        active_jobs=jobs[RoutineStatus.ACTIVE.value],
        total_runs_today=today,
        success_rate=success_rate(ended.by_status),
        avg_duration_seconds=_rounded(ended.avg_duration_sec),
        jobs_by_status=jobs,
    )
    return model_response(stats)


@api.operation(
    "GET",
    "/api/routines/{routineId}/stats",
    "Statistics of one routine's runs",
    "stats",
    response=RoutineStats,
)
async def routine_stats(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        stats = await routine_stats_of(conn, routine)
    return model_response(stats)


async def routine_stats_of(conn: AsyncConnection, routine: RowMapping) -> RoutineStats:
    """The statistics of one routine's runs."""
    counts = (await store.routine_run_counts(conn, [routine["id"]], not_executed=_NOT_EXECUTED))[
        routine["id"]
    ]
    ended = await store.outcomes(conn, statuses=_OUTCOMES, routine_id=routine["id"])
    ran, succeeded, failed = run_counters(counts.by_status)
    active = routine["status"] == RoutineStatus.ACTIVE
    return RoutineStats(
        routine_id=routine["id"],
        run_count=ran,
        success_count=succeeded,
        failure_count=failed,
        runs_by_status=counts.by_status,
        success_rate=success_rate(counts.by_status),
        avg_duration_seconds=_rounded(ended.avg_duration_sec),
        last_run=counts.last_run,
        last_status=counts.last_status,
        last_fired_at=routine["last_fired_at"],
        next_run_at=routine["next_run_at"] if active else None,
    )


@api.operation(
    "GET",
    "/api/companies/{companyId}/calendar",
    "Every scheduled fire in a window, per routine",
    "stats",
    response=Calendar,
    query=(
        QueryParam("from", {"type": "string", "format": "date-time"}, "Default: now"),
        QueryParam("to", {"type": "string", "format": "date-time"}, "Default: from + 7 days"),
        QueryParam("routineId", {"type": "string"}, "Only this routine"),
    ),
)
async def calendar(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(CalendarQuery, dict(request.query_params))
    ctx = context_of(request)
    try:
        start, end = query.window(ctx.clock())
    except ValueError as exc:
        raise ValidationFailed(str(exc), {"to": str(exc)}) from None
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        document = await calendar_of(conn, company["id"], start, end, routine_id=query.routine_id)
    return model_response(document)


async def calendar_of(
    conn: AsyncConnection,
    company_id: str,
    start: datetime,
    end: datetime,
    *,
    routine_id: str | None = None,
) -> Calendar:
    """Every scheduled fire of the company's active routines in [start, end)."""
    triggers = await store.schedule_triggers(
        conn,
        company_id,
        routine_statuses=[RoutineStatus.ACTIVE.value],
        routine_id=routine_id,
    )
    fires: dict[str, list[CalendarFire]] = defaultdict(list)
    titles: dict[str, str] = {}
    truncated: set[str] = set()
    for trigger in triggers:
        owner = trigger["routine_id"]
        titles[owner] = trigger["routine_title"]
        # A RowMapping's keys may be columns too; these rows are keyed by name.
        schedule = schedule_of(cast("Mapping[str, Any]", trigger))
        if schedule is None:
            continue
        # The window is [from, to); fires_between's is (start, end].
        found = fires_between(
            schedule,
            start - timedelta(microseconds=1),
            end,
            limit=CALENDAR_MAX_FIRES_PER_TRIGGER + 1,
        )
        found = [at for at in found if at < end]
        if len(found) > CALENDAR_MAX_FIRES_PER_TRIGGER:
            found = found[:CALENDAR_MAX_FIRES_PER_TRIGGER]
            truncated.add(owner)
        fires[owner].extend(CalendarFire(at=at, trigger_id=trigger["id"]) for at in found)
    routines = [
        CalendarRoutine(
            routine_id=owner,
            title=title,
            fires=sorted(fires[owner], key=lambda fire: fire.at),
            truncated=owner in truncated,
        )
        for owner, title in titles.items()
    ]
    return Calendar.model_validate(
        {
            "from": start,
            "to": end,
            "routines": routines,
            "totalFires": sum(len(r.fires) for r in routines),
        }
    )


async def weekly_activity(
    conn: AsyncConnection, company_id: str, now: datetime, weeks: int, timezone: str
) -> tuple[datetime, list[list[int]]]:
    """Executed runs of the last `weeks` weeks by local weekday (0 Sunday) and hour."""
    since = now - timedelta(weeks=weeks)
    hours = await store.hourly_run_counts(conn, company_id, since, now, not_executed=_NOT_EXECUTED)
    zone = ZoneInfo(timezone)
    counts = [[0] * 24 for _ in range(7)]
    for hour_start, count in hours:
        # An hour of UTC is an hour of local time in every whole-hour zone; in the few
        # half-hour zones it lands in the local hour it starts in.
        local = hour_start.astimezone(zone)
        counts[(local.weekday() + 1) % 7][local.hour] += count
    return since, counts


@api.operation(
    "GET",
    "/api/companies/{companyId}/heatmap",
    "Run activity as a 7x24 grid (weekday by hour)",
    "stats",
    response=Heatmap,
    query=(
        QueryParam("weeks", {"type": "integer", "minimum": 1, "maximum": 52, "default": 4}),
        QueryParam("timezone", {"type": "string", "default": "UTC"}, "IANA zone of the grid"),
    ),
)
async def heatmap(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(HeatmapQuery, dict(request.query_params))
    ctx = context_of(request)
    now = ctx.clock()
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        document = await heatmap_of(conn, company["id"], now, query.weeks, query.timezone)
    return model_response(document)


async def heatmap_of(
    conn: AsyncConnection, company_id: str, now: datetime, weeks: int, timezone: str
) -> Heatmap:
    """The company's run activity of the last `weeks` weeks as a weekday-by-hour grid."""
    since, counts = await weekly_activity(conn, company_id, now, weeks, timezone)
    peak = max(max(row) for row in counts)
    levels = [
        [math.ceil(count * HEAT_LEVELS / peak) if count else 0 for count in row] for row in counts
    ]
    return Heatmap.model_validate(
        {
            "timezone": timezone,
            "weeks": weeks,
            "from": since,
            "to": now,
            "days": list(DAY_NAMES),
            "counts": counts,
            "levels": levels,
            "max": peak,
            "total": sum(map(sum, counts)),
        }
    )


@api.operation(
    "GET",
    "/api/companies/{companyId}/suggestions",
    "Quiet times near a requested time, from the activity heatmap",
    "stats",
    response=Suggestions,
    query=(
        QueryParam("time", {"type": "string", "pattern": "^\\d{1,2}:\\d{2}$"}, "HH:MM"),
        QueryParam(
            "days",
            {"enum": list(_DAYS_OF)},
            "daily (default), weekdays, weekends or one day",
        ),
        QueryParam("timezone", {"type": "string", "default": "UTC"}),
        QueryParam("weeks", {"type": "integer", "minimum": 1, "maximum": 52, "default": 4}),
        QueryParam("count", {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}),
        QueryParam("withinHours", {"type": "integer", "minimum": 1, "maximum": 12, "default": 3}),
    ),
)
async def suggestions(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(SuggestionQuery, dict(request.query_params))
    ctx = context_of(request)
    now = ctx.clock()
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        _, counts = await weekly_activity(conn, company["id"], now, query.weeks, query.timezone)
    local_now = now.astimezone(ZoneInfo(query.timezone))
    hour, minute = query.clock() or (local_now.hour, local_now.minute)
    return model_response(Suggestions(suggestions=quiet_times(counts, query, hour, minute)))


def quiet_times(
    counts: list[list[int]], query: SuggestionQuery, hour: int, minute: int
) -> list[Suggestion]:
    """The least busy hours within `query.within_hours` of `hour` on the requested days,
    nearest first among equally quiet ones."""
    days, label, cron_days = _DAYS_OF[query.days]

    def per_week(h: int) -> float:
        return sum(counts[day][h] for day in days) / query.weeks

    requested = per_week(hour)
    offsets = range(-query.within_hours, query.within_hours + 1)
    ranked = sorted(offsets, key=lambda offset: (per_week((hour + offset) % 24), abs(offset)))
    result: list[Suggestion] = []
    for offset in ranked[: query.count]:
        slot = (hour + offset) % 24
        load = per_week(slot)
        if offset == 0:
            where = "the requested hour"
        else:
            where = f"{abs(offset)} h {'later' if offset > 0 else 'earlier'} than requested"
        busy = (
            f"no runs in this hour on {label} in the last {query.weeks} week(s)"
            if load == 0
            else f"{load:.1f} runs per week in this hour on {label}"
        )
        if offset != 0:
            busy += f", against {requested:.1f} at {hour:02d}:00"
        result.append(
            Suggestion(
                time=f"{slot:02d}:{minute:02d}",
                days=label,
                reason=f"{busy}; {where}",
                cron_expression=f"{minute} {slot} * * {cron_days}",
                timezone=query.timezone,
                runs_per_week=round(load, 2),
            )
        )
    return result
