"""Companies and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Self

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
