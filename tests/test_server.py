"""The HTTP edge over raw sockets: header size, read timeouts, keep-alive, connection cap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from firehook import server as server_module
from firehook.context import Context
from firehook.server import EdgeProtocol, server_config
from firehook.settings import Settings
from gateway import create_app
from tests.servers import free_port

HEADER_LIMIT = 2048
TIMEOUT = 0.6
# Each wait is bounded: a server that never closes fails the test within this.
BOUND = 5.0


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"received": len(body)})


def _edge_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "http_max_header_bytes": HEADER_LIMIT,
        "http_header_timeout_sec": TIMEOUT,
        "http_body_timeout_sec": TIMEOUT,
        "http_keepalive_timeout_sec": TIMEOUT,
        "http_max_connections": 100,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@asynccontextmanager
async def edge_server(app: Starlette | None = None, **overrides: Any) -> AsyncIterator[int]:
    """`app` (an echo app by default) behind the edge protocol on a free loopback port."""
    settings = _edge_settings(**overrides)
    app = app or Starlette(routes=[Route("/echo", _echo, methods=["GET", "POST"])])
    server = uvicorn.Server(server_config(app, settings, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield settings.port
    finally:
        server.should_exit = True
        await task


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if line)
    }
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), BOUND)
    return int(status_line.split()[1]), headers, body


async def _closed_within(reader: asyncio.StreamReader, seconds: float = BOUND) -> bytes:
    """Everything the server still sends, up to its closing the connection."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        return b""


def _request(method: str = "GET", body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} /echo HTTP/1.1", "Host: edge.test"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_an_ordinary_request_and_a_pipelined_pair_are_served() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        writer.write(_request("POST", b'{"a": 1}') + _request("POST", b"xyz"))
        first = await _read_response(reader)
        second = await _read_response(reader)
        writer.close()
    assert (first[0], json.loads(first[2])) == (200, {"received": 8})
    assert (second[0], json.loads(second[2])) == (200, {"received": 3})


async def test_headers_over_the_limit_are_a_431_in_our_error_format() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        writer.write(_request(X_Padding="a" * HEADER_LIMIT))
        status, headers, body = await _read_response(reader)
        rest = await _closed_within(reader)
        writer.close()
        # Just under the limit is served.
        reader, writer = await _connect(port)
        writer.write(_request(X_Padding="a" * (HEADER_LIMIT - 200)))
        ok = await _read_response(reader)
        writer.close()
    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body) == {
        "error": f"request headers exceed {HEADER_LIMIT} bytes",
        "code": "PAYLOAD_TOO_LARGE",
        "details": {},
    }
    assert rest == b""
    assert ok[0] == 200


async def test_endless_headers_are_cut_off_at_the_limit_not_buffered() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        answer = asyncio.create_task(_closed_within(reader))
        writer.write(b"GET /echo HTTP/1.1\r\nHost: edge.test\r\nX-Endless: ")
        sent = 0
        # A header that never ends: the server hangs up long before a megabyte.
        with contextlib.suppress(ConnectionError):
            while sent < 1024 * 1024 and not answer.done():
                writer.write(b"a" * 4096)
                await writer.drain()
                sent += 4096
                await asyncio.sleep(0.005)
        received = await answer
        writer.close()
    assert sent < 64 * 1024
    # The 431 is sent; the client may lose it to the reset that unread bytes cause.
    assert received == b"" or received.startswith(b"HTTP/1.1 431 ")


async def test_slow_headers_are_closed_after_the_header_timeout() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        started = time.monotonic()
        writer.write(b"GET /echo HTTP/1.1\r\nHost: edge.test\r\n")
        rest = await _closed_within(reader)
        elapsed = time.monotonic() - started
        writer.close()
        # A connection that sends nothing at all is closed as well.
        silent, silent_writer = await _connect(port)
        assert await _closed_within(silent) == b""
        silent_writer.close()
    assert rest == b""
    assert TIMEOUT * 0.9 <= elapsed < BOUND


async def test_a_stalled_body_is_a_408() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        started = time.monotonic()
        writer.write(b"POST /echo HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 100\r\n\r\n")
        # A byte now and then, never the whole body: the timeout is on the body, not on idling.
        for _ in range(3):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(TIMEOUT / 3)
        status, headers, body = await _read_response(reader)
        elapsed = time.monotonic() - started
        rest = await _closed_within(reader)
        writer.close()
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == f"request body not received within {TIMEOUT:g} s"
    assert rest == b""
    assert TIMEOUT * 0.9 <= elapsed < BOUND


async def test_a_body_shorter_than_its_content_length_is_a_408_at_the_body_timeout() -> None:
    async with edge_server() as port:
        reader, writer = await _connect(port)
        started = time.monotonic()
        writer.write(_request("POST", b"{}").replace(b"Content-Length: 2", b"Content-Length: 50"))
        status, _, _ = await _read_response(reader)
        elapsed = time.monotonic() - started
        assert await _closed_within(reader) == b""
        writer.close()
    assert status == 408
    assert TIMEOUT * 0.9 <= elapsed < BOUND


async def test_connections_over_the_cap_are_refused_with_a_503() -> None:
    async with edge_server(http_max_connections=3, http_header_timeout_sec=30) as port:
        held = [await _connect(port) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await _connect(port)
        status, headers, body = await _read_response(reader)
        await _closed_within(reader)
        writer.close()
        # A slot freed is a slot open again.
        held.pop()[1].close()
        await asyncio.sleep(0.2)
        reader, writer = await _connect(port)
        writer.write(_request())
        ok = await _read_response(reader)
        writer.close()
        for _, held_writer in held:
            held_writer.close()
    assert status == 503
    assert headers["retry-after"] == "1"
    assert json.loads(body)["code"] == "UNAVAILABLE"
    assert ok[0] == 200


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() -> None:
    async with edge_server(http_header_timeout_sec=30) as port:
        reader, writer = await _connect(port)
        writer.write(_request())
        await _read_response(reader)
        # Within the timeout the connection serves another request.
        await asyncio.sleep(TIMEOUT / 3)
        writer.write(_request())
        second = await _read_response(reader)
        idle_from = time.monotonic()
        rest = await _closed_within(reader)
        idle = time.monotonic() - idle_from
        writer.close()
    assert second[0] == 200
    assert rest == b""
    assert TIMEOUT * 0.9 <= idle < BOUND


def test_every_role_serves_through_the_edge_protocol() -> None:
    config = server_config(Starlette(), _edge_settings())
    config.load()
    assert issubclass(config.http_protocol_class, EdgeProtocol)
    assert config.http_protocol_class.limits.max_header_bytes == HEADER_LIMIT


async def test_the_gateway_answers_a_stalled_management_body_with_a_408(
    ctx: Context, admin_key: str
) -> None:
    with capture_logs() as logs:
        async with edge_server(create_app(ctx)) as port:
            reader, writer = await _connect(port)
            writer.write(
                b"POST /api/companies HTTP/1.1\r\nHost: edge.test\r\n"
                + f"Authorization: Bearer {admin_key}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"
            )
            status, _, _ = await _read_response(reader)
            writer.close()
            await asyncio.sleep(0.1)
    assert status == 408
    # A client that stalls is not a server error.
    assert [entry for entry in logs if entry["log_level"] == "error"] == []


async def test_an_answer_goes_out_in_one_write_and_a_stream_is_never_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flushed: list[bytes] = []
    real_flush = server_module._CoalescedWrites._flush

    def flush(self: Any) -> None:
        flushed.extend(self._pending or ())
        flushed.append(b"|")
        real_flush(self)

    monkeypatch.setattr(server_module._CoalescedWrites, "_flush", flush)
    go_on = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first;"
        # The client must have the head and the first chunk before the rest is made.
        await asyncio.wait_for(go_on.wait(), BOUND)
        yield b"second"

    async def stream(_request: Request) -> Response:
        return StreamingResponse(chunks(), media_type="text/plain")

    app = Starlette(routes=[Route("/echo", _echo, methods=["POST"]), Route("/stream", stream)])
    async with edge_server(app) as port:
        reader, writer = await _connect(port)
        writer.write(_request("POST", b'{"a": 1}'))
        status, _headers, body = await _read_response(reader)
        assert (status, json.loads(body)) == (200, {"received": 8})
        # Head and body, written by uvicorn one after the other, left in one write.
        assert len(flushed) == 3 and flushed[-1] == b"|"
        assert flushed[0].startswith(b"HTTP/1.1 200") and flushed[1] == body

        writer.write(b"GET /stream HTTP/1.1\r\nHost: edge.test\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
        first = await asyncio.wait_for(reader.readuntil(b"first;\r\n"), BOUND)
        go_on.set()
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), BOUND)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head
    assert first.endswith(b"first;\r\n") and b"second" in rest
