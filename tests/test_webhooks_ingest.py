"""The webhook endpoint's edges: bodies and media types, size limits, rate limits, the trigger
cache, and durability."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from firehook.bus import Bus, BusUnavailable, Message
from firehook.context import Context
from firehook.settings import Settings
from firehook.store import routines as routine_store
from gateway.trigger_cache import TriggerCache, trigger_cache_of
from tests.conftest import FakeClock, Tenant
from tests.test_webhooks import (
    event_body,
    fire,
    fire_path,
    fire_signed,
    get_run,
    new_routine,
    new_webhook,
    run_count,
    signed_headers,
)


def configure(ctx: Context, **changes: Any) -> None:
    """Change settings before the endpoint's first request (its limiters read them then)."""
    ctx.settings = Settings(**(ctx.settings.model_dump() | changes), _env_file=None)  # type: ignore[call-arg]


async def send(
    client: httpx.AsyncClient,
    trigger: dict[str, Any],
    clock: FakeClock,
    body: bytes,
    content_type: str | None,
) -> httpx.Response:
    headers = signed_headers(
        trigger["signingMode"], body, clock.now.timestamp(), content_type=content_type
    )
    return await fire(client, trigger, body, headers)


# --- media types and payloads -----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.github+json",
        "application/cloudevents+json",
        None,
    ],
)
async def test_json_object_body_becomes_the_payload(
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FakeClock,
    content_type: str | None,
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = b'{"action": "opened", "nested": {"list": [1, 2.5, null, true]}, "text": "\xc3\xa9"}'
    response = await send(client, trigger, clock, body, content_type)
    assert response.status_code == 202, response.text
    run = await get_run(client, tenant, response.json()["runId"])
    assert run["payload"] == orjson.loads(body)


@pytest.mark.parametrize("mode", ["slack", "github"])
async def test_form_body_becomes_a_dict_of_its_fields(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, mode: str
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = (
        b"token=abc&command=%2Fdeploy&text=prod+now&empty="
        b"&payload=%7B%22action%22%3A%22opened%22%7D&tag=a&tag=b"
    )
    response = await send(client, trigger, clock, body, "application/x-www-form-urlencoded")
    assert response.status_code == 202, response.text
    run = await get_run(client, tenant, response.json()["runId"])
    assert run["payload"] == {
        "token": "abc",
        "command": "/deploy",
        "text": "prod now",
        "empty": "",
        "payload": '{"action":"opened"}',
        "tag": ["a", "b"],
    }


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_empty_body_fires_without_payload(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, content_type: str
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await send(client, trigger, clock, b"", content_type)
    assert response.status_code == 202, response.text
    assert (await get_run(client, tenant, response.json()["runId"]))["payload"] is None


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonp"],
)
async def test_other_media_types_are_unsupported(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, content_type: str
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await send(client, trigger, clock, b'{"a": 1}', content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await run_count(ctx) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"text"',
        b"42",
        b"null",
        b"true",
        b"{not json",
        b'{"a": 1} trailing',
        b"\xff\xfe{}",
    ],
)
async def test_json_that_is_not_an_object_is_a_validation_error(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock, body: bytes
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await send(client, trigger, clock, body, "application/json")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert await run_count(ctx) == 0


async def test_body_is_parsed_only_after_authentication(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await fire(client, trigger, b"[1, 2]", {"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"text": "a\\u0000b"}', "application/json"),
        (b'{"a\\u0000": 1}', "application/json"),
        (b"text=a%00b", "application/x-www-form-urlencoded"),
        # A raw NUL byte: invalid in JSON, but parse_qsl passes it through.
        (b"{}\x00", "application/x-www-form-urlencoded"),
        (b"\xff=1", "application/x-www-form-urlencoded"),
    ],
)
async def test_payload_that_cannot_be_stored_is_a_validation_error(
    client: httpx.AsyncClient,
    tenant: Tenant,
    ctx: Context,
    clock: FakeClock,
    body: bytes,
    content_type: str,
) -> None:
    # PostgreSQL's JSON refuses NUL characters: refused here, never a 503 at commit.
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await send(client, trigger, clock, body, content_type)
    assert response.status_code == 400, response.text
    assert await run_count(ctx) == 0


async def test_stripe_event_id_that_cannot_be_stored_is_a_validation_error(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "stripe")
    response = await send(client, trigger, clock, b'{"id": "evt_\\u0001"}', "application/json")
    assert response.status_code == 400, response.text
    assert await run_count(ctx) == 0


# --- body size --------------------------------------------------------------------------


async def test_declared_oversize_body_is_refused_before_reading(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    configure(ctx, webhook_max_body_bytes=1000)
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    body = orjson.dumps({"pad": "x" * 1000})
    response = await send(client, trigger, clock, body, "application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    exact = orjson.dumps({"pad": "x" * (1000 - 10)})
    assert len(exact) == 1000
    assert (await send(client, trigger, clock, exact, "application/json")).status_code == 202


async def test_streamed_oversize_body_stops_being_read_once_over_the_limit(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    trigger = await new_webhook(client, tenant, "none", maxBodyBytes=4096)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            sent.append(index)
            yield b" " * 1024

    # No Content-Length: the body arrives chunked and must be counted as it comes.
    response = await client.post(
        fire_path(trigger), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert len(sent) < 10
    assert await run_count(ctx) == 0


async def test_trigger_body_limit_overrides_the_default(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256", maxBodyBytes=64)
    small, large = event_body(1), orjson.dumps({"pad": "x" * 100})
    assert (await send(client, trigger, clock, small, "application/json")).status_code == 202
    assert (await send(client, trigger, clock, large, "application/json")).status_code == 413


async def test_huge_or_odd_content_length_headers_do_not_break_the_endpoint(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trigger = await new_webhook(client, tenant, "none")
    for declared in (b"9" * 5000, b"\xb2", b"-1", b"1e3"):
        response = await client.post(
            fire_path(trigger),
            content=b"{}",
            headers={b"Content-Type": b"application/json", b"Content-Length": declared},
        )
        assert response.status_code in (202, 413), (declared, response.text)


# --- rate limits ------------------------------------------------------------------------


async def test_client_address_bucket_applies_before_authentication(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    configure(ctx, webhook_rate_per_ip=0.001, webhook_burst_per_ip=3)
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    forged = {"Content-Type": "application/json", "X-Firehook-Signature": "sha256=" + "0" * 64}
    answers = [(await fire(client, trigger, b"{}", forged)).status_code for _ in range(3)]
    limited = await fire_signed(client, trigger, clock)
    unknown = await client.post("/api/routine-triggers/public/unknown/fire", json={})

    assert answers == [401, 401, 401]
    assert limited.status_code == 429 and unknown.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1


async def test_trigger_bucket_counts_only_authenticated_requests(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256", rateLimitPerMinute=2)
    forged = {"Content-Type": "application/json", "X-Firehook-Signature": "sha256=" + "0" * 64}
    for _ in range(5):
        assert (await fire(client, trigger, b"{}", forged)).status_code == 401

    answers = [
        (await fire_signed(client, trigger, clock, event_body(n))).status_code for n in range(3)
    ]

    assert answers == [202, 202, 429]
    assert await run_count(ctx) == 2


async def test_trigger_bucket_defaults_come_from_settings(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    configure(ctx, webhook_rate_per_trigger=0.001, webhook_burst_per_trigger=2)
    routine = await new_routine(client, tenant)
    first = await new_webhook(client, tenant, "hmac_sha256", routine)
    second = await new_webhook(client, tenant, "hmac_sha256", routine)
    answers = [
        (await fire_signed(client, first, clock, event_body(n))).status_code for n in range(3)
    ]
    other = await fire_signed(client, second, clock, event_body(9))
    assert answers == [202, 202, 429]
    assert other.status_code == 202


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    configure(ctx, webhook_rate_per_ip=0.001, webhook_burst_per_ip=1)
    trigger = await new_webhook(client, tenant, "none")

    async def from_client(address: str) -> int:
        headers = {"X-Forwarded-For": f"{address}, 10.0.0.7", "Content-Type": "application/json"}
        return (await client.post(fire_path(trigger), content=b"{}", headers=headers)).status_code

    # The test client's peer (127.0.0.1) is not a trusted proxy: every request is its own.
    assert [await from_client("203.0.113.1"), await from_client("203.0.113.2")] == [202, 429]


async def test_forwarded_for_from_a_trusted_proxy_separates_clients(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    configure(
        ctx,
        webhook_rate_per_ip=0.001,
        webhook_burst_per_ip=1,
        trusted_proxies="127.0.0.0/8, 10.0.0.0/8",
    )
    trigger = await new_webhook(client, tenant, "none")

    async def from_client(forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded, "Content-Type": "application/json"}
        return (await client.post(fire_path(trigger), content=b"{}", headers=headers)).status_code

    assert await from_client("203.0.113.1, 10.0.0.7") == 202
    assert await from_client("203.0.113.2, 10.0.0.7") == 202
    assert await from_client("203.0.113.1") == 429
    # A client cannot dodge its bucket by writing addresses of its own to the left.
    assert await from_client("198.51.100.9, 203.0.113.2, 10.0.0.8") == 429


# --- the trigger cache ------------------------------------------------------------------


class _CountingQueries:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.statements if f"FROM {table}" in s or f"from {table}" in s]


async def test_verified_webhook_reads_no_trigger_from_sql_when_cached(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    queries = _CountingQueries()
    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", queries)
    try:
        assert (await fire_signed(client, trigger, clock, event_body(2))).status_code == 202
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", queries)
    # The consumer still reads the routine and records the fire; the gateway reads nothing.
    assert queries.statements and queries.touching("triggers") == []


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_changes_made_elsewhere_are_seen_within_the_cache_lifetime(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    monotonic = _Monotonic()
    ctx.services["trigger_cache"] = TriggerCache(ctx.db, ctx.secrets, 2.0, clock=monotonic)
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    assert (await fire_signed(client, trigger, clock, event_body(1))).status_code == 202
    # Another process disables the trigger: this one's management API never hears of it.
    async with ctx.db.write() as conn:
        await routine_store.update_trigger(conn, trigger["id"], {"enabled": False})

    monotonic.now += 1.9
    still_cached = await fire_signed(client, trigger, clock, event_body(2))
    monotonic.now += 0.2
    refreshed = await fire_signed(client, trigger, clock, event_body(3))

    assert still_cached.status_code == 202
    assert refreshed.status_code == 409


async def test_cache_invalidation_wins_over_a_read_already_in_flight(ctx: Context) -> None:
    cache = TriggerCache(ctx.db, ctx.secrets, 60.0)
    original_read = cache._read
    reads = 0

    async def read(public_id: str) -> Any:
        nonlocal reads
        reads += 1
        result = await original_read(public_id)
        if reads == 1:
            cache.invalidate_trigger(public_id)
        return result

    cache._read = read  # type: ignore[method-assign]
    assert await cache.get("nope") is None
    assert len(cache) == 0
    assert await cache.get("nope") is None
    assert len(cache) == 1 and reads == 2


async def test_concurrent_misses_share_one_read(ctx: Context) -> None:
    import asyncio

    cache = TriggerCache(ctx.db, ctx.secrets, 60.0)
    original_read = cache._read
    reads = 0

    async def read(public_id: str) -> Any:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return await original_read(public_id)

    cache._read = read  # type: ignore[method-assign]
    results = await asyncio.gather(*(cache.get("shared") for _ in range(20)))
    assert results == [None] * 20 and reads == 1


async def test_cache_is_bounded(ctx: Context) -> None:
    cache = TriggerCache(ctx.db, ctx.secrets, 60.0, max_entries=3)
    for n in range(10):
        await cache.get(f"id{n}")
    assert len(cache) == 3


async def test_cached_trigger_never_shows_its_secrets_in_repr(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    cached = await trigger_cache_of(ctx).get(trigger["publicId"])
    assert cached is not None and cached.secret
    assert cached.secret not in repr(cached)


# --- durability -------------------------------------------------------------------------


class _BrokenBus(Bus):
    async def publish(self, messages: Sequence[Message]) -> None:
        raise BusUnavailable("broker unreachable")

    def subscribe(self, topic: str, group: str, handler: Any) -> None:
        raise NotImplementedError


async def test_fire_that_cannot_be_made_durable_is_unavailable(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    working = ctx.bus
    ctx.bus = _BrokenBus()
    try:
        body = event_body()
        headers = signed_headers("hmac_sha256", body, clock.now.timestamp())
        failed = await fire(client, trigger, body, headers)
        ctx.bus = working
        # The sender retries the very same signed request: it is not a replay.
        retried = await fire(client, trigger, body, headers)
    finally:
        ctx.bus = working
    assert failed.status_code == 503 and failed.json()["code"] == "UNAVAILABLE"
    assert "Retry-After" in failed.headers
    assert retried.status_code == 202
    assert await run_count(ctx) == 1


async def test_accepted_fire_is_committed_before_the_answer(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    response = await fire_signed(client, trigger, clock)
    assert response.status_code == 202
    assert await run_count(ctx) == 1
    run = await get_run(client, tenant, response.json()["runId"])
    assert run["status"] == "dispatched"
