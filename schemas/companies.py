"""Companies and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.common import ApiModel, Identifier, ResponseModel, Role, ShortText


class CompanyCreate(ApiModel):
    name: ShortText


class Company(ResponseModel):
    id: str
    name: str
    created_at: datetime


class ApiKeyCreate(ApiModel):
    role: Role
    agent_id: Identifier | None = None
    name: ShortText | None = None
    collection: ShortText | None = Field(
        default=None,
        description="Bind the key to this collection of tasks: it sees only those tasks and "
        "their routines, and gets 404 for anything else.",
    )

    @model_validator(mode="after")
    def _agent_id_for_agents_only(self) -> Self:
        if self.role is Role.AGENT and self.agent_id is None:
            raise ValueError("an agent key requires agentId")
        if self.role is not Role.AGENT and self.agent_id is not None:
            raise ValueError("agentId applies only to agent keys")
        if self.role is Role.ADMIN:
            raise ValueError("admin keys are created with `firehook keys create --role admin`")
        return self


class ApiKeyCreated(ResponseModel):
    id: str
    key: str = Field(description="Shown once; only its hash is stored.")
    role: Role
    company_id: str | None
    agent_id: str | None
    name: str | None
    collection: str | None = None
    created_at: datetime


class ApiKey(ResponseModel):
    """A key as listed: what it may do and when it was used, never the key itself."""

    id: str
    name: str | None
    role: Role
    company_id: str | None
    agent_id: str | None
    collection: str | None = Field(
        default=None, description="The one task collection the key is bound to, if any."
    )
    prefix: str | None = Field(
        description="The key's first characters, to tell keys apart; null for keys made "
        "before prefixes were stored."
    )
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Roughly current: recorded at most once a minute per key."
    )
    revoked_at: datetime | None


class ApiKeyListQuery(ApiModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class KeyPermissions(ResponseModel):
    """What a key may do, by the rules the API enforces, so a client offers only that."""

    manage_routines: Literal["all", "assigned"] = Field(
        description="Which routines the key may change, pause, resume, run, archive, restore, "
        "backfill, give triggers or rotate secrets of, and whose runs it may cancel or "
        "complete: `assigned` is only those whose assigneeAgentId is the key's agentId."
    )
    assign_routines: Literal["anyone", "self"] = Field(
        description="Whom a routine the key creates or edits may be assigned to: `self` "
        "is only the key's agentId."
    )
    routines_need_task: bool = Field(
        description="A routine the key creates must name a task of the key's collection."
    )
    create_companies: bool
    create_api_keys: bool
    list_api_keys: bool
    revoke_api_keys: bool
    manage_tasks: bool = Field(description="Create, change and delete tasks.")
    view_chains: bool
    manage_chains: bool = Field(description="Create and delete chains.")
    view_run_stream: bool = Field(
        description="Read the company's run events (`GET /api/companies/{companyId}/events`)."
    )
    view_company_stats: bool = Field(
        description="Read the company-wide statistics, calendar, heatmap and suggestions."
    )
    bulk_routines: bool = Field(
        description="Act on every routine a label selector matches (only those it may "
        "manage change)."
    )
    inspect_deliveries: bool = Field(
        description="Read, replay and test webhook deliveries, and retry a run by its id."
    )
    retry_runs_in_bulk: bool = Field(description="Retry a company's failed runs by filter.")


class Me(ResponseModel):
    """The key a request carries: whom it stands for and what it may do."""

    key_id: str
    role: Role
    company_id: str | None = Field(description="Null for an admin key, which spans companies.")
    agent_id: str | None
    collection: str | None = Field(
        description="The one task collection the key is bound to, if any."
    )
    permissions: KeyPermissions
