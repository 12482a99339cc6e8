"""The failures a client can act on, each with its stable error code.

The HTTP status of each code is decided in one place, `gateway.http`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    UNAVAILABLE = "UNAVAILABLE"


class FirehookError(Exception):
    """Base of every error that reaches a client as `{error, code, details}`."""

    code: ErrorCode = ErrorCode.VALIDATION_ERROR

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(FirehookError):
    code = ErrorCode.VALIDATION_ERROR


class Unprocessable(ValidationFailed):
    """A well-formed request that makes no sense (answered 422)."""


class NotFound(FirehookError):
    code = ErrorCode.NOT_FOUND


class Conflict(FirehookError):
    code = ErrorCode.CONFLICT


class Unauthorized(FirehookError):
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message)


class Forbidden(FirehookError):
    code = ErrorCode.FORBIDDEN


class RateLimited(FirehookError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after_sec: int) -> None:
        super().__init__("rate limit exceeded", {"retryAfterSec": retry_after_sec})
        self.retry_after_sec = retry_after_sec


class PayloadTooLarge(FirehookError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(FirehookError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class Unavailable(FirehookError):
    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str, retry_after_sec: int = 5) -> None:
        super().__init__(message, {"retryAfterSec": retry_after_sec})
        self.retry_after_sec = retry_after_sec


def error_json_schema() -> dict[str, Any]:
    """JSON Schema of the one error body every endpoint answers with."""
    return {
        "type": "object",
        "required": ["error", "code", "details"],
        "properties": {
            "error": {"type": "string"},
            "code": {"enum": [code.value for code in ErrorCode]},
            "details": {"type": "object"},
        },
    }
