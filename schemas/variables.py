"""Routine variables: typed `{{name}}` placeholders in a routine's title and description.

Paperclip's shape (`packages/shared/src/validators/routine.ts`,
`packages/shared/src/routine-variables.ts`): the variables of a routine are the
placeholders its title and description use, each with a type, a default, whether
it is required, and the options of a `select`. A run resolves them from what it
was given (a manual run's `variables`, a webhook payload's keys of the same
names), else their defaults; `date` and `timestamp` are built in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import orjson
from pydantic import Field, model_validator

from schemas.common import ApiModel

VariableValue = str | bool | int | float
OptionText = Annotated[str, Field(min_length=1, max_length=120)]
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
BUILTIN_VARIABLES = frozenset({"date", "timestamp"})
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


class VariableType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    SELECT = "select"


class VariableError(ValueError):
    """A variable's definition or value does not fit; the message names the variable."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class RoutineVariable(ApiModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=100)]
    label: Annotated[str, Field(max_length=120)] | None = None
    type: VariableType = VariableType.TEXT
    default_value: VariableValue | None = None
    required: bool = True
    options: Annotated[list[OptionText], Field(max_length=50)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_fit_type(self) -> Self:
        if self.type is VariableType.SELECT and not self.options:
            raise ValueError(f"variable {self.name}: select variables require at least one option")
        if self.type is not VariableType.SELECT and self.options:
            raise ValueError(f"variable {self.name}: only select variables can define options")
        if isinstance(self.default_value, float) and not math.isfinite(self.default_value):
            raise ValueError(f"variable {self.name}: defaultValue must be finite")
        if self.default_value is not None:
            normalize_value(self, self.default_value)
        return self


def check_variables(variables: Sequence[RoutineVariable]) -> None:
    """Names are unique within a routine."""
    seen: set[str] = set()
    for variable in variables:
        if variable.name in seen:
            raise ValueError(f"variable {variable.name} is defined twice")
        seen.add(variable.name)


def placeholder_names(*templates: str | None) -> list[str]:
    """The distinct `{{name}}` placeholders of the templates, in order of appearance."""
    names: dict[str, None] = {}
    for template in templates:
        for match in _PLACEHOLDER.finditer(template or ""):
            names.setdefault(match.group(1))
    return list(names)


def sync_with_template(
    title: str | None, description: str | None, variables: Iterable[RoutineVariable]
) -> list[RoutineVariable]:
    """The variables the title and description use: given definitions kept, others added as
    required text; definitions no placeholder uses are dropped (as Paperclip does)."""
    by_name = {variable.name: variable for variable in variables}
    return [
        by_name.get(name) or RoutineVariable.model_validate({"name": name})
        for name in placeholder_names(title, description)
        if name not in BUILTIN_VARIABLES
    ]


def without_defaults(variables: Sequence[RoutineVariable]) -> list[str]:
    """Required variables a schedule could not fill: no usable default."""
    missing = []
    for variable in variables:
        if not variable.required:
            continue
        try:
            value = normalize_value(variable, variable.default_value)
        except VariableError:
            value = None
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(variable.name)
    return missing


def normalize_value(variable: RoutineVariable, raw: Any) -> VariableValue | None:
    """`raw` as the variable's type; VariableError naming the variable if it cannot be."""
    if raw is None:
        return None
    name = variable.name
    if variable.type is VariableType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return raw == 1
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise VariableError(name, f'Variable "{name}" must be a boolean')
    if variable.type is VariableType.NUMBER:
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return raw
        if isinstance(raw, str) and raw.strip():
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return int(number) if number.is_integer() else number
        raise VariableError(name, f'Variable "{name}" must be a number')
    text = _as_text(raw)
    if variable.type is VariableType.SELECT and text not in variable.options:
        raise VariableError(
            name, f'Variable "{name}" must match one of: {", ".join(variable.options)}'
        )
    return text


def resolve_values(
    variables: Sequence[RoutineVariable], provided: Mapping[str, Any]
) -> dict[str, VariableValue]:
    """Each variable's value: provided, else its default; VariableError for a bad value
    or for required variables left without one (naming them all)."""
    resolved: dict[str, VariableValue] = {}
    missing: list[str] = []
    for variable in variables:
        candidate = provided.get(variable.name, variable.default_value)
        value = normalize_value(variable, candidate)
        if value is None or (isinstance(value, str) and not value.strip()):
            if variable.required:
                missing.append(variable.name)
            continue
        resolved[variable.name] = value
    if missing:
        raise VariableError(missing[0], f"Missing routine variables: {', '.join(missing)}")
    return resolved


def builtin_values(now: datetime) -> dict[str, str]:
    """`date` (YYYY-MM-DD, UTC) and `timestamp` (e.g. "April 28, 2026 at 12:17 PM UTC")."""
    hour = now.hour % 12 or 12
    moment = f"{now:%B} {now.day}, {now.year} at {hour}:{now:%M} {'AM' if now.hour < 12 else 'PM'}"
    return {"date": now.date().isoformat(), "timestamp": f"{moment} UTC"}


def render(template: str | None, values: Mapping[str, Any]) -> str | None:
    """The template with each known `{{name}}` replaced; unknown placeholders stay."""
    if template is None or not values:
        return template

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return _as_text(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return orjson.dumps(value).decode()
