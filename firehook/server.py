"""The HTTP server every role runs: uvicorn on httptools, with limits at the edge.

uvicorn bounds keep-alive but neither the size of a request's headers nor the
time a client may take to send them or its body, so a few slow or oversized
requests could hold sockets and memory for as long as the client likes. The
limits live in a subclass of uvicorn's httptools protocol because only there are
they enforced before the application sees a request, for every route alike
(a timeout around the ASGI `receive` would miss a client that stalls before its
headers are complete, and bodies nobody reads). A request that arrives whole costs
a byte count and two flags; a timer is armed only while headers or a body are
incomplete. Hypercorn and Granian have such timeouts, but moving to either would
give up the uvloop and httptools throughput measured here.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from firehook.settings import Settings
from schemas.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What one client may cost the server; see docs/production.md for each default."""

    max_header_bytes: int
    header_timeout_sec: float
    body_timeout_sec: float
    keepalive_timeout_sec: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout_sec=settings.http_header_timeout_sec,
            body_timeout_sec=settings.http_body_timeout_sec,
            keepalive_timeout_sec=settings.http_keepalive_timeout_sec,
            max_connections=settings.http_max_connections,
        )


class _CoalescedWrites:
    """The connection's transport, with the writes of one turn of the loop sent together.

    uvicorn writes an answer's head and its body separately, two system calls and two
    segments for every small answer; held until the loop's next turn they go as one. A
    write never waits longer than that turn, and closing sends what is held first.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        # Everything else (extra info, reading flow, abort) is the transport's own.
        return getattr(self._transport, name)


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose headers are too large."""


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size, read timeouts and a connection cap."""

    limits: ClassVar[EdgeLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keepalive_timeout_sec  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None
        # From the end of one request to the end of the next one's headers.
        self._awaiting_headers = True
        # From the end of a request's headers to the end of its body.
        self._in_body = False
        self._raw_header_bytes = 0

    # -- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        self.transport = cast(asyncio.Transport, _CoalescedWrites(transport, self.loop))
        if full:
            self._refuse(503, ErrorCode.UNAVAILABLE, "too many connections; retry later")
            return
        # A connection that never completes its headers is closed, even if it sends nothing.
        self._arm(self.limits.header_timeout_sec, self._on_header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._awaiting_headers:
            self._raw_header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._refuse_headers()
            else:
                self._refuse_malformed()
            return
        except httptools.HttpParserError:
            self._refuse_malformed()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # A request that came whole in this chunk needs no timer: the usual case costs nothing.
        if self._awaiting_headers and self._raw_header_bytes:
            # The parser holds the incomplete headers it has read, so count them raw.
            if self._raw_header_bytes > self.limits.max_header_bytes:
                self._refuse_headers()
            elif self._deadline is None:
                self._arm(self.limits.header_timeout_sec, self._on_header_timeout)
        elif self._in_body and self._deadline is None:
            self._arm(self.limits.body_timeout_sec, self._on_body_timeout)

    # -- parser callbacks -------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        # The raw count may include body bytes of the same chunk: only then count exactly.
        if (
            self._raw_header_bytes > self.limits.max_header_bytes
            and self._header_bytes() > self.limits.max_header_bytes
        ):
            raise _HeadersTooLarge
        self._awaiting_headers = False
        self._in_body = True
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_body = False
        self._awaiting_headers = True
        self._raw_header_bytes = 0
        super().on_message_complete()

    # -- limits -----------------------------------------------------------------------------

    def _header_bytes(self) -> int:
        """The request line's target and the headers, as sent less the line breaks."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_header_timeout(self) -> None:
        self._deadline = None
        # Nothing of the request is known yet: there is nobody to answer, only a socket to free.
        if not self.transport.is_closing():
            self.transport.close()

    def _on_body_timeout(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        seconds = f"{self.limits.body_timeout_sec:g}"
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(
                408, ErrorCode.VALIDATION_ERROR, f"request body not received within {seconds} s"
            )
        else:
            # The answer is under way (or sent) while the client still owes body bytes.
            self.transport.close()

    def _refuse_headers(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, ErrorCode.PAYLOAD_TOO_LARGE, f"request headers exceed {limit} bytes")

    def _refuse_malformed(self) -> None:
        self.logger.warning("Invalid HTTP request received.")
        self._refuse(400, ErrorCode.VALIDATION_ERROR, "invalid HTTP request")

    def _refuse(self, status: int, code: ErrorCode, message: str) -> None:
        """Answer in the one error format, then close the connection."""
        self._disarm()
        if self.cycle is not None and self.cycle.response_started:
            if not self.cycle.response_complete:
                # Half an answer is on the wire; another one cannot follow it.
                self.transport.close()
                return
        elif self.cycle is not None:
            # The application may still be waiting on the body; it sees a disconnect and
            # whatever it answers is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body = orjson.dumps({"error": message, "code": code.value, "details": {}})
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to `limits`."""
    return type("BoundEdgeProtocol", (EdgeProtocol,), {"limits": limits})


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for `app` on the settings' address, with the edge limits."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=edge_protocol(EdgeLimits.from_settings(settings)),
        log_config=None,
        **options,
    )


def serve(app: Any, settings: Settings, **options: Any) -> bool:
    """Serve `app` until SIGINT or SIGTERM; False if it could not start (address in use)."""
    server = uvicorn.Server(server_config(app, settings, **options))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started
