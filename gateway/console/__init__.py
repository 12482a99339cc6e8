"""The web console: static ES modules served at /ui/ under a strict Content-Security-Policy.

The pages talk to Firehook only through the public JSON API and the SSE stream,
with the key the user types in; the server has nothing console-specific but these
files and their headers.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
PATH = "/ui"

# No inline script or style anywhere: every script and sheet is a file of this origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    # Revalidated on every load, so an upgrade never runs old modules against a new API.
    (b"cache-control", b"no-cache"),
)


class SecurityHeaders:
    """Adds the console's security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k not in names]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, send_with_headers)


def mount() -> Mount:
    """The route serving the console's files at /ui/ (index.html for the directory)."""
    files = StaticFiles(directory=STATIC_DIR, html=True)
    return Mount(PATH, app=SecurityHeaders(files), name="console")
