"""Tasks: the work a routine fires, with the init params a routine may override (seed 000).

Init params are snake_case on the wire (`name`, `default`, `type_hint`), exactly as
seed 000's `init-params-schema` shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.common import (
    ApiModel,
    LongText,
    ResponseModel,
    ShortText,
    null_refused_in_schema,
    refuse_null,
)
from schemas.routines import DispatchTarget, ParamKey

MAX_INIT_PARAMS = 200


class TypeHint(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"


def matches_type(type_hint: str, value: Any) -> bool:
    """Whether `value` (decoded JSON) fits `type_hint`; null fits every type (unset)."""
    if value is None:
        return True
    if isinstance(value, bool):
        # bool is an int in Python; in JSON it is its own type.
        return type_hint == TypeHint.BOOLEAN
    checks: dict[str, type | tuple[type, ...]] = {
        TypeHint.STRING: str,
        TypeHint.INTEGER: int,
        TypeHint.NUMBER: (int, float),
        TypeHint.OBJECT: dict,
        TypeHint.ARRAY: list,
    }
    expected = checks.get(type_hint)
    return expected is not None and isinstance(value, expected)


class InitParam(BaseModel):
    """One init param of a task: its name, default value and type."""

    model_config = ConfigDict(extra="forbid")

    name: ParamKey
    default: Any = None
    type_hint: TypeHint = TypeHint.STRING

    @model_validator(mode="after")
    def _default_fits_type(self) -> Self:
        if not matches_type(self.type_hint, self.default):
            raise ValueError(f"default of {self.name} is not of type {self.type_hint}")
        return self


def _unique_names(params: list[InitParam]) -> list[InitParam]:
    seen: set[str] = set()
    for param in params:
        if param.name in seen:
            raise ValueError(f"init param {param.name} is defined twice")
        seen.add(param.name)
    return params


def _unique_names_or_none(params: list[InitParam] | None) -> list[InitParam] | None:
    return _unique_names(params) if params is not None else None


class TaskCreate(ApiModel):
    name: ShortText
    collection: ShortText | None = None
    description: LongText | None = None
    init_params: list[InitParam] = Field(default_factory=list, max_length=MAX_INIT_PARAMS)
    dispatch: DispatchTarget | None = Field(
        default=None, description="Default dispatch target of routines created for this task."
    )
    payload_overrides: bool = Field(
        default=False,
        description="Let a fire's payload set init params, under its `initParams` object.",
    )

    _unique = field_validator("init_params")(_unique_names)


_NOT_NULL = ("name", "init_params", "payload_overrides")


class TaskPatch(ApiModel):
    """Fields to change; `initParams` replaces the whole list."""

    name: ShortText | None = None
    collection: ShortText | None = None
    description: LongText | None = None
    init_params: list[InitParam] | None = Field(default=None, max_length=MAX_INIT_PARAMS)
    dispatch: DispatchTarget | None = None
    payload_overrides: bool | None = None

    _unique = field_validator("init_params")(_unique_names_or_none)

    model_config = ConfigDict(json_schema_extra=null_refused_in_schema(_NOT_NULL))

    _not_null = field_validator(*_NOT_NULL)(refuse_null)


class Task(ResponseModel):
    id: str
    company_id: str
    name: str
    collection: str | None
    description: str | None
    init_params: list[InitParam]
    dispatch: dict[str, Any] | None
    payload_overrides: bool
    created_at: datetime
    updated_at: datetime


class TaskList(ResponseModel):
    data: list[Task]
    total: int
    limit: int
    offset: int


class TaskListQuery(ApiModel):
    collection: ShortText | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class InitParamsSchema(BaseModel):
    """`GET /api/tasks/{taskId}/init-params-schema`: one entry per init param (seed 000)."""

    keys: list[InitParam]


class InvalidOverrides(ValueError):
    """Overrides that a task does not accept; `keys` are the offending ones."""

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


def echo_keys(keys: Iterable[str]) -> str:
    """Keys as a JSON list, the way error messages echo them: `["a", "b"]`."""
    return json.dumps(sorted(keys), ensure_ascii=False)


def check_overrides(params: Iterable[Mapping[str, Any]], overrides: Mapping[str, Any]) -> None:
    """Every override names an init param of the task and fits its `type_hint`."""
    types = {param["name"]: param.get("type_hint", TypeHint.STRING) for param in params}
    unknown = [key for key in overrides if key not in types]
    if unknown:
        raise InvalidOverrides(f"unknown init_params keys: {echo_keys(unknown)}", sorted(unknown))
    wrong = [key for key, value in overrides.items() if not matches_type(types[key], value)]
    if wrong:
        expected = ", ".join(f"{key} must be {types[key]}" for key in sorted(wrong))
        raise InvalidOverrides(f"init_params of the wrong type: {expected}", sorted(wrong))


def stale_overrides(
    params: Iterable[Mapping[str, Any]], overrides: Mapping[str, Any]
) -> dict[str, str]:
    """Overrides the task no longer accepts, each with why: the task changed after saving."""
    types = {param["name"]: param.get("type_hint", TypeHint.STRING) for param in params}
    stale: dict[str, str] = {}
    for key, value in overrides.items():
        if key not in types:
            stale[key] = "is no longer an init param of the task"
        elif not matches_type(types[key], value):
            stale[key] = f"is no longer of the task's type {types[key]}"
    return stale
