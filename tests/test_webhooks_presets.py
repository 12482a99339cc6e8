"""Provider presets, custom HMAC and handshakes, through the real webhook endpoint."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson
import pytest
from nacl.signing import SigningKey

from firehook.cli import main
from gateway.providers import PUBLIC_KEY_PRESETS, SHARED_SECRET_PRESETS, Inbound, sign_request
from tests.conftest import Tenant
from tests.test_webhooks import new_routine
from tests.test_webhooks_sign import parse_curl

SECRET = "preset-secret-0123456789abcdefgh"
WHSEC = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="
BASE = "https://hooks.example.test"
HMAC_CONFIG: dict[str, Any] = {
    "algorithm": "sha512",
    "encoding": "base64",
    "signatureHeader": "X-Acme-Signature",
    "signaturePrefix": "v2=",
    "signedTemplate": "{timestamp}.{delivery_id}.{url}.{body}",
    "timestampHeader": "X-Acme-Timestamp",
    "deliveryIdHeader": "X-Acme-Delivery",
    "separator": " ",
}


def secret_of(mode: str) -> str:
    return WHSEC if mode in ("svix", "clerk", "resend") else SECRET


async def add_webhook(
    client: httpx.AsyncClient, tenant: Tenant, mode: str, **options: Any
) -> dict[str, Any]:
    routine = await new_routine(client, tenant)
    body = {"kind": "webhook", "signingMode": mode, "secret": secret_of(mode)} | options
    response = await client.post(
        f"/api/routines/{routine['id']}/triggers", json=body, headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 201, response.text
    trigger: dict[str, Any] = response.json()
    return trigger


def local_path(url: str) -> str:
    return url.removeprefix(BASE)


async def fire_signed(
    client: httpx.AsyncClient,
    trigger: dict[str, Any],
    body: bytes,
    *,
    delivery_id: str | None = None,
    config: dict[str, Any] | None = None,
) -> httpx.Response:
    from schemas.signing import HmacConfig

    request = Inbound("POST", trigger["publicUrl"], {}, body, "application/json")
    signed = sign_request(
        trigger["signingMode"],
        secret_of(trigger["signingMode"]),
        request,
        time.time(),
        delivery_id,
        HmacConfig.model_validate(config) if config else None,
    )
    headers = {"Content-Type": "application/json"} | signed.headers
    return await client.post(local_path(signed.url), content=signed.body, headers=headers)


async def runs_of(client: httpx.AsyncClient, tenant: Tenant, trigger: dict[str, Any]) -> list[Any]:
    response = await client.get(
        f"/api/routines/{trigger['routineId']}/runs", headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 200, response.text
    data = response.json()
    # A bare array, or a page whose runs are under "data".
    return list(data if isinstance(data, list) else data["data"])


@pytest.mark.parametrize("mode", SHARED_SECRET_PRESETS)
async def test_each_preset_fires_once_per_delivery(
    client: httpx.AsyncClient, tenant: Tenant, mode: str
) -> None:
    trigger = await add_webhook(client, tenant, mode)
    body = b'{"id":"evt_1","event_id":"evt_1","notification_id":"ntf_1","n":1}'
    if mode == "hubspot":
        body = b'[{"eventId":1,"subscriptionType":"contact.creation"}]'

    first = await fire_signed(client, trigger, body, delivery_id="dlv-1")
    again = await fire_signed(client, trigger, body, delivery_id="dlv-1")

    assert first.status_code == 202, first.text
    # The same delivery again answers with the first run, never a second one.
    assert again.status_code in (200, 409), again.text
    if again.status_code == 200:
        assert again.json()["runId"] == first.json()["runId"]
    unsigned = await client.post(
        local_path(trigger["publicUrl"]), content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "UNAUTHORIZED"


async def test_preset_payload_of_an_event_array(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "hubspot")
    body = b'[{"eventId":7,"subscriptionType":"deal.creation"}]'

    response = await fire_signed(client, trigger, body)

    assert response.status_code == 202, response.text
    run = await client.get(
        f"/api/runs/{response.json()['runId']}", headers=Tenant.auth(tenant.board)
    )
    assert run.json()["payload"]["events"] == [{"eventId": 7, "subscriptionType": "deal.creation"}]


@pytest.mark.parametrize("mode", PUBLIC_KEY_PRESETS)
async def test_public_key_preset_needs_the_key(
    client: httpx.AsyncClient, tenant: Tenant, mode: str
) -> None:
    routine = await new_routine(client, tenant)
    for body in (
        {"kind": "webhook", "signingMode": mode},
        {"signingMode": mode, "secret": "x" * 40},
    ):
        response = await client.post(
            f"/api/routines/{routine['id']}/triggers",
            json={"kind": "webhook"} | body,
            headers=Tenant.auth(tenant.board),
        )
        assert response.status_code == 400, response.text
        assert "secret" in response.json()["details"]


async def test_discord_interaction_and_ping(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = SigningKey(b"k" * 32)
    public = key.verify_key.encode().hex()
    trigger = await add_webhook(client, tenant, "discord", secret=public)
    path = local_path(trigger["publicUrl"])

    def signed(body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        signature = key.sign(ts.encode() + body).signature.hex()
        return {
            "Content-Type": "application/json",
            "X-Signature-Ed25519": signature,
            "X-Signature-Timestamp": ts,
        }

    ping = b'{"id":"p1","type":1}'
    pong = await client.post(path, content=ping, headers=signed(ping))
    assert pong.status_code == 200
    assert pong.json() == {"type": 1}
    assert await runs_of(client, tenant, trigger) == []

    command = b'{"id":"i-77","type":2,"data":{"name":"deploy"}}'
    fired = await client.post(path, content=command, headers=signed(command))
    assert fired.status_code == 202, fired.text
    assert fired.json()["idempotencyKey"] == "i-77"
    assert [run["id"] for run in await runs_of(client, tenant, trigger)] == [fired.json()["runId"]]

    forged = await client.post(path, content=command, headers=signed(ping))
    assert forged.status_code == 401


# --- handshakes ----------------------------------------------------------------------------


async def test_slack_url_verification(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "slack")
    body = b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'

    response = await fire_signed(client, trigger, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert await runs_of(client, tenant, trigger) == []
    unsigned = await client.post(
        local_path(trigger["publicUrl"]), content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401


async def test_zoom_endpoint_url_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "zoom")
    body = orjson.dumps(
        {
            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
            "event_ts": 1654503849680,
            "event": "endpoint.url_validation",
        }
    )

    response = await fire_signed(client, trigger, body)

    assert response.status_code == 200, response.text
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert await runs_of(client, tenant, trigger) == []


async def test_twitch_callback_verification(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "twitch")
    body = orjson.dumps(
        {
            "challenge": "pogchamp-kappa-360noscope-vohiyo",
            "subscription": {"id": "f1c2a387", "type": "channel.follow", "status": "pending"},
        }
    )
    request = Inbound("POST", trigger["publicUrl"], {}, body)
    signed = sign_request("twitch", SECRET, request, time.time())
    headers = signed.headers | {
        "Twitch-Eventsub-Message-Type": "webhook_callback_verification",
        "Content-Type": "application/json",
    }

    response = await client.post(local_path(signed.url), content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.text == "pogchamp-kappa-360noscope-vohiyo"
    assert response.headers["content-type"].startswith("text/plain")
    assert await runs_of(client, tenant, trigger) == []


async def test_microsoft_graph_validation_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "microsoft_graph")
    path = local_path(trigger["publicUrl"])

    response = await client.post(
        path,
        params={"validationToken": "Validation: Testing client application reachability"},
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    assert response.status_code == 200, response.text
    assert response.text == "Validation: Testing client application reachability"
    assert response.headers["content-type"].startswith("text/plain")
    assert await runs_of(client, tenant, trigger) == []
    # Another preset does not echo it.
    slack = await add_webhook(client, tenant, "slack")
    other = await client.post(
        local_path(slack["publicUrl"]), params={"validationToken": "x"}, content=b"{}"
    )
    assert other.status_code == 401


async def test_dropbox_challenge(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "dropbox")
    path = local_path(trigger["publicUrl"])

    response = await client.get(path, params={"challenge": "Z8iLyfMjmuJ1tNBW"})

    assert response.status_code == 200
    assert response.text == "Z8iLyfMjmuJ1tNBW"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert await runs_of(client, tenant, trigger) == []
    github = await add_webhook(client, tenant, "github")
    refused = await client.get(local_path(github["publicUrl"]), params={"challenge": "x"})
    assert refused.status_code == 404
    assert (await client.get(path)).status_code in (400, 404)


# --- custom HMAC ---------------------------------------------------------------------------


async def test_custom_hmac_fires_and_refuses(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trigger = await add_webhook(client, tenant, "custom_hmac", hmac=HMAC_CONFIG)
    assert trigger["hmac"]["signedTemplate"] == HMAC_CONFIG["signedTemplate"]
    body = b'{"order":42}'

    response = await fire_signed(client, trigger, body, delivery_id="acme-1", config=HMAC_CONFIG)

    assert response.status_code == 202, response.text
    assert response.json()["idempotencyKey"] == "acme-1"
    # Several signatures in one header: any one may match.
    request = Inbound("POST", trigger["publicUrl"], {}, body)
    from schemas.signing import HmacConfig

    signed = sign_request(
        "custom_hmac",
        SECRET,
        request,
        time.time(),
        "acme-2",
        HmacConfig.model_validate(HMAC_CONFIG),
    )
    headers = dict(signed.headers)
    headers["X-Acme-Signature"] = "v2=AAAA " + headers["X-Acme-Signature"]
    again = await client.post(local_path(signed.url), content=body, headers=headers)
    assert again.status_code == 202, again.text
    stale = dict(signed.headers) | {"X-Acme-Timestamp": str(int(time.time()) - 3600)}
    refused = await client.post(local_path(signed.url), content=body, headers=stale)
    assert refused.status_code == 401
    tampered = await client.post(local_path(signed.url), content=b'{"order":43}', headers=headers)
    assert tampered.status_code == 401


@pytest.mark.parametrize(
    "config",
    [
        {"signatureHeader": "X-Sig", "signedTemplate": "{timestamp}"},
        {"signatureHeader": "X-Sig", "signedTemplate": "{timestamp}.{body}"},
        {"signatureHeader": "X-Sig", "signedTemplate": "{body}.{secret}"},
        {"signatureHeader": "X-Sig", "signedTemplate": "{body"},
        {"signatureHeader": "X-Sig", "signedTemplate": "{body}{body}"},
        {"signatureHeader": "X Sig"},
        {"signatureHeader": "Content-Type"},
        {"signatureHeader": "X-Sig", "algorithm": "md5"},
        {"signatureHeader": "X-Sig", "encoding": "base32"},
        {"signatureHeader": "X-Sig", "timestampHeader": "x-sig"},
        {"signatureHeader": "X-Sig", "signaturePrefix": "a,b", "separator": ","},
        {"signatureHeader": "X-Sig", "signedTemplate": "{body!r}"},
        {"signedTemplate": "{body}"},
    ],
)
async def test_custom_hmac_nonsense_is_refused_at_save(
    client: httpx.AsyncClient, tenant: Tenant, config: dict[str, Any]
) -> None:
    routine = await new_routine(client, tenant)
    response = await client.post(
        f"/api/routines/{routine['id']}/triggers",
        json={"kind": "webhook", "signingMode": "custom_hmac", "secret": SECRET, "hmac": config},
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_custom_hmac_needs_its_config_and_only_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    routine = await new_routine(client, tenant)
    url = f"/api/routines/{routine['id']}/triggers"
    auth = Tenant.auth(tenant.board)
    without = {"kind": "webhook", "signingMode": "custom_hmac", "secret": SECRET}
    assert (await client.post(url, json=without, headers=auth)).status_code == 400
    misplaced = {"kind": "webhook", "signingMode": "github", "hmac": HMAC_CONFIG}
    assert (await client.post(url, json=misplaced, headers=auth)).status_code == 400

    trigger = await add_webhook(client, tenant, "github")
    patch_url = f"/api/routine-triggers/{trigger['id']}"
    bare = await client.patch(patch_url, json={"signingMode": "custom_hmac"}, headers=auth)
    assert bare.status_code == 400
    both = await client.patch(
        patch_url, json={"signingMode": "custom_hmac", "hmac": HMAC_CONFIG}, headers=auth
    )
    assert both.status_code == 200, both.text
    assert both.json()["hmac"]["algorithm"] == "sha512"
    back = await client.patch(patch_url, json={"signingMode": "github"}, headers=auth)
    assert back.status_code == 200
    assert back.json()["hmac"] is None


async def test_sign_command_for_custom_hmac_and_body_carried_proofs(
    client: httpx.AsyncClient, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    cases: list[tuple[str, list[str]]] = [
        ("custom_hmac", ["--hmac", orjson.dumps(HMAC_CONFIG).decode()]),
        ("mailgun", []),
        ("linear", []),
        ("microsoft_graph", []),
        ("twilio", []),
        ("square", []),
        ("hubspot", []),
    ]
    for mode, extra in cases:
        options = {"hmac": HMAC_CONFIG} if mode == "custom_hmac" else {}
        trigger = await add_webhook(client, tenant, mode, **options)
        assert (
            main(
                [
                    "sign",
                    "--trigger",
                    trigger["publicUrl"],
                    "--mode",
                    mode,
                    "--secret",
                    secret_of(mode),
                    "--body",
                    '{"value": [{"changeType": "updated"}], "n": 1}',
                    *extra,
                ]
            )
            == 0
        )
        url, headers, data = parse_curl(capsys.readouterr().out)
        response = await client.post(local_path(url), content=data.encode(), headers=headers)
        assert response.status_code == 202, (mode, response.text)


@pytest.mark.parametrize("mode", PUBLIC_KEY_PRESETS)
def test_sign_command_refuses_public_key_presets(
    capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    code = main(["sign", "--trigger", "abc", "--mode", mode, "--secret", "x", "--url", BASE])
    assert code == 2
    assert "private key" in capsys.readouterr().err
