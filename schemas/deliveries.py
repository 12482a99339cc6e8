"""The delivery inspector and redrive: requests and responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, field_validator

from schemas.common import ApiModel, ResponseModel, RunStatus

DeliveryOutcome = Literal["accepted", "replayed", "handshake", "refused", "rejected", "failed"]


class WebhookDelivery(ResponseModel):
    """One request a webhook trigger received, and what it answered."""

    id: str
    trigger_id: str
    routine_id: str
    received_at: datetime
    method: str
    query: str | None
    headers: dict[str, str] = Field(description="Signatures, tokens and secrets redacted.")
    body: str | None = Field(description="Truncated to the inspector's body limit.")
    body_size: int
    body_truncated: bool
    status: int
    outcome: DeliveryOutcome
    failed_check: str | None = Field(
        description="For a refused delivery, the check that failed (the sender saw only 401)."
    )
    answer: Any
    run_id: str | None
    idempotency_key: str | None


class DeliveryList(ResponseModel):
    data: list[WebhookDelivery]


class DeliveryListQuery(ApiModel):
    limit: int = Field(default=100, ge=1, le=10_000)
    outcome: DeliveryOutcome | None = None


class ReplayDelivery(ApiModel):
    """By default a replay is a new fire under a fresh idempotency key."""

    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    reuse_key: bool = Field(
        default=False, description="Fire under the delivery's own key (a duplicate is a no-op)."
    )


class RetryRun(ApiModel):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT)
RetryableStatus = Literal["failed", "timed_out"]


def _retryable() -> list[RetryableStatus]:
    return ["failed", "timed_out"]


class BulkRetry(ApiModel):
    """Which failed runs of a company to retry (at most `limit`, oldest first)."""

    routine_id: str | None = Field(default=None, min_length=1, max_length=64)
    status: list[RetryableStatus] = Field(default_factory=_retryable, min_length=1, max_length=2)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=100, ge=1, le=500)

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None


class RetryOutcome(ResponseModel):
    run_id: str
    outcome: Literal["retried", "already_retried", "failed"]
    new_run_id: str | None = None
    error: str | None = None


class BulkRetryResult(ResponseModel):
    results: list[RetryOutcome]


class TestDelivery(ApiModel):
    payload: dict[str, Any] | None = Field(default=None, description="The sample body.")
    fire: bool = Field(
        default=False, description="Also send it to the endpoint (a run is made when accepted)."
    )


class TestStep(ResponseModel):
    step: Literal["sign", "verify", "deliver"]
    ok: bool
    detail: str


class TestReport(ResponseModel):
    ok: bool
    steps: list[TestStep]
    status: int | None = None
    answer: Any = None
