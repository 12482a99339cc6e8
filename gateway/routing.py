"""Declared API operations: one declaration feeds both the router and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http import error_response, on_unexpected_error
from schemas.errors import FirehookError

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One method on one path, with the models that validate and describe it."""

    method: str
    path: str
    summary: str
    tag: str
    handler: Handler
    request: Any = None
    # The body may be left out altogether (then it is read as `{}`).
    request_optional: bool = False
    # A model, or list[Model] for a bare array with its total in X-Total-Count.
    response: Any = None
    status: int = 200
    query: Sequence[QueryParam] = ()
    auth: str | None = "bearer"
    errors: Sequence[int] = (400, 401, 404)
    extra_responses: dict[str, Any] = field(default_factory=dict)
    # A repeated idempotency key answers 200 with the original body and Idempotent-Replayed.
    replayable: bool = False
    description: str = ""
    # OpenAPI parameter objects beyond path and query (headers a client may send).
    parameters: Sequence[dict[str, Any]] = ()
    # An OpenAPI requestBody written out, for bodies no one model describes.
    request_body: dict[str, Any] | None = None
    # OpenAPI links of the success answer: where the resource it made can be used next.
    links: dict[str, Any] = field(default_factory=dict)


def links_to(parameter: str, pointer: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links passing the answer's `pointer` (a JSON pointer) as `parameter`."""
    return {
        operation_id: {
            "operationId": operation_id,
            "parameters": {parameter: f"$response.body#{pointer}"},
        }
        for operation_id in operation_ids
    }


class Api:
    """A collection of operations, built into Starlette routes."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def operation(
        self, method: str, path: str, summary: str, tag: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(method, path, summary, tag, _guarded(handler), **options)
            )
            return handler

        return register

    def handler(self, method: str, path: str) -> Handler:
        """The handler of one operation, as its route calls it (errors answered)."""
        for op in self.operations:
            if op.method == method and op.path == path:
                return op.handler
        raise KeyError(f"{method} {path}")

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Handler]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op.handler
        return [_route(path, handlers) for path, handlers in by_path.items()]


def _guarded(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except FirehookError as error:
            return error_response(error)
        except ClientDisconnect:
            # The client left, or the server's edge cut off a stalled body: nobody hears this.
            return Response(status_code=400)
        except Exception as exc:
            return await on_unexpected_error(request, exc)

    endpoint.__name__ = handler.__name__
    return endpoint


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    if len(handlers) == 1:
        ((method, handler),) = handlers.items()
        return Route(path, handler, methods=[method])

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method if request.method != "HEAD" else "GET"](request)

    return Route(path, dispatch, methods=list(handlers))
