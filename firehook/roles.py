"""Each role's process: what it runs and how it is put together."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from starlette.applications import Starlette

from consumers import build_pipeline
from firehook.app import Service, build_app, build_context
from firehook.bootstrap import bootstrap_empty_store
from firehook.bus import InProcessBus
from firehook.context import Context
from firehook.settings import Settings
from firehook.store import Database, upgrade_to_head_async

log = structlog.get_logger("firehook")


@dataclass
class Embedded:
    """Every role in one process over the in-process bus."""

    ctx: Context
    services: list[Service] = field(default_factory=list)


def embedded(ctx: Context, *, scheduler: bool = True) -> Embedded:
    """Wire the in-process bus, the consumer pipeline and (unless told not to) the
    scheduler into `ctx`."""
    bus = InProcessBus(max_batch=ctx.settings.consumer_batch_size)
    ctx.bus = bus
    ctx.publish_run_events = False
    pipeline = build_pipeline(ctx, bus, publish_run_events=False)
    ctx.services["pipeline"] = pipeline
    services: list[Service] = [bus, *pipeline.services]
    if scheduler:
        from scheduler import build_scheduler

        services.append(build_scheduler(ctx))
    return Embedded(ctx, services)


async def prepare_dev_store(settings: Settings) -> None:
    """Migrate the dev database and, when it is empty, print a company and admin key."""
    await upgrade_to_head_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        created = await bootstrap_empty_store(db)
    finally:
        await db.close()
    if created is None:
        return
    company_id, issued = created
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"""
Firehook dev: created a company and an admin API key (shown once, stored hashed).

  company:   {company_id}
  admin key: {issued.key}

Try it:

  export FIREHOOK_URL={base} FIREHOOK_KEY={issued.key} COMPANY={company_id}
  curl -s -X POST $FIREHOOK_URL/api/companies/$COMPANY/routines \\
    -H "Authorization: Bearer $FIREHOOK_KEY" -H "Content-Type: application/json" \\
    -d '{{"title": "Nightly report", "assigneeAgentId": "agent-1", "projectId": "reports"}}'
""",
        flush=True,
    )


def build_dev_app(settings: Settings) -> Starlette:
    """All roles in one process on the embedded default."""
    ctx = build_context(settings, dev=True)
    wired = embedded(ctx)
    return build_app(ctx, wired.services)
