"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

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
    422: "Well-formed but not applicable",
    413: "Body too large",
    415: "Unsupported media type",
    429: "Rate limited",
    503: "Unavailable; retry later",
}


def _schema_name(model: Any) -> str:
    if isinstance(model, type):
        return model.__name__
    origin = getattr(model, "__origin__", None)
    args = [a for a in getattr(origin, "__args__", ()) if isinstance(a, type)]
    return "Or".join(a.__name__ for a in args) or "Body"


def _add_schema(components: dict[str, Any], model: Any, mode: str) -> dict[str, str]:
    name = _schema_name(model)
    if name not in components:
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        schema = adapter.json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        components.update(schema.pop("$defs", {}))
        components[name] = schema
    return {"$ref": _REF.format(model=name)}


def openapi_document(
    operations: Iterable[Operation], *, title: str, version: str
) -> dict[str, Any]:
    """Build the document for the given operations."""
    components: dict[str, Any] = {"Error": error_json_schema()}
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
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _add_schema(components, op.request, "validation")
                    }
                },
            }
        success: dict[str, Any] = {"description": "Success"}
        if isinstance(op.response, type) and issubclass(op.response, BaseModel):
            success["content"] = {
                "application/json": {
                    "schema": _add_schema(components, op.response, "serialization")
                }
            }
        entry["responses"][str(op.status)] = success
        entry["responses"].update(op.extra_responses)
        for status in op.errors:
            entry["responses"][str(status)] = {
                "description": _REASONS[status],
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            }
        if op.auth == "bearer":
            entry["security"] = [{"bearerAuth": []}]
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
