"""Wiring: the context of a process, its background services, and its ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
from starlette.applications import Starlette

from firehook.context import Context
from firehook.keyring import load_secret_box
from firehook.settings import Settings
from firehook.store import Database, upgrade_to_head_async
from gateway import create_app
from gateway.app import MANAGEMENT_APIS
from gateway.deliveries import delivery_log_of
from gateway.routing import Api
from scheduler.backfill import stop_backfills

log = structlog.get_logger("firehook")


class Service(Protocol):
    """A background task of a role (ticker, consumer, relay): started and drained with it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_context(settings: Settings, *, dev: bool = False) -> Context:
    """The context of one process; in dev mode a missing key file is created."""
    secrets, created = load_secret_box(settings, create_file=dev)
    if created is not None:
        log.warning(
            "created an encryption key for secrets at rest; keep it with the database",
            path=str(created),
        )
    db = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    return Context(settings=settings, db=db, secrets=secrets)


def build_app(
    ctx: Context,
    services: Sequence[Service] = (),
    *,
    migrate: bool = False,
    apis: Sequence[Api] = MANAGEMENT_APIS,
) -> Starlette:
    """The ASGI app of a role: `apis` plus health and metrics, with `services` run alongside."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade_to_head_async(ctx.settings.database_url)
        started: list[Service] = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            yield
        finally:
            # The second half of the shutdown budget; uvicorn spent the first on requests.
            deadline = asyncio.get_running_loop().time() + ctx.settings.shutdown_timeout_sec / 2
            for service in reversed(started):
                remaining = max(0.1, deadline - asyncio.get_running_loop().time())
                try:
                    await asyncio.wait_for(service.stop(), remaining)
                except TimeoutError:
                    log.warning("service did not stop in time", service=type(service).__name__)
            remaining = max(0.1, deadline - asyncio.get_running_loop().time())
            try:
                await asyncio.wait_for(stop_backfills(ctx), remaining)
            except TimeoutError:
                log.warning("backfills did not stop in time")
            # The requests are over: the delivery inspector writes what it still holds.
            remaining = max(0.1, deadline - asyncio.get_running_loop().time())
            try:
                await asyncio.wait_for(delivery_log_of(ctx).flush(), remaining)
            except TimeoutError:
                log.warning("deliveries not recorded in time")
            await ctx.db.close()

    return create_app(ctx, apis=apis, lifespan=lifespan)
