"""Inbound webhook verification and outbound signing, one scheme per signing mode.

Verification reads the raw body bytes, before anything parses them, and compares
digests in constant time. Every failure is a `SignatureError`, which the caller
answers with a bare 401. Header mappings must have lower-case keys (Starlette's
`Headers` qualifies); values are expected as ASGI servers decode them (latin-1),
so encoding them back as latin-1 gives the bytes the sender signed.

A mode is a `schemas.common.SigningMode` or its string value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from secrets import token_bytes
from typing import Final

import orjson

SIGNING_MODES: Final = (
    "bearer",
    "hmac_sha256",
    "standard_webhooks",
    "github",
    "github_hmac",
    "stripe",
    "slack",
    "none",
)

# Paperclip names GitHub's scheme `github_hmac`; both names verify and sign alike.
_GITHUB_MODES: Final = frozenset({"github", "github_hmac"})

MIN_SECRET_BYTES: Final = 16
WHSEC_PREFIX: Final = "whsec_"

# Native timestamps above this are milliseconds (10**12 s is the year 33658).
_MILLISECONDS_ABOVE: Final = 10**12
# Long enough for millisecond timestamps, short enough that int() stays trivial.
_MAX_TIMESTAMP_DIGITS: Final = 16
_SHA256_HEX_LEN: Final = 64
_SHA256_LEN: Final = 32


class SignatureError(Exception):
    """The request is not authentic; callers answer 401 with no detail.

    `reason` is a fixed phrase, safe for logs and metric labels: it never holds
    header values, body bytes or secrets.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified request tells the caller.

    - `delivery_id`: the provider's idempotency key (`webhook-id`, `X-GitHub-Delivery`,
      the Stripe event id) or None. GitHub does not sign its delivery header, so a
      replayed body can arrive under a fresh one; the fingerprint still catches it.
    - `signature_fingerprint`: a digest of the signed timestamp and signature, the same
      for every replay of one signed request however its headers are spelled; None
      for `bearer` and `none`, which sign nothing.
    - `signed_at`: the sender's timestamp in Unix seconds, if the scheme signs one;
      remember a fingerprint until `signed_at + replay_window_sec`.
    - `secret_index`: which candidate secret matched (0 = current); None for `none`.
    """

    delivery_id: str | None
    signature_fingerprint: str | None
    signed_at: float | None
    secret_index: int | None


def verify_webhook(
    mode: str,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    replay_window_sec: int,
    now: float,
) -> Verified:
    """Check `body` and `headers` against any of `secrets` (current first, then previous).

    `now` is the current Unix time in seconds. Raises `SignatureError`, and nothing
    else, for every request that does not verify; an unknown mode fails closed.
    """
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] too: each character would pass as a secret.
        raise TypeError("secrets must be a sequence of secrets, not a single string")
    verifier = _VERIFIERS.get(mode)
    if verifier is None:
        raise SignatureError("unknown signing mode")
    return verifier(secrets, headers, body, replay_window_sec, now)


def sign_webhook(
    mode: str, secret: str, body: bytes, now: float, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers a correct sender would attach to `body` at Unix time `now`.

    Header names use each provider's usual spelling. `delivery_id` becomes the
    scheme's own id header (`webhook-id`, `X-GitHub-Delivery`; a fresh one is made
    when omitted) or else `Idempotency-Key`. Stripe's event id lives in the body.
    """
    _require_mode(mode)
    if mode == "none":
        return _idempotency_header(delivery_id)
    if not secret:
        raise ValueError("secret must not be empty")
    timestamp = str(int(now))
    if mode == "bearer":
        return {"Authorization": f"Bearer {secret}", **_idempotency_header(delivery_id)}
    if mode == "standard_webhooks":
        key = _standard_webhooks_key(secret)
        if not key:
            raise ValueError("standard_webhooks secret must be base64, optionally after whsec_")
        msg_id = delivery_id or f"msg_{uuid.uuid4().hex}"
        mac = _mac(key, _wire_bytes(msg_id), b".", timestamp.encode("ascii"), b".", body)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(mac).decode("ascii"),
        }
    key = _utf8(secret)
    if mode in _GITHUB_MODES:
        return {
            "X-Hub-Signature-256": "sha256=" + _mac(key, body).hex(),
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        }
    ts = timestamp.encode("ascii")
    headers = _idempotency_header(delivery_id)
    if mode == "hmac_sha256":
        headers["X-Firehook-Timestamp"] = timestamp
        headers["X-Firehook-Signature"] = "sha256=" + _mac(key, ts, b".", body).hex()
    elif mode == "stripe":
        headers["Stripe-Signature"] = f"t={timestamp},v1={_mac(key, ts, b'.', body).hex()}"
    else:  # slack
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = "v0=" + _mac(key, b"v0:", ts, b":", body).hex()
    return headers


def generate_secret(mode: str) -> str:
    """A new signing secret of 32 random bytes, in the form `mode` expects."""
    _require_mode(mode)
    raw = token_bytes(32)
    if mode == "standard_webhooks":
        return WHSEC_PREFIX + base64.b64encode(raw).decode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def validate_user_secret(mode: str, secret: str) -> None:
    """Reject a user-supplied secret too weak or malformed for `mode` (ValueError)."""
    _require_mode(mode)
    if mode == "standard_webhooks":
        encoded = secret.removeprefix(WHSEC_PREFIX).rstrip("=")
        try:
            # Strict here, so the lenient decoding used when verifying cannot
            # silently drop characters from a stored secret.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except ValueError:
            raise ValueError(
                "standard_webhooks secret must be base64, optionally after whsec_"
            ) from None
        size = len(key)
    else:
        if mode == "bearer" and not all("!" <= char <= "~" for char in secret):
            # It travels in an Authorization header and is typed into curl commands.
            raise ValueError("bearer secret must be printable ASCII without spaces")
        size = len(_utf8(secret))
    if size < MIN_SECRET_BYTES:
        raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")


# --- verifiers --------------------------------------------------------------------------

_Verifier = Callable[[Sequence[str], Mapping[str, str], bytes, int, float], Verified]


def _verify_bearer(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    value = headers.get("authorization")
    if value is None:
        raise SignatureError("missing authorization header")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise SignatureError("malformed authorization header")
    presented = _wire_bytes(token)
    for index, secret in enumerate(secrets):
        expected = _utf8(secret)
        # An empty secret would let an empty token through.
        if expected and hmac.compare_digest(presented, expected):
            return Verified(None, None, None, index)
    raise SignatureError("no matching secret")


def _verify_hmac_sha256(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    signature = headers.get("x-firehook-signature") or headers.get("x-paperclip-signature")
    timestamp = headers.get("x-firehook-timestamp") or headers.get("x-paperclip-timestamp")
    if signature is None or timestamp is None:
        raise SignatureError("missing signature header")
    if signature[:7].lower() == "sha256=":
        signature = signature[7:]
    provided = _hex_sha256(signature)
    if provided is None:
        raise SignatureError("malformed signature header")
    seconds = _parse_timestamp(timestamp)
    signed_at = seconds / 1000 if seconds > _MILLISECONDS_ABOVE else float(seconds)
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    index, mac = _match(map(_utf8, secrets), (ts, b".", body), (provided,))
    return Verified(None, _fingerprint(b"hmac_sha256", ts, mac), signed_at, index)


def _verify_standard_webhooks(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signature = headers.get("webhook-signature")
    if not (msg_id and timestamp and signature):
        raise SignatureError("missing signature header")
    signed_at = float(_parse_timestamp(timestamp))
    _check_window(signed_at, window, now)
    provided: list[bytes] = []
    for entry in signature.split():
        version, _, encoded = entry.partition(",")
        # Other versions (v1a is asymmetric) and malformed entries are skipped, as
        # the spec asks, so one bad entry cannot veto a good one.
        if version == "v1" and (decoded := _b64_sha256(encoded)) is not None:
            provided.append(decoded)
    if not provided:
        raise SignatureError("malformed signature header")
    ts = timestamp.encode("ascii")
    keys = map(_standard_webhooks_key, secrets)
    index, mac = _match(keys, (_wire_bytes(msg_id), b".", ts, b".", body), provided)
    return Verified(msg_id, _fingerprint(b"standard_webhooks", ts, mac), signed_at, index)


def _verify_github(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    # GitHub signs no timestamp, so there is no window to check.
    signature = headers.get("x-hub-signature-256")
    if signature is None:
        raise SignatureError("missing signature header")
    provided = _hex_sha256(signature[7:]) if signature[:7].lower() == "sha256=" else None
    if provided is None:
        raise SignatureError("malformed signature header")
    index, mac = _match(map(_utf8, secrets), (body,), (provided,))
    delivery_id = headers.get("x-github-delivery") or None
    return Verified(delivery_id, _fingerprint(b"github", b"", mac), None, index)


def _verify_stripe(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    header = headers.get("stripe-signature")
    if header is None:
        raise SignatureError("missing signature header")
    timestamp: str | None = None
    provided: list[bytes] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or (name == "t" and timestamp is not None):
            raise SignatureError("malformed signature header")
        if name == "t":
            timestamp = value
        elif name == "v1" and (decoded := _hex_sha256(value)) is not None:
            provided.append(decoded)
        # v0 is Stripe's test-mode scheme and other schemes are future ones: ignored.
    if timestamp is None or not provided:
        raise SignatureError("malformed signature header")
    signed_at = float(_parse_timestamp(timestamp))
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    index, mac = _match(map(_utf8, secrets), (ts, b".", body), provided)
    # Only now is the body trusted enough to read the event id from it.
    return Verified(_stripe_event_id(body), _fingerprint(b"stripe", ts, mac), signed_at, index)


def _verify_slack(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    signature = headers.get("x-slack-signature")
    timestamp = headers.get("x-slack-request-timestamp")
    if signature is None or timestamp is None:
        raise SignatureError("missing signature header")
    provided = _hex_sha256(signature[3:]) if signature[:3] == "v0=" else None
    if provided is None:
        raise SignatureError("malformed signature header")
    signed_at = float(_parse_timestamp(timestamp))
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    index, mac = _match(map(_utf8, secrets), (b"v0:", ts, b":", body), (provided,))
    return Verified(None, _fingerprint(b"slack", ts, mac), signed_at, index)


def _verify_none(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, window: int, now: float
) -> Verified:
    return Verified(None, None, None, None)


_VERIFIERS: Final[dict[str, _Verifier]] = {
    "bearer": _verify_bearer,
    "hmac_sha256": _verify_hmac_sha256,
    "standard_webhooks": _verify_standard_webhooks,
    "github": _verify_github,
    "github_hmac": _verify_github,
    "stripe": _verify_stripe,
    "slack": _verify_slack,
    "none": _verify_none,
}


# --- helpers ----------------------------------------------------------------------------


def _mac(key: bytes, *parts: bytes) -> bytes:
    # Feeding the parts one by one avoids copying the body into a joined message.
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _match(
    keys: Iterable[bytes], parts: tuple[bytes, ...], provided: Sequence[bytes]
) -> tuple[int, bytes]:
    """Index of the first key whose MAC is among `provided`, and the fingerprint MAC.

    Keys are derived lazily, so later candidates cost nothing when the current one
    matches. The fingerprint MAC is the first usable key's, whichever key matched:
    a replay that drops some entries of a multi-signature header (so a later key
    matches) must still fingerprint the same.
    """
    fingerprint_mac: bytes | None = None
    for index, key in enumerate(keys):
        if not key:
            # An empty HMAC key is public knowledge: never accept it.
            continue
        mac = _mac(key, *parts)
        if fingerprint_mac is None:
            fingerprint_mac = mac
        for candidate in provided:
            if hmac.compare_digest(mac, candidate):
                return index, fingerprint_mac
    raise SignatureError("no matching signature")


def _fingerprint(mode: bytes, timestamp: bytes, mac: bytes) -> str:
    # Hashed rather than returned raw: a stored fingerprint must not be a usable signature.
    return hashlib.sha256(b"\0".join((mode, timestamp, mac))).hexdigest()


def _utf8(text: str) -> bytes:
    # surrogatepass: a stray surrogate must not turn a bad secret into an exception.
    return text.encode("utf-8", "surrogatepass")


def _standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret; empty when it cannot be decoded.

    Decodes like the reference library (extra padding, non-alphabet characters
    dropped), so a secret it accepts verifies the same here.
    """
    try:
        return base64.b64decode(secret.removeprefix(WHSEC_PREFIX) + "==")
    except ValueError:
        return b""


def _hex_sha256(text: str) -> bytes | None:
    if len(text) != _SHA256_HEX_LEN:
        return None
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex skips spaces between bytes; a full-length result rules them out.
    return digest if len(digest) == _SHA256_LEN else None


def _b64_sha256(text: str) -> bytes | None:
    try:
        digest = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:
        return None
    return digest if len(digest) == _SHA256_LEN else None


def _parse_timestamp(text: str) -> int:
    # isdigit alone admits other scripts' digits; int() alone admits signs, spaces and "_".
    if not (0 < len(text) <= _MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()):
        raise SignatureError("malformed timestamp")
    return int(text)


def _check_window(signed_at: float, window: int, now: float) -> None:
    if abs(now - signed_at) > window:
        raise SignatureError("timestamp outside replay window")


def _wire_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        # Not from an ASGI server (those decode as latin-1): take it as text.
        return value.encode("utf-8", "surrogatepass")


def _stripe_event_id(body: bytes) -> str | None:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(event, dict):
        event_id = event.get("id")
        if isinstance(event_id, str) and event_id:
            return event_id
    return None


def _idempotency_header(delivery_id: str | None) -> dict[str, str]:
    return {"Idempotency-Key": delivery_id} if delivery_id else {}


def _require_mode(mode: str) -> None:
    if mode not in _VERIFIERS:
        raise ValueError(f"unknown signing mode {mode!r}; expected one of {SIGNING_MODES}")
