"""Webhook verification and signing, checked against each provider's published example."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.datastructures import Headers

from gateway.signatures import (
    SIGNING_MODES,
    SignatureError,
    Verified,
    generate_secret,
    sign_webhook,
    validate_user_secret,
    verify_webhook,
)

NOW = 1_700_000_000.0
WINDOW = 300
BODY = b'{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"invoice.paid","data":{"amount":1200}}'
SECRET = "current-secret-0123456789abcdef"
OLD_SECRET = "previous-secret-0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_WHSEC = "whsec_" + base64.b64encode(b"o" * 32).decode()

SIGNED_MODES = [mode for mode in SIGNING_MODES if mode != "none"]
HMAC_MODES = [mode for mode in SIGNED_MODES if mode != "bearer"]
TIMESTAMPED_MODES = ["hmac_sha256", "standard_webhooks", "stripe", "slack"]


def lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def secrets_for(mode: str) -> tuple[str, str]:
    return (WHSEC, OLD_WHSEC) if mode == "standard_webhooks" else (SECRET, OLD_SECRET)


def signed(
    mode: str, secret: str | None = None, body: bytes = BODY, at: float = NOW
) -> dict[str, str]:
    return lower(sign_webhook(mode, secret or secrets_for(mode)[0], body, at))


def verify(
    mode: str,
    headers: Mapping[str, str],
    body: bytes = BODY,
    secrets: tuple[str, ...] | None = None,
    now: float = NOW,
) -> Verified:
    return verify_webhook(mode, secrets or secrets_for(mode)[:1], headers, body, WINDOW, now)


def hmac_hex(key: str | bytes, message: bytes) -> str:
    raw_key = key.encode() if isinstance(key, str) else key
    return hmac.new(raw_key, message, hashlib.sha256).hexdigest()


def key_of(mode: str, secret: str) -> bytes:
    if mode == "standard_webhooks":
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def hand_signed(mode: str, key: bytes, timestamp: str, body: bytes = BODY) -> dict[str, str]:
    """Headers built straight from each provider's description of its scheme."""

    def mac(content: bytes) -> bytes:
        return hmac.new(key, content, hashlib.sha256).digest()

    if mode == "hmac_sha256":
        digest = mac(timestamp.encode() + b"." + body).hex()
        return {"x-firehook-timestamp": timestamp, "x-firehook-signature": f"sha256={digest}"}
    if mode == "standard_webhooks":
        encoded = base64.b64encode(mac(f"msg_1.{timestamp}.".encode() + body)).decode()
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{encoded}",
        }
    if mode in ("github", "github_hmac"):
        return {"x-hub-signature-256": "sha256=" + mac(body).hex()}
    if mode == "stripe":
        digest = mac(timestamp.encode() + b"." + body).hex()
        return {"stripe-signature": f"t={timestamp},v1={digest}"}
    assert mode == "slack"
    digest = mac(f"v0:{timestamp}:".encode() + body).hex()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest}"}


# --- published examples -----------------------------------------------------------------


def test_github_documented_example() -> None:
    # docs.github.com, "Validating webhook deliveries".
    secret = "It's a Secret to Everybody"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"x-hub-signature-256": expected, "x-github-delivery": "72d3162e-cc78-11e3"}

    verified = verify_webhook("github", [secret], headers, b"Hello, World!", WINDOW, NOW)

    assert verified.delivery_id == "72d3162e-cc78-11e3"
    assert verified.secret_index == 0
    assert sign_webhook("github", secret, b"Hello, World!", NOW)["X-Hub-Signature-256"] == expected


# Slack's "Verifying requests from Slack" worked example. The body is the one whose
# signature Slack publishes (a /webhook-collect command with empty text).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
    b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_documented_example() -> None:
    headers = {"x-slack-signature": SLACK_SIGNATURE, "x-slack-request-timestamp": SLACK_TIMESTAMP}
    at = float(SLACK_TIMESTAMP)

    verified = verify_webhook("slack", [SLACK_SECRET], headers, SLACK_BODY, WINDOW, at + 60)

    assert verified.signed_at == at
    assert verified.delivery_id is None
    assert lower(sign_webhook("slack", SLACK_SECRET, SLACK_BODY, at)) == headers
    with pytest.raises(SignatureError):
        verify_webhook("slack", [SLACK_SECRET], headers, SLACK_BODY, WINDOW, at + WINDOW + 1)


def test_slack_example_body_variant_does_not_verify() -> None:
    # The same example with other form fields must not match the published signature.
    body = SLACK_BODY.replace(b"%2Fwebhook-collect&text=", b"%2Fwebster&text=foo")
    headers = {"x-slack-signature": SLACK_SIGNATURE, "x-slack-request-timestamp": SLACK_TIMESTAMP}
    with pytest.raises(SignatureError):
        verify_webhook("slack", [SLACK_SECRET], headers, body, WINDOW, float(SLACK_TIMESTAMP))


def test_standard_webhooks_specification_vector() -> None:
    # The test vector of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }

    verified = verify_webhook("standard_webhooks", [secret], headers, body, WINDOW, 1614265330)

    assert verified.delivery_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    # Without the prefix the secret is still base64, as in the reference library.
    bare = secret.removeprefix("whsec_")
    assert verify_webhook("standard_webhooks", [bare], headers, body, WINDOW, 1614265330)
    produced = sign_webhook(
        "standard_webhooks", secret, body, 1614265330, delivery_id="msg_p5jXN8AQM9LWM0D4loKWxJek"
    )
    assert produced == headers


def test_standard_webhooks_reference_library_signs_we_verify() -> None:
    secret = generate_secret("standard_webhooks")
    now = time.time()
    body = '{"type":"user.created","data":{"name":"Zoë"}}'
    signature = Webhook(secret).sign("msg_abc", datetime.fromtimestamp(now, tz=UTC), body)
    headers = {
        "webhook-id": "msg_abc",
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
    }

    verified = verify_webhook("standard_webhooks", [secret], headers, body.encode(), WINDOW, now)

    assert verified.delivery_id == "msg_abc"


def test_standard_webhooks_we_sign_reference_library_verifies() -> None:
    secret = generate_secret("standard_webhooks")
    body = '{"type":"user.created","data":{"name":"Zoë"}}'.encode()
    headers = sign_webhook("standard_webhooks", secret, body, time.time(), delivery_id="msg_1")

    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret("standard_webhooks")).verify(body, headers)


def test_stripe_hand_built_header() -> None:
    # Stripe's documented scheme: HMAC-SHA256 of "{t}.{body}" keyed with the whole
    # endpoint secret, sent as t=...,v1=...; v0 entries are test-mode and ignored.
    secret = "whsec_test_secret_0123456789abcdef"
    timestamp = "1700000000"
    good = hmac_hex(secret, timestamp.encode() + b"." + BODY)
    header = f"t={timestamp},v1={'0' * 64},v1={good},v0={'1' * 64}"

    verified = verify_webhook("stripe", [secret], {"stripe-signature": header}, BODY, WINDOW, NOW)

    assert verified.delivery_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert verified.signed_at == NOW
    expected = f"t={timestamp},v1={good}"
    assert sign_webhook("stripe", secret, BODY, NOW) == {"Stripe-Signature": expected}


def test_github_hand_built_signature() -> None:
    headers = {"x-hub-signature-256": "sha256=" + hmac_hex(SECRET, BODY)}
    assert verify("github", headers).delivery_id is None


def test_native_hand_built_signature() -> None:
    timestamp = str(int(NOW))
    headers = {
        "x-firehook-timestamp": timestamp,
        "x-firehook-signature": "sha256=" + hmac_hex(SECRET, f"{timestamp}.".encode() + BODY),
    }
    assert verify("hmac_sha256", headers).signed_at == NOW


# --- every signed mode ------------------------------------------------------------------


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_round_trip(mode: str) -> None:
    verified = verify(mode, signed(mode))
    assert verified.secret_index == 0


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_generated_secret_round_trip(mode: str) -> None:
    secret = generate_secret(mode)
    headers = lower(sign_webhook(mode, secret, BODY, NOW))
    assert verify(mode, headers, secrets=(secret,))


@pytest.mark.parametrize("mode", HMAC_MODES)
def test_tampered_body_fails(mode: str) -> None:
    headers = signed(mode)
    for body in (BODY + b" ", BODY[:-1], BODY.replace(b"1200", b"9200"), b""):
        with pytest.raises(SignatureError):
            verify(mode, headers, body=body)


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_wrong_secret_fails(mode: str) -> None:
    with pytest.raises(SignatureError):
        verify(mode, signed(mode), secrets=(secrets_for(mode)[1],))


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_rotation_accepts_current_and_previous_secret(mode: str) -> None:
    current, previous = secrets_for(mode)
    both = (current, previous)

    assert verify(mode, signed(mode, current), secrets=both).secret_index == 0
    assert verify(mode, signed(mode, previous), secrets=both).secret_index == 1
    with pytest.raises(SignatureError):
        verify(mode, signed(mode, previous), secrets=(current,))


@pytest.mark.parametrize("mode", HMAC_MODES)
def test_hand_signed_headers_verify(mode: str) -> None:
    # Built from each scheme's description, independently of sign_webhook.
    headers = hand_signed(mode, key_of(mode, secrets_for(mode)[0]), str(int(NOW)))
    assert verify(mode, headers)


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_empty_secret_never_verifies(mode: str) -> None:
    # An empty HMAC key (or bearer token) is known to everyone.
    if mode == "bearer":
        headers = {"authorization": "Bearer "}
    else:
        headers = hand_signed(mode, b"", str(int(NOW)))
    for secrets in (("",), ("", "whsec_"), ("whsec_", "")):
        with pytest.raises(SignatureError):
            verify(mode, headers, secrets=secrets)


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_no_secrets_fails(mode: str) -> None:
    with pytest.raises(SignatureError):
        verify_webhook(mode, [], signed(mode), BODY, WINDOW, NOW)


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_header_names_are_case_insensitive_through_starlette_headers(mode: str) -> None:
    # sign_webhook spells names like the providers do; Starlette folds them.
    headers = Headers(headers=sign_webhook(mode, secrets_for(mode)[0], BODY, NOW))
    assert verify(mode, headers)


@pytest.mark.parametrize("mode", SIGNED_MODES)
@pytest.mark.parametrize("name", ["missing", "empty"])
def test_each_missing_or_empty_header_fails(mode: str, name: str) -> None:
    headers = signed(mode)
    for header in headers:
        broken = dict(headers)
        if name == "missing":
            del broken[header]
        else:
            broken[header] = ""
        if header == "x-github-delivery":
            # Not part of GitHub's signature; only the delivery id goes.
            assert verify(mode, broken).delivery_id is None
            continue
        with pytest.raises(SignatureError):
            verify(mode, broken)
    with pytest.raises(SignatureError):
        verify(mode, {})


@pytest.mark.parametrize("mode", TIMESTAMPED_MODES)
def test_stale_and_future_timestamps_fail(mode: str) -> None:
    headers = signed(mode, at=NOW)
    assert verify(mode, headers, now=NOW + WINDOW)
    assert verify(mode, headers, now=NOW - WINDOW)
    with pytest.raises(SignatureError, match="replay window"):
        verify(mode, headers, now=NOW + WINDOW + 1)
    with pytest.raises(SignatureError, match="replay window"):
        verify(mode, headers, now=NOW - WINDOW - 1)


@pytest.mark.parametrize("mode", TIMESTAMPED_MODES)
@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        "abc",
        "1700000000.5",
        "-1700000000",
        "+1700000000",
        " 1700000000",
        "1_700_000_000",
        "\u0661\u0667" + "\u0660" * 8,
        "9" * 400,
        "1e9",
        "0x65530000",
    ],
)
def test_non_numeric_timestamp_fails(mode: str, timestamp: str) -> None:
    # Signed over the bad timestamp, so only its form can be at fault.
    headers = hand_signed(mode, key_of(mode, secrets_for(mode)[0]), timestamp)
    with pytest.raises(SignatureError):
        verify(mode, headers)


@pytest.mark.parametrize("mode", SIGNED_MODES)
@given(
    garbage=st.dictionaries(
        st.sampled_from(
            [
                "authorization",
                "x-firehook-signature",
                "x-firehook-timestamp",
                "x-paperclip-signature",
                "x-paperclip-timestamp",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "x-hub-signature-256",
                "stripe-signature",
                "x-slack-signature",
                "x-slack-request-timestamp",
            ]
        ),
        st.text(),
    ),
    body=st.binary(),
)
@settings(max_examples=150, deadline=None, database=None)
def test_garbage_headers_raise_only_signature_error(
    mode: str, garbage: dict[str, str], body: bytes
) -> None:
    with pytest.raises(SignatureError):
        verify(mode, garbage, body=body)


@pytest.mark.parametrize("mode", HMAC_MODES)
@given(body=st.binary(max_size=2048))
@settings(max_examples=40, deadline=None, database=None)
def test_any_body_bytes_round_trip(mode: str, body: bytes) -> None:
    verified = verify(mode, signed(mode, body=body), body=body)
    if mode == "stripe":
        assert verified.delivery_id is None or body.lstrip().startswith(b"{")


@pytest.mark.parametrize("mode", SIGNED_MODES)
def test_garbage_bytes_in_headers_from_the_wire(mode: str) -> None:
    # Starlette decodes raw header bytes as latin-1; invalid UTF-8 must not escape as an error.
    raw = [(name.encode(), b"\xff\xfe\x00garbage\x80") for name in signed(mode)]
    with pytest.raises(SignatureError):
        verify(mode, Headers(raw=raw))


# --- mode by mode -----------------------------------------------------------------------


def test_bearer() -> None:
    assert verify("bearer", {"authorization": f"Bearer {SECRET}"}).signature_fingerprint is None
    assert verify("bearer", {"authorization": f"bearer  {SECRET} "})
    for value in (
        f"Basic {SECRET}",
        "Bearer",
        "Bearer ",
        SECRET,
        f"Bearer {SECRET}x",
        f"Bearer {SECRET[:-1]}",
        "Bearer é",
    ):
        with pytest.raises(SignatureError):
            verify("bearer", {"authorization": value})


def test_bearer_non_ascii_secret_from_the_wire() -> None:
    secret = "clé-secrète-0123456789"
    raw = Headers(raw=[(b"authorization", b"Bearer " + secret.encode())])
    assert verify("bearer", raw, secrets=(secret,))


def test_native_accepts_paperclip_aliases_and_optional_prefix() -> None:
    headers = signed("hmac_sha256")
    bare = headers["x-firehook-signature"].removeprefix("sha256=")
    aliased = {
        "x-paperclip-timestamp": headers["x-firehook-timestamp"],
        "x-paperclip-signature": headers["x-firehook-signature"],
    }
    fingerprint = verify("hmac_sha256", headers).signature_fingerprint

    assert verify("hmac_sha256", aliased).signature_fingerprint == fingerprint
    for signature in (bare, bare.upper(), "SHA256=" + bare):
        variant = {**headers, "x-firehook-signature": signature}
        assert verify("hmac_sha256", variant).signature_fingerprint == fingerprint


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=",
        "sha256=zz",
        "sha1=" + "0" * 40,
        "sha256=" + "g" * 64,
        "sha256=" + "0" * 63,
        "sha256=" + "00 " * 21 + "0",
        "sha256=" + "é" * 64,
    ],
)
def test_native_malformed_signature_fails(signature: str) -> None:
    headers = {**signed("hmac_sha256"), "x-firehook-signature": signature}
    with pytest.raises(SignatureError):
        verify("hmac_sha256", headers)


def test_native_millisecond_timestamps() -> None:
    millis = str(int(NOW * 1000))
    mac = hmac_hex(SECRET, millis.encode() + b"." + BODY)
    headers = {"x-firehook-timestamp": millis, "x-firehook-signature": f"sha256={mac}"}

    assert verify("hmac_sha256", headers).signed_at == NOW
    assert verify("hmac_sha256", headers, now=NOW + WINDOW)
    with pytest.raises(SignatureError):
        verify("hmac_sha256", headers, now=NOW + WINDOW + 1)
    with pytest.raises(SignatureError):
        verify("hmac_sha256", headers, now=NOW - WINDOW - 1)


def test_standard_webhooks_multiple_signatures_and_versions() -> None:
    headers = signed("standard_webhooks")
    good = headers["webhook-signature"]
    other = lower(sign_webhook("standard_webhooks", OLD_WHSEC, BODY, NOW, headers["webhook-id"]))
    for signature in (
        f"v1a,{good[3:]} {good}",
        f"v2,{good[3:]} v1,!!!notbase64 v1 ,, {good}",
        f"{other['webhook-signature']} {good}",
        f"{good}   {other['webhook-signature']}",
    ):
        assert verify("standard_webhooks", {**headers, "webhook-signature": signature})
    for signature in (
        good.replace("v1,", "v2,"),
        good[:-2],
        "v1," + good[3:-4],
        other["webhook-signature"],
        "v1," + base64.b64encode(b"\0" * 32).decode(),
        good.replace("v1,", "V1,"),
    ):
        with pytest.raises(SignatureError):
            verify("standard_webhooks", {**headers, "webhook-signature": signature})


def test_standard_webhooks_signature_covers_id_and_timestamp() -> None:
    headers = signed("standard_webhooks")
    with pytest.raises(SignatureError):
        verify("standard_webhooks", {**headers, "webhook-id": "msg_other"})
    with pytest.raises(SignatureError):
        verify("standard_webhooks", {**headers, "webhook-timestamp": str(int(NOW) + 1)})


def test_stripe_multiple_v1_and_malformed_headers() -> None:
    good = signed("stripe")["stripe-signature"]
    timestamp, v1 = good.split(",")
    old = signed("stripe", OLD_SECRET)["stripe-signature"].split(",")[1]

    assert verify("stripe", {"stripe-signature": f"{timestamp},{old},{v1}"})
    assert verify("stripe", {"stripe-signature": f"{v1}, {timestamp}, v0=abc, v2=xyz"})
    assert verify("stripe", {"stripe-signature": f"{timestamp},v1=nothex,{v1}"})
    for header in (
        v1,
        timestamp,
        f"{timestamp},{old}",
        f"{timestamp},{v1},",
        f"{timestamp};{v1}",
        f"{timestamp},{timestamp},{v1}",
        f"{timestamp},v0={v1[3:]}",
        f"t=,{v1}",
        f"{timestamp},{v1.upper()}x",
    ):
        with pytest.raises(SignatureError):
            verify("stripe", {"stripe-signature": header})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "evt_1", "object": "event"}', "evt_1"),
        (b'{"object": "event", "data": {"id": "not_top_level"}}', None),
        (b'{"id": 42}', None),
        (b'{"id": ""}', None),
        (b'[{"id": "evt_1"}]', None),
        (b"id=evt_1", None),
        (b"\xff\xfe{", None),
        (b"[" * 5000 + b"]" * 5000, None),
    ],
)
def test_stripe_event_id_comes_from_the_verified_body(body: bytes, expected: str | None) -> None:
    assert verify("stripe", signed("stripe", body=body), body=body).delivery_id == expected


def test_slack_malformed_signature() -> None:
    headers = signed("slack")
    digest = headers["x-slack-signature"][3:]
    for signature in (digest, "v1=" + digest, "V0=" + digest, "v0=" + digest[:-1], "v0="):
        with pytest.raises(SignatureError):
            verify("slack", {**headers, "x-slack-signature": signature})
    assert verify("slack", {**headers, "x-slack-signature": "v0=" + digest.upper()})


def test_github_requires_prefix_and_ignores_window() -> None:
    headers = signed("github")
    digest = headers["x-hub-signature-256"][7:]
    assert verify("github", headers, now=NOW + 10 * 365 * 86400)
    with pytest.raises(SignatureError):
        verify("github", {**headers, "x-hub-signature-256": digest})
    with pytest.raises(SignatureError):
        verify("github", {**headers, "x-hub-signature-256": "sha1=" + digest})


def test_none_always_verifies() -> None:
    assert verify_webhook("none", [], {}, b"\x00garbage", WINDOW, NOW) == Verified(
        None, None, None, None
    )


def test_a_bare_string_is_not_a_list_of_secrets() -> None:
    with pytest.raises(TypeError):
        verify_webhook("bearer", SECRET, {"authorization": "Bearer c"}, BODY, WINDOW, NOW)


def test_unknown_mode_fails_closed() -> None:
    with pytest.raises(SignatureError):
        verify_webhook("hmac_md5", [SECRET], signed("hmac_sha256"), BODY, WINDOW, NOW)
    with pytest.raises(ValueError, match="unknown signing mode"):
        sign_webhook("hmac_md5", SECRET, BODY, NOW)
    with pytest.raises(ValueError, match="unknown signing mode"):
        generate_secret("hmac_md5")


# --- fingerprints and delivery ids ------------------------------------------------------


@pytest.mark.parametrize("mode", HMAC_MODES)
def test_fingerprint_is_stable_per_signed_request(mode: str) -> None:
    headers = signed(mode)
    first = verify(mode, headers).signature_fingerprint
    assert first is not None and len(first) == 64
    assert verify(mode, dict(headers)).signature_fingerprint == first
    if mode not in ("github", "github_hmac"):  # GitHub signs no timestamp
        assert verify(mode, signed(mode, at=NOW + 1), now=NOW).signature_fingerprint != first
    assert verify(mode, signed(mode, body=BODY + b" "), body=BODY + b" ").signature_fingerprint != (
        first
    )
    # A signature is never stored as-is.
    assert first not in "".join(headers.values())


@pytest.mark.parametrize("mode", ["standard_webhooks", "stripe"])
def test_fingerprint_survives_dropping_signatures_during_rotation(mode: str) -> None:
    # A sender in rotation signs with both secrets; a replay keeping only the old
    # one's entry must still be recognised.
    current, previous = secrets_for(mode)
    both = (current, previous)
    new_headers = signed(mode, current)
    old_headers = signed(mode, previous)
    if mode == "stripe":
        timestamp, new_v1 = new_headers["stripe-signature"].split(",")
        old_v1 = old_headers["stripe-signature"].split(",")[1]
        full = {"stripe-signature": f"{timestamp},{new_v1},{old_v1}"}
        stripped = {"stripe-signature": f"{timestamp},{old_v1}"}
    else:
        joined = f"{new_headers['webhook-signature']} {old_headers['webhook-signature']}"
        old_headers = lower(
            sign_webhook(mode, previous, BODY, NOW, delivery_id=new_headers["webhook-id"])
        )
        joined = f"{new_headers['webhook-signature']} {old_headers['webhook-signature']}"
        full = {**new_headers, "webhook-signature": joined}
        stripped = old_headers

    original = verify(mode, full, secrets=both)
    replay = verify(mode, stripped, secrets=both)

    assert (original.secret_index, replay.secret_index) == (0, 1)
    assert original.signature_fingerprint == replay.signature_fingerprint


def test_fingerprints_differ_between_modes() -> None:
    # Stripe and native sign the same "{t}.{body}" content.
    native = verify("hmac_sha256", signed("hmac_sha256")).signature_fingerprint
    stripe = verify("stripe", signed("stripe")).signature_fingerprint
    assert native != stripe


def test_delivery_ids() -> None:
    assert verify("standard_webhooks", signed("standard_webhooks")).delivery_id is not None
    github = lower(sign_webhook("github", SECRET, BODY, NOW, delivery_id="d-1"))
    assert verify("github", github).delivery_id == "d-1"
    for mode in ("hmac_sha256", "slack", "bearer"):
        assert verify(mode, signed(mode)).delivery_id is None


# --- signing helpers --------------------------------------------------------------------


def test_sign_webhook_headers_per_mode() -> None:
    assert sign_webhook("bearer", SECRET, BODY, NOW) == {"Authorization": f"Bearer {SECRET}"}
    assert sign_webhook("none", "", BODY, NOW) == {}
    assert set(sign_webhook("hmac_sha256", SECRET, BODY, NOW)) == {
        "X-Firehook-Timestamp",
        "X-Firehook-Signature",
    }
    assert sign_webhook("hmac_sha256", SECRET, BODY, NOW + 0.9)["X-Firehook-Timestamp"] == str(
        int(NOW)
    )
    standard = sign_webhook("standard_webhooks", WHSEC, BODY, NOW)
    assert standard["webhook-id"].startswith("msg_")
    assert (
        standard["webhook-id"] != sign_webhook("standard_webhooks", WHSEC, BODY, NOW)["webhook-id"]
    )


@pytest.mark.parametrize("mode", ["bearer", "hmac_sha256", "stripe", "slack", "none"])
def test_sign_webhook_sends_delivery_id_as_idempotency_key(mode: str) -> None:
    headers = sign_webhook(mode, generate_secret(mode), BODY, NOW, delivery_id="run-7")
    assert headers["Idempotency-Key"] == "run-7"


def test_sign_webhook_rejects_unusable_secrets() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign_webhook("github", "", BODY, NOW)
    with pytest.raises(ValueError, match="base64"):
        sign_webhook("standard_webhooks", "whsec_", BODY, NOW)


@pytest.mark.parametrize("mode", SIGNING_MODES)
def test_generate_secret(mode: str) -> None:
    secret = generate_secret(mode)
    validate_user_secret(mode, secret)
    assert secret != generate_secret(mode)
    if mode == "standard_webhooks":
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    else:
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32
        assert secret.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("mode", SIGNING_MODES)
def test_validate_user_secret_length(mode: str) -> None:
    if mode == "standard_webhooks":
        short = "whsec_" + base64.b64encode(b"x" * 15).decode()
        enough = "whsec_" + base64.b64encode(b"x" * 16).decode()
    else:
        short, enough = "x" * 15, "x" * 16
    validate_user_secret(mode, enough)
    with pytest.raises(ValueError, match=r"^secret must be at least 16 bytes$"):
        validate_user_secret(mode, short)


def test_validate_user_secret_counts_bytes_not_characters() -> None:
    validate_user_secret("github", "é" * 8)
    with pytest.raises(ValueError, match="16 bytes"):
        validate_user_secret("github", "é" * 7 + "x")


def test_validate_user_secret_formats() -> None:
    # A long whsec_ text can still hold too few key bytes.
    with pytest.raises(ValueError, match="16 bytes"):
        validate_user_secret("standard_webhooks", "whsec_" + base64.b64encode(b"k" * 8).decode())
    validate_user_secret("standard_webhooks", base64.b64encode(b"k" * 24).decode())
    validate_user_secret("standard_webhooks", base64.b64encode(b"k" * 32).decode().rstrip("="))
    for bad in ("whsec_not base64 at all!!", "whsec_" + "-_" * 20, "whsec_" + "A" * 25):
        with pytest.raises(ValueError, match="base64"):
            validate_user_secret("standard_webhooks", bad)
    # Stripe's own secrets start with whsec_ but are used as text.
    validate_user_secret("stripe", "whsec_0123456789abcdef")
    for bad in ("with a space in the middle", "tab\tseparated-secret-x", "ünïcödé-secret-long"):
        with pytest.raises(ValueError, match="printable ASCII"):
            validate_user_secret("bearer", bad)
    validate_user_secret("github", "It's a Secret to Everybody")
