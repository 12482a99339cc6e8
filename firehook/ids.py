"""Identifiers: random ids for resources, derived ids for runs."""

from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    """A random UUID, as text."""
    return str(uuid.uuid4())


def run_id_for(routine_id: str, idempotency_key: str) -> str:
    """The run id of a keyed fire: the same on every replica, before any consumer ran."""
    return str(uuid.uuid5(uuid.UUID(routine_id), idempotency_key))


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
