"""Malformed input: a 4xx in the one error format, naming the field; never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, routine_body

MISSING = "00000000-0000-4000-8000-000000000000"


def sched(**fields: Any) -> dict[str, Any]:
    return {"kind": "schedule"} | fields


# (name, method, path, json body or raw bytes, status, code, text expected in the message)
CASES: list[tuple[str, str, str, Any, int, str, str]] = [
    (
        "missing title",
        "POST",
        "{routines}",
        {k: v for k, v in routine_body().items() if k != "title"},
        400,
        "VALIDATION_ERROR",
        "title",
    ),
    (
        "title too long",
        "POST",
        "{routines}",
        routine_body(title="x" * 201),
        400,
        "VALIDATION_ERROR",
        "title",
    ),
    (
        "description too long",
        "POST",
        "{routines}",
        routine_body(description="x" * 4001),
        400,
        "VALIDATION_ERROR",
        "description",
    ),
    (
        "unknown field",
        "POST",
        "{routines}",
        routine_body(colour="red"),
        400,
        "VALIDATION_ERROR",
        "colour",
    ),
    (
        "unknown concurrency policy",
        "POST",
        "{routines}",
        routine_body(concurrencyPolicy="yolo"),
        400,
        "VALIDATION_ERROR",
        "concurrencyPolicy",
    ),
    (
        "unknown catch-up policy",
        "POST",
        "{routines}",
        routine_body(catchUpPolicy="all"),
        400,
        "VALIDATION_ERROR",
        "catchUpPolicy",
    ),
    (
        "unknown priority",
        "POST",
        "{routines}",
        routine_body(priority="urgent"),
        400,
        "VALIDATION_ERROR",
        "priority",
    ),
    (
        "snake_case field name",
        "POST",
        "{routines}",
        routine_body(project_id="p"),
        400,
        "VALIDATION_ERROR",
        "project_id",
    ),
    (
        "catch-up cap zero",
        "POST",
        "{routines}",
        routine_body(catchUpCap=0),
        400,
        "VALIDATION_ERROR",
        "catchUpCap",
    ),
    (
        "http dispatch without url",
        "POST",
        "{routines}",
        routine_body(dispatch={"type": "http"}),
        400,
        "VALIDATION_ERROR",
        "http dispatch requires url",
    ),
    (
        "dispatch url not http",
        "POST",
        "{routines}",
        routine_body(dispatch={"type": "http", "url": "ftp://x"}),
        400,
        "VALIDATION_ERROR",
        "dispatch.url",
    ),
    (
        "retry max below base",
        "POST",
        "{routines}",
        routine_body(retry={"baseDelaySec": 100, "maxDelaySec": 10}),
        400,
        "VALIDATION_ERROR",
        "maxDelaySec",
    ),
    (
        "body not JSON",
        "POST",
        "{routines}",
        b"{title: nope",
        400,
        "VALIDATION_ERROR",
        "not valid JSON",
    ),
    (
        "NUL in a JSON string",
        "POST",
        "{routines}",
        routine_body(description="a\u0000b"),
        400,
        "VALIDATION_ERROR",
        "NUL",
    ),
    ("body is an array", "POST", "{routines}", [1, 2], 400, "VALIDATION_ERROR", "JSON object"),
    ("body missing", "POST", "{routines}", b"", 400, "VALIDATION_ERROR", "required"),
    (
        "text/plain body",
        "POST",
        "{routines}",
        ("text/plain", b"hello"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "application/json",
    ),
    (
        "oversize body",
        "POST",
        "{routines}",
        routine_body(description="x" * (1024 * 1024 + 10)),
        413,
        "PAYLOAD_TOO_LARGE",
        "exceeds",
    ),
    ("malformed routine id", "GET", "/api/routines/not-a-uuid", None, 404, "NOT_FOUND", "routine"),
    ("unknown routine id", "GET", f"/api/routines/{MISSING}", None, 404, "NOT_FOUND", "routine"),
    (
        "malformed company id",
        "GET",
        "/api/companies/%00%ff/routines",
        None,
        404,
        "NOT_FOUND",
        "company",
    ),
    ("unknown path", "GET", "/api/nothing-here", None, 404, "NOT_FOUND", "not found"),
    ("wrong method", "PUT", "/api/routines/{routine}", {}, 404, "NOT_FOUND", "method"),
    ("list limit zero", "GET", "{routines}?limit=0", None, 400, "VALIDATION_ERROR", "limit"),
    ("list limit too big", "GET", "{routines}?limit=201", None, 400, "VALIDATION_ERROR", "limit"),
    (
        "list limit not a number",
        "GET",
        "{routines}?limit=abc",
        None,
        400,
        "VALIDATION_ERROR",
        "limit",
    ),
    (
        "list unknown status",
        "GET",
        "{routines}?status=gone",
        None,
        400,
        "VALIDATION_ERROR",
        "status",
    ),
    (
        "patch title null",
        "PATCH",
        "/api/routines/{routine}",
        {"title": None},
        400,
        "VALIDATION_ERROR",
        "title",
    ),
    (
        "patch unknown field",
        "PATCH",
        "/api/routines/{routine}",
        {"nope": 1},
        400,
        "VALIDATION_ERROR",
        "nope",
    ),
    (
        "unknown trigger kind",
        "POST",
        "{triggers}",
        {"kind": "email"},
        400,
        "VALIDATION_ERROR",
        "kind",
    ),
    (
        "trigger kind missing",
        "POST",
        "{triggers}",
        {"cronExpression": "* * * * *"},
        400,
        "VALIDATION_ERROR",
        "kind",
    ),
    (
        "daily cadence without hour",
        "POST",
        "{triggers}",
        sched(cadence={"type": "daily"}),
        400,
        "VALIDATION_ERROR",
        "daily cadence requires hour_utc",
    ),
    (
        "weekly cadence without day",
        "POST",
        "{triggers}",
        sched(cadence={"type": "weekly", "hour_utc": 9}),
        400,
        "VALIDATION_ERROR",
        "day_of_week",
    ),
    (
        "manual cadence with a param",
        "POST",
        "{triggers}",
        sched(cadence={"type": "manual", "hour_utc": 9}),
        400,
        "VALIDATION_ERROR",
        "manual",
    ),
    (
        "cadence hour out of range",
        "POST",
        "{triggers}",
        sched(cadence={"type": "daily", "hour_utc": 24}),
        400,
        "VALIDATION_ERROR",
        "hour_utc",
    ),
    (
        "invalid timezone",
        "POST",
        "{triggers}",
        sched(cronExpression="0 9 * * *", timezone="Mars/Phobos"),
        422,
        "VALIDATION_ERROR",
        "timezone",
    ),
    (
        "invalid cron minute",
        "POST",
        "{triggers}",
        sched(cronExpression="61 * * * *"),
        422,
        "VALIDATION_ERROR",
        "cronExpression",
    ),
    (
        "cron with too few fields",
        "POST",
        "{triggers}",
        sched(cronExpression="* * *"),
        422,
        "VALIDATION_ERROR",
        "cronExpression",
    ),
    (
        "two schedule shapes",
        "POST",
        "{triggers}",
        sched(cronExpression="* * * * *", every=60),
        400,
        "VALIDATION_ERROR",
        "exactly one",
    ),
    ("no schedule shape", "POST", "{triggers}", sched(), 400, "VALIDATION_ERROR", "exactly one"),
    (
        "cron that never fires",
        "POST",
        "{triggers}",
        sched(cronExpression="0 0 */30 * MON#3"),
        422,
        "VALIDATION_ERROR",
        "schedule",
    ),
    (
        "at in the past",
        "POST",
        "{triggers}",
        sched(at="2001-01-01T09:00:00Z"),
        400,
        "VALIDATION_ERROR",
        "past",
    ),
    ("every zero", "POST", "{triggers}", sched(every=0), 400, "VALIDATION_ERROR", "every"),
    (
        "at without offset",
        "POST",
        "{triggers}",
        sched(at="2030-01-01T09:00:00"),
        400,
        "VALIDATION_ERROR",
        "at",
    ),
    (
        "replay window too small",
        "POST",
        "{triggers}",
        {"kind": "webhook", "replayWindowSec": 29},
        400,
        "VALIDATION_ERROR",
        "replayWindowSec",
    ),
    (
        "replay window too large",
        "POST",
        "{triggers}",
        {"kind": "webhook", "replayWindowSec": 86401},
        400,
        "VALIDATION_ERROR",
        "replayWindowSec",
    ),
    (
        "unknown signing mode",
        "POST",
        "{triggers}",
        {"kind": "webhook", "signingMode": "md5"},
        400,
        "VALIDATION_ERROR",
        "signingMode",
    ),
    (
        "webhook secret too short",
        "POST",
        "{triggers}",
        {"kind": "webhook", "secret": "short"},
        400,
        "VALIDATION_ERROR",
        "16 bytes",
    ),
    (
        "webhook field on api trigger",
        "POST",
        "{triggers}",
        {"kind": "api", "signingMode": "bearer"},
        400,
        "VALIDATION_ERROR",
        "signingMode",
    ),
    (
        "malformed trigger id",
        "PATCH",
        "/api/routine-triggers/zzz",
        {"enabled": False},
        404,
        "NOT_FOUND",
        "trigger",
    ),
    (
        "unknown trigger id",
        "DELETE",
        f"/api/routine-triggers/{MISSING}",
        None,
        404,
        "NOT_FOUND",
        "trigger",
    ),
    (
        "patch webhook field on api trigger",
        "PATCH",
        "/api/routine-triggers/{trigger}",
        {"replayWindowSec": 60},
        400,
        "VALIDATION_ERROR",
        "replayWindowSec",
    ),
    (
        "patch enabled null",
        "PATCH",
        "/api/routine-triggers/{trigger}",
        {"enabled": None},
        400,
        "VALIDATION_ERROR",
        "enabled",
    ),
    (
        "rotate secret of api trigger",
        "POST",
        "/api/routine-triggers/{trigger}/rotate-secret",
        None,
        422,
        "VALIDATION_ERROR",
        "webhook",
    ),
    (
        "api key for admin role",
        "POST",
        "/api/companies/{company}/api-keys",
        {"role": "admin"},
        400,
        "VALIDATION_ERROR",
        "admin",
    ),
    (
        "agent key without agentId",
        "POST",
        "/api/companies/{company}/api-keys",
        {"role": "agent"},
        400,
        "VALIDATION_ERROR",
        "agentId",
    ),
    ("company name empty", "POST", "/api/companies", {"name": ""}, 400, "VALIDATION_ERROR", "name"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_bad_input(
    client: httpx.AsyncClient,
    tenant: Tenant,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
    fragment: str,
) -> None:
    headers = Tenant.auth(tenant.admin if path == "/api/companies" else tenant.board)
    routine = (
        await client.post(
            f"/api/companies/{tenant.company_id}/routines", json=routine_body(), headers=headers
        )
    ).json()
    trigger = (
        await client.post(
            f"/api/routines/{routine['id']}/triggers", json={"kind": "api"}, headers=headers
        )
    ).json()["trigger"]
    url = path.format(
        routines=f"/api/companies/{tenant.company_id}/routines",
        triggers=f"/api/routines/{routine['id']}/triggers",
        routine=routine["id"],
        trigger=trigger["id"],
        company=tenant.company_id,
    )
    if isinstance(body, tuple):
        content_type, raw = body
        response = await client.request(
            method, url, content=raw, headers=headers | {"Content-Type": content_type}
        )
    elif isinstance(body, bytes):
        response = await client.request(
            method, url, content=body, headers=headers | {"Content-Type": "application/json"}
        )
    else:
        response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "code", "details"}
    assert payload["code"] == code
    assert fragment.lower() in (payload["error"] + str(payload["details"])).lower(), payload
