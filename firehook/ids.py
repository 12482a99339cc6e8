"""Identifiers: random ids for resources, derived ids for runs."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import uuid
from functools import lru_cache


class _RandomPool:
    """Operating-system randomness fetched 4 KiB at a time.

    `uuid4` asks the kernel for 16 bytes per id, and under load that system call
    cost more than the rest of making the id. The bytes are the same kind
    (os.urandom); a lock keeps threads from sharing a slice, and a forked child
    starts with a fresh pool rather than its parent's.
    """

    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refill()

    def _refill(self) -> None:
        self._bytes = os.urandom(self._SIZE)
        self._at = 0

    def after_fork(self) -> None:
        # A thread of the parent may have held the lock at the fork: the child's copy
        # would stay locked forever. The child starts over with its own.
        self._lock = threading.Lock()
        self._refill()

    def take16(self) -> bytes:
        with self._lock:
            if self._at == self._SIZE:
                self._refill()
            at = self._at
            self._at = at + 16
            return self._bytes[at : at + 16]


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.after_fork)


def _uuid_text(raw: bytes, version: int) -> str:
    """`str(uuid.UUID(bytes=raw, version=version))`, without making the UUID object,
    which costs more than the rest of an id."""
    marked = bytearray(raw)
    marked[6] = marked[6] & 0x0F | version << 4
    marked[8] = marked[8] & 0x3F | 0x80
    text = marked.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_id() -> str:
    """A random (version 4) UUID, as text."""
    return _uuid_text(_pool.take16(), 4)


@lru_cache(maxsize=4096)
def _namespace(routine_id: str) -> bytes:
    return uuid.UUID(routine_id).bytes


def run_id_for(routine_id: str, idempotency_key: str) -> str:
    """The run id of a keyed fire: the same on every replica, before any consumer ran.

    `uuid.uuid5(UUID(routine_id), idempotency_key)`, with the routine's UUID parsed
    once rather than on every fire.
    """
    digest = hashlib.sha1(_namespace(routine_id) + idempotency_key.encode()).digest()
    return _uuid_text(digest[:16], 5)


def new_public_id() -> str:
    """The unguessable id of a webhook URL (144 random bits).

    Never starting with "-": a command line would read such an id as an option
    (`firehook sign --trigger -x...` fails), which happened once in 64 ids.
    """
    while True:
        public_id = secrets.token_urlsafe(18)
        if not public_id.startswith("-"):
            return public_id


def is_uuid(value: str) -> bool:
    """True for a well-formed UUID in its canonical text form."""
    if len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
