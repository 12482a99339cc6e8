"""The public webhook endpoint: `POST /api/routine-triggers/public/{publicId}/fire`.

The order of the checks is part of the contract:

1. the client address's token bucket (429): cheapest first, it shields everything
   below, the trigger lookup included, from a flood;
2. the trigger, from the per-process cache (404 for an unknown public id);
3. the media type (415) and the body size (413), before and while reading, so an
   oversize body is never read whole;
4. the signature over the raw bytes (401, the same answer for every failure);
5. the trigger's and routine's state (409), only now, so that an unauthenticated
   caller learns nothing about them;
6. the trigger's token bucket (429). It comes after authentication on purpose:
   spent before it, anyone who knows the URL could drain the bucket with junk and
   lock the real sender out. The address bucket above already bounds the junk;
7. the body's parsing (400) and the fire, published durably (202, or 503).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

import structlog
from sqlalchemy.engine import RowMapping
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from consumers.fires import applied_runs_of
from firehook.context import Context, context_of
from firehook.fires import publish_fires
from firehook.ids import new_id, run_id_for
from firehook.metrics import FIRES_ACCEPTED, FIRES_RECEIVED, FIRES_REJECTED
from firehook.store import Database
from firehook.store import runs as run_store
from gateway.access import TRIGGER_NOT_FOUND
from gateway.api.runs import REPLAYED
from gateway.deliveries import Received, note_delivery
from gateway.http import document_response, error_response, model_response, refused_json
from gateway.inbound import inbound_of, query_handshake, signed_handshake
from gateway.providers import payload_body, verify_request
from gateway.ratelimit import Network, TokenBuckets, client_address, retry_after_seconds
from gateway.routing import Api
from gateway.signatures import SignatureError, Verified
from gateway.trigger_cache import TriggerCache, WebhookTrigger, trigger_cache_of
from gateway.views import created_run_document, received_document, run_view
from schemas.bounded_json import DEFAULT_MAX_DEPTH, UnstorableJson, check_json, parse_json
from schemas.common import RunSource, SigningMode, TriggerKind
from schemas.errors import (
    Conflict,
    ErrorCode,
    FirehookError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from schemas.events import FireRequested
from schemas.runs import FireAccepted

log = structlog.get_logger("firehook.gateway")

api = Api()

FIRE_PATH: Final = "/api/routine-triggers/public/{publicId}/fire"
MAX_IDEMPOTENCY_KEY: Final = 255
# A form body is a list of fields; bound how many, so parsing stays cheap.
_MAX_FORM_FIELDS: Final = 1000
# Enough digits for any real Content-Length; more would only make int() slow.
_MAX_LENGTH_DIGITS: Final = 18
_PUBLIC_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
PUBLIC_ID_PATTERN: Final = _PUBLIC_ID
_REPLAYED_SIGNATURE: Final = "this signed request was already received"
_JSON: Final = "json"
_FORM: Final = "form"

_RECEIVED = FIRES_RECEIVED.labels(source=RunSource.WEBHOOK.value)
_ACCEPTED = FIRES_ACCEPTED.labels(source=RunSource.WEBHOOK.value)
_REJECTED = {
    code: FIRES_REJECTED.labels(reason=f"webhook_{code.value.lower()}") for code in ErrorCode
}


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "schema": {"type": "string"}, "description": description}


_GENERIC_MODES = {"bearer", "hmac_sha256", "standard_webhooks", "github", "stripe", "slack", "none"}
WEBHOOK_HEADERS = (
    _header(
        "Idempotency-Key",
        "Deduplicates fires of this routine; takes precedence over a provider's delivery id.",
    ),
    _header("Authorization", "signingMode bearer: `Bearer <webhookSecret>`."),
    _header(
        "X-Firehook-Signature",
        "signingMode hmac_sha256: hex HMAC-SHA256 of `<timestamp>.<body>`, optionally "
        "prefixed `sha256=` (X-Paperclip-Signature is accepted as well).",
    ),
    _header(
        "X-Firehook-Timestamp",
        "signingMode hmac_sha256: Unix time of signing, in seconds or milliseconds "
        "(X-Paperclip-Timestamp is accepted as well).",
    ),
    _header("webhook-id", "signingMode standard_webhooks: the message id (the delivery id)."),
    _header("webhook-timestamp", "signingMode standard_webhooks: Unix time of signing."),
    _header(
        "webhook-signature",
        "signingMode standard_webhooks: space-separated `v1,<base64 HMAC-SHA256>` entries.",
    ),
    _header("X-Hub-Signature-256", "signingMode github: `sha256=<hex HMAC-SHA256 of the body>`."),
    _header("X-GitHub-Delivery", "signingMode github: the delivery id."),
    _header("Stripe-Signature", "signingMode stripe: `t=<timestamp>,v1=<hex HMAC-SHA256>`."),
    _header("X-Slack-Signature", "signingMode slack: `v0=<hex HMAC-SHA256>`."),
    _header("X-Slack-Request-Timestamp", "signingMode slack: Unix time of signing."),
)


@api.operation(
    "POST",
    FIRE_PATH,
    "Fire a webhook trigger (authenticated by the trigger's signing mode)",
    "webhooks",
    response=FireAccepted,
    status=202,
    auth=None,
    errors=(400, 401, 404, 409, 413, 415, 429, 503),
    replayable=True,
    description=(
        "No API key: the trigger's signing mode authenticates the request, on the raw body "
        "bytes, before anything is parsed. Each mode reads its own headers (listed below); "
        "every failure is a 401 without detail. Timestamped modes refuse a signature older "
        "than the trigger's replayWindowSec. The idempotency key is the Idempotency-Key "
        "header, else the provider's delivery id (webhook-id, X-GitHub-Delivery, the Stripe "
        "event id); a repeat answers 202 with the original run and Idempotent-Replayed: true. "
        "404: unknown publicId. 409: the trigger is disabled or its routine is not active "
        "(told only after authentication). 413: body over the limit (1 MiB by default). 415: "
        "neither JSON nor a form. 429: over the trigger's or the client's rate (Retry-After). "
        "503: the fire could not be made durable; nothing was applied. signingMode none "
        "checks nothing: anyone with the URL may fire. The parameters below are the headers "
        "of the generic modes; each provider preset ("
        + ", ".join(mode.value for mode in SigningMode if mode.value not in _GENERIC_MODES)
        + ") reads the headers its provider sends, as docs/webhooks.md lists."
    ),
    parameters=WEBHOOK_HEADERS,
    request_body={
        "required": False,
        "description": "Any JSON object, or form fields (each field a string); an empty body "
        "fires with no payload. The payload of the run.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
    },
)
async def fire_webhook(request: Request) -> Response:
    _RECEIVED.inc()
    try:
        response = await _fire(request)
    except FirehookError as error:
        _REJECTED[error.code].inc()
        note_delivery(request, error_response(error))
        raise
    note_delivery(request, response)
    return response


async def _fire(request: Request) -> Response:
    ctx = context_of(request)
    ingest = ingest_state(ctx)
    wait = ingest.per_address.take(client_address(request, ingest.trusted_proxies))
    if wait:
        raise RateLimited(retry_after_seconds(wait))
    public_id = request.path_params["publicId"]
    # Anything that cannot be a public id is not looked up (nor cached).
    trigger = await ingest.triggers.get(public_id) if _PUBLIC_ID.fullmatch(public_id) else None
    if trigger is None:
        raise NotFound(TRIGGER_NOT_FOUND)
    received = request.state.webhook_received = Received.of(trigger)
    if (handshake := query_handshake(trigger, request)) is not None:
        return handshake
    media = _media_kind(request.headers.get("content-type"))
    body = await read_body(request, trigger.max_body_bytes or ctx.settings.webhook_max_body_bytes)
    now = ctx.clock()
    secrets = received.secrets = trigger.secrets_at(now)
    received.body = body
    try:
        verified = verify_request(
            trigger.signing_mode,
            secrets,
            inbound_of(ctx, request, trigger, body),
            trigger.replay_window_sec,
            now.timestamp(),
            trigger.signing_config,
        )
    except SignatureError as exc:
        # The reason goes to the log only: the sender gets the same 401 whatever failed.
        log.debug("webhook not authenticated", trigger_id=trigger.trigger_id, reason=exc.reason)
        received.failed_check = exc.reason
        raise Unauthorized("webhook authentication failed") from None
    if verified.secret_index is not None and (
        handshake := signed_handshake(trigger, request, body, secrets[verified.secret_index])
    ):
        return handshake
    if not trigger.enabled:
        raise Conflict("trigger is disabled")
    if not trigger.firing:
        raise Conflict(f"routine is {trigger.routine_status}; only active routines fire")
    wait = _take_trigger_token(ingest, trigger)
    if wait:
        raise RateLimited(retry_after_seconds(wait))
    payload = parse_payload(
        media, payload_body(trigger.signing_mode, body), ctx.settings.json_max_depth
    )
    key, replay_conflict = idempotency_key(request.headers, verified)
    fire_id = new_id()
    run_id = run_id_for(trigger.routine_id, key if key is not None else f"fire:{fire_id}")
    fingerprint = verified.signature_fingerprint
    claimed = False
    if fingerprint is not None:
        until = _replay_until(verified, trigger, now.timestamp())
        seen = ingest.signatures.claim(trigger.trigger_id, fingerprint, key, until, now.timestamp())
        if seen is Seen.OTHER_KEY or (seen is Seen.SAME_KEY and replay_conflict):
            raise Conflict(_REPLAYED_SIGNATURE)
        claimed = seen is Seen.NEW
    # Validated, though every value is the gateway's own: pydantic's validation runs in
    # its core and costs a quarter of `model_construct`, which loops in Python.
    fire = FireRequested(
        fire_id=fire_id,
        run_id=run_id,
        routine_id=trigger.routine_id,
        company_id=trigger.company_id,
        source=RunSource.WEBHOOK,
        trigger_id=trigger.trigger_id,
        idempotency_key=key,
        payload=payload,
        requested_at=now,
        replay_conflict=replay_conflict,
    )
    ref = {"id": trigger.trigger_id, "kind": TriggerKind.WEBHOOK.value, "label": trigger.label}
    try:
        # A keyed fire whose run exists is a redelivery (or, keyed by its signature, a
        # replay another process saw): answered with that run, as it is.
        existing = await ingest.runs.find(run_id) if key is not None else None
        if existing is not None:
            if replay_conflict:
                raise Conflict(_REPLAYED_SIGNATURE)
            return model_response(run_view(existing, ref), 202, REPLAYED)
        await publish_fires(ctx.bus, ctx.settings, [fire])
    except Conflict:
        raise
    except BaseException:
        if claimed and fingerprint is not None:
            # Not accepted: the sender may send this very request again.
            ingest.signatures.forget(trigger.trigger_id, fingerprint)
        raise
    _ACCEPTED.inc()
    # In embedded mode the publish returned once the run was committed, and the consumer
    # of this process handed it over: answered as it is, without reading it back. A
    # broker's ack says nothing of the run: then the answer is its derived id, `received`.
    applied = applied_runs_of(ctx)
    created = applied.take(fire) if applied is not None else None
    if created is not None:
        return document_response(created_run_document(created, ref), 202)
    if applied is not None and key is not None:
        # Not made from this fire: another request with the same key made it first.
        raced = await ingest.runs.find(run_id)
        if raced is not None:
            return model_response(run_view(raced, ref), 202, REPLAYED)
    return document_response(received_document(fire, ref), 202)


# --- per-process state ------------------------------------------------------------------


Found = RowMapping | None


class Seen(enum.Enum):
    NEW = "new"
    SAME_KEY = "same key"
    OTHER_KEY = "other key"


@dataclass
class SeenSignatures:
    """Fingerprints of signed requests this process took in, kept until their window closes.

    The idempotency key of a request (an `Idempotency-Key` header, or GitHub's
    delivery header) is not always covered by its signature, so a captured request
    replayed under a fresh key would verify. Remembering which key each signature
    came with refuses that replay, and answers a keyless replay without a query.
    It covers this process; across processes the runs table catches keyless
    replays, while a replay under a fresh key reaching another process fires.
    """

    max_entries: int = 100_000
    _seen: dict[tuple[str, str], tuple[str | None, float]] = field(default_factory=dict)

    def claim(
        self, trigger_id: str, fingerprint: str, key: str | None, until: float, now: float
    ) -> Seen:
        """Record this signature with its key, unless it is already here within its window."""
        item = (trigger_id, fingerprint)
        seen = self._seen.get(item)
        if seen is not None and seen[1] >= now:
            return Seen.SAME_KEY if seen[0] == key else Seen.OTHER_KEY
        self._seen[item] = (key, until)
        # Entries arrive in roughly expiry order: a couple of expired ones leave from the
        # front on each call, which keeps pace with arrivals at no scanning cost.
        expired = [
            old for old, (_key, ends) in itertools.islice(self._seen.items(), 2) if ends < now
        ]
        for old in expired:
            del self._seen[old]
        while len(self._seen) > self.max_entries:
            del self._seen[next(iter(self._seen))]
        return Seen.NEW

    def forget(self, trigger_id: str, fingerprint: str) -> None:
        self._seen.pop((trigger_id, fingerprint), None)


class RunLookup:
    """Runs by id, for many concurrent requests at the price of one query.

    One query is in flight at a time; the requests that arrive meanwhile are asked
    about together by the next one. Under load the reads per request fall as the
    concurrency rises, as the consumer's group commit does for writes.
    """

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: dict[str, list[asyncio.Future[Found]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def find(self, run_id: str) -> Found:
        """The run's row, or None if it does not exist."""
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(run_id, []).append(future)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_all())
        return await future

    async def _read_all(self) -> None:
        try:
            while self._waiting:
                batch = dict(itertools.islice(self._waiting.items(), self._max_batch))
                for run_id in batch:
                    del self._waiting[run_id]
                try:
                    async with self._db.read() as conn:
                        found = await run_store.get_runs(conn, batch)
                except Exception as exc:
                    _settle(batch, exc)
                else:
                    for run_id, futures in batch.items():
                        _settle({run_id: futures}, found.get(run_id))
        finally:
            self._reader = None


def _settle(batch: dict[str, list[asyncio.Future[Found]]], outcome: Found | Exception) -> None:
    for futures in batch.values():
        for future in futures:
            if future.done():
                continue  # its request was cancelled
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


@dataclass
class IngestState:
    """What the endpoint keeps between requests in one process."""

    triggers: TriggerCache
    per_address: TokenBuckets
    per_trigger: TokenBuckets
    signatures: SeenSignatures
    runs: RunLookup
    trusted_proxies: tuple[Network, ...]


_STATE_KEY: Final = "webhook_ingest"


def ingest_state(ctx: Context) -> IngestState:
    """This process's limiters, replay memory and trigger cache, made on first use."""
    state = ctx.services.get(_STATE_KEY)
    if state is None:
        settings = ctx.settings
        state = IngestState(
            triggers=trigger_cache_of(ctx),
            per_address=TokenBuckets(settings.webhook_rate_per_ip, settings.webhook_burst_per_ip),
            per_trigger=TokenBuckets(
                settings.webhook_rate_per_trigger, settings.webhook_burst_per_trigger
            ),
            signatures=SeenSignatures(),
            runs=RunLookup(ctx.db),
            trusted_proxies=settings.trusted_proxy_networks,
        )
        ctx.services[_STATE_KEY] = state
    assert isinstance(state, IngestState)
    return state


def _take_trigger_token(ingest: IngestState, trigger: WebhookTrigger) -> float:
    per_minute = trigger.rate_limit_per_minute
    if per_minute is None:
        return ingest.per_trigger.take(trigger.trigger_id)
    # A trigger's own limit: `per_minute` a minute, all of which may come at once.
    return ingest.per_trigger.take(trigger.trigger_id, per_minute / 60.0, float(per_minute))


def _replay_until(verified: Verified, trigger: WebhookTrigger, now: float) -> float:
    # GitHub signs no timestamp: a copy of its request verifies forever, so remember
    # it for one window from now, the best a bounded memory can do.
    signed_at = verified.signed_at if verified.signed_at is not None else now
    return signed_at + trigger.replay_window_sec


# --- request parsing --------------------------------------------------------------------


def _media_kind(content_type: str | None) -> str:
    """`json` or `form`; anything else is refused before the body is read."""
    if content_type is None:
        # No declared type: read the body as JSON, as most senders mean it.
        return _JSON
    media = content_type.partition(";")[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        return _JSON
    if media == "application/x-www-form-urlencoded":
        return _FORM
    raise UnsupportedMediaType(
        "webhook body must be application/json or application/x-www-form-urlencoded"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        if len(declared) > _MAX_LENGTH_DIGITS or int(declared) > limit:
            raise PayloadTooLarge(f"webhook body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                # Stop here: the rest of an oversize body is never read.
                raise PayloadTooLarge(f"webhook body exceeds {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; say so plainly rather than as a server error.
        raise ValidationFailed("the client disconnected before sending the whole body") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_payload(
    media: str, body: bytes, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any] | None:
    """The run payload: a JSON object, or a form's fields; None for an empty body."""
    if not body.strip():
        return None
    try:
        if media == _FORM:
            payload = _parse_form(body)
            if b"\x00" in body or b"%00" in body:
                check_json(payload, "body", max_depth)
            return payload
        parsed = parse_json(body, "body", max_depth)
    except UnstorableJson as exc:
        raise refused_json(exc) from None
    if not isinstance(parsed, dict):
        raise ValidationFailed("webhook body must be a JSON object")
    return parsed


def _parse_form(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("webhook body is not a valid form") from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        # A repeated field keeps every value, in order.
        if name in form:
            previous = form[name]
            form[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            form[name] = value
    return form


def idempotency_key(headers: Mapping[str, str], verified: Verified) -> tuple[str | None, bool]:
    """The fire's idempotency key, and whether a repeat of it is a refused replay.

    The `Idempotency-Key` header wins, then the provider's delivery id; a signed
    request with neither is keyed by its signature, so a replay of it is a conflict.
    """
    header = headers.get("idempotency-key", "").strip()
    if header:
        return _checked_key(header, "Idempotency-Key"), False
    if verified.delivery_id:
        return _checked_key(verified.delivery_id, "delivery id"), False
    if verified.signature_fingerprint is not None:
        return f"sig:{verified.signature_fingerprint}", True
    return None, False


def _checked_key(key: str, name: str) -> str:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(f"{name} is longer than {MAX_IDEMPOTENCY_KEY} characters")
    if not key.isprintable():
        raise ValidationFailed(f"{name} must be printable text")
    return key
