"""Encryption at rest for webhook secrets and secret params: AES-256-GCM.

A token reads `v1.<key id>.<base64url(nonce || ciphertext || tag)>`. The key id
names the key that sealed it, so the operator can add a new key, keep the old one
for reading, and re-encrypt at leisure. Key ids come from `key_id_for`, a hash of
the key, so they are safe to store and log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES: Final = 32
_TOKEN_VERSION: Final = "v1"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_KEY_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BASE64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_KEY_TEXT_RE: Final = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_KEY_ID_DOMAIN: Final = b"firehook secret key id\0"


class SecretDecryptionError(Exception):
    """A stored secret cannot be read: unknown key, altered token or wrong associated data.

    Messages never contain the token, the plaintext or key material.
    """


def generate_secret_key() -> str:
    """A new 32-byte encryption key as unpadded base64url text."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).rstrip(b"=").decode("ascii")


def parse_secret_key(text: str) -> bytes:
    """Decode a base64 or base64url key (padding optional) that must hold exactly 32 bytes."""
    cleaned = text.strip()
    url_safe = "-" in cleaned or "_" in cleaned
    if not _KEY_TEXT_RE.fullmatch(cleaned) or (url_safe and ("+" in cleaned or "/" in cleaned)):
        raise ValueError("encryption key must be base64 or base64url text")
    unpadded = cleaned.rstrip("=")
    if url_safe:
        unpadded = unpadded.translate(str.maketrans("-_", "+/"))
    try:
        key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except ValueError:
        raise ValueError("encryption key must be base64 or base64url text") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"encryption key must decode to exactly {KEY_BYTES} bytes, got {len(key)}")
    return key


def key_id_for(key: bytes) -> str:
    """A short, stable id for `key`; a one-way hash, so it reveals nothing of the key."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()[:16]


def key_id_of(token: str) -> str:
    """The id of the key that sealed `token`."""
    return _split_token(token)[0]


class SecretBox:
    """Seals text under the current key; opens tokens sealed under any known key.

    `associated_data` binds a token to its context (say, the trigger id), so a
    token copied to another row does not decrypt there.
    """

    __slots__ = ("_ciphers", "_current_cipher", "_current_key_id")

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID_RE.fullmatch(key_id):
                raise ValueError(f"key id {key_id!r} must be 1-64 letters, digits, '-' or '_'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be exactly {KEY_BYTES} bytes")
        if current_key_id not in keys:
            raise ValueError(f"current key id {current_key_id!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self._current_key_id = current_key_id
        self._current_cipher = self._ciphers[current_key_id]

    @classmethod
    def from_keys(cls, current: bytes, previous: Iterable[bytes] = ()) -> SecretBox:
        """A box whose key ids are derived with `key_id_for`; `previous` keys only decrypt."""
        keys = {key_id_for(key): key for key in previous}
        current_id = key_id_for(current)
        keys[current_id] = current
        return cls(keys, current_id)

    @property
    def current_key_id(self) -> str:
        """The id new tokens are sealed under."""
        return self._current_key_id

    def encrypt(self, plaintext: str, associated_data: bytes = b"") -> str:
        """Seal `plaintext` under the current key with a fresh random nonce."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current_cipher.encrypt(nonce, plaintext.encode("utf-8"), associated_data)
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{_TOKEN_VERSION}.{self._current_key_id}.{payload}"

    def decrypt(self, token: str, associated_data: bytes = b"") -> str:
        """Open `token`; raises `SecretDecryptionError` unless it is intact and its key known."""
        key_id, blob = _split_token(token)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretDecryptionError(f"secret was sealed with unknown key id {key_id!r}")
        try:
            plaintext = cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise SecretDecryptionError(
                "secret failed authentication: wrong key, wrong associated data or altered token"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            # Authentic but not text: not something encrypt() produced.
            raise SecretDecryptionError("secret is not UTF-8 text") from None

    def key_id_of(self, token: str) -> str:
        """The id of the key that sealed `token`."""
        return key_id_of(token)

    def reencrypt(self, token: str, associated_data: bytes = b"") -> str:
        """`token` sealed under the current key; returned unchanged if it already is.

        The token is opened either way, so a damaged one is reported, not kept.
        """
        plaintext = self.decrypt(token, associated_data)
        if key_id_of(token) == self._current_key_id:
            return token
        return self.encrypt(plaintext, associated_data)


def _split_token(token: str) -> tuple[str, bytes]:
    version, _, rest = token.partition(".")
    key_id, _, payload = rest.partition(".")
    if (
        version != _TOKEN_VERSION
        or not _KEY_ID_RE.fullmatch(key_id)
        or not _BASE64URL_RE.fullmatch(payload)
        # Four characters per three bytes: a remainder of one cannot occur.
        or len(payload) % 4 == 1
    ):
        raise SecretDecryptionError("malformed encrypted secret")
    blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if len(blob) < _NONCE_BYTES + _TAG_BYTES:
        raise SecretDecryptionError("malformed encrypted secret")
    return key_id, blob
