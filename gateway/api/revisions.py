"""Routine revisions: the history of a routine and its triggers, and restoring one of them.

As Paperclip (`server/src/routes/routines.ts`, `restoreRevision` in
`server/src/services/routines.ts`): a restore applies the snapshot's routine fields
and triggers, and is itself recorded as a new revision. A trigger the snapshot has
and the routine no longer has comes back under its id and public id with a fresh
secret (secrets are never part of a snapshot), shown once in `secretMaterials`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel, to_snake
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.context import Context, context_of
from firehook.ids import is_uuid
from firehook.store import revisions as store
from firehook.store import routines as routine_store
from firehook.store import tasks as task_store
from gateway.access import (
    authenticate,
    load_routine,
    require_assignment,
    require_routine_manager,
)
from gateway.api.triggers import next_run_of
from gateway.changes import routine_changed, trigger_changed
from gateway.http import list_response, model_response, parse_body
from gateway.revisions import ROUTINE_FIELDS, TRIGGER_FIELDS, record_revision, revision_view
from gateway.routing import Api
from gateway.signatures import generate_secret
from gateway.views import routine_extras, routine_view
from scheduler import reschedule_routine_triggers
from schemas.common import RoutineStatus, TriggerKind
from schemas.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from schemas.revisions import RestoredSecret, Revision, RevisionRestore, RevisionRestored

api = Api()

REVISION_NOT_FOUND = "Routine revision not found"
_AT = "at"


@api.operation(
    "GET",
    "/api/routines/{routineId}/revisions",
    "List a routine's revisions, newest first",
    "routines",
    response=list[Revision],
)
async def list_revisions(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        rows = await store.list_revisions(conn, routine["id"])
    return list_response(rows, revision_view, reader="revision_list", total=len(rows))


@api.operation(
    "POST",
    "/api/routines/{routineId}/revisions/{revisionId}/restore",
    "Restore a routine and its triggers as a revision had them",
    "routines",
    request=RevisionRestore,
    response=RevisionRestored,
    errors=(400, 401, 403, 404, 409),
)
async def restore_revision(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        await load_routine(conn, principal, request.path_params["routineId"])
    body = await parse_body(request, RevisionRestore, optional=True)
    revision_id = request.path_params["revisionId"]
    async with ctx.db.write() as conn:
        routine = await load_routine(conn, principal, request.path_params["routineId"])
        require_routine_manager(principal, routine)
        target = await store.get_revision(conn, revision_id) if is_uuid(revision_id) else None
        if target is None or target["routine_id"] != routine["id"]:
            raise NotFound(REVISION_NOT_FOUND)
        if routine["status"] == RoutineStatus.ARCHIVED:
            raise Conflict("routine is archived; archived routines cannot be changed or restored")
        if target["id"] == routine["latest_revision_id"]:
            raise Conflict(
                "Selected revision is already the latest revision",
                {"revisionId": target["id"]},
            )
        now = ctx.clock()
        fields = {
            to_snake(name): value
            for name, value in target["snapshot"]["routine"].items()
            if to_snake(name) in ROUTINE_FIELDS
        }
        require_assignment(principal, fields.get("assignee_agent_id"))
        if fields.get("status") == RoutineStatus.ARCHIVED:
            fields["status"] = routine["status"]
        if fields.get("status") == RoutineStatus.ACTIVE:
            fields["paused_reason"] = None
        await routine_store.update_routine(conn, routine["id"], fields | {"updated_at": now})
        secrets, public_ids = await _restore_triggers(ctx, conn, routine, target["snapshot"], now)
        await routine_store.refresh_routine_next_run(conn, routine["id"], now)
        await task_store.refresh_trigger_conditions(conn, routine["id"])
        restored = await routine_store.get_routine(conn, routine["id"])
        assert restored is not None
        if routine["status"] == RoutineStatus.PAUSED and restored["status"] == RoutineStatus.ACTIVE:
            await reschedule_routine_triggers(conn, restored, now, resumed=True)
        summary = body.change_summary or f"Restored from revision {target['revision_number']}"
        revision = await record_revision(
            conn, routine["id"], principal, now, summary, restored_from=target["id"]
        )
        assert revision is not None
        row = await routine_store.get_routine(conn, routine["id"])
        triggers = await routine_store.list_triggers(conn, [routine["id"]])
        assert row is not None
        extras = await routine_extras(conn, ctx.secrets, [row])
    routine_changed(ctx, routine["id"])
    for public_id in public_ids:
        trigger_changed(ctx, public_id)
    answer = RevisionRestored(
        routine=routine_view(row, triggers[row["id"]], ctx, extras=extras[row["id"]]),
        revision=revision_view(revision),
        restored_from_revision_id=target["id"],
        restored_from_revision_number=target["revision_number"],
        secret_materials=secrets,
    )
    return model_response(answer)


async def _restore_triggers(
    ctx: Context,
    conn: AsyncConnection,
    routine: RowMapping,
    snapshot: dict[str, Any],
    now: datetime,
) -> tuple[list[RestoredSecret], list[str | None]]:
    """Make the routine's triggers those of the snapshot; the secrets of re-created webhooks
    and the public ids whose cached copies are now stale."""
    current = {
        t["id"]: t
        for t in (await routine_store.list_triggers(conn, [routine["id"]]))[routine["id"]]
    }
    wanted = {t["id"]: t for t in snapshot["triggers"]}
    touched: list[str | None] = []
    for trigger_id in current.keys() - wanted.keys():
        await routine_store.delete_trigger(conn, trigger_id)
        touched.append(current[trigger_id]["public_id"])
    secrets: list[RestoredSecret] = []
    for trigger_id, saved in wanted.items():
        values = {name: saved.get(to_camel(name)) for name in TRIGGER_FIELDS}
        if values[_AT] is not None:
            values[_AT] = datetime.fromisoformat(values[_AT])
        if values["kind"] == TriggerKind.SCHEDULE:
            values["next_run_at"] = _next_run(values, now) if values["enabled"] else None
        values["updated_at"] = now
        existing = current.get(trigger_id)
        if existing is not None:
            await routine_store.update_trigger(conn, trigger_id, values)
            touched.append(existing["public_id"])
            continue
        values |= {
            "id": trigger_id,
            "routine_id": routine["id"],
            "company_id": routine["company_id"],
            "version": 1,
            "created_at": now,
        }
        if values["kind"] == TriggerKind.WEBHOOK:
            secret = generate_secret(values["signing_mode"])
            values["secret_enc"] = ctx.secrets.encrypt(secret, trigger_id.encode())
            values["last_rotated_at"] = now
            secrets.append(
                RestoredSecret(
                    trigger_id=trigger_id,
                    webhook_url=ctx.public_url(values["public_id"]),
                    webhook_secret=secret,
                )
            )
        await routine_store.insert_trigger(conn, values)
        touched.append(values["public_id"])
    return secrets, touched


def _next_run(values: dict[str, Any], now: datetime) -> datetime | None:
    try:
        return next_run_of(values, now)
    except (Unprocessable, ValidationFailed):
        return None  # a one-shot time that has passed: restored, it fires no more
