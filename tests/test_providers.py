"""Provider presets, each checked against its provider's own library or documented scheme.

Every preset gets a reference sender built independently of `gateway.providers`:
the provider's official library where one is on PyPI (Twilio, Svix, HubSpot,
SendGrid, PyNaCl as Discord documents it), else the scheme as the provider's docs
describe it. Each is checked valid, tampered, under a wrong secret and, where the
scheme signs a time, stale; and `sign_request` is checked against the same reference.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hubspot.utils.signature import Signature as HubSpotSignature
from nacl.signing import SigningKey
from sendgrid.helpers.eventwebhook import EventWebhook
from slack_sdk.signature import SignatureVerifier
from svix.webhooks import Webhook as SvixWebhook
from twilio.request_validator import RequestValidator

from gateway.providers import (
    ALL_MODES,
    PUBLIC_KEY_PRESETS,
    SHARED_SECRET_PRESETS,
    Inbound,
    generate_secret,
    sign_request,
    validate_user_secret,
    verify_request,
)
from gateway.signatures import SignatureError, Verified
from schemas.common import SigningMode
from schemas.signing import HmacConfig

NOW = 1_700_000_000.0
WINDOW = 300
URL = "https://hooks.example.test/api/routine-triggers/public/abc/fire"
SECRET = "provider-secret-0123456789abcdef"
WRONG = "another-secret-0123456789abcdefg"
WHSEC = "whsec_" + base64.b64encode(b"s" * 32).decode()
WRONG_WHSEC = "whsec_" + base64.b64encode(b"w" * 32).decode()
JSON_BODY = b'{"id":"evt_42","event_id":"evt_42","notification_id":"ntf_42","type":"x"}'

ED25519 = SigningKey(b"d" * 32)
ED25519_PUBLIC = ED25519.verify_key.encode().hex()
ED25519_OTHER = SigningKey(b"e" * 32).verify_key.encode().hex()
ECDSA = ec.derive_private_key(123456789, ec.SECP256R1())
ECDSA_OTHER = ec.derive_private_key(987654321, ec.SECP256R1())


def der_public(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@dataclass(frozen=True)
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Case:
    """A provider's reference sender, and what a verified request should tell."""

    mode: str
    send: Callable[[float], Sent]
    secret: str = SECRET
    wrong_secret: str = WRONG
    delivery_id: str | None = None
    timestamped: bool = False
    tamper: Callable[[Sent], Sent] | None = None


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def mac(digest: str, key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, digest).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- reference senders ------------------------------------------------------------------


def shopify(at: float) -> Sent:
    # shopify.dev "Verify webhooks": base64 HMAC-SHA256 of the raw body.
    signature = b64(mac("sha256", SECRET, JSON_BODY))
    headers = {"X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": "b54557e4-bdd9"}
    return Sent(URL, headers, JSON_BODY)


def gitlab(at: float) -> Sent:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": "13792a34-cac6-4fda"}
    return Sent(URL, headers, JSON_BODY)


def bitbucket(at: float) -> Sent:
    signature = "sha256=" + mac("sha256", SECRET, JSON_BODY).hex()
    return Sent(URL, {"X-Hub-Signature": signature, "X-Request-UUID": "req-7"}, JSON_BODY)


TWILIO_FORM = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234"}


def twilio(at: float) -> Sent:
    body = urlencode(TWILIO_FORM).encode()
    signature = RequestValidator(SECRET).compute_signature(URL, TWILIO_FORM)
    headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": "twl-1"}
    return Sent(URL, headers, body, "application/x-www-form-urlencoded")


def twilio_json(at: float) -> Sent:
    digest = hashlib.sha256(JSON_BODY).hexdigest()
    url = f"{URL}?bodySHA256={digest}"
    signature = RequestValidator(SECRET).compute_signature(url, {})
    return Sent(url, {"X-Twilio-Signature": signature}, JSON_BODY)


def linear(at: float) -> Sent:
    body = json.dumps({"action": "create", "webhookTimestamp": int(at * 1000)}).encode()
    signature = mac("sha256", SECRET, body).hex()
    return Sent(URL, {"Linear-Signature": signature, "Linear-Delivery": "lin-1"}, body)


def zoom(at: float) -> Sent:
    ts = str(int(at))
    signature = "v0=" + mac("sha256", SECRET, f"v0:{ts}:".encode() + JSON_BODY).hex()
    return Sent(URL, {"x-zm-signature": signature, "x-zm-request-timestamp": ts}, JSON_BODY)


def intercom(at: float) -> Sent:
    signature = "sha1=" + mac("sha1", SECRET, JSON_BODY).hex()
    return Sent(URL, {"X-Hub-Signature": signature}, JSON_BODY)


def square(at: float) -> Sent:
    signature = b64(mac("sha256", SECRET, URL.encode() + JSON_BODY))
    return Sent(URL, {"x-square-hmacsha256-signature": signature}, JSON_BODY)


def mailgun(at: float) -> Sent:
    ts, token = str(int(at)), "f1a3b7c9d2e4"
    signature = mac("sha256", SECRET, (ts + token).encode()).hex()
    body = json.dumps(
        {
            "signature": {"timestamp": ts, "token": token, "signature": signature},
            "event-data": {"event": "delivered"},
        }
    ).encode()
    return Sent(URL, {}, body)


def pagerduty(at: float) -> Sent:
    body = b'{"event":{"id":"01DEN4HPBQAAAG05V5QQOAAD4B","event_type":"incident.triggered"}}'
    # Two signatures, as during a secret rotation: the other one first.
    other = mac("sha256", WRONG + "x", body).hex()
    signature = f"v1={other},v1={mac('sha256', SECRET, body).hex()}"
    return Sent(URL, {"X-PagerDuty-Signature": signature}, body)


def paddle(at: float) -> Sent:
    ts = str(int(at))
    signature = mac("sha256", SECRET, f"{ts}:".encode() + JSON_BODY).hex()
    return Sent(URL, {"Paddle-Signature": f"ts={ts};h1={signature}"}, JSON_BODY)


def typeform(at: float) -> Sent:
    signature = "sha256=" + b64(mac("sha256", SECRET, JSON_BODY))
    return Sent(URL, {"Typeform-Signature": signature}, JSON_BODY)


HUBSPOT_BODY = b'[{"eventId":1,"subscriptionType":"contact.creation"}]'


def hubspot(at: float) -> Sent:
    ts = str(int(at * 1000))
    signature = HubSpotSignature.get_signature(
        SECRET, HUBSPOT_BODY.decode(), "v3", http_uri=URL, http_method="POST", timestamp=ts
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts}
    return Sent(URL, headers, HUBSPOT_BODY)


def twitch(at: float) -> Sent:
    # dev.twitch.tv "Verifying the event message": id + timestamp + body, nanoseconds.
    moment = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".123456789Z"
    message_id = "e76c6bd4-55c9-4987-8304-da1588d8988b"
    digest = mac("sha256", SECRET, (message_id + moment).encode() + JSON_BODY).hex()
    headers = {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Timestamp": moment,
        "Twitch-Eventsub-Message-Signature": "sha256=" + digest,
        "Twitch-Eventsub-Message-Type": "notification",
    }
    return Sent(URL, headers, JSON_BODY)


def svix_sender(at: float) -> Sent:
    moment = datetime.fromtimestamp(at, UTC)
    signature = SvixWebhook(WHSEC).sign("msg_2Lh9", moment, JSON_BODY.decode())
    headers = {"svix-id": "msg_2Lh9", "svix-timestamp": str(int(at)), "svix-signature": signature}
    return Sent(URL, headers, JSON_BODY)


def graph(at: float) -> Sent:
    body = json.dumps(
        {"value": [{"clientState": SECRET, "changeType": "created", "resource": "me/messages"}]}
    ).encode()
    return Sent(URL, {}, body)


def dropbox(at: float) -> Sent:
    body = b'{"list_folder":{"accounts":["dbid:AAH4f99"]},"delta":{"users":[12345678]}}'
    return Sent(URL, {"X-Dropbox-Signature": mac("sha256", SECRET, body).hex()}, body)


def discord(at: float) -> Sent:
    ts = str(int(at))
    body = b'{"id":"1234","type":2}'
    signature = ED25519.sign(ts.encode() + body).signature.hex()
    return Sent(URL, {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": ts}, body)


SENDGRID_BODY = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"sg1"}]'


def sendgrid(at: float) -> Sent:
    ts = str(int(at))
    der = ECDSA.sign(ts.encode() + SENDGRID_BODY, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": b64(der),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }
    return Sent(URL, headers, SENDGRID_BODY)


def retimed(body_field: str) -> Callable[[Sent], Sent]:
    def tamper(sent: Sent) -> Sent:
        data = json.loads(sent.body)
        data[body_field] = "tampered"
        return Sent(sent.url, sent.headers, json.dumps(data).encode(), sent.content_type)

    return tamper


def tamper_token(sent: Sent) -> Sent:
    # GitLab signs nothing: its token is the whole proof, so a changed token must fail.
    headers = sent.headers | {"X-Gitlab-Token": SECRET[:-1] + "X"}
    return Sent(sent.url, headers, sent.body, sent.content_type)


def tamper_url(sent: Sent) -> Sent:
    return Sent(sent.url.replace("/abc/", "/abd/"), sent.headers, sent.body, sent.content_type)


def tamper_mailgun(sent: Sent) -> Sent:
    data = json.loads(sent.body)
    data["signature"]["token"] = "tampered"
    return Sent(sent.url, sent.headers, json.dumps(data).encode(), sent.content_type)


def tamper_graph(sent: Sent) -> Sent:
    data = json.loads(sent.body)
    data["value"].append({"clientState": "forged-state", "changeType": "deleted"})
    return Sent(sent.url, sent.headers, json.dumps(data).encode(), sent.content_type)


CASES = [
    Case("shopify", shopify, delivery_id="b54557e4-bdd9"),
    Case("gitlab", gitlab, delivery_id="13792a34-cac6-4fda", tamper=tamper_token),
    Case("bitbucket", bitbucket, delivery_id="req-7"),
    Case("twilio", twilio, delivery_id="twl-1"),
    Case("twilio", twilio_json, tamper=tamper_url),
    Case("linear", linear, delivery_id="lin-1", timestamped=True),
    Case("zoom", zoom, timestamped=True),
    Case("intercom", intercom, delivery_id="evt_42"),
    Case("square", square, delivery_id="evt_42", tamper=tamper_url),
    Case("mailgun", mailgun, delivery_id="f1a3b7c9d2e4", timestamped=True, tamper=tamper_mailgun),
    Case("pagerduty", pagerduty, delivery_id="01DEN4HPBQAAAG05V5QQOAAD4B"),
    Case("paddle", paddle, delivery_id="ntf_42", timestamped=True),
    Case("typeform", typeform, delivery_id="evt_42"),
    Case("hubspot", hubspot, timestamped=True),
    Case("twitch", twitch, delivery_id="e76c6bd4-55c9-4987-8304-da1588d8988b", timestamped=True),
    Case("svix", svix_sender, WHSEC, WRONG_WHSEC, delivery_id="msg_2Lh9", timestamped=True),
    Case("clerk", svix_sender, WHSEC, WRONG_WHSEC, delivery_id="msg_2Lh9", timestamped=True),
    Case("resend", svix_sender, WHSEC, WRONG_WHSEC, delivery_id="msg_2Lh9", timestamped=True),
    Case("microsoft_graph", graph, tamper=tamper_graph),
    Case("dropbox", dropbox),
    Case("discord", discord, ED25519_PUBLIC, ED25519_OTHER, delivery_id="1234", timestamped=True),
    Case("sendgrid", sendgrid, der_public(ECDSA), der_public(ECDSA_OTHER), timestamped=True),
]
CASE_IDS = [f"{case.mode}-{case.send.__name__}" for case in CASES]


def verify(case: Case, sent: Sent, secret: str | None = None, now: float = NOW) -> Verified:
    request = Inbound("POST", sent.url, lower(sent.headers), sent.body, sent.content_type)
    return verify_request(case.mode, [secret or case.secret], request, WINDOW, now)


def default_tamper(sent: Sent) -> Sent:
    body = sent.body.replace(b"1", b"7", 1) if b"1" in sent.body else sent.body + b" "
    return Sent(sent.url, sent.headers, body, sent.content_type)


# --- the checks every preset passes ---------------------------------------------------------


def test_every_mode_is_a_signing_mode_and_there_are_at_least_twenty_presets() -> None:
    assert set(ALL_MODES) == {mode.value for mode in SigningMode}
    presets = {"github", "stripe", "slack", "standard_webhooks"}
    presets |= set(SHARED_SECRET_PRESETS) | set(PUBLIC_KEY_PRESETS)
    assert len(presets) >= 20
    assert {case.mode for case in CASES} == set(SHARED_SECRET_PRESETS) | set(PUBLIC_KEY_PRESETS)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_reference_request_verifies(case: Case) -> None:
    verified = verify(case, case.send(NOW))

    assert verified.secret_index == 0
    assert verified.delivery_id == case.delivery_id


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_tampered_request_is_refused(case: Case) -> None:
    tamper = case.tamper or (retimed("type") if case.mode == "linear" else default_tamper)
    with pytest.raises(SignatureError):
        verify(case, tamper(case.send(NOW)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_wrong_secret_is_refused(case: Case) -> None:
    with pytest.raises(SignatureError):
        verify(case, case.send(NOW), secret=case.wrong_secret)


@pytest.mark.parametrize("case", [case for case in CASES if case.timestamped], ids=str)
def test_stale_request_is_refused(case: Case) -> None:
    sent = case.send(NOW - WINDOW - 5)
    with pytest.raises(SignatureError, match="window"):
        verify(case, sent)
    assert verify(case, sent, now=NOW - WINDOW).secret_index == 0


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_missing_headers_are_refused(case: Case) -> None:
    sent = case.send(NOW)
    bare = Sent(sent.url, {}, sent.body if sent.headers else b"{}", sent.content_type)
    with pytest.raises(SignatureError):
        verify(case, bare)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_previous_secret_still_verifies(case: Case) -> None:
    sent = case.send(NOW)
    request = Inbound("POST", sent.url, lower(sent.headers), sent.body, sent.content_type)

    verified = verify_request(case.mode, [case.wrong_secret, case.secret], request, WINDOW, NOW)

    assert verified.secret_index == 1


# --- signing, checked by each provider's own verifier ----------------------------------------


def signed(mode: str, secret: str, body: bytes = JSON_BODY, at: float = NOW, **kw: str) -> Sent:
    content_type = kw.get("content_type", "application/json")
    request = Inbound("POST", URL, {}, body, content_type)
    out = sign_request(mode, secret, request, at, kw.get("delivery_id"))
    return Sent(out.url, out.headers, out.body, content_type)


def test_twilio_library_accepts_our_form_signature() -> None:
    body = urlencode(TWILIO_FORM).encode()
    sent = signed("twilio", SECRET, body, content_type="application/x-www-form-urlencoded")

    assert RequestValidator(SECRET).validate(URL, TWILIO_FORM, sent.headers["X-Twilio-Signature"])


def test_twilio_library_accepts_our_json_signature() -> None:
    sent = signed("twilio", SECRET)

    assert "bodySHA256=" in sent.url
    validator = RequestValidator(SECRET)
    assert validator.validate(sent.url, JSON_BODY.decode(), sent.headers["X-Twilio-Signature"])


def test_twilio_signature_over_a_url_with_its_default_port() -> None:
    with_port = URL.replace(".test/", ".test:443/")
    signature = RequestValidator(SECRET).compute_signature(with_port, TWILIO_FORM)
    body = urlencode(TWILIO_FORM).encode()
    request = Inbound(
        "POST", URL, {"x-twilio-signature": signature}, body, "application/x-www-form-urlencoded"
    )

    assert verify_request("twilio", [SECRET], request, WINDOW, NOW).secret_index == 0


def test_twilio_sharedkey_sha256() -> None:
    signature = RequestValidator(SECRET).compute_signature(URL, TWILIO_FORM, "HMAC_SHA256")
    headers = {
        "x-twilio-signature": signature,
        "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    }
    body = urlencode(TWILIO_FORM).encode()
    request = Inbound("POST", URL, headers, body, "application/x-www-form-urlencoded")

    assert verify_request("twilio", [SECRET], request, WINDOW, NOW).secret_index == 0


def test_svix_library_accepts_our_signature() -> None:
    for mode in ("svix", "clerk", "resend"):
        # The library checks the time against its own clock.
        sent = signed(mode, WHSEC, at=time.time(), delivery_id="msg_9")
        SvixWebhook(WHSEC).verify(JSON_BODY, sent.headers)


def test_hubspot_library_accepts_our_signature() -> None:
    sent = signed("hubspot", SECRET, HUBSPOT_BODY)
    ts = sent.headers["X-HubSpot-Request-Timestamp"]
    expected = HubSpotSignature.get_signature(
        SECRET, HUBSPOT_BODY.decode(), "v3", http_uri=URL, http_method="POST", timestamp=ts
    )
    assert sent.headers["X-HubSpot-Signature-v3"] == expected


def test_sendgrid_library_accepts_the_reference_signature() -> None:
    sent = sendgrid(NOW)
    verifier = EventWebhook(der_public(ECDSA))

    assert verifier.verify_signature(
        SENDGRID_BODY.decode(),
        sent.headers["X-Twilio-Email-Event-Webhook-Signature"],
        sent.headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )


def test_slack_library_accepts_our_signature() -> None:
    sent = signed("slack", SECRET, at=time.time())
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        JSON_BODY, sent.headers["X-Slack-Request-Timestamp"], sent.headers["X-Slack-Signature"]
    )


def test_stripe_library_accepts_our_signature() -> None:
    import stripe

    sent = signed("stripe", SECRET)
    header = sent.headers["Stripe-Signature"]
    assert stripe.WebhookSignature.verify_header(JSON_BODY, header, SECRET, tolerance=None)


@pytest.mark.parametrize("mode", SHARED_SECRET_PRESETS)
def test_signed_request_verifies_in_every_shared_secret_preset(mode: str) -> None:
    secret = WHSEC if mode in ("svix", "clerk", "resend") else SECRET
    body = HUBSPOT_BODY if mode == "hubspot" else JSON_BODY
    sent = signed(mode, secret, body, delivery_id="dlv-1")
    case = Case(mode, lambda at: sent, secret)

    verified = verify(case, sent)

    assert verified.secret_index == 0


@pytest.mark.parametrize("mode", PUBLIC_KEY_PRESETS)
def test_public_key_presets_cannot_sign_nor_make_a_secret(mode: str) -> None:
    with pytest.raises(ValueError, match=r"public key|private key"):
        signed(mode, "anything")
    with pytest.raises(ValueError):
        generate_secret(mode)


def test_public_keys_are_validated() -> None:
    validate_user_secret("discord", ED25519_PUBLIC)
    validate_user_secret("sendgrid", der_public(ECDSA))
    pem = (
        ECDSA.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    validate_user_secret("sendgrid", pem)
    for mode, bad in [("discord", "zz" * 32), ("discord", SECRET), ("sendgrid", SECRET)]:
        with pytest.raises(ValueError):
            validate_user_secret(mode, bad)
    with pytest.raises(ValueError):
        validate_user_secret("shopify", "short")


# --- published examples ----------------------------------------------------------------------


def test_twilio_documented_example() -> None:
    # twilio.com/docs/usage/security, "Validating Signatures from Twilio": auth token
    # 12345 and these form fields give this signature.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert RequestValidator("12345").validate(url, params, signature)
    request = Inbound(
        "POST",
        url,
        {"x-twilio-signature": signature},
        urlencode(params).encode(),
        "application/x-www-form-urlencoded",
    )

    assert verify_request("twilio", ["12345"], request, WINDOW, NOW).secret_index == 0


# --- custom_hmac -----------------------------------------------------------------------------


def custom(**fields: str) -> HmacConfig:
    return HmacConfig.model_validate(fields)


@pytest.mark.parametrize(
    ("config", "case"),
    [
        # Each preset's scheme, written as a configuration, accepts that provider's sender.
        (
            {
                "signatureHeader": "x-zm-signature",
                "signaturePrefix": "v0=",
                "signedTemplate": "v0:{timestamp}:{body}",
                "timestampHeader": "x-zm-request-timestamp",
            },
            zoom,
        ),
        (
            {"algorithm": "sha1", "signatureHeader": "X-Hub-Signature", "signaturePrefix": "sha1="},
            intercom,
        ),
        ({"encoding": "base64", "signatureHeader": "X-Shopify-Hmac-Sha256"}, shopify),
        (
            {
                "encoding": "base64",
                "signatureHeader": "x-square-hmacsha256-signature",
                "signedTemplate": "{url}{body}",
            },
            square,
        ),
        (
            {
                "signatureHeader": "X-PagerDuty-Signature",
                "signaturePrefix": "v1=",
                "separator": ",",
            },
            pagerduty,
        ),
        (
            {
                "signatureHeader": "Twitch-Eventsub-Message-Signature",
                "signaturePrefix": "sha256=",
                "signedTemplate": "{delivery_id}{timestamp}{body}",
                "deliveryIdHeader": "Twitch-Eventsub-Message-Id",
                "timestampHeader": "X-Unused-Timestamp",
            },
            None,
        ),
    ],
)
def test_custom_hmac_expresses_provider_schemes(
    config: dict[str, str], case: Callable[[float], Sent] | None
) -> None:
    hmac_config = HmacConfig.model_validate(config)
    if case is None:
        # A delivery id and a timestamp both signed: built by hand.
        ts = str(int(NOW))
        digest = mac("sha256", SECRET, b"dlv-9" + ts.encode() + JSON_BODY).hex()
        headers = {
            "Twitch-Eventsub-Message-Id": "dlv-9",
            "X-Unused-Timestamp": ts,
            "Twitch-Eventsub-Message-Signature": f"sha256={digest}",
        }
        sent = Sent(URL, headers, JSON_BODY)
    else:
        sent = case(NOW)
    request = Inbound("POST", sent.url, lower(sent.headers), sent.body, sent.content_type)

    verified = verify_request("custom_hmac", [SECRET], request, WINDOW, NOW, hmac_config)

    assert verified.secret_index == 0
    tampered = Inbound("POST", sent.url, lower(sent.headers), sent.body + b" ", sent.content_type)
    with pytest.raises(SignatureError):
        verify_request("custom_hmac", [SECRET], tampered, WINDOW, NOW, hmac_config)
    with pytest.raises(SignatureError):
        verify_request("custom_hmac", [WRONG], request, WINDOW, NOW, hmac_config)


def test_custom_hmac_sha512_base64_stale_and_missing_id() -> None:
    config = custom(
        algorithm="sha512",
        encoding="base64",
        signatureHeader="X-Sig",
        signedTemplate="{{{delivery_id}}}|{timestamp}|{body}",
        timestampHeader="X-Ts",
        deliveryIdHeader="X-Id",
    )

    def request(at: float, headers: dict[str, str] | None = None) -> Inbound:
        ts = str(int(at))
        digest = b64(mac("sha512", SECRET, b"{d-1}|" + ts.encode() + b"|" + JSON_BODY))
        sent = {"x-sig": digest, "x-ts": ts, "x-id": "d-1"} | (headers or {})
        return Inbound("POST", URL, sent, JSON_BODY)

    verified = verify_request("custom_hmac", [SECRET], request(NOW), WINDOW, NOW, config)
    assert verified.delivery_id == "d-1"
    assert verified.signed_at == NOW
    with pytest.raises(SignatureError, match="window"):
        verify_request("custom_hmac", [SECRET], request(NOW - 400), WINDOW, NOW, config)
    with pytest.raises(SignatureError):
        verify_request("custom_hmac", [SECRET], request(NOW, {"x-id": ""}), WINDOW, NOW, config)
    with pytest.raises(SignatureError):
        verify_request("custom_hmac", [SECRET], request(NOW), WINDOW, NOW, None)
    signed = sign_request(
        "custom_hmac", SECRET, Inbound("POST", URL, {}, JSON_BODY), NOW, "d-1", config
    )
    assert signed.headers["X-Sig"] == request(NOW).headers["x-sig"]
