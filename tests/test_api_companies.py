"""Companies and API keys."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant, make_tenant


async def test_admin_creates_company_and_reads_it(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    created = await client.post(
        "/api/companies", json={"name": "Acme"}, headers=Tenant.auth(admin_key)
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Acme" and body["createdAt"].endswith("Z")
    fetched = await client.get(f"/api/companies/{body['id']}", headers=Tenant.auth(admin_key))
    assert fetched.status_code == 200 and fetched.json() == body


async def test_board_and_agent_cannot_create_companies(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for key in (tenant.board, tenant.agent):
        response = await client.post("/api/companies", json={"name": "X"}, headers=Tenant.auth(key))
        assert response.status_code == 403
        assert response.json()["code"] == "FORBIDDEN"


async def test_keys_see_their_company_only(client: httpx.AsyncClient, tenant: Tenant) -> None:
    other = await make_tenant(client, tenant.admin, name="Other")
    for key in (tenant.board, tenant.agent):
        own = await client.get(f"/api/companies/{tenant.company_id}", headers=Tenant.auth(key))
        assert own.status_code == 200
        foreign = await client.get(f"/api/companies/{other.company_id}", headers=Tenant.auth(key))
        assert foreign.status_code == 404
        assert foreign.json()["code"] == "NOT_FOUND"


async def test_board_creates_keys_and_agent_cannot(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    url = f"/api/companies/{tenant.company_id}/api-keys"
    made = await client.post(
        url, json={"role": "agent", "agentId": "a-9"}, headers=Tenant.auth(tenant.board)
    )
    assert made.status_code == 201
    body = made.json()
    assert body["key"].startswith("fhk_") and body["agentId"] == "a-9" and body["role"] == "agent"
    # The new key works at once.
    check = await client.get(
        f"/api/companies/{tenant.company_id}", headers=Tenant.auth(body["key"])
    )
    assert check.status_code == 200
    refused = await client.post(url, json={"role": "board"}, headers=Tenant.auth(tenant.agent))
    assert refused.status_code == 403


async def test_missing_or_bad_key_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url = f"/api/companies/{tenant.company_id}"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = await client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED"


async def test_keys_are_stored_hashed(
    client: httpx.AsyncClient, tenant: Tenant, ctx: object
) -> None:
    from sqlalchemy import select

    from firehook.context import Context
    from firehook.store.tables import api_keys

    assert isinstance(ctx, Context)
    async with ctx.db.read() as conn:
        hashes = (await conn.execute(select(api_keys.c.key_hash))).scalars().all()
    for key in (tenant.admin, tenant.board, tenant.agent):
        assert key not in hashes
        assert len(hashes) >= 3
