"""The Starlette application of the gateway role."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from firehook.context import Context
from gateway import console, health, inbound, webhooks
from gateway.api import (
    backfills,
    bulk,
    chains,
    companies,
    deliveries,
    occurrences,
    revisions,
    routines,
    runs,
    scheduling,
    stats,
    tasks,
    triggers,
)
from gateway.compat import mise, schedules
from gateway.compat import scheduler as scheduler_compat
from gateway.http import EXCEPTION_HANDLERS
from gateway.openapi import openapi_document
from gateway.routing import Api, Handler

VERSION = "0.1.0"
MANAGEMENT_APIS: tuple[Api, ...] = (
    # First: routes are matched in order, and the webhook endpoint is the hot path.
    webhooks.api,
    inbound.api,
    companies.api,
    routines.api,
    revisions.api,
    triggers.api,
    runs.api,
    tasks.api,
    chains.api,
    stats.api,
    scheduling.api,
    mise.api,
    schedules.api,
    scheduler_compat.api,
    deliveries.api,
    occurrences.api,
    backfills.api,
    bulk.api,
)


# The webhook route as the router would match it: `{publicId}` is one path segment.
_WEBHOOK_PATH = re.compile(
    re.escape(webhooks.FIRE_PATH).replace(re.escape("{publicId}"), "([^/]+)")
)


class GatewayApp(Starlette):
    """Starlette, with the webhook route served without the router.

    A webhook is the request the gateway takes most of, and its handler answers every
    error itself (see `gateway.routing`), so the router and the exception middleware
    only cost it time. Every other middleware of the app, and the server-error
    handler in front of them, still runs, in the same order as for any other route.
    """

    def __init__(self, *args: Any, webhook: Handler | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._webhook = webhook
        self._webhook_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._webhook is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            # Under a root path the router's own path handling applies.
            and not scope.get("root_path")
            and (match := _WEBHOOK_PATH.fullmatch(scope["path"])) is not None
        ):
            scope["app"] = self
            scope["path_params"] = {"publicId": match[1]}
            if self._webhook_stack is None:
                self._webhook_stack = self._build_webhook_stack(self._webhook)
            await self._webhook_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _build_webhook_stack(self, handler: Handler) -> ASGIApp:
        # As Starlette.build_middleware_stack, without the exception middleware and router.
        error_handler = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
        middleware = [Middleware(ServerErrorMiddleware, handler=error_handler, debug=self.debug)]
        if self.max_body_size is not None:
            middleware.append(
                Middleware(RequestBodyLimitMiddleware, max_body_size=self.max_body_size)
            )
        middleware += self.user_middleware

        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(Request(scope, receive, send))
            await response(scope, receive, send)

        app: ASGIApp = endpoint
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(
    ctx: Context,
    *,
    apis: Sequence[Api] = MANAGEMENT_APIS,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
) -> Starlette:
    """The gateway app serving `apis` plus health and OpenAPI, over `ctx`."""
    all_apis = [*apis, health.api]
    routes: list[BaseRoute] = [route for api in all_apis for route in api.routes()]
    if apis and ctx.settings.console_enabled:
        routes.append(console.mount())
    app = GatewayApp(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        webhook=webhooks.api.handler("POST", webhooks.FIRE_PATH) if webhooks.api in apis else None,
    )
    app.state.ctx = ctx
    app.state.openapi = openapi_document(
        (op for api in all_apis for op in api.operations), title="Firehook", version=VERSION
    )
    return app
