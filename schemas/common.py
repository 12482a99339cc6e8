"""Base models and shared field types of the public API."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

T = TypeVar("T")


class ApiModel(BaseModel):
    """A request body: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
    )


class ResponseModel(BaseModel):
    """A response body: camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
    )


def refuse_null(value: T | None) -> T:
    """A PATCH field validator: a field that a stored row cannot hold empty may not be null."""
    if value is None:
        raise ValueError("cannot be null")
    return value


def null_refused_in_schema(names: Iterable[str]) -> Callable[[JsonDict], None]:
    """A `json_schema_extra` saying that these optional PATCH fields may not be null."""
    aliases = {to_camel(name) for name in names}

    def drop_null(schema: JsonDict) -> None:
        properties = schema.get("properties")
        assert isinstance(properties, dict)
        for alias in aliases:
            field = properties[alias]
            assert isinstance(field, dict)
            options = field.pop("anyOf", None)
            assert isinstance(options, list)
            kept = [option for option in options if option != {"type": "null"}]
            if len(kept) == 1 and isinstance(kept[0], dict):
                field.update(kept[0])
            else:
                field["anyOf"] = kept
            field.pop("default", None)

    return drop_null


ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]


class RoutineStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ConcurrencyPolicy(StrEnum):
    COALESCE_IF_ACTIVE = "coalesce_if_active"
    SKIP_IF_ACTIVE = "skip_if_active"
    ALWAYS_ENQUEUE = "always_enqueue"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"


class CatchUpPolicy(StrEnum):
    SKIP_MISSED = "skip_missed"
    ENQUEUE_MISSED_WITH_CAP = "enqueue_missed_with_cap"


class TriggerKind(StrEnum):
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    API = "api"


class SigningMode(StrEnum):
    BEARER = "bearer"
    HMAC_SHA256 = "hmac_sha256"
    STANDARD_WEBHOOKS = "standard_webhooks"
    GITHUB = "github"
    GITHUB_HMAC = "github_hmac"
    STRIPE = "stripe"
    SLACK = "slack"
    NONE = "none"
    SHOPIFY = "shopify"
    GITLAB = "gitlab"
    BITBUCKET = "bitbucket"
    TWILIO = "twilio"
    LINEAR = "linear"
    ZOOM = "zoom"
    INTERCOM = "intercom"
    SQUARE = "square"
    MAILGUN = "mailgun"
    PAGERDUTY = "pagerduty"
    PADDLE = "paddle"
    TYPEFORM = "typeform"
    HUBSPOT = "hubspot"
    TWITCH = "twitch"
    SVIX = "svix"
    CLERK = "clerk"
    RESEND = "resend"
    MICROSOFT_GRAPH = "microsoft_graph"
    DROPBOX = "dropbox"
    DISCORD = "discord"
    SENDGRID = "sendgrid"
    CUSTOM_HMAC = "custom_hmac"


class Role(StrEnum):
    ADMIN = "admin"
    BOARD = "board"
    AGENT = "agent"


class RunSource(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    API = "api"
    CHAIN = "chain"


class RunStatus(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    RETRY_PENDING = "retry_pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    COALESCED = "coalesced"
    SKIPPED = "skipped"


ACTIVE_RUN_STATUSES = frozenset({RunStatus.DISPATCHED, RunStatus.RUNNING})
FINAL_RUN_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.COALESCED,
        RunStatus.SKIPPED,
    }
)


def validation_details(error: ValidationError) -> tuple[str, dict[str, Any]]:
    """Turn a pydantic error into our message and `details`, naming each field."""
    details: dict[str, Any] = {}
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"] if not _is_union_tag(part))
        message = str(item["msg"])
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        details.setdefault(field or "body", message)
    field, message = next(iter(details.items()))
    summary = message if field == "body" else f"{field}: {message}"
    return summary, details


def _is_union_tag(part: int | str) -> bool:
    # Discriminated unions add the tag value ("schedule", "webhook") to the location;
    # the client never wrote that key, so it would only confuse the field name.
    return isinstance(part, str) and part in {kind.value for kind in TriggerKind}


@overload
def utc_iso(value: datetime) -> str: ...
@overload
def utc_iso(value: None) -> None: ...
def utc_iso(value: datetime | None) -> str | None:
    """RFC 3339 text in UTC with a `Z`, as every timestamp in our responses."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
