"""Seed 000 (Jetty/Mise routines): request and response shapes, snake_case as the seed.

A routine here is a routine of one task, addressed by name within (collection, task);
a trajectory is a run. Cadence rules and their messages are those of `schemas.cron`.
The models carry a `Mise` prefix so that their OpenAPI names stay apart from the native
ones; the seed calls them RoutineCreate, RoutineRead, WorkflowResponse.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from schemas.common import ConcurrencyPolicy
from schemas.routines import InitParamsOverrides, SecretParams
from schemas.triggers import Cadence

RoutineName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f\x7f]+$")]


class MiseOverlapPolicy(StrEnum):
    """What a fire does while a run of the routine is active (seed 000's names)."""

    SKIP = "skip"
    ALLOW = "allow"
    COALESCE = "coalesce"


CONCURRENCY_OF: dict[MiseOverlapPolicy, ConcurrencyPolicy] = {
    MiseOverlapPolicy.SKIP: ConcurrencyPolicy.SKIP_IF_ACTIVE,
    MiseOverlapPolicy.ALLOW: ConcurrencyPolicy.ALWAYS_ENQUEUE,
    MiseOverlapPolicy.COALESCE: ConcurrencyPolicy.COALESCE_IF_ACTIVE,
}
OVERLAP_OF: dict[ConcurrencyPolicy, MiseOverlapPolicy] = {
    policy: overlap for overlap, policy in CONCURRENCY_OF.items()
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MiseRoutineCreate(_Request):
    name: RoutineName
    cadence: Cadence
    init_params_overrides: InitParamsOverrides = Field(default_factory=dict)
    secret_params: SecretParams = Field(
        default_factory=dict, description="Encrypted at rest; responses show only the names."
    )
    paused: bool = False
    overlap_policy: MiseOverlapPolicy = MiseOverlapPolicy.SKIP


class MiseRoutinePatch(_Request):
    """Any field of MiseRoutineCreate; absent fields are left as they are."""

    name: RoutineName | None = None
    cadence: Cadence | None = None
    init_params_overrides: InitParamsOverrides | None = None
    secret_params: SecretParams | None = Field(
        default=None, description="Replaces every secret param; {} removes them."
    )
    paused: bool | None = None
    overlap_policy: MiseOverlapPolicy | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in ("name", "cadence", "paused", "overlap_policy"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class MiseRoutineRead(BaseModel):
    id: str
    name: str
    collection: str
    task: str
    cadence: Cadence | None = Field(
        description="null when the routine's schedule is not a cadence (made natively)."
    )
    init_params_overrides: dict[str, Any]
    secret_params: list[str] = Field(description="Names only; values are never returned.")
    paused: bool
    overlap_policy: MiseOverlapPolicy
    next_run_at: datetime | None = Field(
        description="null for manual cadences and paused routines."
    )
    warnings: list[str]
    created_at: datetime
    updated_at: datetime


class MiseRoutineList(RootModel[list[MiseRoutineRead]]):
    """The routines of a task, oldest first."""


class MiseOneShotRun(_Request):
    init_params: InitParamsOverrides = Field(default_factory=dict)


class MiseWorkflowResponse(BaseModel):
    """The answer to a run request: the trajectory to poll."""

    workflow_id: str
    trajectory_id: str
    status: str
    collection: str
    task: str
    routine_id: str | None = Field(description="The routine fired; null for a one-shot run.")


class MiseTrajectory(BaseModel):
    trajectory_id: str
    workflow_id: str
    status: str
    collection: str
    task: str
    routine_id: str | None
    triggered_by_routine_id: str | None
    source: str
    init_params: dict[str, Any] = Field(
        description="The task's defaults under the routine's overrides and the run's own."
    )
    reason: str | None
    scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    output: Any = None
    error: str | None = None


class MiseTrajectoryList(RootModel[list[MiseTrajectory]]):
    """Trajectories, newest first."""


class MiseRunsQuery(_Request):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)
