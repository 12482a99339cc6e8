"""A run's variables: resolved from its fire, rendered into the routine's title and description.

A manual run's variables were checked by the gateway (422 there); a webhook's payload
keys fill variables of the same names here, where the routine is at hand. Either way
the resolved values land in the run's payload under `variables`, and the rendered
title and description travel with the run to its executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.common import RunSource
from schemas.events import FireRequested
from schemas.variables import (
    RoutineVariable,
    VariableError,
    builtin_values,
    render,
    resolve_values,
)


@dataclass(frozen=True, slots=True)
class RenderedRun:
    payload: dict[str, Any] | None
    title: str | None = None
    description: str | None = None
    problem: str | None = None


def render_run(fire: FireRequested, routine: Mapping[Any, Any], now: datetime) -> RenderedRun:
    """The run's payload, title and description; `problem` names a variable that does not fit."""
    definitions = routine["variables"]
    title, description = routine["title"], routine["description"]
    uses_placeholders = "{{" in title or "{{" in (description or "")
    if not definitions and not uses_placeholders:
        return RenderedRun(fire.payload)
    payload = fire.payload
    values: dict[str, Any] = {}
    if definitions:
        nested = (payload or {}).get("variables")
        provided = dict(payload or {}) if fire.source is RunSource.WEBHOOK else {}
        provided |= nested if isinstance(nested, dict) else {}
        try:
            values = resolve_values(
                [RoutineVariable.model_validate(v) for v in definitions], provided
            )
        except VariableError as exc:
            return RenderedRun(payload, problem=str(exc))
        payload = (payload or {}) | {"variables": values}
    values = builtin_values(now) | values
    return RenderedRun(payload, render(title, values), render(description, values))
