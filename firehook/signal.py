"""An in-process wake-up signal: waiters sleep until the next `notify()` or a timeout."""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """Edge-triggered broadcast; a waiter that times out simply polls again."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> bool:
        """True if notified, False if the timeout passed first."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return event.is_set()
