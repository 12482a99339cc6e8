"""Fire → run: dedupe, policies, run records, dispatch, retries and completion."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from consumers.dispatch import HttpDispatcher
from consumers.fires import FireProcessor
from consumers.relay import OutboxRelay
from consumers.supervisor import RunSupervisor
from firehook.bus import Bus, Message, dead_lettered
from firehook.context import Context

log = structlog.get_logger("firehook.consumers")

__all__ = ["FireProcessor", "OutboxRelay", "Pipeline", "RunSupervisor", "build_pipeline"]


@dataclass
class Pipeline:
    """The consumer role's parts; `services` are started and stopped with the process."""

    fires: FireProcessor
    relay: OutboxRelay
    supervisor: RunSupervisor

    @property
    def services(self) -> list[OutboxRelay | RunSupervisor]:
        return [self.relay, self.supervisor]


def build_pipeline(
    ctx: Context, bus: Bus, *, publish_run_events: bool, remember_runs: bool = False
) -> Pipeline:
    """Subscribe the fire processor to the fires topic and assemble relay and supervisor;
    with `remember_runs`, the gateway of this process answers fires with their runs."""

    async def dead_letter(message: Message, reason: str) -> None:
        log.warning("undecodable fire sent to the dead-letter topic", reason=reason)
        await bus.publish([dead_lettered(message, ctx.settings.topic_fires_dlq, reason)])

    def committed(wrote_outbox: bool) -> None:
        ctx.run_events.notify()
        # Waking the relay costs it a write transaction: only when there is work.
        if wrote_outbox:
            ctx.outbox.notify()

    fires = FireProcessor(
        ctx,
        publish_run_events=publish_run_events,
        dead_letter=dead_letter,
        on_commit=committed,
        remember_runs=remember_runs,
    )
    bus.subscribe(ctx.settings.topic_fires, ctx.settings.kafka_consumer_group, fires.handle_batch)
    relay = OutboxRelay(
        ctx, bus, HttpDispatcher(ctx), wake=ctx.outbox, publish_run_events=publish_run_events
    )
    supervisor = RunSupervisor(ctx, publish_run_events=publish_run_events)
    return Pipeline(fires, relay, supervisor)
