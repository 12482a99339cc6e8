"""An in-process wake-up signal: waiters sleep until the next `notify()` or a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Signal:
    """Edge-triggered broadcast; a waiter that times out simply polls again."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def wait(self, timeout: float | None = None) -> Coroutine[Any, Any, bool]:
        """Wait for the next `notify()` after this call (True), or the timeout (False).

        The signal is taken at the call, not when the result is first awaited, so a
        caller can start waiting, do its work, and still see a notify from meanwhile.
        """
        return self._wait(self._event, timeout)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float | None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return event.is_set()
