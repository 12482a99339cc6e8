"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from gateway.routing import Operation
from schemas.errors import error_json_schema

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_REASONS = {
    400: "Validation error",
    401: "Missing or invalid credentials",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict with the resource's state",
    408: "The request body did not arrive within the body timeout (the connection is closed)",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Well-formed but meaningless",
    429: "Rate limited",
    431: "Request headers over the size limit (the connection is closed)",
    500: "Unexpected error: nothing of it is told but a request id, to find it in the log",
    503: "Unavailable: nothing was applied and a retry can succeed (store or broker "
    "unreachable, or too many connections); see Retry-After",
}
_INTERNAL = {
    "type": "object",
    "required": ["error", "code", "details"],
    "properties": {
        "error": {"type": "string"},
        "code": {"const": "INTERNAL"},
        "details": {
            "type": "object",
            "required": ["requestId"],
            "properties": {"requestId": {"type": "string"}},
        },
    },
}
_REPLAYED = {
    "description": "Set on the answer to a repeated idempotency key",
    "schema": {"const": "true"},
}
_RETRY_AFTER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}

_TOTAL_COUNT = {
    "description": "How many items match in all, across every page",
    "schema": {"type": "integer", "minimum": 0},
}


def _schema_name(model: Any) -> str:
    if isinstance(model, type):
        return model.__name__
    origin = getattr(model, "__origin__", None)
    args = [a for a in getattr(origin, "__args__", ()) if isinstance(a, type)]
    return "Or".join(a.__name__ for a in args) or "Body"


def _add_schema(components: dict[str, Any], model: Any, mode: str) -> dict[str, str]:
    name = _schema_name(model)
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    schema = adapter.json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
    # Two different models of one name would share one entry, and the operations of one
    # would show the other's shape: refused here rather than published wrong.
    for part, part_schema in (*schema.pop("$defs", {}).items(), (name, schema)):
        if components.setdefault(part, part_schema) != part_schema:
            raise ValueError(f"two different schemas are named {part!r} in the API document")
    return {"$ref": _REF.format(model=name)}


def _errors_of(op: Operation, *, has_body: bool) -> list[int]:
    """What the operation answers besides success, including what the server's edge does."""
    statuses = set(op.errors) | {431, 500}
    if op.auth == "bearer":
        # The key is looked up in the store, which may be unreachable.
        statuses |= {401, 503}
    if has_body:
        statuses.add(408)
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    model = "InternalError" if status == 500 else "Error"
    response: dict[str, Any] = {
        "description": _REASONS[status],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


# Operations are declared once per module, and building a document takes a noticeable
# fraction of a second: each set of operations is built once per process. The cache
# holds the operations themselves, so their ids stay theirs.
_BUILT: dict[tuple[tuple[int, ...], str, str], tuple[tuple[Operation, ...], dict[str, Any]]] = {}


def openapi_document(
    operations: Iterable[Operation], *, title: str, version: str
) -> dict[str, Any]:
    """The document for the given operations (treat it as read-only: it is shared)."""
    ops = tuple(operations)
    key = (tuple(map(id, ops)), title, version)
    if key not in _BUILT:
        _BUILT[key] = (ops, _build(ops, title=title, version=version))
    return _BUILT[key][1]


def _build(operations: Iterable[Operation], *, title: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": error_json_schema(), "InternalError": _INTERNAL}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": op.handler.__name__,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PATH_PARAM.findall(op.path)
            ]
            + [
                {
                    "name": q.name,
                    "in": "query",
                    "required": q.required,
                    "schema": q.schema,
                    **({"description": q.description} if q.description else {}),
                }
                for q in op.query
            ],
            "responses": {},
        }
        entry["parameters"] += list(op.parameters)
        if op.description:
            entry["description"] = op.description
        if op.request_body is not None:
            entry["requestBody"] = op.request_body
        elif op.request is not None:
            entry["requestBody"] = {
                "required": not op.request_optional,
                "content": {
                    "application/json": {
                        "schema": _add_schema(components, op.request, "validation")
                    }
                },
            }
        success: dict[str, Any] = {"description": "Success"}
        if get_origin(op.response) is list:
            (item,) = get_args(op.response)
            success["content"] = {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": _add_schema(components, item, "serialization"),
                    }
                }
            }
            success["headers"] = {"X-Total-Count": _TOTAL_COUNT}
        elif isinstance(op.response, type) and issubclass(op.response, BaseModel):
            success["content"] = {
                "application/json": {
                    "schema": _add_schema(components, op.response, "serialization")
                }
            }
        if op.links:
            success["links"] = op.links
        entry["responses"][str(op.status)] = success
        if op.replayable:
            # A repeated idempotency key answers the original run with the same status, as
            # Paperclip does; only the header tells it apart.
            success["description"] += (
                "; a repeated idempotency key answers the original run, "
                "with Idempotent-Replayed: true"
            )
            success["headers"] = success.get("headers", {}) | {"Idempotent-Replayed": _REPLAYED}
        entry["responses"].update(op.extra_responses)
        for status in _errors_of(op, has_body="requestBody" in entry):
            entry["responses"][str(status)] = _error_response(status)
        # No API key for the operations without bearer auth (webhooks bring their own).
        entry["security"] = [{"bearerAuth": []}] if op.auth == "bearer" else []
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
