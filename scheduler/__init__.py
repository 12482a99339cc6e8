"""Time: next-fire computation (DST-correct), the ticker, catch-up, claiming due triggers."""

from firehook.context import Context
from scheduler.plan import next_run_for_trigger, reschedule_routine_triggers, schedule_of
from scheduler.ticker import Ticker

__all__ = [
    "Ticker",
    "build_scheduler",
    "next_run_for_trigger",
    "reschedule_routine_triggers",
    "schedule_of",
]


def build_scheduler(ctx: Context) -> Ticker:
    """The scheduler service of a process; it publishes through `ctx.bus`."""
    ticker = Ticker(ctx)
    ctx.services["ticker"] = ticker
    return ticker
