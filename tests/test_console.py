"""The console's files and headers at /ui/, and the setting that switches it off."""

from __future__ import annotations

import httpx

from firehook.context import Context
from gateway.app import create_app
from gateway.console import STATIC_DIR


async def test_console_is_served_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    # No inline script or style: every one is a file the policy allows.
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text
    module = await client.get("/ui/pages/routines.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert module.headers["content-security-policy"] == policy


async def test_every_module_the_pages_import_is_shipped(client: httpx.AsyncClient) -> None:
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            relative = path.relative_to(STATIC_DIR).as_posix()
            assert (await client.get(f"/ui/{relative}")).status_code == 200, relative


async def test_console_can_be_switched_off(ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"console_enabled": False})
    app = create_app(ctx)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firehook.test"
    ) as http:
        assert (await http.get("/ui/")).status_code == 404
        assert (await http.get("/livez")).status_code == 200


async def test_a_role_without_the_api_serves_no_console(ctx: Context) -> None:
    app = create_app(ctx, apis=())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firehook.test"
    ) as http:
        assert (await http.get("/ui/")).status_code == 404
