"""HTTP executors: an ASGI app that takes Firehook's signed dispatch and answers inline.

Firehook signs each HTTP dispatch as a Standard Webhook; the app verifies it with the
`standardwebhooks` library (signature and timestamp tolerance) before it reads the
body, runs the same handler as the other modes, and answers the completion in its
reply (`{"status": "succeeded", "output": ...}` or `{"status": "failed", "error": ...}`).
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firehook.executor.attempts import Attempts
from firehook.executor.handlers import Registry
from firehook.executor.runs import Run

log = structlog.get_logger("firehook.executor")


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def dispatch_app(
    registry: Registry, attempts: Attempts, secret: str, *, path: str = "/"
) -> Starlette:
    """The ASGI app receiving dispatches at `path`, signed with the routine's `secret`."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import (
        WebhookVerificationError,
    )

    webhook = Webhook(secret)

    async def receive_dispatch(request: Request) -> Response:
        body = await request.body()
        try:
            webhook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return _json({"error": "invalid signature"}, 401)
        try:
            document = orjson.loads(body)
            run = Run.from_event(document)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return _json({"error": "not a Firehook dispatch"}, 400)
        run.secret_params = dict(document.get("secretParams") or {})
        handler = registry.handler_for(run)
        if handler is None:
            return _json({"status": "failed", "error": "no handler for this run"})
        if attempts.seen(run.key):
            # The same attempt again while the first delivery runs: that one will answer.
            return _json({"accepted": True}, 202)
        outcome = await attempts.run_inline(run, handler)
        if outcome is None:
            return _json({"status": "failed", "error": "cancelled"})
        if outcome.status == "succeeded":
            return _json({"status": "succeeded", "output": outcome.output})
        return _json({"status": "failed", "error": outcome.error})

    return Starlette(routes=[Route(path, receive_dispatch, methods=["POST"])])
