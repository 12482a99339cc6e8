"""Liveness, readiness, Prometheus metrics, and the OpenAPI and AsyncAPI documents."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from firehook.context import context_of
from firehook.metrics import render_metrics
from gateway.http import JSONResponse
from gateway.routing import Api
from schemas.asyncapi import asyncapi_document

api = Api()


@api.operation(
    "GET", "/livez", "Liveness: the process serves requests", "health", auth=None, errors=()
)
async def livez(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@api.operation(
    "GET",
    "/readyz",
    "Readiness: the store (and broker, if any) are reachable",
    "health",
    auth=None,
    errors=(503,),
)
async def readyz(request: Request) -> Response:
    ctx = context_of(request)
    checks = {"store": await ctx.db.ping()}
    for name, probe in ctx.readiness_probes.items():
        checks[name] = await probe()
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@api.operation(
    "GET",
    "/metrics",
    "Prometheus metrics of this process (text exposition format)",
    "health",
    auth=None,
    errors=(),
    extra_responses={
        "200": {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(_request: Request) -> Response:
    body, content_type = render_metrics()
    return Response(body, headers={"Content-Type": content_type})


@api.operation("GET", "/openapi.json", "This document", "health", auth=None, errors=())
async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


@api.operation(
    "GET",
    "/asyncapi.json",
    "The AsyncAPI 3.0 document of the event API (Kafka topics and the SSE stream)",
    "health",
    auth=None,
    errors=(),
    extra_responses={
        "200": {
            "description": "AsyncAPI 3.0 document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def asyncapi_json(_request: Request) -> Response:
    return JSONResponse(asyncapi_document())
