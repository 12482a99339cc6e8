"""A run's parameters: task defaults, then routine overrides, then the fire's payload.

The payload may set init params only when its task allows it (`payloadOverrides`),
under the payload's `initParams` object. Secret params are sealed at rest with the
routine id as associated data and opened only to build an HTTP dispatch: they never
reach a run row, a RunEvent or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy.engine import RowMapping

from firehook.crypto import SecretBox
from schemas.tasks import echo_keys, matches_type

PAYLOAD_PARAMS_KEY = "initParams"

# A stored row, or the same values as a dict.
Row = RowMapping | Mapping[str, Any]


def _types(task: Row) -> dict[str, str]:
    return {param["name"]: param.get("type_hint", "string") for param in task["init_params"]}


def payload_params(task: Row | None, routine: Row, payload: Mapping[str, Any] | None) -> Any:
    """The init params a fire's payload asks for, when its task lets the payload set them;
    a task's one-shot routine always does (its runs take their init params from the call)."""
    if task is None or not payload:
        return None
    if not task["payload_overrides"] and not routine.get("one_shot"):
        return None
    return payload.get(PAYLOAD_PARAMS_KEY)


def payload_params_problem(
    task: Row | None, routine: Row, payload: Mapping[str, Any] | None
) -> str | None:
    """Why a fire's `initParams` cannot be used (the run is then skipped), or None."""
    asked = payload_params(task, routine, payload)
    if asked is None:
        return None
    assert task is not None
    if not isinstance(asked, dict):
        return f"payload {PAYLOAD_PARAMS_KEY} must be an object"
    types = _types(task)
    unknown = [key for key in asked if key not in types]
    if unknown:
        return f"unknown init_params keys: {echo_keys(unknown)}"
    wrong = sorted(key for key, value in asked.items() if not matches_type(types[key], value))
    if wrong:
        return "init_params of the wrong type: " + ", ".join(
            f"{key} must be {types[key]}" for key in wrong
        )
    return None


def resolve_parameters(
    task: Row | None, routine: Row, payload: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The init params of one run. Values the task no longer accepts (it changed after the
    routine was saved) are left out, so the routine keeps working with the rest."""
    if task is None:
        return {}
    types = _types(task)
    resolved = {param["name"]: param.get("default") for param in task["init_params"]}
    layers: list[Any] = [
        routine.get("init_params_overrides"),
        payload_params(task, routine, payload),
    ]
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        for key, value in layer.items():
            if key in types and matches_type(types[key], value):
                resolved[key] = value
    return resolved


def seal_secret_params(
    secrets: SecretBox, routine_id: str, params: Mapping[str, str] | None
) -> str | None:
    """The stored form of a routine's secret params; None when there are none."""
    if not params:
        return None
    return secrets.encrypt(orjson.dumps(dict(params)).decode(), routine_id.encode())


def open_secret_params(secrets: SecretBox, routine: Row) -> dict[str, str]:
    """A routine's secret params in clear, for the HTTP dispatch body only."""
    token = routine.get("secret_params_enc")
    if not token:
        return {}
    opened = orjson.loads(secrets.decrypt(token, routine["id"].encode()))
    assert isinstance(opened, dict)
    return {str(key): str(value) for key, value in opened.items()}
