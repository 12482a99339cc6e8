"""Time: next-fire computation (DST-correct), the ticker, catch-up, claiming due triggers."""

from scheduler.plan import next_run_for_trigger, reschedule_routine_triggers, schedule_of

__all__ = ["next_run_for_trigger", "reschedule_routine_triggers", "schedule_of"]
