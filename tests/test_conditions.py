"""Conditions (seed 003): CEL expressions compiled at save time, evaluated per fire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from consumers.conditions import condition_skip_reason
from schemas.common import RunSource
from schemas.conditions import InvalidCondition, compile_condition
from schemas.events import FireRequested
from tests.conftest import Tenant, routine_body

PRICE = {"type": "expression", "expression": "price_change_pct > 0.05"}


def board(tenant: Tenant) -> dict[str, str]:
    return Tenant.auth(tenant.board)


async def new_routine(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("concurrencyPolicy", "always_enqueue")
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(**body),
        headers=board(tenant),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def fire(
    client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/routines/{routine_id}/run", json=body, headers=board(tenant)
    )
    assert response.status_code == 202, response.text
    run = await client.get(f"/api/runs/{response.json()['runId']}", headers=board(tenant))
    return dict(run.json())


async def test_a_false_condition_skips_with_the_reason(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, condition=PRICE)
    assert routine["condition"] == PRICE
    run = await fire(client, tenant, routine["id"], payload={"price_change_pct": 0.01})
    assert run["status"] == "skipped"
    assert run["reason"] == "routine condition 'price_change_pct > 0.05' is false"
    assert run["finishedAt"] is not None and run["coalescedIntoRunId"] is None
    run = await fire(client, tenant, routine["id"], payload={"price_change_pct": 0.07})
    assert run["status"] == "dispatched"


async def test_evaluation_errors_and_non_booleans_skip(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, condition=PRICE)
    missing = await fire(client, tenant, routine["id"])
    assert missing["status"] == "skipped"
    assert "could not be evaluated" in missing["reason"]
    assert "price_change_pct" in missing["reason"]
    wrong_type = await fire(client, tenant, routine["id"], payload={"price_change_pct": "high"})
    assert wrong_type["status"] == "skipped" and "could not be evaluated" in wrong_type["reason"]
    number = await new_routine(
        client, tenant, condition={"type": "expression", "expression": "payload.count"}
    )
    odd = await fire(client, tenant, number["id"], payload={"count": 3})
    assert odd["status"] == "skipped" and "not a boolean" in odd["reason"]


async def test_payload_document_and_source_are_visible(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    expression = "source == 'manual' && has(payload.ref) && payload.ref.startsWith('refs/heads/')"
    routine = await new_routine(
        client, tenant, condition={"type": "expression", "expression": expression}
    )
    assert (await fire(client, tenant, routine["id"]))["status"] == "skipped"
    ok = await fire(client, tenant, routine["id"], payload={"ref": "refs/heads/main"})
    assert ok["status"] == "dispatched"
    tag = await fire(client, tenant, routine["id"], payload={"ref": "refs/tags/v1"})
    assert tag["status"] == "skipped"


async def test_trigger_condition_applies_to_its_fires(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant)
    created = await client.post(
        f"/api/routines/{routine['id']}/triggers",
        json={"kind": "api", "condition": {"type": "expression", "expression": "env == 'prod'"}},
        headers=board(tenant),
    )
    assert created.status_code == 201, created.text
    trigger = created.json()["trigger"]
    assert trigger["condition"]["expression"] == "env == 'prod'"
    skipped = await fire(
        client, tenant, routine["id"], triggerId=trigger["id"], payload={"env": "dev"}
    )
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == "trigger condition \"env == 'prod'\" is false"
    ran = await fire(
        client, tenant, routine["id"], triggerId=trigger["id"], payload={"env": "prod"}
    )
    assert ran["status"] == "dispatched"
    # Fires that do not come through the trigger are not held to its condition.
    assert (await fire(client, tenant, routine["id"], payload={"env": "dev"}))["status"] == (
        "dispatched"
    )
    cleared = await client.patch(
        f"/api/routine-triggers/{trigger['id']}", json={"condition": None}, headers=board(tenant)
    )
    assert cleared.status_code == 200 and cleared.json()["condition"] is None
    again = await fire(client, tenant, routine["id"], triggerId=trigger["id"], payload={"env": "x"})
    assert again["status"] == "dispatched"


async def test_routine_and_trigger_conditions_must_both_hold(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant, condition={"expression": "n > 1"})
    trigger = (
        await client.post(
            f"/api/routines/{routine['id']}/triggers",
            json={"kind": "api", "condition": {"expression": "n < 10"}},
            headers=board(tenant),
        )
    ).json()["trigger"]
    results = [
        (await fire(client, tenant, routine["id"], triggerId=trigger["id"], payload={"n": n}))[
            "status"
        ]
        for n in (0, 5, 20)
    ]
    assert results == ["skipped", "dispatched", "skipped"]


async def test_paused_routine_still_says_it_is_paused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from consumers.policy import decide_first_status
    from schemas.common import ConcurrencyPolicy, RoutineStatus

    decision = decide_first_status(
        RoutineStatus.PAUSED, ConcurrencyPolicy.COALESCE_IF_ACTIVE, RunSource.WEBHOOK, None
    )
    assert decision.reason == "routine is paused"  # kept: conditions run only after it


async def test_condition_patch_and_removal(client: httpx.AsyncClient, tenant: Tenant) -> None:
    routine = await new_routine(client, tenant, condition=PRICE)
    url = f"/api/routines/{routine['id']}"
    patched = await client.patch(
        url, json={"condition": {"expression": "true"}}, headers=board(tenant)
    )
    assert patched.json()["condition"] == {"type": "expression", "expression": "true"}
    assert (await fire(client, tenant, routine["id"]))["status"] == "dispatched"
    removed = await client.patch(url, json={"condition": None}, headers=board(tenant))
    assert removed.json()["condition"] is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("routines", {"condition": {"type": "expression", "expression": "price >"}}),
        ("trigger", {"kind": "api", "condition": {"expression": "price >"}}),
        ("trigger", {"kind": "schedule", "every": 60, "condition": {"expression": "price >"}}),
    ],
)
async def test_invalid_expression_is_400_with_the_parsers_message(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any]
) -> None:
    if path == "routines":
        url, document = f"/api/companies/{tenant.company_id}/routines", routine_body(**body)
    else:
        routine = await new_routine(client, tenant)
        url, document = f"/api/routines/{routine['id']}/triggers", body
    response = await client.post(url, json=document, headers=board(tenant))
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert error["error"].startswith("condition.expression: ")
    assert "Syntax error" in error["error"] and "1:8" in error["error"]
    assert "Syntax error" in error["details"]["condition.expression"]


@pytest.mark.parametrize(
    "condition",
    [
        {"type": "python", "expression": "True"},
        {"expression": ""},
        {"expression": "x" * 2001},
        {"expression": "a", "colour": "red"},
        "price > 1",
    ],
)
async def test_condition_shape_is_validated(
    client: httpx.AsyncClient, tenant: Tenant, condition: Any
) -> None:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(condition=condition),
        headers=board(tenant),
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("condition")


def _fire(payload: dict[str, Any] | None) -> FireRequested:
    return FireRequested(
        fire_id="f",
        run_id="r",
        routine_id="x",
        company_id="c",
        source=RunSource.WEBHOOK,
        payload=payload,
        requested_at=datetime.now(UTC),
    )


def test_skip_reason_is_pure_and_programs_are_cached() -> None:
    compile_condition.cache_clear()
    condition = {"type": "expression", "expression": "payload.size() == 2 && a == 1"}
    assert condition_skip_reason(_fire({"a": 1, "b": 2}), condition, None) is None
    assert condition_skip_reason(_fire({"a": 2, "b": 2}), condition, None) is not None
    assert condition_skip_reason(_fire(None), None, None) is None
    info = compile_condition.cache_info()
    assert info.misses == 1 and info.hits == 1
    with pytest.raises(InvalidCondition):
        compile_condition("1 +")
    long_reason = condition_skip_reason(
        _fire({}), {"expression": "missing_" + "x" * 1500 + " > 1"}, None
    )
    assert long_reason is not None and len(long_reason) <= 500
