"""Provider presets and the configurable HMAC mode: verification and signing.

Each preset checks a request exactly as its provider documents it, and takes the
provider's delivery id as the idempotency key when it sends one. The anchor modes
(`bearer`, `hmac_sha256`, `standard_webhooks`, `github`, `stripe`, `slack`, `none`)
stay in `gateway.signatures`; `verify_request` and `sign_request` cover every mode.

Some providers sign the request URL (Twilio, Square, HubSpot): `Inbound.url` must be
the URL as the provider called it, so behind a proxy set `FIREHOOK_PUBLIC_BASE_URL`.
Discord and SendGrid sign with a private key: their trigger holds the provider's
PUBLIC key, so Firehook can verify but never sign for them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from secrets import token_bytes
from string import Formatter
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway import signatures
from gateway.signatures import SignatureError, Verified
from schemas.signing import HmacConfig

# Presets that sign with a shared secret, then those that sign with a key pair.
SHARED_SECRET_PRESETS: Final = (
    "shopify",
    "gitlab",
    "bitbucket",
    "twilio",
    "linear",
    "zoom",
    "intercom",
    "square",
    "mailgun",
    "pagerduty",
    "paddle",
    "typeform",
    "hubspot",
    "twitch",
    "svix",
    "clerk",
    "resend",
    "microsoft_graph",
    "dropbox",
)
PUBLIC_KEY_PRESETS: Final = ("discord", "sendgrid")
CUSTOM_HMAC: Final = "custom_hmac"
PROVIDER_MODES: Final = (*SHARED_SECRET_PRESETS, *PUBLIC_KEY_PRESETS, CUSTOM_HMAC)
ALL_MODES: Final = (*signatures.SIGNING_MODES, *PROVIDER_MODES)
# Modes whose body is a JSON array of events; the run's payload is `{"events": [...]}`.
EVENT_ARRAY_MODES: Final = frozenset({"sendgrid", "hubspot"})

_STANDARD_WEBHOOKS_ALIASES: Final = frozenset({"svix", "clerk", "resend"})
_TWILIO_BODY_HASH: Final = "bodySHA256"
_DIGESTS: Final = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_MILLISECONDS_ABOVE: Final = 10**12
_MAX_FORM_FIELDS: Final = 1000
_ED25519_KEY_LEN: Final = 32
_ED25519_SIGNATURE_LEN: Final = 64
_MAX_SIGNATURE_CHARS: Final = 1024


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a verifier may read of one request: `url` as the sender addressed it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request a correct sender would make: its URL, headers and body."""

    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


def verify_request(
    mode: str,
    secrets: Sequence[str],
    request: Inbound,
    replay_window_sec: int,
    now: float,
    config: HmacConfig | None = None,
) -> Verified:
    """Check `request` against any of `secrets` in `mode`; `SignatureError` if it fails.

    `config` is the `custom_hmac` configuration (required for that mode only).
    Nothing but `SignatureError` is raised for a request that does not verify.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not a single string")
    if mode == CUSTOM_HMAC:
        if config is None:
            raise SignatureError("custom_hmac trigger without a configuration")
        return _verify_custom(config, secrets, request, replay_window_sec, now)
    if mode in _STANDARD_WEBHOOKS_ALIASES:
        headers = _standard_webhooks_headers(request.headers)
        return signatures.verify_webhook(
            "standard_webhooks", secrets, headers, request.body, replay_window_sec, now
        )
    verifier = _VERIFIERS.get(mode)
    if verifier is None:
        return signatures.verify_webhook(
            mode, secrets, request.headers, request.body, replay_window_sec, now
        )
    return verifier(secrets, request, replay_window_sec, now)


def sign_request(
    mode: str,
    secret: str,
    request: Inbound,
    now: float,
    delivery_id: str | None = None,
    config: HmacConfig | None = None,
) -> SignedRequest:
    """The request a correct sender of `mode` would send for `request.body` at `now`.

    `request.headers` are ignored. Some presets change the URL (Twilio's body hash)
    or the body (Mailgun and Microsoft Graph carry their proof inside it). ValueError
    for a mode Firehook cannot sign (a public-key preset) or a bad secret.
    """
    if mode in PUBLIC_KEY_PRESETS:
        raise ValueError(f"{mode} signs with its private key; Firehook holds only the public key")
    if mode == CUSTOM_HMAC:
        if config is None:
            raise ValueError("custom_hmac needs its configuration to sign")
        return _sign_custom(config, secret, request, now, delivery_id)
    if mode in _STANDARD_WEBHOOKS_ALIASES:
        headers = signatures.sign_webhook(
            "standard_webhooks", secret, request.body, now, delivery_id
        )
        branded = {name.replace("webhook-", "svix-"): value for name, value in headers.items()}
        return SignedRequest(request.url, branded, request.body)
    signer = _SIGNERS.get(mode)
    if signer is None:
        headers = signatures.sign_webhook(mode, secret, request.body, now, delivery_id)
        return SignedRequest(request.url, headers, request.body)
    if not secret:
        raise ValueError("secret must not be empty")
    return signer(secret, request, now, delivery_id)


def generate_secret(mode: str) -> str:
    """A new secret for `mode`; ValueError for a public-key preset, whose key the user gives."""
    if mode in PUBLIC_KEY_PRESETS:
        raise ValueError(f"{mode} needs the provider's public key as the secret")
    if mode in _STANDARD_WEBHOOKS_ALIASES:
        return signatures.generate_secret("standard_webhooks")
    if mode in PROVIDER_MODES:
        return base64.urlsafe_b64encode(token_bytes(32)).rstrip(b"=").decode("ascii")
    return signatures.generate_secret(mode)


def validate_user_secret(mode: str, secret: str) -> None:
    """Reject a user-supplied secret (or public key) unusable for `mode` (ValueError)."""
    if mode == "discord":
        if _ed25519_key(secret) is None:
            raise ValueError("discord secret must be the application's public key, 64 hex digits")
        return
    if mode == "sendgrid":
        if _ecdsa_key(secret) is None:
            raise ValueError("sendgrid secret must be the verification key (base64 or PEM)")
        return
    if mode in _STANDARD_WEBHOOKS_ALIASES:
        signatures.validate_user_secret("standard_webhooks", secret)
        return
    if mode in PROVIDER_MODES:
        # Providers choose their own secrets (a Twilio auth token is 32 characters,
        # a GitLab token what the user typed): ask only that it is not trivially short.
        if len(secret.encode("utf-8", "surrogatepass")) < signatures.MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {signatures.MIN_SECRET_BYTES} bytes")
        return
    signatures.validate_user_secret(mode, secret)


def payload_body(mode: str, body: bytes) -> bytes:
    """The body as the run payload reads it: an array of events becomes `{"events": [...]}`."""
    if mode in EVENT_ARRAY_MODES and body.lstrip()[:1] == b"[":
        return b'{"events":' + body + b"}"
    return body


# --- shared-secret presets --------------------------------------------------------------

_Verifier = Callable[[Sequence[str], Inbound, int, float], Verified]
_Signer = Callable[[str, Inbound, float, str | None], SignedRequest]


def _verify_shopify(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_header(request, "x-shopify-hmac-sha256"), "base64", 32)
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), [provided])
    delivery = request.headers.get("x-shopify-webhook-id") or None
    return Verified(delivery, _fingerprint("shopify", b"", mac), None, index)


def _verify_gitlab(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    token = _wire(_header(request, "x-gitlab-token"))
    for index, secret in enumerate(secrets):
        expected = _utf8(secret)
        if expected and hmac.compare_digest(token, expected):
            delivery = request.headers.get("x-gitlab-event-uuid") or None
            return Verified(delivery, None, None, index)
    raise SignatureError("no matching secret")


def _verify_bitbucket(
    secrets: Sequence[str], request: Inbound, window: int, now: float
) -> Verified:
    provided = _decode(_prefixed(_header(request, "x-hub-signature"), "sha256="), "hex", 32)
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), [provided])
    delivery = request.headers.get("x-request-uuid") or None
    return Verified(delivery, _fingerprint("bitbucket", b"", mac), None, index)


def _verify_twilio(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    # A SharedKey webhook names its algorithm; the Auth Token's is HMAC-SHA1.
    settings = request.headers.get("x-twilio-webhooks-signature-settings", "")
    sha256 = "algorithm=hmac_sha256" in settings.lower().replace(" ", "")
    digest, size = (hashlib.sha256, 32) if sha256 else (hashlib.sha1, 20)
    provided = _decode(_header(request, "x-twilio-signature"), "base64", size)
    query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if _TWILIO_BODY_HASH in query:
        # A JSON body: the URL carries its hash, and the URL alone is signed.
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(body_hash.encode(), _wire(query[_TWILIO_BODY_HASH])):
            raise SignatureError("body does not match its hash")
        params: list[tuple[str, str]] = []
    else:
        params = _form_pairs(request)
    index, mac = _match_any(
        _keys(secrets),
        digest,
        [(_twilio_string(url, params),) for url in _with_and_without_port(request.url)],
        [provided],
    )
    delivery = request.headers.get("i-twilio-idempotency-token") or None
    return Verified(delivery, _fingerprint("twilio", b"", mac), None, index)


def _verify_linear(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_header(request, "linear-signature"), "hex", 32)
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), [provided])
    # Linear signs its timestamp inside the body: only now is the body trusted.
    stamp = _json_field(request.body, "webhookTimestamp")
    if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp <= 0:
        raise SignatureError("missing timestamp")
    signed_at = stamp / 1000 if stamp > _MILLISECONDS_ABOVE else float(stamp)
    _check_window(signed_at, window, now)
    delivery = request.headers.get("linear-delivery") or None
    return Verified(delivery, _fingerprint("linear", str(stamp).encode(), mac), signed_at, index)


def _verify_zoom(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_prefixed(_header(request, "x-zm-signature"), "v0="), "hex", 32)
    timestamp = _header(request, "x-zm-request-timestamp")
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    parts = (b"v0:", ts, b":", request.body)
    index, mac = _match(_keys(secrets), hashlib.sha256, parts, [provided])
    return Verified(None, _fingerprint("zoom", ts, mac), signed_at, index)


def _verify_intercom(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_prefixed(_header(request, "x-hub-signature"), "sha1="), "hex", 20)
    index, mac = _match(_keys(secrets), hashlib.sha1, (request.body,), [provided])
    delivery = _text_field(request.body, "id")
    return Verified(delivery, _fingerprint("intercom", b"", mac), None, index)


def _verify_square(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_header(request, "x-square-hmacsha256-signature"), "base64", 32)
    parts = (_utf8(request.url), request.body)
    index, mac = _match(_keys(secrets), hashlib.sha256, parts, [provided])
    delivery = _text_field(request.body, "event_id")
    return Verified(delivery, _fingerprint("square", b"", mac), None, index)


def _verify_mailgun(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    # Mailgun signs a timestamp and a one-time token, carried in the body itself.
    proof = _mailgun_proof(request)
    if proof is None:
        raise SignatureError("missing signature")
    timestamp, token, signature = proof
    provided = _decode(signature, "hex", 32)
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    index, mac = _match(_keys(secrets), hashlib.sha256, (ts, _utf8(token)), [provided])
    return Verified(token or None, _fingerprint("mailgun", ts, mac), signed_at, index)


def _verify_pagerduty(
    secrets: Sequence[str], request: Inbound, window: int, now: float
) -> Verified:
    header = _header(request, "x-pagerduty-signature")
    provided = [
        digest
        for entry in header.split(",")
        if (digest := _try_decode(_strip_prefix(entry.strip(), "v1="), "hex", 32)) is not None
    ]
    if not provided:
        raise SignatureError("malformed signature header")
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), provided)
    event = _json_field(request.body, "event")
    delivery = event.get("id") if isinstance(event, dict) else None
    delivery = delivery if isinstance(delivery, str) and delivery else None
    return Verified(delivery, _fingerprint("pagerduty", b"", mac), None, index)


def _verify_paddle(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    timestamp: str | None = None
    provided: list[bytes] = []
    for item in _header(request, "paddle-signature").split(";"):
        name, sep, value = item.strip().partition("=")
        if not sep or (name == "ts" and timestamp is not None):
            raise SignatureError("malformed signature header")
        if name == "ts":
            timestamp = value
        elif name == "h1" and (digest := _try_decode(value, "hex", 32)) is not None:
            provided.append(digest)
    if timestamp is None or not provided:
        raise SignatureError("malformed signature header")
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    index, mac = _match(_keys(secrets), hashlib.sha256, (ts, b":", request.body), provided)
    delivery = _text_field(request.body, "notification_id") or _text_field(request.body, "event_id")
    return Verified(delivery, _fingerprint("paddle", ts, mac), signed_at, index)


def _verify_typeform(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_prefixed(_header(request, "typeform-signature"), "sha256="), "base64", 32)
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), [provided])
    delivery = _text_field(request.body, "event_id")
    return Verified(delivery, _fingerprint("typeform", b"", mac), None, index)


def _verify_hubspot(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_header(request, "x-hubspot-signature-v3"), "base64", 32)
    timestamp = _header(request, "x-hubspot-request-timestamp")
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    ts = timestamp.encode("ascii")
    parts = (_utf8(request.method.upper()), _utf8(request.url), request.body, ts)
    index, mac = _match(_keys(secrets), hashlib.sha256, parts, [provided])
    return Verified(None, _fingerprint("hubspot", ts, mac), signed_at, index)


def _verify_twitch(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    message_id = _header(request, "twitch-eventsub-message-id")
    timestamp = _header(request, "twitch-eventsub-message-timestamp")
    provided = _decode(
        _prefixed(_header(request, "twitch-eventsub-message-signature"), "sha256="), "hex", 32
    )
    signed_at = _rfc3339(timestamp)
    _check_window(signed_at, window, now)
    ts = _wire(timestamp)
    parts = (_wire(message_id), ts, request.body)
    index, mac = _match(_keys(secrets), hashlib.sha256, parts, [provided])
    return Verified(message_id, _fingerprint("twitch", ts, mac), signed_at, index)


def _verify_microsoft_graph(
    secrets: Sequence[str], request: Inbound, window: int, now: float
) -> Verified:
    # Graph signs nothing: each notification carries the subscription's clientState.
    notifications = _json_field(request.body, "value")
    if not isinstance(notifications, list) or not notifications:
        raise SignatureError("missing notifications")
    states = [item.get("clientState") if isinstance(item, dict) else None for item in notifications]
    for index, secret in enumerate(secrets):
        expected = _utf8(secret)
        if expected and all(
            isinstance(state, str) and hmac.compare_digest(_utf8(state), expected)
            for state in states
        ):
            return Verified(None, None, None, index)
    raise SignatureError("no matching secret")


def _verify_dropbox(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    provided = _decode(_header(request, "x-dropbox-signature"), "hex", 32)
    index, mac = _match(_keys(secrets), hashlib.sha256, (request.body,), [provided])
    return Verified(None, _fingerprint("dropbox", b"", mac), None, index)


# --- public-key presets -----------------------------------------------------------------


def _verify_discord(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    signature = _decode(_header(request, "x-signature-ed25519"), "hex", _ED25519_SIGNATURE_LEN)
    timestamp = _header(request, "x-signature-timestamp")
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    message = timestamp.encode("ascii") + request.body
    for index, secret in enumerate(secrets):
        key = _ed25519_key(secret)
        if key is None:
            continue
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        delivery = _text_field(request.body, "id")
        return Verified(
            delivery, _fingerprint("discord", timestamp.encode(), signature), signed_at, index
        )
    raise SignatureError("no matching signature")


def _verify_sendgrid(secrets: Sequence[str], request: Inbound, window: int, now: float) -> Verified:
    signature = _decode(_header(request, "x-twilio-email-event-webhook-signature"), "base64", None)
    timestamp = _header(request, "x-twilio-email-event-webhook-timestamp")
    signed_at = _seconds(timestamp)
    _check_window(signed_at, window, now)
    message = timestamp.encode("ascii") + request.body
    for index, secret in enumerate(secrets):
        key = _ecdsa_key(secret)
        if key is None:
            continue
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            continue
        # ECDSA signatures are not unique: fingerprint what was signed instead.
        signed = hashlib.sha256(message).digest()
        return Verified(
            None, _fingerprint("sendgrid", timestamp.encode(), signed), signed_at, index
        )
    raise SignatureError("no matching signature")


_VERIFIERS: Final[dict[str, _Verifier]] = {
    "shopify": _verify_shopify,
    "gitlab": _verify_gitlab,
    "bitbucket": _verify_bitbucket,
    "twilio": _verify_twilio,
    "linear": _verify_linear,
    "zoom": _verify_zoom,
    "intercom": _verify_intercom,
    "square": _verify_square,
    "mailgun": _verify_mailgun,
    "pagerduty": _verify_pagerduty,
    "paddle": _verify_paddle,
    "typeform": _verify_typeform,
    "hubspot": _verify_hubspot,
    "twitch": _verify_twitch,
    "microsoft_graph": _verify_microsoft_graph,
    "dropbox": _verify_dropbox,
    "discord": _verify_discord,
    "sendgrid": _verify_sendgrid,
}


# --- the configurable HMAC mode ---------------------------------------------------------


def _verify_custom(
    config: HmacConfig, secrets: Sequence[str], request: Inbound, window: int, now: float
) -> Verified:
    header = _header(request, config.signature_header.lower())
    entries = header.split(config.separator) if config.separator else [header]
    size = _DIGESTS[config.algorithm]().digest_size
    provided = [
        digest
        for entry in entries
        if entry.strip().startswith(config.signature_prefix)
        and (
            digest := _try_decode(
                entry.strip()[len(config.signature_prefix) :], config.encoding, size
            )
        )
        is not None
    ]
    if not provided:
        raise SignatureError("malformed signature header")
    timestamp = ""
    signed_at: float | None = None
    if config.timestamp_header is not None:
        timestamp = _header(request, config.timestamp_header.lower())
        signed_at = _seconds(timestamp)
        _check_window(signed_at, window, now)
    delivery = ""
    if config.delivery_id_header is not None:
        delivery = request.headers.get(config.delivery_id_header.lower(), "")
        if not delivery and "{delivery_id}" in config.signed_template:
            raise SignatureError("missing delivery id header")
    parts = _template_parts(config.signed_template, request, timestamp, delivery)
    index, mac = _match(_keys(secrets), _DIGESTS[config.algorithm], parts, provided)
    return Verified(
        delivery or None, _fingerprint(CUSTOM_HMAC, _wire(timestamp), mac), signed_at, index
    )


def _sign_custom(
    config: HmacConfig, secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    if not secret:
        raise ValueError("secret must not be empty")
    headers: dict[str, str] = {}
    timestamp = ""
    if config.timestamp_header is not None:
        timestamp = str(int(now))
        headers[config.timestamp_header] = timestamp
    delivery = ""
    if config.delivery_id_header is not None:
        delivery = delivery_id or str(uuid.uuid4())
        headers[config.delivery_id_header] = delivery
    elif delivery_id:
        headers["Idempotency-Key"] = delivery_id
    parts = _template_parts(config.signed_template, request, timestamp, delivery)
    mac = _mac(_utf8(secret), _DIGESTS[config.algorithm], parts)
    headers[config.signature_header] = config.signature_prefix + _encode(mac, config.encoding)
    return SignedRequest(request.url, headers, request.body)


def _template_parts(
    template: str, request: Inbound, timestamp: str, delivery: str
) -> tuple[bytes, ...]:
    values = {"body": request.body, "timestamp": _wire(timestamp), "url": _utf8(request.url)}
    values["delivery_id"] = _wire(delivery)
    parts: list[bytes] = []
    for literal, name, _spec, _conversion in _parsed_template(template):
        parts.append(_utf8(literal))
        if name is not None:
            parts.append(values[name])
    return tuple(parts)


def _parsed_template(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(Formatter().parse(template))


# --- signers ----------------------------------------------------------------------------


def _sign_hmac_header(
    header: str,
    prefix: str,
    encoding: str,
    digest: Callable[[], Any],
    id_header: str | None = None,
) -> _Signer:
    def sign(secret: str, request: Inbound, now: float, delivery_id: str | None) -> SignedRequest:
        mac = _mac(_utf8(secret), digest, (request.body,))
        headers = {header: prefix + _encode(mac, encoding)}
        headers |= _delivery_header(id_header, delivery_id)
        return SignedRequest(request.url, headers, request.body)

    return sign


def _sign_gitlab(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    headers = {"X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": delivery_id or str(uuid.uuid4())}
    return SignedRequest(request.url, headers, request.body)


def _sign_twilio(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    url = request.url
    if _is_form(request.content_type):
        params = _form_pairs(request)
    else:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query.append((_TWILIO_BODY_HASH, hashlib.sha256(request.body).hexdigest()))
        url = urlunsplit(parts._replace(query=urlencode(query)))
        params = []
    mac = _mac(_utf8(secret), hashlib.sha1, (_twilio_string(url, params),))
    headers = {"X-Twilio-Signature": _encode(mac, "base64")}
    headers |= _delivery_header("I-Twilio-Idempotency-Token", delivery_id)
    return SignedRequest(url, headers, request.body)


def _sign_linear(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    body = _with_fields(request.body, {"webhookTimestamp": int(now * 1000)})
    mac = _mac(_utf8(secret), hashlib.sha256, (body,))
    headers = {"Linear-Signature": mac.hex(), "Linear-Delivery": delivery_id or str(uuid.uuid4())}
    return SignedRequest(request.url, headers, body)


def _sign_zoom(secret: str, request: Inbound, now: float, delivery_id: str | None) -> SignedRequest:
    ts = str(int(now))
    mac = _mac(_utf8(secret), hashlib.sha256, (b"v0:", ts.encode(), b":", request.body))
    headers = {"x-zm-request-timestamp": ts, "x-zm-signature": "v0=" + mac.hex()}
    return SignedRequest(request.url, headers | _delivery_header(None, delivery_id), request.body)


def _sign_square(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    mac = _mac(_utf8(secret), hashlib.sha256, (_utf8(request.url), request.body))
    headers = {"x-square-hmacsha256-signature": _encode(mac, "base64")}
    return SignedRequest(request.url, headers | _delivery_header(None, delivery_id), request.body)


def _sign_mailgun(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    timestamp, token = str(int(now)), delivery_id or uuid.uuid4().hex
    signature = _mac(_utf8(secret), hashlib.sha256, (timestamp.encode(), _utf8(token))).hex()
    proof = {"timestamp": timestamp, "token": token, "signature": signature}
    if _is_form(request.content_type):
        pairs = [*_form_pairs(request), *proof.items()]
        body = urlencode(pairs).encode()
    else:
        body = _with_fields(request.body, {"signature": proof})
    return SignedRequest(request.url, {}, body)


def _sign_pagerduty(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    mac = _mac(_utf8(secret), hashlib.sha256, (request.body,))
    headers = {"X-PagerDuty-Signature": "v1=" + mac.hex()}
    return SignedRequest(request.url, headers | _delivery_header(None, delivery_id), request.body)


def _sign_paddle(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    ts = str(int(now))
    mac = _mac(_utf8(secret), hashlib.sha256, (ts.encode(), b":", request.body))
    headers = {"Paddle-Signature": f"ts={ts};h1={mac.hex()}"}
    return SignedRequest(request.url, headers | _delivery_header(None, delivery_id), request.body)


def _sign_hubspot(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    ts = str(int(now * 1000))
    parts = (_utf8(request.method.upper()), _utf8(request.url), request.body, ts.encode())
    mac = _mac(_utf8(secret), hashlib.sha256, parts)
    headers = {"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": _encode(mac, "base64")}
    return SignedRequest(request.url, headers | _delivery_header(None, delivery_id), request.body)


def _sign_twitch(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    message_id = delivery_id or str(uuid.uuid4())
    ts = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    mac = _mac(_utf8(secret), hashlib.sha256, (_utf8(message_id), ts.encode(), request.body))
    headers = {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Timestamp": ts,
        "Twitch-Eventsub-Message-Signature": "sha256=" + mac.hex(),
        "Twitch-Eventsub-Message-Type": "notification",
    }
    return SignedRequest(request.url, headers, request.body)


def _sign_microsoft_graph(
    secret: str, request: Inbound, now: float, delivery_id: str | None
) -> SignedRequest:
    try:
        payload = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise ValueError("microsoft_graph body must be JSON") from None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        payload = {"value": [{"changeType": "created", "resource": "sample"}]}
        items = payload["value"]
    for item in items:
        item["clientState"] = secret
    body = orjson.dumps(payload)
    return SignedRequest(request.url, _delivery_header(None, delivery_id), body)


_SIGNERS: Final[dict[str, _Signer]] = {
    "shopify": _sign_hmac_header(
        "X-Shopify-Hmac-Sha256", "", "base64", hashlib.sha256, "X-Shopify-Webhook-Id"
    ),
    "gitlab": _sign_gitlab,
    "bitbucket": _sign_hmac_header(
        "X-Hub-Signature", "sha256=", "hex", hashlib.sha256, "X-Request-UUID"
    ),
    "twilio": _sign_twilio,
    "linear": _sign_linear,
    "zoom": _sign_zoom,
    "intercom": _sign_hmac_header("X-Hub-Signature", "sha1=", "hex", hashlib.sha1),
    "square": _sign_square,
    "mailgun": _sign_mailgun,
    "pagerduty": _sign_pagerduty,
    "paddle": _sign_paddle,
    "typeform": _sign_hmac_header("Typeform-Signature", "sha256=", "base64", hashlib.sha256),
    "hubspot": _sign_hubspot,
    "twitch": _sign_twitch,
    "microsoft_graph": _sign_microsoft_graph,
    "dropbox": _sign_hmac_header("X-Dropbox-Signature", "", "hex", hashlib.sha256),
}


# --- helpers ----------------------------------------------------------------------------


def _header(request: Inbound, name: str) -> str:
    value = request.headers.get(name)
    if value is None or not value:
        raise SignatureError("missing signature header")
    if len(value) > _MAX_SIGNATURE_CHARS * 8:
        raise SignatureError("malformed signature header")
    return value


def _prefixed(value: str, prefix: str) -> str:
    if value[: len(prefix)].lower() != prefix:
        raise SignatureError("malformed signature header")
    return value[len(prefix) :]


def _strip_prefix(value: str, prefix: str) -> str:
    return value[len(prefix) :] if value[: len(prefix)].lower() == prefix else ""


def _decode(text: str, encoding: str, size: int | None) -> bytes:
    digest = _try_decode(text, encoding, size)
    if digest is None:
        raise SignatureError("malformed signature header")
    return digest


def _try_decode(text: str, encoding: str, size: int | None) -> bytes | None:
    text = text.strip()
    if not text or len(text) > _MAX_SIGNATURE_CHARS or not text.isascii():
        return None
    try:
        if encoding == "hex":
            if size is not None and len(text) != size * 2:
                return None
            digest = bytes.fromhex(text)
        else:
            digest = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:
        return None
    if size is not None and len(digest) != size:
        return None
    return digest


def _encode(mac: bytes, encoding: str) -> str:
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode("ascii")


def _mac(key: bytes, digest: Callable[[], Any], parts: Iterable[bytes]) -> bytes:
    mac = hmac.new(key, digestmod=digest)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _keys(secrets: Sequence[str]) -> Iterable[bytes]:
    return (_utf8(secret) for secret in secrets)


def _match(
    keys: Iterable[bytes],
    digest: Callable[[], Any],
    parts: tuple[bytes, ...],
    provided: Sequence[bytes],
) -> tuple[int, bytes]:
    return _match_any(keys, digest, [parts], provided)


def _match_any(
    keys: Iterable[bytes],
    digest: Callable[[], Any],
    messages: Sequence[tuple[bytes, ...]],
    provided: Sequence[bytes],
) -> tuple[int, bytes]:
    """Index of the first key whose MAC of any message is among `provided`, and the MAC
    to fingerprint: the first usable key's over the first message, whichever matched, so
    that every replay of one request fingerprints the same."""
    fingerprint_mac: bytes | None = None
    for index, key in enumerate(keys):
        if not key:
            continue  # an empty HMAC key is public knowledge
        for parts in messages:
            mac = _mac(key, digest, parts)
            if fingerprint_mac is None:
                fingerprint_mac = mac
            if any(hmac.compare_digest(mac, candidate) for candidate in provided):
                return index, fingerprint_mac
    raise SignatureError("no matching signature")


def _fingerprint(mode: str, timestamp: bytes, mac: bytes) -> str:
    return hashlib.sha256(b"\0".join((mode.encode(), timestamp, mac))).hexdigest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _wire(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _seconds(text: str) -> float:
    if not (0 < len(text) <= 16 and text.isascii() and text.isdigit()):
        raise SignatureError("malformed timestamp")
    value = int(text)
    return value / 1000 if value > _MILLISECONDS_ABOVE else float(value)


def _rfc3339(text: str) -> float:
    # Twitch sends nanoseconds; Python reads at most microseconds.
    head, dot, rest = text.partition(".")
    if dot:
        fraction = rest.rstrip("Zz")
        if not fraction.isdigit() or len(rest) - len(fraction) != 1:
            raise SignatureError("malformed timestamp")
        text = f"{head}.{fraction[:6]:0<6}Z"
    if not text.isascii() or len(text) > 40:
        raise SignatureError("malformed timestamp")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise SignatureError("malformed timestamp") from None
    if moment.tzinfo is None:
        raise SignatureError("malformed timestamp")
    return moment.timestamp()


def _check_window(signed_at: float, window: int, now: float) -> None:
    if abs(now - signed_at) > window:
        raise SignatureError("timestamp outside replay window")


def _json_field(body: bytes, name: str) -> Any:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed.get(name) if isinstance(parsed, dict) else None


def _text_field(body: bytes, name: str) -> str | None:
    value = _json_field(body, name)
    return value if isinstance(value, str) and value else None


def _with_fields(body: bytes, fields: Mapping[str, Any]) -> bytes:
    try:
        payload = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return orjson.dumps(payload | dict(fields))


def _is_form(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _form_pairs(request: Inbound) -> list[tuple[str, str]]:
    if not request.body.strip():
        return []
    try:
        return parse_qsl(
            request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise SignatureError("malformed form body") from None


def _twilio_string(url: str, params: Sequence[tuple[str, str]]) -> bytes:
    # As Twilio's RequestValidator: names sorted, each name's distinct values sorted.
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    text = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    return _utf8(text)


def _with_and_without_port(url: str) -> list[str]:
    """The URL with and without a port, as Twilio's RequestValidator tries both."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port:
        without = urlunsplit(parts._replace(netloc=parts.netloc.rpartition(":")[0]))
        return [url, without]
    default = 443 if parts.scheme == "https" else 80
    return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]


def _mailgun_proof(request: Inbound) -> tuple[str, str, str] | None:
    if _is_form(request.content_type):
        fields = dict(_form_pairs(request))
    else:
        proof = _json_field(request.body, "signature")
        fields = proof if isinstance(proof, dict) else {}
    timestamp, token, signature = (fields.get(k) for k in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not all(isinstance(value, str) and value for value in (timestamp, token, signature)):
        return None
    return str(timestamp), str(token), str(signature)


def _standard_webhooks_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    # Svix-based senders (Svix, Clerk, Resend) use svix-* names for the same headers.
    if "webhook-id" in headers or "svix-id" not in headers:
        return headers
    names = ("id", "timestamp", "signature")
    return {f"webhook-{name}": headers.get(f"svix-{name}", "") for name in names}


def _ed25519_key(secret: str) -> Ed25519PublicKey | None:
    text = secret.strip()
    if len(text) != _ED25519_KEY_LEN * 2:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError:
        return None


def _ecdsa_key(secret: str) -> ec.EllipticCurvePublicKey | None:
    text = secret.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _delivery_header(name: str | None, delivery_id: str | None) -> dict[str, str]:
    if name is not None:
        return {name: delivery_id or str(uuid.uuid4())}
    return {"Idempotency-Key": delivery_id} if delivery_id else {}
