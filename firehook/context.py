"""What every role's handlers share: settings, the store, the secret box, the bus, the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from firehook.auth import KeyUseThrottle
from firehook.bus import Bus
from firehook.crypto import SecretBox
from firehook.settings import Settings
from firehook.signal import Signal
from firehook.store import Database

if TYPE_CHECKING:
    from starlette.requests import Request


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    db: Database
    secrets: SecretBox
    clock: Callable[[], datetime] = utcnow
    bus: Bus | None = None
    # Production: run events also go to the runs topic (embedded mode keeps them in SQL).
    publish_run_events: bool = False
    # Wakes Server-Sent Events streams when run events were committed in this process.
    run_events: Signal = field(default_factory=Signal)
    # Wakes the outbox relay when a transaction queued something to send.
    outbox: Signal = field(default_factory=Signal)
    # Wakes this process's scheduler when the management API changed a schedule.
    schedules_changed: Signal = field(default_factory=Signal)
    readiness_probes: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    key_use: KeyUseThrottle = field(default_factory=KeyUseThrottle)

    def public_url(self, public_id: str) -> str:
        """The URL external systems POST webhooks to."""
        base = self.settings.public_base_url or f"http://{self.settings.host}:{self.settings.port}"
        return f"{base.rstrip('/')}/api/routine-triggers/public/{public_id}/fire"


def context_of(request: Request) -> Context:
    ctx = request.app.state.ctx
    assert isinstance(ctx, Context)
    return ctx
