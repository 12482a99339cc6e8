"""What this process does when the management API changes a trigger or a routine.

The webhook cache forgets the entry at once, and the scheduler of this process
(embedded mode) rereads changed schedules at once; other processes see the
change within the cache TTL and the scheduler's resync interval.
"""

from __future__ import annotations

from firehook.context import Context
from gateway.trigger_cache import trigger_cache_of


def trigger_changed(ctx: Context, public_id: str | None) -> None:
    trigger_cache_of(ctx).invalidate_trigger(public_id)
    ctx.schedules_changed.notify()


def routine_changed(ctx: Context, routine_id: str) -> None:
    trigger_cache_of(ctx).invalidate_routine(routine_id)
    ctx.schedules_changed.notify()
