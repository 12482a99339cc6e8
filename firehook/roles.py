"""Each role's process: what it runs and how it is put together."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import structlog
from starlette.applications import Starlette

from consumers import build_pipeline
from consumers.results import RunResultProcessor
from firehook.app import Service, build_app, build_context
from firehook.bootstrap import bootstrap_empty_store
from firehook.bus import InProcessBus
from firehook.context import Context
from firehook.settings import Settings
from firehook.store import Database, upgrade_to_head_async
from firehook.tracing import RequestContext
from gateway.app import MANAGEMENT_APIS

if TYPE_CHECKING:
    from firehook.kafka import KafkaBus

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
    console = (
        f"Console: {base}/ui/ (sign in with the admin key and the company id)\n"
        if settings.console_enabled
        else ""
    )
    print(
        f"""
Firehook dev: created a company and an admin API key (shown once, stored hashed).

  company:   {company_id}
  admin key: {issued.key}

{console}
Try it:

  export FIREHOOK_URL={base} FIREHOOK_KEY={issued.key} COMPANY={company_id}
  curl -s -X POST $FIREHOOK_URL/api/companies/$COMPANY/routines \\
    -H "Authorization: Bearer $FIREHOOK_KEY" -H "Content-Type: application/json" \\
    -d '{{"title": "Nightly report", "assigneeAgentId": "agent-1", "projectId": "reports"}}'
""",
        flush=True,
    )


def build_dev_app(settings: Settings) -> Starlette:
    """All roles in one process: on the embedded default, or on a broker with `--kafka`."""
    ctx = build_context(settings, dev=True)
    if settings.uses_kafka:
        services = production(ctx, ROLES)
    else:
        services = embedded(ctx).services
    app = build_app(ctx, services)
    app.add_middleware(RequestContext)
    return app


# -- production: Kafka between separate processes -------------------------------------------

Role = Literal["gateway", "scheduler", "consumer"]
ROLES: tuple[Role, ...] = ("gateway", "scheduler", "consumer")


def production(ctx: Context, roles: Collection[Role]) -> list[Service]:
    """Wire a Kafka bus and the services of `roles` into `ctx`, in start order.

    Shutdown runs in reverse: consuming stops first (the batch in hand is
    finished and committed), then the scheduler, supervisor and relay, and the
    producer last, once nothing publishes anymore. The gateway needs no service:
    the server stops taking requests and finishes those in hand before any of this.
    """
    from firehook.kafka import KafkaBus

    settings = ctx.settings
    bus = KafkaBus(settings)
    ctx.bus = bus
    # Run events reach other processes through the runs topic (by way of the outbox).
    ctx.publish_run_events = True
    ctx.readiness_probes["broker"] = bus.ready
    services: list[Service] = [bus]
    if "consumer" in roles:
        pipeline = build_pipeline(ctx, bus, publish_run_events=True)
        ctx.services["pipeline"] = pipeline
        # A fire the store refuses on its own, while the store answers, is set aside.
        bus.dead_letter(settings.topic_fires, settings.topic_fires_dlq, healthy=ctx.db.ping)

        def committed() -> None:
            ctx.run_events.notify()
            ctx.outbox.notify()

        results = RunResultProcessor(ctx, publish_run_events=True, on_commit=committed)
        bus.subscribe(
            settings.topic_run_results, settings.kafka_consumer_group, results.handle_batch
        )
        services += pipeline.services
    if "scheduler" in roles:
        # Imported here: only processes that run the ticker load it.
        from scheduler import build_scheduler

        services.append(build_scheduler(ctx))
    if "consumer" in roles:
        services.append(_StopConsumingFirst(bus))
    return services


def build_role_app(settings: Settings, role: Role) -> Starlette:
    """The process of one production role; only the gateway serves the API.

    The scheduler and the consumer serve /livez, /readyz and /metrics.
    """
    if not settings.uses_kafka:
        raise ValueError(
            f"the {role} role needs FIREHOOK_KAFKA_BOOTSTRAP_SERVERS, which has no default"
        )
    if settings.is_sqlite:
        log.warning(
            "production roles share one database across processes; use PostgreSQL",
            role=role,
        )
    ctx = build_context(settings)
    services = production(ctx, (role,))
    app = build_app(ctx, services, apis=MANAGEMENT_APIS if role == "gateway" else ())
    app.add_middleware(RequestContext)
    return app


class _StopConsumingFirst:
    """Placed last among the services, so that at shutdown consuming stops before the rest."""

    def __init__(self, bus: KafkaBus) -> None:
        self._bus = bus

    async def start(self) -> None:
        # The bus starts consuming by itself; this service exists for its stop.
        pass

    async def stop(self) -> None:
        await self._bus.stop_consuming()
