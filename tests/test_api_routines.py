"""Routines: success paths, access rules of seed 002, lifecycle, listing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Tenant, make_tenant, routine_body


async def create(
    client: httpx.AsyncClient, tenant: Tenant, key: str | None = None, **body: object
) -> dict[str, object]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=Tenant.auth(key or tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_returns_defaults(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant, description="Compile status report")
    assert routine["status"] == "active"
    assert routine["priority"] == "medium"
    assert routine["concurrencyPolicy"] == "coalesce_if_active"
    assert routine["catchUpPolicy"] == "skip_missed"
    assert routine["catchUpCap"] == 25
    assert routine["retry"] == {
        "maxAttempts": 1,
        "strategy": "exponential",
        "baseDelaySec": 60,
        "maxDelaySec": 3600,
    }
    assert routine["dispatch"] == {"type": "stream", "url": None, "timeoutSec": 10.0}
    assert routine["companyId"] == tenant.company_id
    assert routine["triggers"] == []
    assert routine["nextRunAt"] is None


async def test_get_includes_triggers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    added = await client.post(
        f"/api/routines/{routine['id']}/triggers",
        json={"kind": "api"},
        headers=Tenant.auth(tenant.board),
    )
    assert added.status_code == 201
    fetched = await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.agent))
    assert fetched.status_code == 200
    assert [t["id"] for t in fetched.json()["triggers"]] == [added.json()["trigger"]["id"]]


async def test_list_filters_and_paginates(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for index in range(5):
        await create(client, tenant, title=f"r{index}", projectId="p1" if index % 2 else "p2")
    url = f"/api/companies/{tenant.company_id}/routines"
    everything = await client.get(url, headers=Tenant.auth(tenant.agent))
    assert everything.headers["X-Total-Count"] == "5" and len(everything.json()) == 5
    page = await client.get(
        url,
        params={"limit": 2, "offset": 2, "sort": "title"},
        headers=Tenant.auth(tenant.board),
    )
    assert [r["title"] for r in page.json()] == ["r2", "r3"]
    assert page.headers["X-Total-Count"] == "5"
    filtered = (
        await client.get(url, params={"projectId": "p1"}, headers=Tenant.auth(tenant.board))
    ).json()
    assert {r["title"] for r in filtered} == {"r1", "r3"}
    paused = await client.get(url, params={"status": "paused"}, headers=Tenant.auth(tenant.board))
    assert paused.json() == [] and paused.headers["X-Total-Count"] == "0"


async def test_patch_updates_fields(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    response = await client.patch(
        f"/api/routines/{routine['id']}",
        json={
            "title": "Weekly",
            "priority": "high",
            "concurrencyPolicy": "always_enqueue",
            "retry": {"maxAttempts": 3},
        },
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["priority"], body["concurrencyPolicy"]) == (
        "Weekly",
        "high",
        "always_enqueue",
    )
    assert body["retry"]["maxAttempts"] == 3


# -- access rules (seed 002) -------------------------------------------------------------


async def test_agent_creates_only_own_routines(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await create(client, tenant, key=tenant.agent)
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(assigneeAgentId="agent-2"),
        headers=Tenant.auth(tenant.agent),
    )
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


async def test_agent_manages_only_own_routines(client: httpx.AsyncClient, tenant: Tenant) -> None:
    mine = await create(client, tenant)
    theirs = await create(client, tenant, assigneeAgentId="agent-2")
    me = Tenant.auth(tenant.agent)
    assert (await client.get(f"/api/routines/{theirs['id']}", headers=me)).status_code == 200
    for method, path, body in (
        ("PATCH", "", {"title": "x"}),
        ("POST", "/pause", None),
        ("POST", "/resume", None),
        ("DELETE", "", None),
        ("POST", "/triggers", {"kind": "api"}),
    ):
        refused = await client.request(
            method, f"/api/routines/{theirs['id']}{path}", json=body, headers=me
        )
        assert refused.status_code == 403, (method, path, refused.text)
    allowed = await client.patch(f"/api/routines/{mine['id']}", json={"title": "mine"}, headers=me)
    assert allowed.status_code == 200


async def test_agent_cannot_reassign_board_can(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    url = f"/api/routines/{routine['id']}"
    refused = await client.patch(
        url, json={"assigneeAgentId": "agent-2"}, headers=Tenant.auth(tenant.agent)
    )
    assert refused.status_code == 403
    same = await client.patch(
        url, json={"assigneeAgentId": "agent-1"}, headers=Tenant.auth(tenant.agent)
    )
    assert same.status_code == 200
    moved = await client.patch(
        url, json={"assigneeAgentId": "agent-2"}, headers=Tenant.auth(tenant.board)
    )
    assert moved.status_code == 200 and moved.json()["assigneeAgentId"] == "agent-2"


async def test_other_company_gets_404_never_403(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    trigger = (
        await client.post(
            f"/api/routines/{routine['id']}/triggers",
            json={"kind": "api"},
            headers=Tenant.auth(tenant.board),
        )
    ).json()["trigger"]
    other = await make_tenant(client, tenant.admin, name="Other")
    for key in (other.board, other.agent):
        headers = Tenant.auth(key)
        for method, path in (
            ("GET", f"/api/routines/{routine['id']}"),
            ("PATCH", f"/api/routines/{routine['id']}"),
            ("POST", f"/api/routines/{routine['id']}/pause"),
            ("DELETE", f"/api/routines/{routine['id']}"),
            ("GET", f"/api/companies/{tenant.company_id}/routines"),
            ("POST", f"/api/companies/{tenant.company_id}/routines"),
            ("PATCH", f"/api/routine-triggers/{trigger['id']}"),
            ("DELETE", f"/api/routine-triggers/{trigger['id']}"),
        ):
            response = await client.request(
                method, path, json={"title": "x"} if method != "GET" else None, headers=headers
            )
            assert response.status_code == 404, (method, path, response.text)


async def test_admin_reaches_every_company(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    response = await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.admin))
    assert response.status_code == 200


# -- lifecycle ---------------------------------------------------------------------------


async def test_pause_resume_archive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await create(client, tenant)
    url = f"/api/routines/{routine['id']}"
    board = Tenant.auth(tenant.board)
    paused = await client.post(f"{url}/pause", headers=board)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = await client.post(f"{url}/pause", headers=board)
    assert again.status_code == 200 and again.json()["status"] == "paused"
    resumed = await client.post(f"{url}/resume", headers=board)
    assert resumed.json()["status"] == "active"
    via_patch = await client.patch(url, json={"status": "paused"}, headers=board)
    assert via_patch.json()["status"] == "paused"
    archived = await client.delete(url, headers=board)
    assert archived.status_code == 200
    body = archived.json()
    assert body["status"] == "archived" and body["archivedAt"] is not None
    assert (await client.delete(url, headers=board)).status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "/resume", None),
        ("POST", "/pause", None),
        ("PATCH", "", {"status": "active"}),
        ("PATCH", "", {"status": "paused"}),
        ("PATCH", "", {"title": "renamed"}),
        ("POST", "/triggers", {"kind": "api"}),
    ],
)
async def test_archived_is_terminal(
    client: httpx.AsyncClient, tenant: Tenant, method: str, suffix: str, body: object
) -> None:
    routine = await create(client, tenant)
    url = f"/api/routines/{routine['id']}"
    board = Tenant.auth(tenant.board)
    assert (await client.delete(url, headers=board)).status_code == 200
    response = await client.request(method, url + suffix, json=body, headers=board)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "CONFLICT"
    assert (await client.get(url, headers=board)).json()["status"] == "archived"
