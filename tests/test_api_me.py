"""`GET /api/me`: who a key is and what it may do, and that what it says is what the API
then allows, for every role and for collection-bound keys, on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, routine_body

COLLECTION = "my-org"
_UNBOUND_BOARD = {
    "manageRoutines": "all",
    "assignRoutines": "anyone",
    "routinesNeedTask": False,
    "createCompanies": False,
    "createApiKeys": True,
    "listApiKeys": True,
    "revokeApiKeys": True,
    "manageTasks": True,
    "viewChains": True,
    "manageChains": True,
    "viewRunStream": True,
    "viewCompanyStats": True,
    "bulkRoutines": True,
    "inspectDeliveries": True,
    "retryRunsInBulk": True,
}
_AGENT = _UNBOUND_BOARD | {
    "manageRoutines": "assigned",
    "assignRoutines": "self",
    "createApiKeys": False,
    "listApiKeys": False,
    "revokeApiKeys": False,
    "manageTasks": False,
    "manageChains": False,
    "inspectDeliveries": False,
    "retryRunsInBulk": False,
}
_COMPANY_WIDE = (
    "listApiKeys",
    "viewChains",
    "manageChains",
    "viewRunStream",
    "viewCompanyStats",
    "bulkRoutines",
    "retryRunsInBulk",
)


def _bound(permissions: dict[str, Any]) -> dict[str, Any]:
    return permissions | {"routinesNeedTask": True} | dict.fromkeys(_COMPANY_WIDE, False)


@dataclass
class Keys:
    """Every kind of key of one company, with what `/api/me` must say of each."""

    tenant: Tenant
    bound_board: str
    bound_agent: str
    bound_task: str


async def _post(client: httpx.AsyncClient, key: str, path: str, body: Any) -> httpx.Response:
    return await client.post(path, json=body, headers=Tenant.auth(key))


async def _made(client: httpx.AsyncClient, key: str, path: str, body: Any) -> dict[str, Any]:
    response = await _post(client, key, path, body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


@pytest.fixture
async def keys(client: httpx.AsyncClient, tenant: Tenant) -> Keys:
    company = f"/api/companies/{tenant.company_id}"
    bound_board = await _made(
        client, tenant.board, f"{company}/api-keys", {"role": "board", "collection": COLLECTION}
    )
    bound_agent = await _made(
        client,
        tenant.board,
        f"{company}/api-keys",
        {"role": "agent", "agentId": "agent-1", "collection": COLLECTION},
    )
    task = await _made(
        client, tenant.board, f"{company}/tasks", {"name": "sync", "collection": COLLECTION}
    )
    return Keys(tenant, bound_board["key"], bound_agent["key"], task["id"])


async def _me(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get("/api/me", headers=Tenant.auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"keyId", "role", "companyId", "agentId", "collection", "permissions"}
    return body


async def test_me_names_the_key_and_its_permissions_for_every_role(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    tenant = keys.tenant
    admin = await _me(client, tenant.admin)
    assert admin["role"] == "admin" and admin["companyId"] is None
    assert admin["agentId"] is None and admin["collection"] is None
    assert admin["permissions"] == _UNBOUND_BOARD | {"createCompanies": True}

    board = await _me(client, tenant.board)
    assert (board["role"], board["companyId"], board["agentId"]) == (
        "board",
        tenant.company_id,
        None,
    )
    assert board["permissions"] == _UNBOUND_BOARD

    agent = await _me(client, tenant.agent)
    assert (agent["role"], agent["companyId"], agent["agentId"]) == (
        "agent",
        tenant.company_id,
        "agent-1",
    )
    assert agent["permissions"] == _AGENT
    assert (await _me(client, tenant.other_agent))["agentId"] == "agent-2"

    bound = await _me(client, keys.bound_board)
    assert (bound["role"], bound["collection"]) == ("board", COLLECTION)
    assert bound["permissions"] == _bound(_UNBOUND_BOARD)
    bound_agent = await _me(client, keys.bound_agent)
    assert (bound_agent["role"], bound_agent["collection"]) == ("agent", COLLECTION)
    assert bound_agent["permissions"] == _bound(_AGENT)

    # Each key is told its own id: the one the key listing shows.
    listed = await client.get(
        f"/api/companies/{tenant.company_id}/api-keys", headers=Tenant.auth(tenant.board)
    )
    prefixes = {item["id"]: item["prefix"] for item in listed.json()}
    for key in (tenant.board, tenant.agent, keys.bound_board, keys.bound_agent):
        assert prefixes[(await _me(client, key))["keyId"]] == key[:12]


async def test_me_without_a_valid_key_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer fhk_nope"}, {"Authorization": "Basic eDp5"}):
        response = await client.get("/api/me", headers=headers)
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"error", "code", "details"}
    # A revoked key is refused here too, at once.
    made = await _made(
        client, tenant.board, f"/api/companies/{tenant.company_id}/api-keys", {"role": "board"}
    )
    assert (await client.get("/api/me", headers=Tenant.auth(made["key"]))).status_code == 200
    revoked = await client.delete(f"/api/api-keys/{made['id']}", headers=Tenant.auth(tenant.board))
    assert revoked.status_code == 200
    assert (await client.get("/api/me", headers=Tenant.auth(made["key"]))).status_code == 401


def _allowed(response: httpx.Response) -> bool:
    """Whether the API let the key through: refusals are 403, or 404 for what it may not see."""
    assert response.status_code < 500, response.text
    return response.status_code not in (403, 404)


async def _may(client: httpx.AsyncClient, keys: Keys, key: str) -> dict[str, Any]:
    """What the API does with this key, probed operation by operation in the shape of
    `permissions`; bodies are left invalid where the check comes first, so nothing changes."""
    tenant = keys.tenant
    auth = Tenant.auth(key)
    company = f"/api/companies/{tenant.company_id}"
    task = {"taskId": keys.bound_task}
    own = await _made(
        client, tenant.board, f"{company}/routines", routine_body(title="Own", **task)
    )
    others = await _made(
        client,
        tenant.board,
        f"{company}/routines",
        routine_body(title="Others", assigneeAgentId="agent-2", **task),
    )
    target = await _made(client, tenant.board, f"{company}/api-keys", {"role": "board"})
    made = await _made(
        client, tenant.board, f"/api/routines/{own['id']}/triggers", {"kind": "webhook"}
    )
    webhook = made.get("trigger", made)

    async def pauses(routine: dict[str, Any]) -> bool:
        return _allowed(await _post(client, key, f"/api/routines/{routine['id']}/pause", None))

    manages_own, manages_others = await pauses(own), await pauses(others)
    assert manages_own  # every key manages a routine assigned to its own agent
    assigned_away = await _post(
        client,
        key,
        f"{company}/routines",
        routine_body(title="Away", assigneeAgentId="agent-9", **task),
    )
    untasked = await _post(client, key, f"{company}/routines", routine_body(title="No task"))
    assert untasked.status_code in (201, 400), untasked.text
    return {
        "manageRoutines": "all" if manages_others else "assigned",
        "assignRoutines": "anyone" if _allowed(assigned_away) else "self",
        "routinesNeedTask": untasked.status_code == 400 and "taskId" in untasked.text,
        "createCompanies": _allowed(await _post(client, key, "/api/companies", {})),
        "createApiKeys": _allowed(await _post(client, key, f"{company}/api-keys", {})),
        "listApiKeys": _allowed(await client.get(f"{company}/api-keys", headers=auth)),
        "revokeApiKeys": _allowed(
            await client.delete(f"/api/api-keys/{target['id']}", headers=auth)
        ),
        "manageTasks": _allowed(await _post(client, key, f"{company}/tasks", {})),
        "viewChains": _allowed(await client.get(f"{company}/chains", headers=auth)),
        "manageChains": _allowed(await _post(client, key, f"{company}/chains", {})),
        "viewRunStream": _allowed(
            await client.get(f"{company}/events?lastEventId=x", headers=auth)
        ),
        "viewCompanyStats": all(
            [
                _allowed(await client.get(f"{company}/heatmap", headers=auth)),
                _allowed(await client.get(f"{company}/suggestions", headers=auth)),
                _allowed(await client.get(f"{company}/calendar", headers=auth)),
            ]
        ),
        "bulkRoutines": _allowed(await _post(client, key, f"{company}/routines/bulk", {})),
        "inspectDeliveries": _allowed(
            await client.get(f"/api/routine-triggers/{webhook['id']}/deliveries", headers=auth)
        ),
        # No run has failed, so a permitted retry finds nothing to retry.
        "retryRunsInBulk": _allowed(await _post(client, key, f"{company}/runs/retry", {})),
    }


@pytest.mark.parametrize("who", ["board", "agent", "bound_board", "bound_agent"])
async def test_what_me_says_is_what_the_api_allows(
    client: httpx.AsyncClient, keys: Keys, who: str
) -> None:
    key = getattr(keys, who) if who.startswith("bound") else getattr(keys.tenant, who)
    said = (await _me(client, key))["permissions"]
    assert said == await _may(client, keys, key)


async def test_what_me_says_of_the_admin_key_is_what_the_api_allows(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    said = (await _me(client, keys.tenant.admin))["permissions"]
    assert said["createCompanies"] is True
    assert said == await _may(client, keys, keys.tenant.admin)
