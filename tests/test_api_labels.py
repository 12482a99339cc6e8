"""Labels on routines, label selectors on the list, and bulk actions over a selector."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant, routine_body


async def make(client: httpx.AsyncClient, tenant: Tenant, title: str, **fields: Any) -> str:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(title=title, **fields),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def titles(client: httpx.AsyncClient, tenant: Tenant, selector: str) -> list[str]:
    response = await client.get(
        f"/api/companies/{tenant.company_id}/routines",
        params={"labelSelector": selector, "sort": "title"},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    assert int(response.headers["X-Total-Count"]) == len(rows)
    return [row["title"] for row in rows]


async def fleet(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    return {
        "a": await make(client, tenant, "a", labels={"env": "prod", "team": "data"}),
        "b": await make(client, tenant, "b", labels={"env": "prod", "team": "ml"}),
        "c": await make(
            client, tenant, "c", labels={"env": "prod", "team": "web", "deprecated": ""}
        ),
        "d": await make(client, tenant, "d", labels={"env": "dev", "team": "data"}),
        "e": await make(client, tenant, "e"),
        "f": await make(
            client,
            tenant,
            "f",
            assigneeAgentId="agent-2",
            labels={"env": "prod", "team": "data", "example.com/tier": "gold"},
        ),
    }


async def test_labels_round_trip_and_patch_replaces_them(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    routine_id = await make(client, tenant, "x", labels={"team": "data", "env": "prod"})
    got = (await client.get(f"/api/routines/{routine_id}", headers=board)).json()
    assert got["labels"] == {"team": "data", "env": "prod"}
    patched = await client.patch(
        f"/api/routines/{routine_id}", json={"labels": {"env": "dev"}}, headers=board
    )
    assert patched.json()["labels"] == {"env": "dev"}
    refused = await client.patch(
        f"/api/routines/{routine_id}", json={"labels": None}, headers=board
    )
    assert refused.status_code == 400 and "labels" in refused.json()["details"]
    cleared = await client.patch(f"/api/routines/{routine_id}", json={"labels": {}}, headers=board)
    assert cleared.json()["labels"] == {}
    revisions = await client.get(f"/api/routines/{routine_id}/revisions", headers=board)
    snapshots = [revision["snapshot"]["routine"] for revision in revisions.json()]
    assert {"env": "dev"} in [snapshot["labels"] for snapshot in snapshots]
    unlabelled = await make(client, tenant, "y")
    got = (await client.get(f"/api/routines/{unlabelled}", headers=board)).json()
    assert got["labels"] == {}


async def test_invalid_labels_are_a_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for labels in ({"-bad": "x"}, {"env": "a b"}, {"k": "v" * 64}, {"Bad.Prefix/x": "y"}):
        response = await client.post(
            f"/api/companies/{tenant.company_id}/routines",
            json=routine_body(labels=labels),
            headers=Tenant.auth(tenant.board),
        )
        assert response.status_code == 400, labels
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert any(key.startswith("labels") for key in body["details"]), body


async def test_list_filters_by_label_selector(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await fleet(client, tenant)
    assert await titles(client, tenant, "env=prod,team in (data,ml),!deprecated") == [
        "a",
        "b",
        "f",
    ]
    assert await titles(client, tenant, "team!=data") == ["b", "c", "e"]
    assert await titles(client, tenant, "team notin (data,web)") == ["b", "e"]
    assert await titles(client, tenant, "deprecated") == ["c"]
    assert await titles(client, tenant, "example.com/tier=gold") == ["f"]
    assert await titles(client, tenant, "env==dev") == ["d"]
    assert await titles(client, tenant, "") == ["a", "b", "c", "d", "e", "f"]


async def test_malformed_selector_is_a_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for selector in ("env=prod,", "team in (data", "a b", "=x"):
        response = await client.get(
            f"/api/companies/{tenant.company_id}/routines",
            params={"labelSelector": selector},
            headers=Tenant.auth(tenant.board),
        )
        assert response.status_code == 400, selector
        assert "labelSelector" in response.json()["details"]


async def bulk(
    client: httpx.AsyncClient, tenant: Tenant, key: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/companies/{tenant.company_id}/routines/bulk", json=body, headers=Tenant.auth(key)
    )


def outcomes(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {row["title"]: row["outcome"] for row in response.json()["results"]}


async def test_bulk_dry_run_lists_what_would_change_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ids = await fleet(client, tenant)
    response = await bulk(
        client, tenant, tenant.board, {"selector": "env=prod", "action": "pause", "dryRun": True}
    )
    assert outcomes(response) == {
        "a": "would_apply",
        "b": "would_apply",
        "c": "would_apply",
        "f": "would_apply",
    }
    assert response.json()["matched"] == 4 and response.json()["dryRun"] is True
    got = await client.get(f"/api/routines/{ids['a']}", headers=Tenant.auth(tenant.board))
    assert got.json()["status"] == "active"


async def test_bulk_pause_resume_archive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = await fleet(client, tenant)
    board = Tenant.auth(tenant.board)
    paused = await bulk(client, tenant, tenant.board, {"selector": "team=data", "action": "pause"})
    assert outcomes(paused) == {"a": "applied", "d": "applied", "f": "applied"}
    assert {row["status"] for row in paused.json()["results"]} == {"paused"}
    statuses = {
        name: (await client.get(f"/api/routines/{rid}", headers=board)).json()["status"]
        for name, rid in ids.items()
    }
    assert statuses == {
        "a": "paused",
        "b": "active",
        "c": "active",
        "d": "paused",
        "e": "active",
        "f": "paused",
    }
    again = await bulk(client, tenant, tenant.board, {"selector": "team=data", "action": "pause"})
    assert set(outcomes(again).values()) == {"unchanged"}
    archived = await bulk(
        client, tenant, tenant.board, {"selector": "env=dev", "action": "archive"}
    )
    assert outcomes(archived) == {"d": "applied"}
    resumed = await bulk(client, tenant, tenant.board, {"selector": "team", "action": "resume"})
    result = outcomes(resumed)
    assert result == {
        "a": "applied",
        "b": "unchanged",
        "c": "unchanged",
        "d": "refused",
        "f": "applied",
    }


async def test_bulk_by_an_agent_touches_only_its_own_routines(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ids = await fleet(client, tenant)
    response = await bulk(
        client, tenant, tenant.agent, {"selector": "team=data", "action": "pause"}
    )
    assert outcomes(response) == {"a": "applied", "d": "applied", "f": "forbidden"}
    got = await client.get(f"/api/routines/{ids['f']}", headers=Tenant.auth(tenant.board))
    assert got.json()["status"] == "active"


async def test_bulk_refuses_malformed_requests(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for body in (
        {"selector": "", "action": "pause"},
        {"selector": "env in (", "action": "pause"},
        {"selector": "env=prod", "action": "delete"},
        {"selector": "env=prod", "action": "backfill"},
        {"selector": "env=prod", "action": "pause", "from": "2026-01-01T00:00:00Z"},
        {"selector": "env=prod", "action": "pause", "extra": 1},
    ):
        response = await bulk(client, tenant, tenant.board, body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"
    other = await bulk(client, tenant, tenant.other_agent, {"selector": "x", "action": "pause"})
    assert outcomes(other) == {}


async def test_bulk_changes_follow_the_rules_of_one_routine(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    board = Tenant.auth(tenant.board)
    draft = await make(client, tenant, "draft", labels={"fleet": "f"}, projectId=None)
    complete = await make(client, tenant, "complete", labels={"fleet": "f"})
    paused = await bulk(client, tenant, tenant.board, {"selector": "fleet=f", "action": "pause"})
    assert paused.status_code == 200, paused.text
    revisions = await client.get(f"/api/routines/{complete}/revisions", headers=board)
    assert revisions.json()[0]["changeSummary"] == "Paused"
    resumed = await bulk(client, tenant, tenant.board, {"selector": "fleet=f", "action": "resume"})
    outcomes = {row["routineId"]: row for row in resumed.json()["results"]}
    assert outcomes[complete]["outcome"] == "applied"
    assert outcomes[draft]["outcome"] == "refused"
    assert "projectId" in outcomes[draft]["reason"]
    got = (await client.get(f"/api/routines/{draft}", headers=board)).json()
    assert got["status"] == "paused"
