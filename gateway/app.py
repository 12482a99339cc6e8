"""The Starlette application of the gateway role."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

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
from gateway.routing import Api

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
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.openapi = openapi_document(
        (op for api in all_apis for op in api.operations), title="Firehook", version=VERSION
    )
    return app
