"""Secrets at rest: never in the database in clear, never in the logs, and re-encryptable."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from firehook.app import build_context
from firehook.cli import main
from firehook.context import Context
from firehook.crypto import SecretBox, generate_secret_key, key_id_for, key_id_of, parse_secret_key
from firehook.roles import embedded
from firehook.settings import Settings
from firehook.store.tables import metadata
from gateway import create_app
from gateway.signatures import SIGNING_MODES
from tests.conftest import FakeClock, Tenant, routine_body
from tests.servers import Receiver, serve
from tests.test_webhooks import event_body, fire, new_routine, new_webhook, signed_headers

SIGNED_MODES = [mode for mode in SIGNING_MODES if mode != "none"]


def fresh_secret(mode: str) -> str:
    if mode == "standard_webhooks":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return "sekrit-" + secrets.token_urlsafe(24)


async def http_routine(client: httpx.AsyncClient, tenant: Tenant, url: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(dispatch={"type": "http", "url": url, "timeoutSec": 5}),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def rotate(
    client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/routine-triggers/{trigger['id']}/rotate-secret",
        json=body,
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["trigger"])


async def fire_with(
    client: httpx.AsyncClient, trigger: dict[str, Any], clock: FakeClock, secret: str, n: int
) -> int:
    body = event_body(n)
    headers = signed_headers(trigger["signingMode"], body, clock.now.timestamp(), secret=secret)
    return (await fire(client, trigger, body, headers)).status_code


async def every_stored_value(ctx: Context) -> str:
    """Every row of every table, as text."""
    parts: list[str] = []
    async with ctx.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def sqlite_files(database_url: str) -> list[Path]:
    path = Path(str(make_url(database_url).database))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


async def test_no_secret_appears_in_the_database_or_the_logs(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    clock: FakeClock,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert settings.secret_key is not None
    created = [tenant.admin, tenant.board, tenant.agent, tenant.other_agent, settings.secret_key]
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")
        created.append(routine["dispatchSigningSecret"])
        for n, mode in enumerate(SIGNED_MODES):
            secret, successor = fresh_secret(mode), fresh_secret(mode)
            created += [secret, successor]
            trigger = await new_webhook(client, tenant, mode, routine, secret=secret)
            assert await fire_with(client, trigger, clock, secret, 10 * n) == 202
            assert await fire_with(client, trigger, clock, successor, 10 * n + 1) == 401
            await rotate(client, tenant, trigger, secret=successor, gracePeriodSec=60)
            assert await fire_with(client, trigger, clock, secret, 10 * n + 2) == 202
            assert await fire_with(client, trigger, clock, successor, 10 * n + 3) == 202
            generated = await rotate(client, tenant, trigger)
            created.append(generated["secret"])
        await receiver.wait_for(1)

    stored = await every_stored_value(ctx)
    files = [path.read_bytes() for path in sqlite_files(settings.database_url)]
    logs = "\n".join([*capsys.readouterr(), caplog.text])
    assert "webhook not authenticated" in logs
    assert settings.is_sqlite == bool(files)
    for secret in created:
        assert secret not in stored
        assert secret not in logs
        for content in files:
            assert secret.encode() not in content


async def test_rotate_encryption_reencrypts_every_stored_secret(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    clock: FakeClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = fresh_secret("hmac_sha256"), fresh_secret("hmac_sha256")
    routine = await http_routine(client, tenant, "http://127.0.0.1:9/hook")
    trigger = await new_webhook(client, tenant, "hmac_sha256", secret=first)
    await rotate(client, tenant, trigger, secret=second, gracePeriodSec=600)
    await new_routine(client, tenant)  # a routine without secrets is left alone
    old_key, new_key = settings.secret_key, generate_secret_key()
    assert old_key is not None
    expected = {routine["dispatchSigningSecret"], first, second}

    async def sealed() -> dict[str, str]:
        tokens: dict[str, str] = {}
        async with ctx.db.read() as conn:
            for table in metadata.sorted_tables:
                for column in [c for c in table.columns if c.name.endswith("_enc")]:
                    rows = await conn.execute(select(table.c.id, column).where(column.is_not(None)))
                    tokens |= {f"{table.name}.{column.name}.{i}": t for i, t in rows.all()}
        return tokens

    async def rotate_encryption() -> int:
        return await asyncio.to_thread(main, ["keys", "rotate-encryption"])

    monkeypatch.setenv("FIREHOOK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIREHOOK_SECRET_KEY", new_key)
    before = await sealed()
    assert len(before) == 3

    # Without the old key nothing can be opened, so nothing is changed.
    assert await rotate_encryption() == 1
    assert "nothing changed" in capsys.readouterr().err
    assert await sealed() == before

    monkeypatch.setenv("FIREHOOK_PREVIOUS_SECRET_KEYS", old_key)
    assert await rotate_encryption() == 0
    assert "re-encrypted 3 secrets" in capsys.readouterr().out
    after = await sealed()
    new_box = SecretBox.from_keys(parse_secret_key(new_key))
    new_id = key_id_for(parse_secret_key(new_key))
    assert set(after) == set(before)
    assert all(key_id_of(token) == new_id for token in after.values())
    opened = {
        new_box.decrypt(token, name.rsplit(".", 1)[1].encode()) for name, token in after.items()
    }
    assert opened == expected

    assert await rotate_encryption() == 0
    assert "re-encrypted 0 secrets" in capsys.readouterr().out
    assert await sealed() == after

    # A gateway restarted with only the new key verifies both secrets of the grace period.
    restarted = build_context(
        Settings(
            database_url=settings.database_url,
            secret_key=new_key,
            secret_key_file=settings.secret_key_file,
            _env_file=None,  # type: ignore[call-arg]
        )
    )
    restarted.clock = clock
    wired = embedded(restarted, scheduler=False)
    for service in wired.services:
        await service.start()
    try:
        transport = httpx.ASGITransport(app=create_app(restarted))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as other:
            assert await fire_with(other, trigger, clock, first, 1) == 202
            assert await fire_with(other, trigger, clock, second, 2) == 202
    finally:
        for service in reversed(wired.services):
            await service.stop()
        await restarted.db.close()
