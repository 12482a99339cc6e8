"""Hostile input at the webhook endpoint: arbitrary headers and bodies, signed or not.

Two properties, on both backends: the endpoint never answers 5xx, and no run
exists without a request that authenticates (checked against the verifier, and,
independently of it, never for a request nobody signed).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.datastructures import Headers

from firehook.app import build_context
from firehook.bootstrap import issue_api_key
from firehook.context import Context
from firehook.roles import Embedded, embedded
from firehook.settings import Settings
from firehook.store.tables import runs
from gateway import create_app
from gateway.signatures import SIGNING_MODES, SignatureError, sign_webhook, verify_webhook
from schemas.common import Role
from tests.conftest import make_tenant
from tests.test_webhooks import fire_path, new_webhook, secret_for

WINDOW = 300
_AUTH_HEADERS = [
    "authorization",
    "x-firehook-signature",
    "x-firehook-timestamp",
    "x-paperclip-signature",
    "x-paperclip-timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "idempotency-key",
    "content-type",
    "content-length",
    "x-forwarded-for",
]
_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/problem+json",
    "",
]

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_bodies = st.one_of(
    st.dictionaries(st.text(max_size=10), _json_values, max_size=5).map(
        lambda value: orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    ),
    st.builds(lambda id_: orjson.dumps({"id": id_, "type": "x"}), st.text(max_size=30)),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"[]",
            b"null",
            b'"x"',
            b"a=1&b=%00&c",
            b"{" * 50,
            b'{"a":"\\u0000"}',
            b'{"n": 1' + b"0" * 40 + b"}",
        ]
    ),
)
_header_names = st.sampled_from(_AUTH_HEADERS).map(
    lambda name: name.upper() if len(name) % 3 == 0 else name
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_header_values = st.binary(max_size=80) | st.sampled_from(
    [b"", b"sha256=", b"v1,", b"t=1,v1=", b"Bearer ", b"v0=", b"9" * 30, b"0", b"\xff\xfe"]
)


@dataclass(frozen=True)
class Attempt:
    """One request to throw: which trigger, whether and when it is signed, and how mangled."""

    mode: str
    body: bytes
    signed: bool
    sign_offset: int
    content_type: str | None
    extra_headers: tuple[tuple[str, bytes], ...]
    drop: tuple[str, ...]
    body_suffix: bytes
    public_id_override: str | None


_attempts = st.builds(
    Attempt,
    mode=st.sampled_from(SIGNING_MODES),
    body=_bodies,
    signed=st.booleans(),
    sign_offset=st.sampled_from([0, 0, 0, -100, 100, -400, 400, 10**9]),
    content_type=st.sampled_from([*_CONTENT_TYPES, None]),
    extra_headers=st.lists(st.tuples(_header_names, _header_values), max_size=4).map(tuple),
    drop=st.lists(st.sampled_from(_AUTH_HEADERS), max_size=2).map(tuple),
    body_suffix=st.sampled_from([b"", b"", b"", b" ", b"x", b"\x00"]),
    public_id_override=st.none() | st.none() | st.text(max_size=30),
)


@dataclass
class Harness:
    """The embedded app with one webhook trigger of each signing mode."""

    ctx: Context
    wired: Embedded
    client: httpx.AsyncClient
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: int = 0

    @classmethod
    async def start(cls, settings: Settings) -> Harness:
        # Generous limits: the point is to reach the code behind them.
        tuned = Settings(
            **(
                settings.model_dump()
                | {"webhook_rate_per_ip": 1e6, "webhook_burst_per_ip": 10**6}
                | {"webhook_rate_per_trigger": 1e6, "webhook_burst_per_trigger": 10**6}
            ),
            _env_file=None,  # type: ignore[call-arg]
        )
        ctx = build_context(tuned)
        wired = embedded(ctx, scheduler=False)
        for service in wired.services:
            await service.start()
        transport = httpx.ASGITransport(app=create_app(ctx))
        client = httpx.AsyncClient(transport=transport, base_url="http://firehook.test")
        harness = cls(ctx, wired, client)
        admin = (await issue_api_key(ctx.db, Role.ADMIN)).key
        tenant = await make_tenant(client, admin)
        for mode in SIGNING_MODES:
            harness.triggers[mode] = await new_webhook(client, tenant, mode)
        return harness

    async def stop(self) -> None:
        await self.client.aclose()
        for service in reversed(self.wired.services):
            await service.stop()
        await self.ctx.db.close()

    async def run_count(self) -> int:
        async with self.ctx.db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(runs))).scalar_one())

    async def throw(self, attempt: Attempt) -> None:
        trigger = self.triggers[attempt.mode]
        now = time.time()
        headers: list[tuple[bytes, bytes]] = []
        if attempt.signed:
            signed = sign_webhook(
                attempt.mode, secret_for(attempt.mode), attempt.body, now + attempt.sign_offset
            )
            headers += [(k.encode(), v.encode("latin-1")) for k, v in signed.items()]
        if attempt.content_type is not None:
            headers.append((b"content-type", attempt.content_type.encode()))
        dropped = {name.encode() for name in attempt.drop}
        headers = [(k, v) for k, v in headers if k.lower() not in dropped]
        headers += [(name.encode(), value) for name, value in attempt.extra_headers]
        body = attempt.body + attempt.body_suffix
        path = fire_path(trigger)
        if attempt.public_id_override is not None:
            path = fire_path({"publicId": quote(attempt.public_id_override, safe="")})
        before = await self.run_count()

        response = await self.client.post(path, content=body, headers=headers)

        after = await self.run_count()
        assert response.status_code < 500, (attempt, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "code", "details"}
        if response.status_code != 202:
            assert after == before, attempt
            return
        replayed = response.headers.get("idempotent-replayed") == "true"
        assert (
            attempt.public_id_override is None or attempt.public_id_override == trigger["publicId"]
        )
        if attempt.mode != "none":
            # Nobody signed it: it must not have fired, whatever the verifier thinks.
            assert attempt.signed, attempt
            assert _authentic(attempt.mode, headers, body, now), attempt
        assert after == before + (0 if replayed else 1), attempt
        self.accepted += not replayed


def _authentic(mode: str, headers: list[tuple[bytes, bytes]], body: bytes, now: float) -> bool:
    as_received = Headers(raw=[(name.lower(), value) for name, value in headers])
    try:
        verify_webhook(mode, [secret_for(mode)], as_received, body, WINDOW, now)
    except SignatureError:
        return False
    return True


def test_arbitrary_requests_never_fail_the_server_nor_fire_unauthenticated(
    settings: Settings,
) -> None:
    with asyncio.Runner() as runner:
        harness = runner.run(Harness.start(settings))
        try:

            @given(attempt=_attempts)
            @hypothesis_settings(
                max_examples=200,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            def throw(attempt: Attempt) -> None:
                runner.run(harness.throw(attempt))

            throw()
        finally:
            runner.run(harness.stop())
    # The property is vacuous unless some requests got through.
    assert harness.accepted > 0
