"""Bulk actions: pause, resume, archive or backfill every routine a label selector matches."""

from __future__ import annotations

from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.store import routines as store
from gateway.access import authenticate, load_company
from gateway.api.backfills import start_backfill
from gateway.api.routines import change_routine
from gateway.changes import routine_changed
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api
from gateway.selectors import read_selector
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
# The revision summaries of the single-routine pause, resume and archive.
_SUMMARY = {
    RoutineStatus.PAUSED: "Paused",
    RoutineStatus.ACTIVE: "Resumed",
    RoutineStatus.ARCHIVED: "Archived",
}


def _may_manage(principal: Principal, routine: RowMapping) -> bool:
    return principal.role is not Role.AGENT or routine["assignee_agent_id"] == principal.agent_id


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
            collection=principal.collection,
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
            target = _TARGET[body.action]
            results.append(await _change_status(ctx, principal, routine, target, body.dry_run))
    answer = BulkResult(action=body.action, dry_run=body.dry_run, matched=total, results=results)
    return model_response(answer)


async def _change_status(
    ctx: Context, principal: Principal, routine: RowMapping, target: RoutineStatus, dry_run: bool
) -> BulkOutcome:
    if dry_run:
        return _status_outcome(routine, target, dry_run=True)
    try:
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
                # The single-routine rules apply: a draft is not resumed, and the change
                # is a revision.
                await change_routine(
                    conn,
                    ctx,
                    principal,
                    fresh["id"],
                    {"status": target.value},
                    change_summary=_SUMMARY[target],
                )
    except FirehookError as error:
        return BulkOutcome(
            routine_id=routine["id"],
            title=routine["title"],
            status=RoutineStatus(routine["status"]),
            outcome="refused",
            reason=error.message,
        )
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
