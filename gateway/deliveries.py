"""The delivery inspector's log: what each webhook trigger received and answered.

Recording costs the webhook a few references kept in memory: the records are made
and written in batches by one background task, so no request waits for the database
or the redaction on their account (a batch every `_FLUSH_INTERVAL_SEC`, or sooner
when `_FLUSH_AT` wait). Only the newest `webhook_deliveries_kept` of a trigger wait,
since the rest would be trimmed as soon as written. Best effort by design: a batch
that cannot be written is logged and dropped; a graceful stop writes what waits,
a crash loses it.

Before anything is kept, header values that carry proofs (signatures, tokens,
authorization) are replaced, and every secret of the trigger is cut out of the
headers, the query and the body wherever it appears (Microsoft Graph puts its
`clientState` in the body; a GitLab token is a header).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import orjson
import structlog
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

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
_CACHED_NAME_CHARS: Final = 64


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
        hidden = lowered == extra or _carries_proof(lowered)
        shown = REDACTED if hidden else scrub(value[:_MAX_HEADER_CHARS], secrets)
        kept[lowered] = f"{kept[lowered]}, {shown}" if lowered in kept else shown
    return kept


def _carries_proof(lowered: str) -> bool:
    # Senders repeat the same few names; long ones are looked at each time, not kept.
    if len(lowered) > _CACHED_NAME_CHARS:
        return _names_proof(lowered)
    return _cached_proof(lowered)


def _names_proof(lowered: str) -> bool:
    return lowered not in _KEPT_DESPITE_WORDS and any(word in lowered for word in _SECRET_WORDS)


_cached_proof: Final = lru_cache(maxsize=1024)(_names_proof)


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
    replayed: bool = False,
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
        "outcome": _outcome(status, received.failed_check, run_id, replayed),
        "failed_check": (received.failed_check or "")[:_MAX_CHECK_CHARS] or None,
        "answer": _scrub_value(answer_value, secrets),
        "run_id": run_id if isinstance(run_id, str) else None,
        "idempotency_key": key[:300] if isinstance(key, str) else None,
    }


def _outcome(status: int, failed_check: str | None, run_id: object, replayed: bool) -> str:
    if status == 202:
        # A repeated key answers its original run with 202 too, marked by the header.
        return "replayed" if replayed else "accepted"
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


@dataclass(slots=True)
class _Noted:
    """One request as the endpoint left it: references only, made into a record when written."""

    received: Received
    scope: Scope
    status: int
    answer: bytes | memoryview
    replayed: bool
    at: datetime


def _record_of(noted: _Noted, body_limit: int) -> dict[str, Any] | None:
    scope = noted.scope
    return build_record(
        noted.received,
        method=scope["method"],
        query=URL(scope=scope).query if scope.get("query_string") else "",
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        status=noted.status,
        answer=bytes(noted.answer),
        at=noted.at,
        body_limit=body_limit,
        replayed=noted.replayed,
    )


@dataclass
class DeliveryLog:
    """Requests waiting to be written, the newest `webhook_deliveries_kept` of each trigger.

    A record the trim would delete anyway is never built nor written: under a burst,
    a trigger's older requests fall out of its queue as newer ones arrive, and only
    the survivors are redacted and inserted, at the next flush.
    """

    ctx: Context
    pending: dict[str, deque[_Noted]] = field(default_factory=dict)
    count: int = 0
    dropped: int = 0
    _writer: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, noted: _Noted, trigger_id: str) -> None:
        keep = self.ctx.settings.webhook_deliveries_kept
        if keep == 0:
            return
        queue = self.pending.get(trigger_id)
        if queue is None or queue.maxlen != keep:
            queue = self.pending[trigger_id] = deque(queue or (), maxlen=keep)
            self.count = sum(len(each) for each in self.pending.values())
        if len(queue) < keep:
            if self.count >= _MAX_PENDING:
                self.dropped += 1
                return
            self.count += 1
        queue.append(noted)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon())

    async def flush(self) -> None:
        """Write every record waiting now (readers call it, to see their own process's).

        What arrives while it writes waits for the next flush: under steady load, looping
        until nothing waits would write a few records per transaction, without end.
        """
        async with self._lock:
            waiting, self.pending, self.count = self.pending, {}, 0
            records = self._records([noted for queue in waiting.values() for noted in queue])
            for start in range(0, len(records), 1000):
                batch = records[start : start + 1000]
                try:
                    async with self.ctx.db.write() as conn:
                        await store.insert_deliveries(
                            conn, batch, self.ctx.settings.webhook_deliveries_kept
                        )
                except Exception as exc:
                    log.warning("deliveries not recorded", count=len(batch), error=str(exc))

    def _records(self, waiting: Sequence[_Noted]) -> list[dict[str, Any]]:
        body_limit = self.ctx.settings.webhook_delivery_body_bytes
        records: list[dict[str, Any]] = []
        for noted in waiting:
            try:
                record = _record_of(noted, body_limit)
            except Exception as exc:
                log.warning("delivery not recorded", error=str(exc))
                continue
            if record is not None:
                records.append(record)
        return records

    async def _write_soon(self) -> None:
        # Until nothing waits: records that arrived during a write get their own turn.
        while self.pending:
            deadline = asyncio.get_running_loop().time() + _FLUSH_INTERVAL_SEC
            while self.pending and self.count < _FLUSH_AT:
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
    """Keep a record of this request to a webhook trigger and its answer (no wait).

    Only references are taken here; the record is made when it is written.
    """
    received = getattr(request.state, "webhook_received", None)
    if not isinstance(received, Received) or received.trigger is None:
        return  # no trigger: nothing to show anyone
    ctx = context_of(request)
    try:
        noted = _Noted(
            received,
            request.scope,
            response.status_code,
            response.body,
            # Read now: middleware may add to the same list as the answer leaves.
            (b"idempotent-replayed", b"true") in response.raw_headers,
            ctx.clock(),
        )
    except Exception as exc:
        # The inspector must never change what the sender is answered.
        log.warning("delivery not recorded", error=str(exc))
        return
    delivery_log_of(ctx).add(noted, received.trigger.trigger_id)
