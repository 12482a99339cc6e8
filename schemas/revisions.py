"""Routine revisions: who changed a routine or its triggers, when, and what (Paperclip's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.common import ApiModel, ResponseModel
from schemas.routines import Routine


class Revision(ResponseModel):
    id: str
    company_id: str
    routine_id: str
    revision_number: int
    title: str
    description: str | None
    snapshot: dict[str, Any] = Field(
        description="The routine and its triggers after the change (secrets left out)."
    )
    change_summary: str | None
    changed_fields: list[str] = Field(description="Fields that differ from the revision before.")
    restored_from_revision_id: str | None
    created_by_key_id: str | None
    created_by_agent_id: str | None
    created_at: datetime


class RevisionRestore(ApiModel):
    change_summary: str | None = Field(default=None, max_length=500)


class RestoredSecret(ResponseModel):
    trigger_id: str
    webhook_url: str
    webhook_secret: str


class RevisionRestored(ResponseModel):
    routine: Routine
    revision: Revision
    restored_from_revision_id: str
    restored_from_revision_number: int
    secret_materials: list[RestoredSecret] = Field(
        description="Webhook triggers the restore re-created, each with its new secret."
    )
