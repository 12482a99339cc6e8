"""The in-process bus: group commit, and a bad message failing alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from firehook.bus import BusUnavailable, InProcessBus, Message


async def test_concurrent_publishes_share_batches_and_wait_for_the_handler() -> None:
    bus = InProcessBus()
    batches: list[int] = []

    async def handler(batch: Sequence[Message]) -> None:
        await asyncio.sleep(0.01)
        batches.append(len(batch))

    bus.subscribe("t", "g", handler)
    await bus.start()
    await asyncio.gather(*(bus.publish([Message("t", str(i), b"{}")]) for i in range(50)))
    await bus.stop()
    assert sum(batches) == 50
    assert len(batches) < 50  # grouped, not one handler call per publish


async def test_a_poisoned_message_fails_alone() -> None:
    bus = InProcessBus()
    handled: list[str] = []

    async def handler(batch: Sequence[Message]) -> None:
        if any(m.key == "bad" for m in batch):
            raise ValueError("cannot store this")
        handled.extend(m.key or "" for m in batch)

    bus.subscribe("t", "g", handler)
    await bus.start()
    keys = ["a", "b", "bad", "c", "d"]
    results = await asyncio.gather(
        *(bus.publish([Message("t", k, b"{}")]) for k in keys), return_exceptions=True
    )
    await bus.stop()
    # The handler's own error reaches the publisher: retrying would fail the same way.
    assert [isinstance(r, ValueError) for r in results] == [False, False, True, False, False]
    assert sorted(handled) == ["a", "b", "c", "d"]


async def test_a_store_out_of_reach_makes_publish_unavailable() -> None:
    bus = InProcessBus()

    async def handler(batch: Sequence[Message]) -> None:
        raise OperationalError("INSERT INTO runs", {}, ConnectionRefusedError("refused"))

    bus.subscribe("t", "g", handler)
    await bus.start()
    with pytest.raises(BusUnavailable):
        await bus.publish([Message("t", "a", b"{}")])
    await bus.stop()


async def test_publish_on_a_stopped_bus_is_unavailable() -> None:
    bus = InProcessBus()

    async def handler(batch: Sequence[Message]) -> None:
        return None

    bus.subscribe("t", "g", handler)
    with pytest.raises(BusUnavailable):
        await bus.publish([Message("t", "k", b"{}")])


async def test_a_cancelled_publisher_leaves_the_others_of_its_batch_delivered() -> None:
    bus = InProcessBus()
    handled: list[str] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(batch: Sequence[Message]) -> None:
        entered.set()
        await release.wait()
        handled.extend(m.key or "" for m in batch)

    bus.subscribe("t", "g", handler)
    await bus.start()
    publishers = [asyncio.create_task(bus.publish([Message("t", k, b"{}")])) for k in "abc"]
    several = asyncio.create_task(bus.publish([Message("t", "d", b"{}"), Message("t", "e", b"{}")]))
    await entered.wait()
    publishers[1].cancel()
    release.set()
    results = await asyncio.gather(*publishers, several, return_exceptions=True)
    await bus.stop()
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "CancelledError",
        "NoneType",
        "NoneType",
    ]
    # The message was handed over before its publisher left; the batch went through whole.
    assert sorted(handled) == ["a", "b", "c", "d", "e"]
