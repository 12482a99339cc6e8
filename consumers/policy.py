"""The rules that turn a fire into a run's first status, and a failure into a retry. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.common import ConcurrencyPolicy, RoutineStatus, RunSource, RunStatus

# Fires that arrive on their own (not asked for by a person) are recorded as skipped
# while the routine is paused; a manual run of a paused routine is allowed (seed 002).
_AUTOMATIC_SOURCES = frozenset({RunSource.WEBHOOK, RunSource.SCHEDULE, RunSource.CHAIN})
_BUFFERING = frozenset({ConcurrencyPolicy.BUFFER_ONE, ConcurrencyPolicy.BUFFER_ALL})


@dataclass(frozen=True, slots=True)
class Decision:
    status: RunStatus
    reason: str | None = None
    coalesced_into_run_id: str | None = None
    # cancel_other: the active run this fire's run replaces.
    cancels_run_id: str | None = None

    @property
    def dispatches(self) -> bool:
        return self.status is RunStatus.DISPATCHED


def decide_first_status(
    routine_status: RoutineStatus,
    policy: ConcurrencyPolicy,
    source: RunSource,
    active_run_id: str | None,
    waiting_run_id: str | None = None,
) -> Decision:
    """What happens to a new fire of a routine that is not archived.

    `waiting_run_id` is the routine's oldest run waiting its turn (status `received`)."""
    if routine_status is RoutineStatus.PAUSED and source in _AUTOMATIC_SOURCES:
        return Decision(RunStatus.SKIPPED, reason="routine is paused")
    if active_run_id is None and waiting_run_id is not None and policy in _BUFFERING:
        # Runs are waiting (their turn comes in this same moment): keep the order.
        active_run_id = waiting_run_id
    if active_run_id is not None:
        if policy is ConcurrencyPolicy.COALESCE_IF_ACTIVE:
            return Decision(RunStatus.COALESCED, "a run of this routine is active", active_run_id)
        if policy is ConcurrencyPolicy.SKIP_IF_ACTIVE:
            return Decision(RunStatus.SKIPPED, "a run of this routine is active", active_run_id)
        if policy is ConcurrencyPolicy.BUFFER_ONE and waiting_run_id is not None:
            reason = "a run of this routine is already waiting"
            return Decision(RunStatus.SKIPPED, reason, waiting_run_id)
        if policy in _BUFFERING:
            return Decision(RunStatus.RECEIVED, "waiting for the active run to end")
        if policy is ConcurrencyPolicy.CANCEL_OTHER:
            return Decision(RunStatus.DISPATCHED, cancels_run_id=active_run_id)
    return Decision(RunStatus.DISPATCHED)


def retry_delay_sec(retry: dict[str, Any], attempt: int) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when attempts are used up.

    `retry` is the routine's policy as stored (camelCase keys); `attempt` counts from 1.
    """
    max_attempts = int(retry.get("maxAttempts", 1))
    if attempt >= max_attempts:
        return None
    base = float(retry.get("baseDelaySec", 60))
    cap = float(retry.get("maxDelaySec", 3600))
    if retry.get("strategy", "exponential") == "fixed":
        return min(base, cap)
    return min(base * float(2 ** (attempt - 1)), cap)
