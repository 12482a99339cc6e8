"""The schedule operations in OpenAPI, and malformed input to each: always a 4xx, never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant, routine_body

OPERATIONS = {
    ("post", "/api/companies/{companyId}/routines/bulk"): {"400", "401", "404", "422"},
    ("post", "/api/routines/{routineId}/backfill"): {"400", "401", "403", "404", "409", "422"},
    ("get", "/api/backfills/{backfillId}"): {"401", "404"},
    ("post", "/api/backfills/{backfillId}/cancel"): {"401", "403", "404", "409"},
    ("get", "/api/routine-triggers/{triggerId}/occurrences"): {"400", "401", "404"},
    ("get", "/api/routines/{routineId}/occurrences"): {"400", "401", "404"},
}


async def test_every_operation_is_described_with_its_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for (method, path), errors in OPERATIONS.items():
        operation = document["paths"][path][method]
        assert errors <= set(operation["responses"]), (method, path)
    routine_schema = document["components"]["schemas"]["Routine"]["properties"]
    assert {"labels", "pauseAfterFailures", "pausedReason"} <= set(routine_schema)
    policies = document["components"]["schemas"]["ConcurrencyPolicy"]["enum"]
    assert {"buffer_one", "buffer_all", "cancel_other"} <= set(policies)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "selector": st.text(max_size=40) | _json,
        "action": st.sampled_from(["pause", "resume", "archive", "backfill", "x"]) | _json,
        "dryRun": st.booleans() | _json,
        "from": st.sampled_from(
            ["2026-03-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
        )
        | _json,
        "to": st.sampled_from(["2026-03-02T00:00:00Z", "2026-02-01T00:00:00Z", "bad"]) | _json,
        "overlapPolicy": st.sampled_from(["buffer_all", "nope"]) | _json,
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=_fields,
    query=st.dictionaries(
        st.sampled_from(["from", "to", "limit", "x"]), st.text(max_size=25), max_size=3
    ),
)
async def test_malformed_input_is_a_4xx(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], query: dict[str, str]
) -> None:
    board = Tenant.auth(tenant.board)
    routine = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(labels={"x": "y"}),
        headers=board,
    )
    routine_id = routine.json()["id"]
    for response in (
        await client.post(
            f"/api/companies/{tenant.company_id}/routines/bulk", json=body, headers=board
        ),
        await client.post(f"/api/routines/{routine_id}/backfill", json=body, headers=board),
        await client.get(f"/api/routines/{routine_id}/occurrences", params=query, headers=board),
        await client.get(
            f"/api/companies/{tenant.company_id}/routines",
            params={"labelSelector": str(body.get("selector", ""))},
            headers=board,
        ),
    ):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "code", "details"}
