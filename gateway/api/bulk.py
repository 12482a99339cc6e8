"""Bulk actions: pause, resume, archive or backfill every routine a label selector matches."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.store import routines as store
from gateway.access import authenticate, load_company
from gateway.api.backfills import start_backfill
from gateway.changes import routine_changed
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api
from gateway.selectors import read_selector
from scheduler import reschedule_routine_triggers
from schemas.backfills import BackfillRange
from schemas.bulk import BulkAction, BulkOutcome, BulkResult
from schemas.common import Role, RoutineStatus
from schemas.errors import FirehookError, Unprocessable, ValidationFailed
from schemas.routines import can_transition

api = Api()

_TARGET = {
    "pause": RoutineStatus.PAUSED,
    "resume": RoutineStatus.ACTIVE,
    "archive": RoutineStatus.ARCHIVED,
}


def _may_manage(principal: Principal, routine: RowMapping) -> bool:
    return principal.role is not Role.AGENT or routine["assignee_agent_id"] == principal.agent_id


async def set_routine_status(
    conn: AsyncConnection, routine: RowMapping, target: RoutineStatus, ctx: Context
) -> None:
    """Move a routine along its lifecycle, as pause / resume / archive do."""
    now = ctx.clock()
    changes: dict[str, Any] = {"status": target.value, "updated_at": now}
    if target is RoutineStatus.ARCHIVED:
        changes["archived_at"] = now
    if target is RoutineStatus.ACTIVE:
        changes["paused_reason"] = None
    await store.update_routine(conn, routine["id"], changes)
    if routine["status"] == RoutineStatus.PAUSED and target is RoutineStatus.ACTIVE:
        await reschedule_routine_triggers(conn, dict(routine) | changes, now, resumed=True)


def _status_outcome(routine: RowMapping, target: RoutineStatus, dry_run: bool) -> BulkOutcome:
    current = RoutineStatus(routine["status"])
    base = {"routine_id": routine["id"], "title": routine["title"], "status": current}
    if current is target:
        return BulkOutcome(**base, outcome="unchanged")
    if not can_transition(current, target):
        reason = f"a routine cannot go from {current} to {target}"
        return BulkOutcome(**base, outcome="refused", reason=reason)
    return BulkOutcome(
        **base | {"status": current if dry_run else target},
        outcome="would_apply" if dry_run else "applied",
    )


@api.operation(
    "POST",
    "/api/companies/{companyId}/routines/bulk",
    "Pause, resume, archive or backfill every routine a label selector matches",
    "routines",
    request=BulkAction,
    response=BulkResult,
    errors=(400, 401, 404, 422),
)
async def bulk_action(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
    body = await parse_body(request, BulkAction)
    selector = read_selector(body.selector, "selector")
    if not selector:
        raise ValidationFailed("selector: name at least one requirement", {"selector": "empty"})
    backfill_range = None
    if body.action == "backfill":
        values = {"from": body.start, "to": body.end, "overlapPolicy": body.overlap_policy}
        backfill_range = validate(BackfillRange, values)
    limit = ctx.settings.bulk_max_routines
    async with ctx.db.read() as conn:
        rows, total = await store.list_routines(
            conn,
            company["id"],
            filters={},
            order_by="created_at",
            descending=False,
            limit=limit,
            offset=0,
            label_selector=selector,
        )
    if total > limit:
        raise Unprocessable(
            f"the selector matches {total} routines, more than {limit}", {"selector": "too broad"}
        )
    results: list[BulkOutcome] = []
    for routine in rows:
        if not _may_manage(principal, routine):
            results.append(
                BulkOutcome(
                    routine_id=routine["id"],
                    title=routine["title"],
                    status=RoutineStatus(routine["status"]),
                    outcome="forbidden",
                    reason="agents can only manage routines assigned to themselves",
                )
            )
        elif backfill_range is not None:
            results.append(await _backfill_one(ctx, routine, backfill_range, body.dry_run))
        else:
            results.append(await _change_status(ctx, routine, _TARGET[body.action], body.dry_run))
    answer = BulkResult(action=body.action, dry_run=body.dry_run, matched=total, results=results)
    return model_response(answer)


async def _change_status(
    ctx: Context, routine: RowMapping, target: RoutineStatus, dry_run: bool
) -> BulkOutcome:
    if dry_run:
        return _status_outcome(routine, target, dry_run=True)
    async with ctx.db.write() as conn:
        # Read again under the write lock: the routine may have changed since the match.
        fresh = await store.get_routine(conn, routine["id"])
        if fresh is None:
            return BulkOutcome(
                routine_id=routine["id"],
                title=routine["title"],
                status=RoutineStatus(routine["status"]),
                outcome="refused",
                reason="the routine no longer exists",
            )
        outcome = _status_outcome(fresh, target, dry_run=False)
        if outcome.outcome == "applied":
            await set_routine_status(conn, fresh, target, ctx)
    if outcome.outcome == "applied":
        routine_changed(ctx, routine["id"])
    return outcome


async def _backfill_one(
    ctx: Context, routine: RowMapping, backfill_range: BackfillRange, dry_run: bool
) -> BulkOutcome:
    base = {
        "routine_id": routine["id"],
        "title": routine["title"],
        "status": RoutineStatus(routine["status"]),
    }
    if routine["status"] == RoutineStatus.ARCHIVED:
        return BulkOutcome(**base, outcome="refused", reason="routine is archived")
    if dry_run:
        return BulkOutcome(**base, outcome="would_apply")
    try:
        started = await start_backfill(ctx, routine, backfill_range)
    except FirehookError as error:
        return BulkOutcome(**base, outcome="refused", reason=error.message)
    return BulkOutcome(**base, outcome="applied", backfill_id=started.id)
