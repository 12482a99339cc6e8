"""What the webhook endpoint asks of the presets: the request as a provider signed it,
and the handshakes providers require before they deliver, answered without a run.

Handshakes that carry a signature (Slack, Zoom, Twitch, Discord) are answered only
after the request verified; Microsoft Graph's and Dropbox's carry none by design, so
they are answered for triggers of those presets alone, echoing a bounded token.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from firehook.context import Context, context_of
from gateway.providers import Inbound
from gateway.ratelimit import client_address, retry_after_seconds
from gateway.routing import Api, QueryParam
from gateway.trigger_cache import WebhookTrigger
from schemas.errors import NotFound, RateLimited

api = Api()

_MAX_TOKEN_CHARS: Final = 1024
_NOSNIFF: Final = {"X-Content-Type-Options": "nosniff"}


def inbound_of(ctx: Context, request: Request, trigger: WebhookTrigger, body: bytes) -> Inbound:
    """The request as its sender addressed it: behind a proxy, under the public base URL."""
    url = str(request.url)
    if ctx.settings.public_base_url:
        query = request.url.query
        url = ctx.public_url(trigger.public_id) + (f"?{query}" if query else "")
    return Inbound(
        method=request.method,
        url=url,
        headers=request.headers,
        body=body,
        content_type=request.headers.get("content-type", "application/json"),
    )


@api.operation(
    "GET",
    "/api/routine-triggers/public/{publicId}/fire",
    "Answer a provider's GET challenge (Dropbox) for a webhook trigger",
    "webhooks",
    query=(QueryParam("challenge", {"type": "string", "maxLength": 1024}, required=True),),
    auth=None,
    errors=(404, 429),
    extra_responses={
        "200": {
            "description": "The challenge, echoed",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def answer_challenge(request: Request) -> Response:
    # Imported here: the webhook endpoint imports this module for its hooks.
    from gateway.webhooks import PUBLIC_ID_PATTERN, ingest_state

    ctx = context_of(request)
    ingest = ingest_state(ctx)
    wait = ingest.per_address.take(client_address(request, ingest.trusted_proxies))
    if wait:
        raise RateLimited(retry_after_seconds(wait))
    public_id = request.path_params["publicId"]
    found = await ingest.triggers.get(public_id) if PUBLIC_ID_PATTERN.fullmatch(public_id) else None
    answer = query_handshake(found, request) if found is not None else None
    if answer is None:
        # Any trigger but a Dropbox one with a challenge has nothing to say to a GET.
        raise NotFound("webhook trigger not found")
    return answer


def query_handshake(trigger: WebhookTrigger, request: Request) -> Response | None:
    """Microsoft Graph's `validationToken` (POST) and Dropbox's `challenge` (GET), echoed."""
    if trigger.signing_mode == "microsoft_graph" and request.method == "POST":
        token = request.query_params.get("validationToken")
        if token is not None and _echoable(token):
            return PlainTextResponse(token, headers=_NOSNIFF)
    if trigger.signing_mode == "dropbox" and request.method == "GET":
        challenge = request.query_params.get("challenge")
        if challenge is not None and _echoable(challenge):
            return PlainTextResponse(challenge, headers=_NOSNIFF)
    return None


def signed_handshake(
    trigger: WebhookTrigger, request: Request, body: bytes, secret: str
) -> Response | None:
    """The answer to a verified handshake (Slack, Zoom, Twitch, Discord), or None.

    `secret` is the one the request verified with."""
    mode = trigger.signing_mode
    if mode == "twitch":
        if request.headers.get("twitch-eventsub-message-type") != "webhook_callback_verification":
            return None
        challenge = _object(body).get("challenge")
        if isinstance(challenge, str) and _echoable(challenge):
            return PlainTextResponse(challenge)
        return None
    if mode not in ("slack", "zoom", "discord"):
        return None
    event = _object(body)
    if mode == "slack" and event.get("type") == "url_verification":
        challenge = event.get("challenge")
        if isinstance(challenge, str) and _echoable(challenge):
            return Response(orjson.dumps({"challenge": challenge}), media_type="application/json")
    if mode == "discord" and event.get("type") == 1:
        return Response(orjson.dumps({"type": 1}), media_type="application/json")
    if mode == "zoom" and event.get("event") == "endpoint.url_validation":
        payload = event.get("payload")
        plain = payload.get("plainToken") if isinstance(payload, dict) else None
        if isinstance(plain, str) and _echoable(plain):
            # Zoom proves the endpoint knows the secret token: the one that verified.
            digest = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
            answer = {"plainToken": plain, "encryptedToken": digest}
            return Response(orjson.dumps(answer), media_type="application/json")
    return None


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _echoable(token: str) -> bool:
    return 0 < len(token) <= _MAX_TOKEN_CHARS and token.isprintable()
