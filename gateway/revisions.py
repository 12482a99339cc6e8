"""Recording a routine's revisions: a snapshot of it and its triggers after each change.

As Paperclip (`server/src/services/routines.ts`, `appendRoutineRevision`): a change
that leaves the snapshot as it was records nothing; a PATCH naming a
`baseRevisionId` other than the latest is refused, so two editors cannot silently
overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.auth import Principal
from firehook.ids import new_id
from firehook.store import revisions as store
from firehook.store import routines as routine_store
from schemas.common import utc_iso
from schemas.errors import Conflict
from schemas.revisions import Revision

SNAPSHOT_VERSION = 1
ROUTINE_FIELDS = (
    "project_id",
    "goal_id",
    "parent_issue_id",
    "title",
    "description",
    "assignee_agent_id",
    "priority",
    "status",
    "concurrency_policy",
    "catch_up_policy",
    "catch_up_cap",
    "misfire_grace_sec",
    "run_timeout_sec",
    "retry",
    "dispatch",
    "task_id",
    "init_params_overrides",
    "condition",
    "delivery",
    "variables",
    "labels",
    "pause_after_failures",
)
TRIGGER_FIELDS = (
    "kind",
    "label",
    "enabled",
    "cron_expression",
    "timezone",
    "cadence",
    "every_sec",
    "at",
    "jitter_sec",
    "public_id",
    "signing_mode",
    "replay_window_sec",
    "max_body_bytes",
    "rate_limit_per_minute",
    "condition",
    "exclude_dates",
    "dst_policy",
)


def snapshot(routine: Mapping[Any, Any], triggers: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """The routine and its triggers as a JSON document; secrets are never part of it."""
    return {
        "version": SNAPSHOT_VERSION,
        "routine": {"id": routine["id"], "companyId": routine["company_id"]}
        | {to_camel(name): _json(routine.get(name)) for name in ROUTINE_FIELDS},
        "triggers": [
            {"id": trigger["id"]}
            | {to_camel(name): _json(trigger[name]) for name in TRIGGER_FIELDS}
            for trigger in triggers
        ],
    }


def _json(value: Any) -> Any:
    return utc_iso(value) if isinstance(value, datetime) else value


def changed_fields(before: Mapping[Any, Any] | None, after: Mapping[Any, Any]) -> list[str]:
    """Names of what differs: routine fields by name, triggers as `triggers.<id>.<field>`."""
    if before is None:
        return []
    old_routine, new_routine = before.get("routine", {}), after["routine"]
    changed = [name for name in new_routine if old_routine.get(name) != new_routine[name]]
    old_triggers = {t["id"]: t for t in before.get("triggers", [])}
    new_triggers = {t["id"]: t for t in after["triggers"]}
    for trigger_id in old_triggers.keys() - new_triggers.keys():
        changed.append(f"triggers.{trigger_id}")
    for trigger_id, trigger in new_triggers.items():
        old = old_triggers.get(trigger_id)
        if old is None:
            changed.append(f"triggers.{trigger_id}")
            continue
        changed.extend(
            f"triggers.{trigger_id}.{name}" for name in trigger if old.get(name) != trigger[name]
        )
    return changed


def check_base_revision(routine: Mapping[Any, Any], base_revision_id: str | None) -> None:
    """409 unless `base_revision_id` is absent or the routine's latest revision."""
    latest = routine["latest_revision_id"]
    if base_revision_id is not None and base_revision_id != latest:
        raise Conflict(
            "Routine was updated by someone else",
            {"currentRevisionId": latest, "baseRevisionId": base_revision_id},
        )


async def record_revision(
    conn: AsyncConnection,
    routine_id: str,
    principal: Principal | None,
    now: datetime,
    change_summary: str,
    *,
    restored_from: str | None = None,
) -> Mapping[Any, Any] | None:
    """Store a revision of the routine as it is now, unless nothing in its snapshot changed;
    `principal` is who made the change (None for changes made by Firehook itself)."""
    routine = await routine_store.get_routine(conn, routine_id)
    assert routine is not None
    triggers = (await routine_store.list_triggers(conn, [routine_id]))[routine_id]
    document = snapshot(routine, triggers)
    previous = None
    if routine["latest_revision_id"] is not None:
        previous = await store.get_revision(conn, routine["latest_revision_id"])
        if previous is not None and previous["snapshot"] == document and restored_from is None:
            return None
    values = {
        "id": new_id(),
        "company_id": routine["company_id"],
        "routine_id": routine_id,
        "revision_number": routine["latest_revision_number"] + 1,
        "title": routine["title"],
        "description": routine["description"],
        "snapshot": document,
        "change_summary": change_summary,
        "changed_fields": changed_fields(previous["snapshot"] if previous else None, document),
        "restored_from_revision_id": restored_from,
        "created_by_key_id": principal.key_id if principal is not None else None,
        "created_by_agent_id": principal.agent_id if principal is not None else None,
        "created_at": now,
    }
    await store.insert_revision(conn, values)
    await routine_store.update_routine(
        conn,
        routine_id,
        {"latest_revision_id": values["id"], "latest_revision_number": values["revision_number"]},
    )
    return values


def revision_view(row: Mapping[Any, Any]) -> Revision:
    return Revision.model_validate(dict(row))
