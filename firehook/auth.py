"""API keys: generation, hashing, and the principal a key stands for."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from schemas.common import Role

API_KEY_PREFIX = "fhk_"


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
