"""Request parsing and responses in the one error format, mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from schemas.common import validation_details
from schemas.errors import (
    ErrorCode,
    FirehookError,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)

log = structlog.get_logger("firehook.gateway")

STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
}
_CODE_OF_STATUS = {status: code for code, status in STATUS_OF.items()} | {405: ErrorCode.NOT_FOUND}

MANAGEMENT_BODY_LIMIT = 1024 * 1024
M = TypeVar("M", bound=BaseModel)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def model_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A pydantic response model as JSON (camelCase, UTC timestamps)."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code, headers=headers)


def error_body(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": message, "code": code.value, "details": details or {}}


def error_response(error: FirehookError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited | Unavailable):
        headers["Retry-After"] = str(error.retry_after_sec)
    if error.code is ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=422 if isinstance(error, Unprocessable) else STATUS_OF[error.code],
        headers=headers,
    )


async def on_firehook_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FirehookError)
    return error_response(exc)


async def on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, ErrorCode.VALIDATION_ERROR)
    message = "method not allowed" if exc.status_code == 405 else str(exc.detail).lower()
    status = 404 if exc.status_code == 405 else exc.status_code
    return JSONResponse(error_body(code, message), status_code=status)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    # The last line of defence: log with the traceback, answer in our format.
    log.error("unhandled error", path=request.url.path, exc_info=exc)
    return JSONResponse(
        error_body(ErrorCode.UNAVAILABLE, "internal error; the request was not applied"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


EXCEPTION_HANDLERS = {
    FirehookError: on_firehook_error,
    HTTPException: on_http_exception,
}


async def read_json(request: Request, limit: int = MANAGEMENT_BODY_LIMIT) -> Any:
    """The request body as JSON, refusing other media types and oversize bodies."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("request body must be application/json")
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    if not body.strip():
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"request body is not valid JSON: {exc.msg}") from None
    if b"\\u0000" in body and _has_nul(data):
        # PostgreSQL cannot store NUL in JSON text; refuse it here rather than fail later.
        raise ValidationFailed("JSON strings must not contain NUL (\\u0000)")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


async def parse_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Validate the JSON body against `model`; 400 naming the field on failure."""
    data = await read_json(request)
    if data is None:
        if not optional:
            raise ValidationFailed("request body is required")
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    parsed: M = validate(model, data)
    return parsed


def validate(model: type[M] | TypeAdapter[Any], data: Any) -> Any:
    """Validate data against a model or adapter, raising our ValidationFailed."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        message, details = validation_details(exc)
        raise ValidationFailed(message, details) from None
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
