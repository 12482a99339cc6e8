"""API key lifecycle: listing without the keys, revocation, last use, the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx

from firehook.auth import hash_api_key
from firehook.context import Context
from firehook.settings import Settings
from firehook.store import accounts
from tests.conftest import FakeClock, Tenant, make_tenant

_LISTED = {
    "id",
    "name",
    "role",
    "companyId",
    "agentId",
    "collection",
    "prefix",
    "createdAt",
    "lastUsedAt",
    "revokedAt",
}


async def _keys(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> httpx.Response:
    return await client.get(
        f"/api/companies/{tenant.company_id}/api-keys",
        params=params,
        headers=Tenant.auth(tenant.board),
    )


async def _create_key(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    made = await client.post(
        f"/api/companies/{tenant.company_id}/api-keys",
        json=body,
        headers=Tenant.auth(tenant.board),
    )
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


async def test_listing_shows_metadata_and_a_prefix_never_the_key(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await _create_key(client, tenant, role="board", name="deploy bot")
    listed = await _keys(client, tenant)
    assert listed.status_code == 200
    # board, agent, other agent from the fixture, and the new one; the admin key has no company.
    assert listed.headers["x-total-count"] == "4"
    body = listed.json()
    assert isinstance(body, list) and len(body) == 4
    assert all(set(item) == _LISTED for item in body)
    mine = next(item for item in body if item["id"] == made["id"])
    assert mine["name"] == "deploy bot" and mine["role"] == "board"
    assert mine["prefix"] == made["key"][:12] and mine["prefix"].startswith("fhk_")
    assert mine["revokedAt"] is None and mine["createdAt"] == made["createdAt"]
    # No listing carries a key or its hash.
    text = listed.text
    assert made["key"] not in text and made["key"][:20] not in text
    assert tenant.board[12:] not in text and "hash" not in text.lower()


async def test_listing_pages_with_limit_and_offset(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    everything = [item["id"] for item in (await _keys(client, tenant)).json()]
    first = await _keys(client, tenant, limit=2)
    second = await _keys(client, tenant, limit=2, offset=2)
    assert [i["id"] for i in first.json()] + [i["id"] for i in second.json()] == everything
    assert first.headers["x-total-count"] == second.headers["x-total-count"] == "3"
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}, {"extra": 1}):
        refused = await _keys(client, tenant, **bad)
        assert refused.status_code == 400, bad
        assert refused.json()["code"] == "VALIDATION_ERROR"


async def test_only_admin_and_board_of_the_company_list_and_revoke(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    other = await make_tenant(client, tenant.admin, name="Other")
    target = await _create_key(client, tenant, role="agent", agentId="a-7")
    url = f"/api/companies/{tenant.company_id}/api-keys"
    assert (await client.get(url, headers=Tenant.auth(tenant.admin))).status_code == 200
    as_agent = await client.get(url, headers=Tenant.auth(tenant.agent))
    assert (as_agent.status_code, as_agent.json()["code"]) == (403, "FORBIDDEN")
    for key in (other.board, other.agent):
        foreign = await client.get(url, headers=Tenant.auth(key))
        assert (foreign.status_code, foreign.json()["code"]) == (404, "NOT_FOUND")
        revoke = await client.delete(f"/api/api-keys/{target['id']}", headers=Tenant.auth(key))
        assert revoke.status_code == 404
    by_agent = await client.delete(
        f"/api/api-keys/{target['id']}", headers=Tenant.auth(tenant.agent)
    )
    assert by_agent.status_code == 403
    for missing in ("00000000-0000-4000-8000-000000000000", "not-a-key"):
        gone = await client.delete(f"/api/api-keys/{missing}", headers=Tenant.auth(tenant.board))
        assert gone.status_code == 404
    # A company's board cannot reach an admin key, nor another company's key.
    async with ctx.db.read() as conn:
        admin = await accounts.find_api_key(conn, hash_api_key(tenant.admin))
    assert admin is not None
    for key_id in (admin["id"], (await _keys(client, other)).json()[0]["id"]):
        reach = await client.delete(f"/api/api-keys/{key_id}", headers=Tenant.auth(tenant.board))
        assert reach.status_code == 404


async def test_a_revoked_key_is_refused_at_once_and_stays_listed(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    made = await _create_key(client, tenant, role="board")
    company = f"/api/companies/{tenant.company_id}"
    assert (await client.get(company, headers=Tenant.auth(made["key"]))).status_code == 200
    revoked = await client.delete(f"/api/api-keys/{made['id']}", headers=Tenant.auth(tenant.board))
    assert revoked.status_code == 200
    assert revoked.json()["revokedAt"] is not None and revoked.json()["id"] == made["id"]
    refused = await client.get(company, headers=Tenant.auth(made["key"]))
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")
    # Revoking again changes nothing: the first time stands.
    clock.advance(30)
    again = await client.delete(f"/api/api-keys/{made['id']}", headers=Tenant.auth(tenant.admin))
    assert again.status_code == 200 and again.json()["revokedAt"] == revoked.json()["revokedAt"]
    listed = {item["id"]: item for item in (await _keys(client, tenant)).json()}
    assert listed[made["id"]]["revokedAt"] == revoked.json()["revokedAt"]
    # A key may revoke itself; its next request is refused.
    own = await client.delete(f"/api/api-keys/{_id_of(listed, tenant)}", headers=_board(tenant))
    assert own.status_code == 200
    assert (await client.get(company, headers=_board(tenant))).status_code == 401


def _board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


def _id_of(listed: dict[str, dict[str, Any]], tenant: Tenant) -> str:
    return next(i for i, item in listed.items() if tenant.board.startswith(item["prefix"]))


async def test_last_use_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    made = await _create_key(client, tenant, role="agent", agentId="a-1")
    company = f"/api/companies/{tenant.company_id}"

    async def last_used() -> str | None:
        listed = {item["id"]: item for item in (await _keys(client, tenant)).json()}
        value: str | None = listed[made["id"]]["lastUsedAt"]
        return value

    assert await last_used() is None
    first_use = clock.now
    assert (await client.get(company, headers=Tenant.auth(made["key"]))).status_code == 200
    recorded = await last_used()
    assert recorded is not None and recorded.startswith(first_use.strftime("%Y-%m-%dT%H:%M:%S"))
    clock.advance(30)
    await asyncio.gather(*(client.get(company, headers=Tenant.auth(made["key"])) for _ in range(5)))
    assert await last_used() == recorded
    clock.advance(31)
    second_use = clock.now
    assert (await client.get(company, headers=Tenant.auth(made["key"]))).status_code == 200
    later = await last_used()
    assert later is not None and later.startswith(second_use.strftime("%Y-%m-%dT%H:%M:%S"))


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`firehook <args>` in its own process, as an operator runs it."""
    env = os.environ | {"FIREHOOK_DATABASE_URL": settings.database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "firehook.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_lists_and_revokes_keys(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    made = await _create_key(client, tenant, role="board", name="ci")
    code, out, _ = await _cli(settings, "keys", "list", "--company", tenant.company_id)
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split("\t")[:3] == ["id", "prefix", "role"]
    assert len(lines) == 4
    row = next(line.split("\t") for line in lines if line.startswith(made["id"]))
    assert row[1] == made["key"][:12] and row[2] == "board" and row[-1] == "-"
    assert made["key"] not in out
    # Without --company every key is listed, the admin key too.
    code, out, _ = await _cli(settings, "keys", "list")
    assert code == 0 and "\tadmin\t" in out

    code, out, _ = await _cli(settings, "keys", "revoke", made["id"])
    assert code == 0 and f"revoked {made['id']}" in out
    company = f"/api/companies/{tenant.company_id}"
    assert (await client.get(company, headers=Tenant.auth(made["key"]))).status_code == 401
    code, _, err = await _cli(settings, "keys", "revoke", "no-such-key")
    assert code == 1 and "no API key no-such-key" in err
