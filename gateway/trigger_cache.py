"""What the webhook endpoint needs to know about a trigger, cached per process by public id.

A verified webhook should cost no SQL round trip before its fire is published, so
the trigger's decrypted secrets, limits and routine status are kept here. Entries
live `settings.trigger_cache_ttl_sec` (default 2 s): a change made through another
process is seen within that bound. A change made through this process's
management API is seen at once, because its handlers invalidate the entries they change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog

from firehook.context import Context
from firehook.crypto import SecretBox, SecretDecryptionError
from firehook.store import Database
from firehook.store import routines as store
from schemas.common import RoutineStatus, TriggerKind
from schemas.errors import Unavailable
from schemas.signing import HmacConfig

log = structlog.get_logger("firehook.gateway")

_SERVICE_KEY: Final = "trigger_cache"
# Unknown public ids are cached too (a flood of guesses must not become a flood of
# queries), so the cache needs a bound; past it the oldest entries go.
DEFAULT_MAX_ENTRIES: Final = 50_000


@dataclass(frozen=True, slots=True)
class WebhookTrigger:
    """A webhook trigger as the endpoint sees it, secrets decrypted."""

    trigger_id: str
    public_id: str
    routine_id: str
    company_id: str
    enabled: bool
    routine_status: str
    signing_mode: str
    replay_window_sec: int
    max_body_bytes: int | None
    rate_limit_per_minute: int | None
    # Kept out of repr so that no log line or traceback can show them.
    secret: str = field(repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_expires_at: datetime | None = None
    signing_config: HmacConfig | None = None

    @property
    def firing(self) -> bool:
        return self.enabled and self.routine_status == RoutineStatus.ACTIVE

    def secrets_at(self, now: datetime) -> tuple[str, ...]:
        """The secrets that verify at `now`: the current one, and the previous during its grace."""
        expires = self.previous_secret_expires_at
        if self.previous_secret is not None and expires is not None and now < expires:
            return (self.secret, self.previous_secret)
        return (self.secret,)


@dataclass(slots=True)
class _Entry:
    value: WebhookTrigger | None
    expires_at: float


class TriggerCache:
    """Webhook triggers by public id, each kept for `ttl` seconds after it was read."""

    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        ttl: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._secrets = secrets
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[WebhookTrigger | None]] = {}
        # Bumped by every invalidation: a read that began before it must not be stored.
        self._generation = 0

    async def get(self, public_id: str) -> WebhookTrigger | None:
        """The webhook trigger with this public id, or None if there is none."""
        entry = self._entries.get(public_id)
        if entry is not None and entry.expires_at > self._clock():
            return entry.value
        loading = self._loading.get(public_id)
        if loading is None:
            # One read per public id at a time: when an entry expires under load,
            # the requests waiting for it share a single query.
            loading = asyncio.ensure_future(self._load(public_id, self._generation))
            loading.add_done_callback(_consume_exception)
            self._loading[public_id] = loading
        # Shielded: a client that hangs up must not cancel the read others wait for.
        return await asyncio.shield(loading)

    def invalidate_trigger(self, public_id: str | None) -> None:
        """Forget one trigger (a trigger without a public id is not a webhook: no-op)."""
        if public_id is None:
            return
        self._generation += 1
        self._entries.pop(public_id, None)
        self._loading.pop(public_id, None)

    def invalidate_routine(self, routine_id: str) -> None:
        """Forget every trigger of a routine (its status is part of each entry)."""
        self._generation += 1
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.value is not None and entry.value.routine_id == routine_id
        ]
        for key in stale:
            del self._entries[key]
        # Reads in flight cannot tell their routine yet; starting them again is cheap.
        self._loading.clear()

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._loading.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def _load(self, public_id: str, generation: int) -> WebhookTrigger | None:
        try:
            value = await self._read(public_id)
        finally:
            if self._loading.get(public_id) is asyncio.current_task():
                del self._loading[public_id]
        if generation == self._generation and self._ttl > 0:
            self._entries.pop(public_id, None)
            self._entries[public_id] = _Entry(value, self._clock() + self._ttl)
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]
        return value

    async def _read(self, public_id: str) -> WebhookTrigger | None:
        async with self._db.read() as conn:
            trigger = await store.get_trigger_by_public_id(conn, public_id)
            if trigger is None or trigger["kind"] != TriggerKind.WEBHOOK:
                return None
            routine = await store.get_routine(conn, trigger["routine_id"])
        if routine is None:
            return None
        associated = trigger["id"].encode()
        try:
            secret = self._secrets.decrypt(trigger["secret_enc"], associated)
            previous_token = trigger["previous_secret_enc"]
            previous = (
                self._secrets.decrypt(previous_token, associated)
                if previous_token is not None
                else None
            )
        except SecretDecryptionError as exc:
            # An operator problem (a key missing from FIREHOOK_PREVIOUS_SECRET_KEYS), not
            # the sender's: say so in the log, and let the sender retry later.
            log.error(
                "webhook secret cannot be decrypted", trigger_id=trigger["id"], error=str(exc)
            )
            raise Unavailable("the trigger's secret cannot be read; retry later") from None
        return WebhookTrigger(
            trigger_id=trigger["id"],
            public_id=public_id,
            routine_id=routine["id"],
            company_id=routine["company_id"],
            enabled=bool(trigger["enabled"]),
            routine_status=routine["status"],
            signing_mode=trigger["signing_mode"],
            replay_window_sec=trigger["replay_window_sec"],
            max_body_bytes=trigger["max_body_bytes"],
            rate_limit_per_minute=trigger["rate_limit_per_minute"],
            secret=secret,
            previous_secret=previous,
            previous_secret_expires_at=trigger["previous_secret_expires_at"],
            signing_config=_signing_config(trigger["signing_config"]),
        )


def _signing_config(stored: object) -> HmacConfig | None:
    # Validated when saved; a row that no longer validates verifies nothing (fails closed).
    if stored is None:
        return None
    try:
        return HmacConfig.model_validate(stored)
    except ValueError:
        log.error("webhook signing configuration cannot be read")
        return None


def trigger_cache_of(ctx: Context) -> TriggerCache:
    """This process's trigger cache, made on first use."""
    cache = ctx.services.get(_SERVICE_KEY)
    if cache is None:
        cache = TriggerCache(ctx.db, ctx.secrets, ctx.settings.trigger_cache_ttl_sec)
        ctx.services[_SERVICE_KEY] = cache
    assert isinstance(cache, TriggerCache)
    return cache


def _consume_exception(future: asyncio.Future[WebhookTrigger | None]) -> None:
    # Every waiter may have gone (clients hung up); the error is theirs, not the loop's.
    if not future.cancelled():
        future.exception()
