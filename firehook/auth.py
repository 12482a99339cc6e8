"""API keys: generation, hashing, and the principal a key stands for."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.common import Role

API_KEY_PREFIX = "fhk_"
# Stored and listed: the marker and 8 random characters, about 48 of the key's 256 bits.
_SHOWN_CHARACTERS = len(API_KEY_PREFIX) + 8


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, bound to a company unless admin, to an agent if agent, and
    possibly to one collection of tasks (then it sees only those tasks and their routines)."""

    key_id: str
    role: Role
    company_id: str | None
    agent_id: str | None
    collection: str | None = None


def generate_api_key() -> str:
    """A new key: 256 random bits behind a recognisable prefix."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest; the keys are random, so a slow hash would add nothing."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def shown_prefix(key: str) -> str:
    """The start of a key that listings show, so an operator can tell keys apart."""
    return key[:_SHOWN_CHARACTERS]


@dataclass
class KeyUseThrottle:
    """Which uses of a key to record: at most one a minute per key, so `lastUsedAt` stays
    roughly current without a write per request."""

    every: timedelta = timedelta(minutes=1)
    _recorded: dict[str, datetime] = field(default_factory=dict)

    def due(self, key_id: str, stored: datetime | None, now: datetime) -> bool:
        """True when this use should be written; the caller then writes it."""
        last = max((t for t in (stored, self._recorded.get(key_id)) if t is not None), default=None)
        if last is not None and now - last < self.every:
            return False
        if len(self._recorded) >= _REMEMBERED_KEYS:
            # What is forgotten is only a throttle; the stored time still holds writes back.
            self._recorded.clear()
        self._recorded[key_id] = now
        return True


_REMEMBERED_KEYS = 10_000
