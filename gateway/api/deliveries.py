"""The delivery inspector, redrive (replay a delivery, retry failed runs) and test deliveries.

All of it is for board and admin keys: deliveries show why a request was refused,
which the sender itself is never told.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy.engine import RowMapping
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid, new_id, run_id_for
from firehook.store import deliveries as store
from firehook.store import routines as routine_store
from firehook.store import runs as run_store
from gateway.access import (
    authenticate,
    load_company,
    load_routine,
    load_trigger,
    require_board,
    require_company,
)
from gateway.api.runs import REPLAYED, accept_fire
from gateway.deliveries import REDACTED, delivery_log_of, redact_headers
from gateway.http import list_response, model_response, parse_body, validate
from gateway.providers import Inbound, sign_request, verify_request
from gateway.routing import Api, QueryParam
from gateway.signatures import SignatureError
from gateway.trigger_cache import trigger_cache_of
from gateway.views import run_view
from gateway.webhooks import parse_payload
from schemas.common import RoutineStatus, RunSource, TriggerKind
from schemas.deliveries import (
    RETRYABLE,
    BulkRetry,
    BulkRetryResult,
    DeliveryListQuery,
    ReplayDelivery,
    RetryOutcome,
    RetryRun,
    TestDelivery,
    TestReport,
    TestStep,
    WebhookDelivery,
)
from schemas.errors import Conflict, FirehookError, NotFound, ValidationFailed
from schemas.events import FireRequested
from schemas.runs import FireAccepted

api = Api()

_FIRE_ANSWERS: dict[str, Any] = {}


def _delivery_view(row: RowMapping) -> WebhookDelivery:
    return WebhookDelivery.model_validate(dict(row))


async def _board(request: Request) -> Principal:
    principal = await authenticate(request)
    require_board(principal)
    return principal


@api.operation(
    "GET",
    "/api/routine-triggers/{triggerId}/deliveries",
    "List a webhook trigger's last deliveries, newest first (refused ones included)",
    "deliveries",
    response=list[WebhookDelivery],
    query=(
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}),
        QueryParam(
            "outcome",
            {"enum": ["accepted", "replayed", "handshake", "refused", "rejected", "failed"]},
        ),
    ),
    errors=(400, 401, 403, 404),
)
async def list_deliveries(request: Request) -> Response:
    principal = await _board(request)
    query = validate(DeliveryListQuery, dict(request.query_params))
    ctx = context_of(request)
    await delivery_log_of(ctx).flush()
    async with ctx.db.read() as conn:
        trigger, _ = await load_trigger(conn, principal, request.path_params["triggerId"])
        if trigger["kind"] != TriggerKind.WEBHOOK:
            raise NotFound("webhook trigger not found")
        rows = await store.list_deliveries(
            conn, trigger["id"], limit=query.limit, outcome=query.outcome
        )
    return list_response(rows, _delivery_view, reader="delivery_list", total=len(rows))


async def _load_delivery(ctx: Context, principal: Principal, delivery_id: str) -> RowMapping:
    await delivery_log_of(ctx).flush()
    async with ctx.db.read() as conn:
        row = await store.get_delivery(conn, delivery_id) if is_uuid(delivery_id) else None
    if row is None:
        raise NotFound("delivery not found")
    try:
        require_company(principal, row["company_id"])
    except NotFound:
        raise NotFound("delivery not found") from None
    return row


@api.operation(
    "GET",
    "/api/deliveries/{deliveryId}",
    "Get one delivery",
    "deliveries",
    response=WebhookDelivery,
    errors=(401, 403, 404),
)
async def get_delivery(request: Request) -> Response:
    principal = await _board(request)
    ctx = context_of(request)
    row = await _load_delivery(ctx, principal, request.path_params["deliveryId"])
    return model_response(_delivery_view(row))


@api.operation(
    "POST",
    "/api/deliveries/{deliveryId}/replay",
    "Replay a delivery as a new fire (a fresh idempotency key unless told otherwise)",
    "deliveries",
    request=ReplayDelivery,
    response=FireAccepted,
    status=202,
    errors=(400, 401, 403, 404, 409, 503),
    extra_responses=_FIRE_ANSWERS,
)
async def replay_delivery(request: Request) -> Response:
    principal = await _board(request)
    body = await parse_body(request, ReplayDelivery, optional=True)
    ctx = context_of(request)
    row = await _load_delivery(ctx, principal, request.path_params["deliveryId"])
    if row["outcome"] in ("refused", "handshake"):
        raise Conflict(f"a {row['outcome']} delivery made no fire to replay")
    if row["body_truncated"]:
        raise Conflict("the delivery's body was truncated when recorded; it cannot be replayed")
    if body.reuse_key and body.idempotency_key is not None:
        raise ValidationFailed("give idempotencyKey or reuseKey, not both")
    raw = (row["body"] or "").encode("utf-8")
    if REDACTED.encode() in raw:
        raise Conflict("the delivery's body held a secret, redacted when recorded")
    media = _media_of(row["headers"].get("content-type"))
    payload = parse_payload(media, raw)
    key = row["idempotency_key"] if body.reuse_key else body.idempotency_key
    key = key or f"replay:{row['id']}:{new_id()}"
    async with ctx.db.read() as conn:
        routine = await routine_store.get_routine(conn, row["routine_id"])
    if routine is None:
        raise NotFound("delivery not found")
    return await _fire(ctx, routine, row["trigger_id"], key, payload)


@api.operation(
    "POST",
    "/api/runs/{runId}/retry",
    "Retry a failed or timed-out run as a new run with its payload",
    "deliveries",
    request=RetryRun,
    response=FireAccepted,
    status=202,
    errors=(400, 401, 403, 404, 409, 503),
    extra_responses=_FIRE_ANSWERS,
)
async def retry_run(request: Request) -> Response:
    principal = await _board(request)
    body = await parse_body(request, RetryRun, optional=True)
    ctx = context_of(request)
    run_id = request.path_params["runId"]
    async with ctx.db.read() as conn:
        run = await run_store.get_run(conn, run_id) if is_uuid(run_id) else None
        if run is None:
            raise NotFound("run not found")
        try:
            routine = await load_routine(conn, principal, run["routine_id"])
        except NotFound:
            raise NotFound("run not found") from None
    if run["status"] not in RETRYABLE:
        raise Conflict(f"run is {run['status']}; only failed or timed-out runs are retried")
    # One retry per run unless told otherwise: retrying twice answers the first retry.
    key = body.idempotency_key or f"retry:{run['id']}"
    return await _fire(
        ctx, routine, run["trigger_id"], key, run["payload"], RunSource(run["source"])
    )


@api.operation(
    "POST",
    "/api/companies/{companyId}/runs/retry",
    "Retry a company's failed runs by filter, each as a new run; one outcome per run",
    "deliveries",
    request=BulkRetry,
    response=BulkRetryResult,
    errors=(400, 401, 403, 404),
)
async def retry_runs(request: Request) -> Response:
    principal = await _board(request)
    body = await parse_body(request, BulkRetry, optional=True)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        rows = await store.runs_to_retry(
            conn,
            company["id"],
            statuses=body.status,
            routine_id=body.routine_id,
            since=body.since,
            until=body.until,
            limit=body.limit,
        )
    results: list[RetryOutcome] = []
    for run in rows:
        try:
            async with ctx.db.read() as conn:
                routine = await routine_store.get_routine(conn, run["routine_id"])
            if routine is None:
                raise NotFound("routine not found")
            answer = await _fire(
                ctx,
                routine,
                run["trigger_id"],
                f"retry:{run['id']}",
                run["payload"],
                RunSource(run["source"]),
            )
        except FirehookError as error:
            results.append(RetryOutcome(run_id=run["id"], outcome="failed", error=error.message))
            continue
        accepted = orjson.loads(bytes(answer.body))
        results.append(
            RetryOutcome(
                run_id=run["id"],
                outcome="already_retried"
                if answer.headers.get("idempotent-replayed") == "true"
                else "retried",
                new_run_id=accepted["runId"],
            )
        )
    return model_response(BulkRetryResult(results=results))


@api.operation(
    "POST",
    "/api/routine-triggers/{triggerId}/test",
    "Sign a sample delivery with the trigger's secret and check it as the endpoint would",
    "deliveries",
    request=TestDelivery,
    response=TestReport,
    errors=(400, 401, 403, 404),
)
async def test_delivery(request: Request) -> Response:
    principal = await _board(request)
    body = await parse_body(request, TestDelivery, optional=True)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        row, _ = await load_trigger(conn, principal, request.path_params["triggerId"])
    if row["kind"] != TriggerKind.WEBHOOK or row["public_id"] is None:
        raise NotFound("webhook trigger not found")
    trigger = await trigger_cache_of(ctx).get(row["public_id"])
    if trigger is None:
        raise NotFound("webhook trigger not found")
    payload = body.payload if body.payload is not None else {"id": f"test_{new_id()}", "test": True}
    sample = orjson.dumps(payload)
    steps: list[TestStep] = []
    now = time.time()
    url = ctx.public_url(trigger.public_id)
    try:
        signed = sign_request(
            trigger.signing_mode,
            trigger.secret,
            Inbound("POST", url, {}, sample),
            now,
            f"test_{new_id()}",
            trigger.signing_config,
        )
    except ValueError as exc:
        steps.append(TestStep(step="sign", ok=False, detail=str(exc)))
        return model_response(TestReport(ok=False, steps=steps))
    headers = {"content-type": "application/json"} | {
        name.lower(): value for name, value in signed.headers.items()
    }
    shown = redact_headers(list(headers.items()), (trigger.secret,))
    steps.append(TestStep(step="sign", ok=True, detail=f"headers: {', '.join(sorted(shown))}"))
    try:
        verified = verify_request(
            trigger.signing_mode,
            (trigger.secret,),
            Inbound("POST", signed.url, headers, signed.body),
            trigger.replay_window_sec,
            now,
            trigger.signing_config,
        )
    except SignatureError as exc:
        steps.append(TestStep(step="verify", ok=False, detail=exc.reason))
        return model_response(TestReport(ok=False, steps=steps))
    detail = f"verified; idempotency key from the provider: {verified.delivery_id or 'none'}"
    steps.append(TestStep(step="verify", ok=True, detail=detail))
    if not body.fire:
        return model_response(TestReport(ok=True, steps=steps))
    status, answer = await _deliver(request, signed.url, headers, signed.body)
    ok = status in (200, 202)
    steps.append(TestStep(step="deliver", ok=ok, detail=f"the endpoint answered {status}"))
    return model_response(TestReport(ok=ok, steps=steps, status=status, answer=answer))


async def _deliver(
    request: Request, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, Any]:
    # In process, through the same app: the request takes the endpoint's whole path.
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://firehook.internal") as http:
        response = await http.post(path, content=body, headers=headers)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


async def _fire(
    ctx: Context,
    routine: RowMapping,
    trigger_id: str | None,
    key: str,
    payload: dict[str, Any] | None,
    source: RunSource = RunSource.WEBHOOK,
) -> Response:
    """Fire the routine under `key`; a key already used answers its run (still 202, with
    `Idempotent-Replayed: true`, as every fire does)."""
    if routine["status"] == RoutineStatus.ARCHIVED:
        raise Conflict("routine is archived")
    run_id = run_id_for(routine["id"], key)
    async with ctx.db.read() as conn:
        existing = await run_store.get_run(conn, run_id)
    if existing is not None:
        return model_response(run_view(existing), 202, REPLAYED)
    fire = FireRequested(
        fire_id=new_id(),
        run_id=run_id,
        routine_id=routine["id"],
        company_id=routine["company_id"],
        source=source,
        trigger_id=trigger_id,
        idempotency_key=key,
        payload=payload,
        requested_at=ctx.clock(),
    )
    accepted, replayed = await accept_fire(ctx, fire)
    return model_response(accepted, 202, REPLAYED if replayed else None)


def _media_of(content_type: str | None) -> str:
    media = (content_type or "").partition(";")[0].strip().lower()
    return "form" if media == "application/x-www-form-urlencoded" else "json"
