"""Authentication by API key and the access rules of seed 002.

A key of another company gets 404, never 403, for that company's resources. A key bound
to a collection (seed 000) sees only the tasks of that collection and the routines bound
to them: anything else is 404 to it too, on every surface.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from firehook.auth import Principal, hash_api_key
from firehook.context import Context, context_of
from firehook.ids import is_uuid
from firehook.store import accounts, routines, tasks
from schemas.common import Role
from schemas.companies import KeyPermissions
from schemas.errors import Forbidden, NotFound, Unauthorized, ValidationFailed

# Paperclip's messages, which its clients show as they are.
ROUTINE_NOT_FOUND = "Routine not found"
TRIGGER_NOT_FOUND = "Routine trigger not found"
RUN_NOT_FOUND = "Run not found"
log = structlog.get_logger("firehook.gateway")


async def authenticate(request: Request) -> Principal:
    """The principal behind the request's `Authorization: Bearer` key."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized()
    ctx = context_of(request)
    # Read on every request, never cached: a revoked key is refused at once by every process.
    async with ctx.db.read() as conn:
        row = await accounts.find_api_key(conn, hash_api_key(key.strip()))
    if row is None:
        raise Unauthorized("invalid API key")
    now = ctx.clock()
    if ctx.key_use.due(row["id"], row["last_used_at"], now):
        await _record_use(ctx, row["id"], now)
    return Principal(
        key_id=row["id"],
        role=Role(row["role"]),
        company_id=row["company_id"],
        agent_id=row["agent_id"],
        collection=row["collection"],
    )


async def _record_use(ctx: Context, key_id: str, now: datetime) -> None:
    try:
        async with ctx.db.write() as conn:
            await accounts.record_api_key_use(conn, {key_id: now})
    except SQLAlchemyError as exc:
        # `lastUsedAt` is informational: the request goes on without it.
        log.warning("could not record an API key's use", key_id=key_id, error=type(exc).__name__)


def require_company(principal: Principal, company_id: str) -> None:
    """404 unless the principal may see this company."""
    if principal.role is not Role.ADMIN and principal.company_id != company_id:
        raise NotFound("company not found")


def require_board(principal: Principal) -> None:
    if principal.role is Role.AGENT:
        raise Forbidden("agents cannot do this; it needs a board or admin key")


def require_routine_manager(principal: Principal, routine: RowMapping) -> None:
    """Agents manage only routines assigned to themselves."""
    if principal.role is Role.AGENT and routine["assignee_agent_id"] != principal.agent_id:
        raise Forbidden("agents can only manage routines assigned to themselves")


def require_assignment(principal: Principal, assignee_agent_id: str | None) -> None:
    """Agents cannot assign a routine to anyone but themselves."""
    if principal.role is Role.AGENT and assignee_agent_id != principal.agent_id:
        raise Forbidden("agents can only assign routines to themselves")


def permissions_of(principal: Principal) -> KeyPermissions:
    """What the rules of this module and of the handlers let the principal do, for a
    client to offer only that: kept next to the rules so that they change together."""
    board = principal.role is not Role.AGENT
    # Stats, chains, the event stream, bulk actions and the key list span collections.
    company_wide = principal.collection is None
    return KeyPermissions(
        manage_routines="all" if board else "assigned",
        assign_routines="anyone" if board else "self",
        routines_need_task=not company_wide,
        create_companies=principal.role is Role.ADMIN,
        create_api_keys=board,
        list_api_keys=board and company_wide,
        revoke_api_keys=board,
        manage_tasks=board,
        view_chains=company_wide,
        manage_chains=board and company_wide,
        view_run_stream=company_wide,
        view_company_stats=company_wide,
        bulk_routines=company_wide,
        inspect_deliveries=board,
        retry_runs_in_bulk=board and company_wide,
    )


def task_visible(principal: Principal, task: RowMapping) -> bool:
    """Whether the principal may see this task: its company's, and in its collection if bound."""
    if principal.role is not Role.ADMIN and principal.company_id != task["company_id"]:
        return False
    return principal.collection is None or task["collection"] == principal.collection


async def routine_visible(conn: AsyncConnection, principal: Principal, routine: RowMapping) -> bool:
    """Whether the principal may see this routine: for a collection-bound key, only the
    routines of that collection's tasks."""
    if principal.role is not Role.ADMIN and principal.company_id != routine["company_id"]:
        return False
    if principal.collection is None:
        return True
    task = await tasks.get_task(conn, routine["task_id"]) if routine["task_id"] else None
    return task is not None and task["collection"] == principal.collection


async def require_task_in_collection(
    conn: AsyncConnection, principal: Principal, task_id: str | None
) -> None:
    """A collection-bound key binds routines only to tasks of its collection (a task of
    another collection is not found, as everywhere for such a key)."""
    if principal.collection is None:
        return
    if task_id is None:
        raise ValidationFailed(
            "taskId is required: this key manages only routines of its collection's tasks",
            {"taskId": "required"},
        )
    task = await tasks.get_task(conn, task_id) if is_uuid(task_id) else None
    if task is None or not task_visible(principal, task):
        raise ValidationFailed("taskId: task not found", {"taskId": "task not found"})


async def load_company(
    conn: AsyncConnection, principal: Principal, company_id: str, *, collection_scoped: bool = False
) -> RowMapping:
    """The company, or 404. A collection-bound key reaches only the company-wide operations
    that narrow what they answer to its collection (`collection_scoped`): the others (stats,
    chains, the event stream) span every collection, so they are 404 to it."""
    if not is_uuid(company_id):
        raise NotFound("company not found")
    require_company(principal, company_id)
    if principal.collection is not None and not collection_scoped:
        raise NotFound("company not found")
    company = await accounts.get_company(conn, company_id)
    if company is None:
        raise NotFound("company not found")
    return company


async def load_routine(conn: AsyncConnection, principal: Principal, routine_id: str) -> RowMapping:
    if not is_uuid(routine_id):
        raise NotFound(ROUTINE_NOT_FOUND)
    routine = await routines.get_routine(conn, routine_id)
    if routine is None or not await routine_visible(conn, principal, routine):
        raise NotFound(ROUTINE_NOT_FOUND)
    return routine


async def load_trigger(
    conn: AsyncConnection, principal: Principal, trigger_id: str, *, lock_routine: bool = False
) -> tuple[RowMapping, RowMapping]:
    """The trigger and its routine; with `lock_routine`, the routine row-locked on
    PostgreSQL before the caller changes the trigger, the order in which the consumer
    and the ticker lock them (a trigger locked first could deadlock with them)."""
    if not is_uuid(trigger_id):
        raise NotFound(TRIGGER_NOT_FOUND)
    trigger = await routines.get_trigger(conn, trigger_id)
    if trigger is None or (
        principal.role is not Role.ADMIN and principal.company_id != trigger["company_id"]
    ):
        raise NotFound(TRIGGER_NOT_FOUND)
    routine = await routines.get_routine(conn, trigger["routine_id"], for_update=lock_routine)
    assert routine is not None
    if not await routine_visible(conn, principal, routine):
        raise NotFound("trigger not found")
    return trigger, routine
