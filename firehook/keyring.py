"""The encryption keys for secrets at rest, from settings or (in dev) a local key file."""

from __future__ import annotations

import os
from pathlib import Path

from firehook.crypto import SecretBox, generate_secret_key, key_id_for, parse_secret_key
from firehook.settings import Settings


class MissingSecretKey(RuntimeError):
    """Raised when a production role starts without FIREHOOK_SECRET_KEY."""


def load_secret_box(
    settings: Settings, *, create_file: bool = False
) -> tuple[SecretBox, Path | None]:
    """The SecretBox of the configured keys, and the key file if this call created it.

    `FIREHOOK_SECRET_KEY` wins; otherwise `secret_key_file` is read, or created with
    mode 0600 when `create_file` (dev mode) is set.
    """
    created: Path | None = None
    if settings.secret_key:
        current = parse_secret_key(settings.secret_key)
    else:
        path = Path(settings.secret_key_file)
        if not path.exists():
            if not create_file:
                raise MissingSecretKey(
                    "FIREHOOK_SECRET_KEY is not set and has no default; "
                    "generate one with `firehook keys generate-encryption-key`"
                )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_secret_key() + "\n")
            created = path
        current = parse_secret_key(path.read_text().strip())
    keys = {key_id_for(current): current}
    for text in settings.previous_secret_keys.split(","):
        if text.strip():
            old = parse_secret_key(text.strip())
            keys[key_id_for(old)] = old
    return SecretBox(keys, key_id_for(current)), created
