"""Request context: W3C trace context and request ids, for logs and published events.

Each HTTP request gets a span in the caller's trace (its `traceparent` header)
or in a new trace; what the request publishes carries a child of that span, so a
fire can be followed from the webhook to the run in any tracing backend.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

current_traceparent: ContextVar[str | None] = ContextVar("firehook_traceparent", default=None)

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
_MAX_REQUEST_ID = 128


def parse_traceparent(value: str | None) -> str | None:
    """`value` if it is a valid version-00 traceparent, else None."""
    if value is None:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None or match[1] == _INVALID_TRACE or match[2] == _INVALID_SPAN:
        return None
    return match[0]


def child_traceparent(parent: str | None) -> str:
    """The traceparent of a new span: in `parent`'s trace, or, without one, in a new trace."""
    valid = parse_traceparent(parent)
    if valid is None:
        return f"00-{_random_hex(128)}-{_random_hex(64)}-01"
    return f"00-{valid[3:35]}-{_random_hex(64)}-{valid[53:55]}"


def _random_hex(bits: int) -> str:
    # Trace and request ids need uniqueness, not secrecy: the in-process generator
    # is several times cheaper per request than the operating system's.
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


class RequestContext:
    """ASGI middleware: each request's logs carry `request_id` and `trace_id`.

    The request id is the caller's `X-Request-Id` when it sent a usable one, and
    is echoed in the response so a client can quote it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id: str | None = None
        incoming_trace: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming_id = value.decode("latin-1")
            elif name == b"traceparent":
                incoming_trace = value.decode("latin-1")
        request_id = _usable_request_id(incoming_id) or _random_hex(64)
        span = child_traceparent(incoming_trace)
        echoed = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = current_traceparent.set(span)
        # Reset by token rather than with `bound_contextvars`, which reads every bound
        # variable first: the same values are restored, at a fraction of the cost.
        if _log_vars:
            request_var, trace_var = _log_vars
            bound = (request_var.set(request_id), trace_var.set(span[3:35]))
        else:
            tokens = structlog.contextvars.bind_contextvars(
                request_id=request_id, trace_id=span[3:35]
            )
            bound = (tokens["request_id"], tokens["trace_id"])
            # structlog keeps one variable per key for the process's life: set them
            # directly from now on, without its per-call name lookups.
            _log_vars[:] = [bound[0].var, bound[1].var]
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            bound[1].var.reset(bound[1])
            bound[0].var.reset(bound[0])
            current_traceparent.reset(token)


# structlog's context variables behind `request_id` and `trace_id`, once first bound.
_log_vars: list[ContextVar[Any]] = []


def _usable_request_id(value: str | None) -> str | None:
    # Logged and echoed as given, so only short printable ids are taken.
    if value and len(value) <= _MAX_REQUEST_ID and value.isprintable():
        return value
    return None
