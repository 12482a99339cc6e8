"""Evaluating a routine's and a trigger's condition against one fire. Pure.

An expression sees the fire's payload twice: each top-level key as a variable (seed
003's `price_change_pct > 0.05`), and the whole document as `payload`, so optional
fields can be tested with `has(payload.x)`. `source` names what fired it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.conditions import InvalidCondition, compile_condition
from schemas.events import FireRequested

_REASON_LIMIT = 500  # the runs.reason column


def condition_skip_reason(
    fire: FireRequested,
    routine_condition: Mapping[str, Any] | None,
    trigger_condition: Mapping[str, Any] | None,
) -> str | None:
    """Why the fire must be skipped, or None when every condition holds (or none is set)."""
    for owner, condition in (("routine", routine_condition), ("trigger", trigger_condition)):
        if not condition:
            continue
        reason = _failed(owner, str(condition.get("expression", "")), fire)
        if reason is not None:
            return reason[:_REASON_LIMIT]
    return None


def _failed(owner: str, expression: str, fire: FireRequested) -> str | None:
    try:
        program = compile_condition(expression)
    except InvalidCondition as exc:
        return f"{owner} condition does not compile: {exc}"
    payload = fire.payload or {}
    variables: dict[str, Any] = {**payload, "payload": payload, "source": fire.source.value}
    try:
        result = program.execute(variables)
    except Exception as exc:
        # Any evaluation error (unknown variable, type mismatch, division by zero) means
        # the condition does not hold for this fire; the reason says which and why.
        return f"{owner} condition {expression!r} could not be evaluated: {exc}"
    if result is True:
        return None
    if result is False:
        return f"{owner} condition {expression!r} is false"
    return f"{owner} condition {expression!r} gave {result!r}, not a boolean"
