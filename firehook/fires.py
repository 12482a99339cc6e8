"""Publishing FireRequested: the one way every source (webhook, API, schedule, chain) fires."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from firehook.bus import Bus, BusUnavailable, Message
from firehook.cloudevents import encode_event
from firehook.metrics import PUBLISH_SECONDS
from firehook.settings import Settings
from schemas.errors import Unavailable
from schemas.events import FIRE_REQUESTED, FireRequested

log = structlog.get_logger("firehook.fires")


def fire_message(
    settings: Settings, fire: FireRequested, traceparent: str | None = None
) -> Message:
    """The CloudEvent of a fire, keyed by routine so one consumer owns a routine's order."""
    return encode_event(
        topic=settings.topic_fires,
        key=fire.routine_id,
        event_id=fire.fire_id,
        event_type=FIRE_REQUESTED,
        time=fire.requested_at,
        data=fire,
        subject=fire.run_id,
        traceparent=traceparent,
    )


async def publish_fires(
    bus: Bus | None,
    settings: Settings,
    fires: Sequence[FireRequested],
    traceparent: str | None = None,
) -> None:
    """Make the fires durable, or raise Unavailable (answered 503 with Retry-After)."""
    if bus is None:
        raise Unavailable("this process has no bus to publish fires to")
    started = time.perf_counter()
    try:
        await bus.publish([fire_message(settings, fire, traceparent) for fire in fires])
    except BusUnavailable as exc:
        # The reason stays in the log: it may quote the broker's or the store's words.
        log.warning("fire not made durable", reason=str(exc)[:500])
        raise Unavailable("the fire could not be made durable; retry later") from None
    finally:
        PUBLISH_SECONDS.observe(time.perf_counter() - started)
