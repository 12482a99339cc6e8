"""Routine requests and responses (seeds 001/002, plus policies and dispatch)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AnyHttpUrl, ConfigDict, Field, field_validator, model_validator

from schemas.common import (
    ApiModel,
    CatchUpPolicy,
    ConcurrencyPolicy,
    Identifier,
    LongText,
    Priority,
    ResponseModel,
    RoutineStatus,
    ShortText,
    null_refused_in_schema,
    refuse_null,
)
from schemas.conditions import Condition, ConditionView
from schemas.labels import LABELS_DOC, Labels
from schemas.runs import IssueRef, Run, RunBrief
from schemas.triggers import Trigger
from schemas.variables import RoutineVariable, check_variables


class RetryStrategy(StrEnum):
    EXPONENTIAL = "exponential"
    FIXED = "fixed"


class RetryPolicy(ApiModel):
    """How failed, timed-out and undeliverable runs are attempted again (seed 003)."""

    max_attempts: int = Field(default=1, ge=1, le=20)
    strategy: RetryStrategy = RetryStrategy.EXPONENTIAL
    base_delay_sec: int = Field(default=60, ge=0, le=86_400)
    max_delay_sec: int = Field(default=3_600, ge=0, le=604_800)

    @model_validator(mode="after")
    def _max_not_below_base(self) -> Self:
        if self.max_delay_sec < self.base_delay_sec:
            raise ValueError("maxDelaySec must not be below baseDelaySec")
        return self


class DispatchType(StrEnum):
    STREAM = "stream"
    HTTP = "http"


class DispatchTarget(ApiModel):
    """Where a routine's runs go: the event stream, or an HTTP endpoint."""

    type: DispatchType = DispatchType.STREAM
    url: AnyHttpUrl | None = None
    timeout_sec: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _url_matches_type(self) -> Self:
        if self.type is DispatchType.HTTP and self.url is None:
            raise ValueError("http dispatch requires url")
        if self.type is DispatchType.STREAM and self.url is not None:
            raise ValueError("stream dispatch takes no url")
        if self.url is not None and len(str(self.url)) > 2048:
            raise ValueError("url is longer than 2048 characters")
        return self


class DeliveryFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"
    TEXT = "text"


class Delivery(ApiModel):
    """Where the executor should deliver a run's result (seed 003); passed through as is."""

    channel: ShortText
    format: DeliveryFormat = DeliveryFormat.MARKDOWN


Variables = Annotated[list[RoutineVariable], Field(max_length=100)]

ParamKey = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
InitParamsOverrides = Annotated[dict[ParamKey, Any], Field(max_length=200)]
SecretParams = Annotated[
    dict[ParamKey, Annotated[str, Field(max_length=10_000)]], Field(max_length=100)
]

DefaultPayload = Annotated[dict[ParamKey, Any], Field(max_length=200)]
_DEFAULT_PAYLOAD_DOC = (
    "Merged under the payload of every fire: a key the fire's payload also sets takes the "
    "fire's value."
)


class _RoutineFields(ApiModel):
    description: LongText | None = None
    goal_id: Identifier | None = None
    parent_issue_id: Identifier | None = None
    priority: Priority = Priority.MEDIUM
    status: RoutineStatus = RoutineStatus.ACTIVE
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.COALESCE_IF_ACTIVE
    catch_up_policy: CatchUpPolicy = CatchUpPolicy.SKIP_MISSED
    catch_up_cap: int = Field(default=25, ge=1, le=1_000)
    misfire_grace_sec: int = Field(default=60, ge=0, le=86_400)
    run_timeout_sec: int = Field(default=3_600, ge=1, le=604_800)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    dispatch: DispatchTarget = Field(default_factory=DispatchTarget)
    task_id: Identifier | None = None
    init_params_overrides: InitParamsOverrides = Field(default_factory=dict)
    secret_params: SecretParams | None = Field(
        default=None, description="Encrypted at rest; responses show only the key names."
    )
    condition: Condition | None = None
    delivery: Delivery | None = None
    variables: Variables = Field(default_factory=list)
    default_payload: DefaultPayload | None = Field(default=None, description=_DEFAULT_PAYLOAD_DOC)
    labels: Labels = Field(default_factory=dict, description=LABELS_DOC)
    pause_after_failures: int | None = Field(default=None, ge=1, le=1_000)


class RoutineCreate(_RoutineFields):
    """Without an assignee or a project the routine is a draft: created paused."""

    title: ShortText
    assignee_agent_id: Identifier | None = None
    project_id: Identifier | None = None

    @model_validator(mode="after")
    def _variables_fit(self) -> Self:
        check_variables(self.variables)
        return self

    @property
    def is_draft(self) -> bool:
        return self.assignee_agent_id is None or self.project_id is None


# Null for these would be stored and then fail every read of the routine.
# A draft has no assignee or project yet: those two may be null.
_NOT_NULL = (
    "title",
    "priority",
    "status",
    "concurrency_policy",
    "catch_up_policy",
    "catch_up_cap",
    "misfire_grace_sec",
    "run_timeout_sec",
    "retry",
    "dispatch",
    "labels",
)


class RoutinePatch(ApiModel):
    """Every field of create is updatable; absent fields are left as they are."""

    title: ShortText | None = None
    description: LongText | None = None
    assignee_agent_id: Identifier | None = None
    project_id: Identifier | None = None
    goal_id: Identifier | None = None
    parent_issue_id: Identifier | None = None
    priority: Priority | None = None
    status: RoutineStatus | None = None
    concurrency_policy: ConcurrencyPolicy | None = None
    catch_up_policy: CatchUpPolicy | None = None
    catch_up_cap: int | None = Field(default=None, ge=1, le=1_000)
    misfire_grace_sec: int | None = Field(default=None, ge=0, le=86_400)
    run_timeout_sec: int | None = Field(default=None, ge=1, le=604_800)
    retry: RetryPolicy | None = None
    dispatch: DispatchTarget | None = None
    task_id: Identifier | None = None
    init_params_overrides: InitParamsOverrides | None = None
    secret_params: SecretParams | None = Field(
        default=None, description="Replaces every secret param; null or {} removes them."
    )
    condition: Condition | None = None
    delivery: Delivery | None = None
    variables: Variables | None = None
    base_revision_id: Identifier | None = Field(
        default=None, description="The revision this change was based on; 409 if not the latest."
    )
    default_payload: DefaultPayload | None = Field(
        default=None, description="Replaces the default payload; null or {} removes it."
    )
    labels: Labels | None = Field(
        default=None, description="Replaces every label; {} removes them."
    )
    pause_after_failures: int | None = Field(default=None, ge=1, le=1_000)

    model_config = ConfigDict(json_schema_extra=null_refused_in_schema(_NOT_NULL))

    _not_null = field_validator(*_NOT_NULL)(refuse_null)

    @model_validator(mode="after")
    def _variables_fit(self) -> Self:
        if self.variables is not None:
            check_variables(self.variables)
        return self


class Routine(ResponseModel):
    id: str
    company_id: str
    title: str
    description: str | None
    assignee_agent_id: str | None
    project_id: str | None
    goal_id: str | None
    parent_issue_id: str | None
    priority: Priority
    status: RoutineStatus
    concurrency_policy: ConcurrencyPolicy
    catch_up_policy: CatchUpPolicy
    catch_up_cap: int
    misfire_grace_sec: int
    run_timeout_sec: int
    retry: dict[str, Any]
    dispatch: dict[str, Any]
    next_run_at: datetime | None
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    task_id: str | None = None
    init_params_overrides: dict[str, Any] = Field(default_factory=dict)
    secret_param_keys: list[str] = Field(
        default_factory=list, description="Names of the secret params; values are write-only."
    )
    condition: ConditionView | None = None
    delivery: Delivery | None = None
    default_payload: dict[str, Any] = Field(default_factory=dict, description=_DEFAULT_PAYLOAD_DOC)
    labels: dict[str, str] = Field(default_factory=dict)
    pause_after_failures: int | None = None
    paused_reason: str | None = None
    run_count: int | None = Field(default=None, description="Runs that executed (seed 004).")
    success_count: int | None = None
    failure_count: int | None = Field(default=None, description="Failed or timed out.")
    last_run: RunBrief | None = Field(default=None, description="The latest run that executed.")
    last_status: str | None = None
    triggers: list[Trigger] | None = None
    variables: list[RoutineVariable] = Field(default_factory=list)
    latest_revision_id: str | None = None
    latest_revision_number: int = 0
    draft: bool = Field(
        default=False, description="No assignee or no project yet; it cannot be resumed."
    )
    recent_runs: list[Run] | None = Field(default=None, description="On the detail only.")
    active_issue: IssueRef | None = Field(
        default=None, description="The work item the active run reported, if any."
    )
    warnings: list[str] = Field(default_factory=list)
    dispatch_signing_secret: str | None = Field(
        default=None,
        description="Standard Webhooks secret of http dispatch; shown once, when created.",
    )


RoutineSort = Literal["createdAt", "-createdAt", "title", "-title", "nextRunAt", "-nextRunAt"]


class RoutineListQuery(ApiModel):
    status: RoutineStatus | None = None
    assignee_agent_id: Identifier | None = None
    project_id: Identifier | None = None
    priority: Priority | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    sort: RoutineSort = "-createdAt"


_TRANSITIONS: dict[RoutineStatus, frozenset[RoutineStatus]] = {
    RoutineStatus.ACTIVE: frozenset(
        {RoutineStatus.ACTIVE, RoutineStatus.PAUSED, RoutineStatus.ARCHIVED}
    ),
    RoutineStatus.PAUSED: frozenset(
        {RoutineStatus.ACTIVE, RoutineStatus.PAUSED, RoutineStatus.ARCHIVED}
    ),
    RoutineStatus.ARCHIVED: frozenset({RoutineStatus.ARCHIVED}),
}


def can_transition(current: RoutineStatus, target: RoutineStatus) -> bool:
    """The lifecycle `active ⇄ paused → archived`; archived is terminal."""
    return target in _TRANSITIONS[current]
