"""Trigger requests and responses: schedule, webhook and api kinds."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from schemas import cron
from schemas.common import (
    ApiModel,
    ResponseModel,
    ShortText,
    SigningMode,
    null_refused_in_schema,
    refuse_null,
)
from schemas.conditions import Condition, ConditionView
from schemas.schedule_rules import EXCLUDE_DATES_DOC, DstPolicy, ExcludeDates
from schemas.signing import HmacConfig

REPLAY_WINDOW_MIN = 30
REPLAY_WINDOW_MAX = 86_400
MAX_BODY_BYTES_LIMIT = 10 * 1024 * 1024


class CadenceType(StrEnum):
    MANUAL = "manual"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKDAYS = "weekdays"
    WEEKLY = "weekly"


class Cadence(BaseModel):
    """A cadence preset of seed 000; its fields are snake_case on the wire, as there."""

    model_config = ConfigDict(extra="forbid")

    type: CadenceType
    hour_utc: int | None = None
    minute_utc: int | None = None
    day_of_week: int | None = None

    @model_validator(mode="after")
    def _valid_for_type(self) -> Self:
        cron.validate_cadence(self.type.value, self.hour_utc, self.minute_utc, self.day_of_week)
        return self

    def to_cron(self) -> str | None:
        """The equivalent UTC cron expression; None for `manual`."""
        return cron.cadence_to_cron(
            self.type.value, self.hour_utc, self.minute_utc, self.day_of_week
        )


def _check_cron(value: str | None) -> str | None:
    if value is not None:
        if len(value) > 200:
            raise ValueError("cron expression is longer than 200 characters")
        cron.parse_cron(value)
    return value


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        cron.validate_timezone(value)
    return value


def _check_at(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("at must carry a timezone offset, e.g. 2026-04-01T09:00:00Z")
    return value.astimezone(UTC) if value is not None else None


_SHAPES = frozenset({"cron_expression", "cadence", "every", "at"})


class _ScheduleFields(ApiModel):
    cron_expression: str | None = None
    timezone: str | None = None
    cadence: Cadence | None = None
    every: int | None = Field(default=None, ge=1, le=366 * 86_400)
    at: datetime | None = None
    jitter_sec: int | None = Field(default=None, ge=0, le=86_400)
    exclude_dates: ExcludeDates | None = Field(default=None, description=EXCLUDE_DATES_DOC)
    dst_policy: DstPolicy | None = Field(
        default=None, description="Only for cronExpression; cronie's behaviour when absent."
    )

    _cron = field_validator("cron_expression")(_check_cron)
    _tz = field_validator("timezone")(_check_timezone)
    _at = field_validator("at")(_check_at)

    def schedule_fields_set(self) -> list[str]:
        return [
            name
            for name in ("cron_expression", "cadence", "every", "at")
            if getattr(self, name) is not None
        ]


class ScheduleTriggerCreate(_ScheduleFields):
    kind: Literal["schedule"]
    label: ShortText | None = None
    enabled: bool = True
    condition: Condition | None = None

    @model_validator(mode="after")
    def _exactly_one_schedule(self) -> Self:
        chosen = self.schedule_fields_set()
        if len(chosen) != 1:
            raise ValueError(
                "a schedule trigger needs exactly one of cronExpression, cadence, every, at"
            )
        if self.timezone is not None and self.cron_expression is None:
            raise ValueError("timezone applies only to cronExpression")
        if self.dst_policy is not None and self.cron_expression is None:
            raise ValueError("dstPolicy applies only to cronExpression")
        return self


class WebhookTriggerCreate(ApiModel):
    kind: Literal["webhook"]
    label: ShortText | None = None
    enabled: bool = True
    condition: Condition | None = None
    signing_mode: SigningMode = SigningMode.BEARER
    replay_window_sec: int = Field(default=300, ge=REPLAY_WINDOW_MIN, le=REPLAY_WINDOW_MAX)
    secret: str | None = Field(default=None, max_length=1024)
    max_body_bytes: int | None = Field(default=None, ge=1, le=MAX_BODY_BYTES_LIMIT)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    hmac: HmacConfig | None = Field(
        default=None, description="Required for, and only for, signingMode custom_hmac."
    )

    @model_validator(mode="after")
    def _hmac_with_its_mode(self) -> Self:
        if (self.signing_mode == SigningMode.CUSTOM_HMAC) != (self.hmac is not None):
            raise ValueError("hmac is required for, and only for, signingMode custom_hmac")
        return self


class ApiTriggerCreate(ApiModel):
    kind: Literal["api"]
    label: ShortText | None = None
    enabled: bool = True
    condition: Condition | None = None


TriggerCreate = Annotated[
    ScheduleTriggerCreate | WebhookTriggerCreate | ApiTriggerCreate,
    Field(discriminator="kind"),
]


_NOT_NULL = ("enabled", "signing_mode", "replay_window_sec")


class TriggerPatch(_ScheduleFields):
    """Fields of any kind; the ones that do not belong to the trigger's kind are refused."""

    label: ShortText | None = None
    enabled: bool | None = None
    condition: Condition | None = None
    signing_mode: SigningMode | None = None
    replay_window_sec: int | None = Field(default=None, ge=REPLAY_WINDOW_MIN, le=REPLAY_WINDOW_MAX)
    max_body_bytes: int | None = Field(default=None, ge=1, le=MAX_BODY_BYTES_LIMIT)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    hmac: HmacConfig | None = None

    model_config = ConfigDict(json_schema_extra=null_refused_in_schema(_NOT_NULL))

    _not_null = field_validator(*_NOT_NULL)(refuse_null)

    @model_validator(mode="after")
    def _at_most_one_schedule(self) -> Self:
        if len(self.schedule_fields_set()) > 1:
            raise ValueError("give at most one of cronExpression, cadence, every, at")
        nulls = sorted(self.model_fields_set & _SHAPES)
        if nulls and not self.schedule_fields_set():
            # Only null shapes: the trigger would be left with no schedule at all.
            raise ValueError(
                f"{to_camel(nulls[0])} cannot be null; a schedule trigger needs one of "
                "cronExpression, cadence, every, at"
            )
        return self


class RotateSecret(ApiModel):
    secret: str | None = Field(default=None, max_length=1024)
    grace_period_sec: int = Field(default=0, ge=0, le=86_400)


class Trigger(ResponseModel):
    id: str
    routine_id: str
    kind: str
    label: str | None
    enabled: bool
    cron_expression: str | None = None
    timezone: str | None = None
    cadence: dict[str, Any] | None = None
    every: int | None = None
    at: datetime | None = None
    jitter_sec: int | None = None
    exclude_dates: list[str] | None = None
    dst_policy: DstPolicy | None = None
    public_id: str | None = None
    public_url: str | None = None
    signing_mode: SigningMode | None = None
    replay_window_sec: int | None = None
    max_body_bytes: int | None = None
    rate_limit_per_minute: int | None = None
    hmac: dict[str, Any] | None = Field(
        default=None, description="The custom_hmac configuration, when signingMode is custom_hmac."
    )
    secret: str | None = Field(
        default=None, description="Only in the responses of create and rotate-secret."
    )
    next_run_at: datetime | None = None
    last_fired_at: datetime | None = None
    last_rotated_at: datetime | None = None
    condition: ConditionView | None = None
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = Field(default_factory=list)


class SecretMaterial(ResponseModel):
    """A webhook trigger's URL and secret, shown once: when created and when rotated."""

    webhook_url: str
    webhook_secret: str


class TriggerWithSecret(ResponseModel):
    """Paperclip's answer to creating a trigger or rotating its secret."""

    trigger: Trigger
    secret_material: SecretMaterial | None = Field(
        description="Null unless the trigger is a webhook trigger."
    )
