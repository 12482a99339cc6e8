"""The delivery inspector's log: what each webhook trigger received and answered.

Recording costs the webhook a dictionary built in memory: the records are written
in batches by one background task, so no request waits for the database on their
account (a batch every `_FLUSH_INTERVAL_SEC`, or sooner when `_FLUSH_AT` wait).
Best effort by design: a batch that cannot be written is logged and dropped, and
records still in memory when the process stops are lost.

Before anything is kept, header values that carry proofs (signatures, tokens,
authorization) are replaced, and every secret of the trigger is cut out of the
headers, the query and the body wherever it appears (Microsoft Graph puts its
`clientState` in the body; a GitLab token is a header).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response

from firehook.context import Context, context_of
from firehook.ids import new_id
from firehook.store import deliveries as store
from gateway.trigger_cache import WebhookTrigger

log = structlog.get_logger("firehook.gateway")

REDACTED: Final = "[redacted]"
_SERVICE_KEY: Final = "delivery_log"
_FLUSH_INTERVAL_SEC: Final = 0.5
_FLUSH_AT: Final = 200
# Beyond this many records waiting (the database is down), new ones are dropped.
_MAX_PENDING: Final = 10_000
_MAX_HEADERS: Final = 64
_MAX_HEADER_CHARS: Final = 512
_MAX_QUERY_CHARS: Final = 2000
_MAX_ANSWER_CHARS: Final = 2000
_MAX_CHECK_CHARS: Final = 300
# Header names whose values prove or grant something: never kept.
_SECRET_WORDS: Final = ("signature", "token", "secret", "auth", "hmac", "cookie", "api-key")
_KEPT_DESPITE_WORDS: Final = frozenset({"idempotency-key", "i-twilio-idempotency-token"})


@dataclass(slots=True)
class Received:
    """What the endpoint learnt about one request, filled in as it goes."""

    trigger: WebhookTrigger | None = None
    body: bytes = b""
    secrets: Sequence[str] = ()
    failed_check: str | None = None
    signature_header: str | None = None

    @classmethod
    def of(cls, trigger: WebhookTrigger) -> Received:
        config = trigger.signing_config
        return cls(trigger, signature_header=config.signature_header.lower() if config else None)


def redact_headers(
    headers: Sequence[tuple[str, str]], secrets: Sequence[str], extra: str | None = None
) -> dict[str, str]:
    """Headers safe to keep: proof-carrying values replaced, secrets cut out of the rest."""
    kept: dict[str, str] = {}
    for name, value in headers[:_MAX_HEADERS]:
        lowered = name.lower()
        hidden = lowered == extra or (
            lowered not in _KEPT_DESPITE_WORDS and any(word in lowered for word in _SECRET_WORDS)
        )
        shown = REDACTED if hidden else scrub(value[:_MAX_HEADER_CHARS], secrets)
        kept[lowered] = f"{kept[lowered]}, {shown}" if lowered in kept else shown
    return kept


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every occurrence of each secret replaced."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def build_record(
    received: Received,
    *,
    method: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    status: int,
    answer: bytes,
    at: datetime,
    body_limit: int,
) -> dict[str, Any] | None:
    """The row to keep for one request, or None when no trigger was found."""
    trigger = received.trigger
    if trigger is None:
        return None
    # Both secrets, whichever verified: a sender may have thrown either into any field.
    known = (trigger.secret, trigger.previous_secret)
    secrets = [*received.secrets, *(secret for secret in known if secret)]
    body = received.body
    shown = body[:body_limit].decode("utf-8", "replace")
    answer_value = _answer(answer)
    run_id = answer_value.get("runId") if isinstance(answer_value, dict) else None
    key = answer_value.get("idempotencyKey") if isinstance(answer_value, dict) else None
    return {
        "id": new_id(),
        "trigger_id": trigger.trigger_id,
        "routine_id": trigger.routine_id,
        "company_id": trigger.company_id,
        "received_at": at,
        "method": method[:8],
        "query": scrub(query[:_MAX_QUERY_CHARS], secrets) or None,
        "headers": redact_headers(headers, secrets, received.signature_header),
        "body": scrub(shown, secrets) if body else None,
        "body_size": len(body),
        "body_truncated": len(body) > body_limit,
        "status": status,
        "outcome": _outcome(status, received.failed_check, run_id),
        "failed_check": (received.failed_check or "")[:_MAX_CHECK_CHARS] or None,
        "answer": _scrub_value(answer_value, secrets),
        "run_id": run_id if isinstance(run_id, str) else None,
        "idempotency_key": key[:300] if isinstance(key, str) else None,
    }


def _outcome(status: int, failed_check: str | None, run_id: object) -> str:
    if status == 202:
        return "accepted"
    if status == 200:
        return "replayed" if run_id else "handshake"
    if status == 401 or failed_check is not None:
        return "refused"
    return "rejected" if status < 500 else "failed"


def _answer(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:_MAX_ANSWER_CHARS].decode("utf-8", "replace")


def _scrub_value(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return scrub(value[:_MAX_ANSWER_CHARS], secrets)
    if isinstance(value, dict):
        return {key: _scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_value(item, secrets) for item in value]
    return value


@dataclass
class DeliveryLog:
    """Records waiting to be written, and the task that writes them in batches."""

    ctx: Context
    pending: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    _writer: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, record: dict[str, Any]) -> None:
        if self.ctx.settings.webhook_deliveries_kept == 0:
            return
        if len(self.pending) >= _MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(record)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon())

    async def flush(self) -> None:
        """Write every waiting record now (readers call it, to see their own process's)."""
        async with self._lock:
            while self.pending:
                batch, self.pending = self.pending[:1000], self.pending[1000:]
                try:
                    async with self.ctx.db.write() as conn:
                        await store.insert_deliveries(
                            conn, batch, self.ctx.settings.webhook_deliveries_kept
                        )
                except Exception as exc:
                    log.warning("deliveries not recorded", count=len(batch), error=str(exc))

    async def _write_soon(self) -> None:
        deadline = asyncio.get_running_loop().time() + _FLUSH_INTERVAL_SEC
        while self.pending and len(self.pending) < _FLUSH_AT:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 0.05))
        await self.flush()


def delivery_log_of(ctx: Context) -> DeliveryLog:
    """This process's delivery log, made on first use."""
    found = ctx.services.get(_SERVICE_KEY)
    if found is None:
        found = DeliveryLog(ctx)
        ctx.services[_SERVICE_KEY] = found
    assert isinstance(found, DeliveryLog)
    return found


def note_delivery(request: Request, response: Response) -> None:
    """Keep a record of this request to a webhook trigger and its answer (no wait)."""
    received = getattr(request.state, "webhook_received", None)
    if not isinstance(received, Received) or received.trigger is None:
        return  # no trigger: nothing to show anyone
    ctx = context_of(request)
    try:
        record = build_record(
            received,
            method=request.method,
            query=request.url.query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            status=response.status_code,
            answer=bytes(response.body),
            at=ctx.clock(),
            body_limit=ctx.settings.webhook_delivery_body_bytes,
        )
    except Exception as exc:
        # The inspector must never change what the sender is answered.
        log.warning("delivery not recorded", error=str(exc))
        return
    if record is not None:
        delivery_log_of(ctx).add(record)
