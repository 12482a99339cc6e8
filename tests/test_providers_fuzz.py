"""Malformed input to every preset and to custom_hmac: never an error but `SignatureError`
from verification, never a 5xx from the endpoint, never a run without authentication."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from firehook.context import Context
from firehook.store.tables import runs
from gateway.providers import PROVIDER_MODES, SHARED_SECRET_PRESETS, Inbound, verify_request
from gateway.signatures import SignatureError
from schemas.signing import HmacConfig
from tests.conftest import Tenant
from tests.test_webhooks_presets import BASE, HMAC_CONFIG, add_webhook, local_path, secret_of

CONFIG = HmacConfig.model_validate(HMAC_CONFIG)
# Every header any preset reads, so that random values reach each parser.
HEADERS = [
    "x-shopify-hmac-sha256",
    "x-gitlab-token",
    "x-hub-signature",
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "linear-signature",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "x-square-hmacsha256-signature",
    "x-pagerduty-signature",
    "paddle-signature",
    "typeform-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-request-timestamp",
    "twitch-eventsub-message-id",
    "twitch-eventsub-message-timestamp",
    "twitch-eventsub-message-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-dropbox-signature",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "x-acme-signature",
    "x-acme-timestamp",
    "x-acme-delivery",
]
_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["sha256=", "v0=", "v1=", "ts=1;h1=", "sha1=", "v2=", "=", ",", ";"]).flatmap(
        lambda prefix: st.text("0123456789abcdefABCDEF+/=", max_size=140).map(prefix.__add__)
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.just("2023-07-19T14:56:51.634234626Z"),
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b'{"value": [{"clientState": 1}]}',
            b'{"signature": {"timestamp": 1, "token": [], "signature": "00"}}',
            b'{"webhookTimestamp": "soon"}',
            b'{"event": "endpoint.url_validation", "payload": {"plainToken": 5}}',
            b"token=a&timestamp=1&signature=zz",
        ]
    ),
)


@settings(max_examples=600, deadline=None)
@given(
    mode=st.sampled_from(PROVIDER_MODES),
    headers=st.dictionaries(st.sampled_from(HEADERS), _values, max_size=6),
    body=_bodies,
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
    url=st.sampled_from([BASE + "/x", "https://h:99999/x", "http://[::1/x", "?bodySHA256=00"]),
)
def test_random_requests_never_verify_nor_crash(
    mode: str, headers: dict[str, str], body: bytes, content_type: str, url: str
) -> None:
    secret = secret_of(mode) if mode in SHARED_SECRET_PRESETS else "ab" * 32
    request = Inbound("POST", url, headers, body, content_type)
    with pytest.raises(SignatureError):
        verify_request(mode, [secret], request, 300, time.time(), CONFIG)


async def run_count(ctx: Context) -> int:
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(runs))).scalar_one())


MANGLED: list[dict[str, Any]] = [
    {},
    {"X-Hub-Signature": "sha256=" + "0" * 64, "X-Shopify-Hmac-Sha256": "AAAA"},
    {"Paddle-Signature": "ts=;h1=", "X-PagerDuty-Signature": ",,,", "Typeform-Signature": "x"},
    {"Twitch-Eventsub-Message-Timestamp": "yesterday", "Twitch-Eventsub-Message-Id": "\x7f"},
    {"X-Signature-Ed25519": "zz" * 64, "X-Signature-Timestamp": "1" * 40},
    {"X-Acme-Signature": "v2=" + "A" * 3000, "X-Acme-Timestamp": "-1"},
    {"x-zm-signature": "v0=", "x-zm-request-timestamp": "1e3"},
]


@pytest.mark.parametrize("mode", PROVIDER_MODES)
async def test_endpoint_answers_mangled_requests_with_4xx_and_no_run(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, mode: str
) -> None:
    if mode == "discord":
        options: dict[str, Any] = {"secret": "ab" * 32}
    elif mode == "sendgrid":
        options = {
            "secret": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUVkLelFRQNLXhMhWCGaP3++Mgv0fW+Uk"
            "IVVKDcPQM+3gwX2okEpyfYrhvza/inkmDQEvANTYCIjR0LtE/aFtpA=="
        }
    else:
        options = {"hmac": HMAC_CONFIG} if mode == "custom_hmac" else {}
    trigger = await add_webhook(client, tenant, mode, **options)
    path = local_path(trigger["publicUrl"])
    bodies = [b"{}", b"not json", b"[1,2]", b'{"value":[{"clientState":null}]}', b"a=b&c"]
    for headers in MANGLED:
        for body in bodies:
            for media in ("application/json", "application/x-www-form-urlencoded"):
                response = await client.post(
                    path, content=body, headers={"Content-Type": media} | headers
                )
                assert 400 <= response.status_code < 500, (mode, headers, body, response.text)
                assert set(response.json()) == {"error", "code", "details"}
    assert await run_count(ctx) == 0
