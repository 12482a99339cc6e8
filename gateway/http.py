"""Request parsing and responses in the one error format, mapped to HTTP in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson
import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from firehook.bus import BusUnavailable
from firehook.context import context_of
from firehook.ids import new_id
from firehook.poison import POISON_ERRORS, skip_record
from firehook.store import store_unreachable
from schemas.bounded_json import UnstorableJson, parse_json
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
    ErrorCode.INTERNAL: 500,
}
_CODE_OF_STATUS = {status: code for code, status in STATUS_OF.items()} | {405: ErrorCode.NOT_FOUND}

TOTAL_COUNT_HEADER = "X-Total-Count"

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


def document_response(
    document: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A response document already in wire form, but for its timestamps (UTC with `Z`,
    as a model prints them) and enums (their value)."""
    return Response(
        orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def list_response(
    rows: Iterable[Any], view: Callable[[Any], BaseModel], *, reader: str, total: int
) -> Response:
    """A page of a collection: a bare JSON array (as Paperclip answers), the size of the
    whole collection in `X-Total-Count`; a row that cannot be shown is left out.

    Each item is encoded on its own, so one unreadable row (see `firehook.poison`)
    costs only itself and not the page, and nothing is encoded twice.
    """
    items: list[bytes] = []
    for row in rows:
        try:
            items.append(orjson.dumps(view(row).model_dump(mode="json")))
        except POISON_ERRORS as exc:
            skip_record(reader, row.get("id") if isinstance(row, Mapping) else None, exc)
    return Response(
        b"[" + b",".join(items) + b"]",
        media_type="application/json",
        headers={TOTAL_COUNT_HEADER: str(total)},
    )


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
    status = 422 if isinstance(error, Unprocessable) else STATUS_OF[error.code]
    return JSONResponse(
        error_body(error.code, error.message, error.details), status_code=status, headers=headers
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
    """The last line of defence: the log gets the error, the client only a request id."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    headers: dict[str, str] = {}
    if request_id is None:
        # No RequestContext middleware in front (an app built bare): make one up here.
        request_id = new_id()
        headers["X-Request-Id"] = request_id
    if store_unreachable(exc) or isinstance(exc, BusUnavailable):
        # Nothing was committed, and the same request can succeed once the store is back.
        log.warning("store or bus unreachable", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(
            error_body(
                ErrorCode.UNAVAILABLE,
                "service unavailable; the request was not applied",
                {"requestId": request_id, "retryAfterSec": 5},
            ),
            status_code=503,
            headers=headers | {"Retry-After": "5"},
        )
    log.error("unhandled error", path=request.url.path, request_id=request_id, exc_info=exc)
    return JSONResponse(
        error_body(ErrorCode.INTERNAL, "internal error", {"requestId": request_id}),
        status_code=500,
        headers=headers,
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
    max_depth = context_of(request).settings.json_max_depth
    try:
        return parse_json(bytes(body), "body", max_depth, members=True)
    except UnstorableJson as exc:
        raise refused_json(exc) from None


def refused_json(error: UnstorableJson) -> ValidationFailed:
    """The 400 for a JSON document refused by `schemas.bounded_json`, naming its field."""
    return ValidationFailed(str(error), {error.field: error.problem})


async def parse_body(
    request: Request,
    model: type[M],
    *,
    optional: bool = False,
    unprocessable: tuple[type[Exception], ...] = (),
) -> M:
    """Validate the JSON body against `model`; 400 naming the field on failure (422 when
    every failure is one of the `unprocessable` errors)."""
    data = await read_json(request)
    if data is None:
        if not optional:
            raise ValidationFailed("request body is required")
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    parsed: M = validate(model, data, unprocessable=unprocessable)
    return parsed


def validate(
    model: type[M] | TypeAdapter[Any],
    data: Any,
    *,
    unprocessable: tuple[type[Exception], ...] = (),
) -> Any:
    """Validate data against a model or adapter, raising our ValidationFailed (Unprocessable
    when every failure is one of the `unprocessable` errors: the shape was right)."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        message, details = validation_details(exc)
        if unprocessable and all(
            isinstance((item.get("ctx") or {}).get("error"), unprocessable)
            for item in exc.errors(include_url=False, include_input=False)
        ):
            raise Unprocessable(message, details) from None
        raise ValidationFailed(message, details) from None
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
