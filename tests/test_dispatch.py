"""Dispatch: HTTP endpoints verified with `standardwebhooks`, SSE streams, and the outbox after a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consumers import Pipeline, build_pipeline
from firehook.app import build_context
from firehook.bus import InProcessBus
from firehook.context import Context
from firehook.settings import Settings
from gateway import create_app
from tests.conftest import FakeClock, Tenant, routine_body
from tests.servers import Receiver, serve


async def http_routine(
    client: httpx.AsyncClient, tenant: Tenant, url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/companies/{tenant.company_id}/routines",
        json=routine_body(dispatch={"type": "http", "url": url, "timeoutSec": 5}, **body),
        headers=Tenant.auth(tenant.board),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def run_now(client: httpx.AsyncClient, tenant: Tenant, routine_id: str, **body: Any) -> str:
    response = await client.post(
        f"/api/routines/{routine_id}/run", json=body, headers=Tenant.auth(tenant.board)
    )
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


async def wait_status(
    client: httpx.AsyncClient, tenant: Tenant, run_id: str, status: str
) -> dict[str, Any]:
    for _ in range(500):
        run = (await client.get(f"/api/runs/{run_id}", headers=Tenant.auth(tenant.board))).json()
        if run["status"] == status:
            return dict(run)
        await asyncio.sleep(0.01)
    raise AssertionError(f"run stayed {run['status']}, expected {status}")


async def test_receiver_verifies_signature_and_completes_synchronously(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    verified: list[dict[str, Any]] = []
    secret_box: dict[str, str] = {}

    def answer(request: Request, body: bytes) -> Response:
        payload = Webhook(secret_box["secret"]).verify(body, dict(request.headers))
        verified.append(payload)
        return JSONResponse({"status": "succeeded", "output": {"echo": payload["payload"]}})

    receiver = Receiver(answer)
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")
        secret_box["secret"] = routine["dispatchSigningSecret"]
        assert secret_box["secret"].startswith("whsec_")
        fetched = (
            await client.get(f"/api/routines/{routine['id']}", headers=Tenant.auth(tenant.board))
        ).json()
        assert fetched["dispatchSigningSecret"] is None
        run_id = await run_now(client, tenant, routine["id"], payload={"x": 1})
        run = await wait_status(client, tenant, run_id, "succeeded")
    assert run["output"] == {"echo": {"x": 1}}
    headers, _ = receiver.received[0]
    assert headers["webhook-id"] == run_id
    assert verified[0]["runId"] == run_id and verified[0]["routine"]["id"] == routine["id"]


async def test_tampered_dispatch_fails_verification(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    seen: list[bool] = []

    def answer(request: Request, body: bytes) -> Response:
        try:
            Webhook("whsec_" + "QUJD" * 8).verify(body, dict(request.headers))
            seen.append(True)
        except WebhookVerificationError:
            seen.append(False)
        return Response(status_code=202)

    receiver = Receiver(answer)
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")
        run_id = await run_now(client, tenant, routine["id"])
        await wait_status(client, tenant, run_id, "running")
    assert seen == [False]


async def test_accepted_dispatch_waits_for_completion(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")
        run_id = await run_now(client, tenant, routine["id"])
        running = await wait_status(client, tenant, run_id, "running")
        assert running["startedAt"] is not None
        done = await client.post(
            f"/api/runs/{run_id}/complete",
            json={"status": "succeeded"},
            headers=Tenant.auth(tenant.board),
        )
        assert done.json()["status"] == "succeeded"


async def test_undeliverable_run_is_retried_with_the_same_webhook_id(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, clock: FakeClock
) -> None:
    statuses = iter([503, 202])
    receiver = Receiver(lambda _r, _b: Response(status_code=next(statuses)))
    async with serve(receiver.app()) as base:
        routine = await http_routine(
            client, tenant, f"{base}/hook", retry={"maxAttempts": 2, "baseDelaySec": 30}
        )
        run_id = await run_now(client, tenant, routine["id"])
        pending = await wait_status(client, tenant, run_id, "retry_pending")
        assert pending["attempts"][0]["httpStatus"] == 503
        assert "undeliverable" in pending["attempts"][0]["error"]
        clock.advance(30)
        pipeline = ctx.services["pipeline"]
        assert isinstance(pipeline, Pipeline)
        await pipeline.supervisor.run_once()
        await wait_status(client, tenant, run_id, "running")
    assert [h["webhook-id"] for h, _ in receiver.received] == [run_id, run_id]
    assert [h["firehook-attempt"] for h, _ in receiver.received] == ["1", "2"]


async def test_sse_subscriber_resumes_without_missing_events(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context
) -> None:
    routine = (
        await client.post(
            f"/api/companies/{tenant.company_id}/routines",
            json=routine_body(concurrencyPolicy="always_enqueue"),
            headers=Tenant.auth(tenant.board),
        )
    ).json()
    app = create_app(ctx)

    async def read_events(
        http: httpx.AsyncClient, count: int, last_id: str | None
    ) -> list[tuple[str, dict[str, Any]]]:
        headers = Tenant.auth(tenant.board) | ({"Last-Event-ID": last_id} if last_id else {})
        events: list[tuple[str, dict[str, Any]]] = []
        async with http.stream(
            "GET", f"/api/companies/{tenant.company_id}/events", headers=headers
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event_id = None
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    assert event_id is not None
                    events.append((event_id, orjson.loads(line[6:])))
                    if len(events) == count:
                        break
        return events

    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        for _ in range(3):
            await run_now(client, tenant, routine["id"])
        first = await asyncio.wait_for(read_events(http, 3, None), 10)
        # Disconnected: more runs happen while nobody listens.
        for _ in range(4):
            await run_now(client, tenant, routine["id"])
        reader = asyncio.create_task(read_events(http, 5, first[-1][0]))
        await asyncio.sleep(0.2)
        await run_now(client, tenant, routine["id"])
        rest = await asyncio.wait_for(reader, 10)
    ids = [int(event_id) for event_id, _ in first + rest]
    assert ids == sorted(ids) and len(set(ids)) == 8
    assert {event["type"] for _, event in first + rest} == {"dev.firehook.run.dispatched"}
    assert len({event["data"]["runId"] for _, event in first + rest}) == 8


async def test_crash_between_commit_and_dispatch_still_dispatches(
    settings: Settings, tenant: Tenant, client: httpx.AsyncClient
) -> None:
    """A process commits runs and dies before its relay sends them; the next process sends them."""
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        routine = await http_routine(client, tenant, f"{base}/hook")

        # Process one: consumer commits, relay never runs (it "crashed" right after the commit).
        crashed = build_context(settings)
        bus = InProcessBus()
        crashed.bus = bus
        build_pipeline(crashed, bus, publish_run_events=False)
        await bus.start()
        app = create_app(crashed)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as dead:
            response = await dead.post(
                f"/api/routines/{routine['id']}/run", json={}, headers=Tenant.auth(tenant.board)
            )
            assert response.status_code == 202
        run_id = response.json()["runId"]
        await bus.stop()
        await crashed.db.close()
        await asyncio.sleep(0.2)
        assert receiver.received == []

        # Process two starts on the same database and sends what was left.
        restarted = build_context(settings)
        bus2 = InProcessBus()
        restarted.bus = bus2
        pipeline = build_pipeline(restarted, bus2, publish_run_events=False)
        await bus2.start()
        await pipeline.relay.start()
        try:
            await receiver.wait_for(1)
        finally:
            await pipeline.relay.stop()
            await bus2.stop()
            await restarted.db.close()
    assert receiver.received[0][0]["webhook-id"] == run_id


async def test_claimed_but_unsent_message_is_sent_after_its_lease(
    settings: Settings, tenant: Tenant, client: httpx.AsyncClient, ctx: Context
) -> None:
    """A relay that claimed a delivery and died: another relay sends it once the lease ends."""
    from firehook.ids import new_id
    from firehook.store import runs as store

    receiver = Receiver()
    async with serve(receiver.app()) as base:
        pipeline = ctx.services["pipeline"]
        assert isinstance(pipeline, Pipeline)
        await pipeline.relay.stop()  # this process's relay is gone
        routine = await http_routine(client, tenant, f"{base}/hook")
        run_id = await run_now(client, tenant, routine["id"])
        async with ctx.db.write() as conn:
            claimed = await store.claim_outbox(
                conn, new_id(), ctx.clock(), timedelta(seconds=330), 10
            )
        assert len(claimed) == 1  # claimed by a relay that then crashed

        other = build_context(settings)
        other.bus = InProcessBus()
        fresh = build_pipeline(other, other.bus, publish_run_events=False)
        clock = FakeClock()
        other.clock = clock
        assert await fresh.relay.relay_once() == 0  # still leased
        clock.advance(331)
        assert await fresh.relay.relay_once() == 1
        await fresh.relay.wait_idle()
        await fresh.relay.stop()
        await other.db.close()
    assert [h["webhook-id"] for h, _ in receiver.received] == [run_id]


async def test_concurrent_claims_share_nothing_and_come_oldest_first(ctx: Context) -> None:
    """Relays of several processes lease disjoint rows; on PostgreSQL none waits for another."""
    from firehook.ids import new_id
    from firehook.store import runs as store

    pipeline = ctx.services["pipeline"]
    assert isinstance(pipeline, Pipeline)
    await pipeline.relay.stop()  # the rows are for the claims below, not for this relay
    now = ctx.clock()
    async with ctx.db.write() as conn:
        await store.add_to_outbox(
            conn,
            [
                {"topic": "t", "key": str(n), "headers": [], "body": {"n": n}, "created_at": now}
                for n in range(30)
            ],
        )

    async def claim(limit: int) -> list[int]:
        async with ctx.db.write() as conn:
            rows = await store.claim_outbox(conn, new_id(), now, timedelta(seconds=30), limit)
        return [row["body"]["n"] for row in rows]

    batches = await asyncio.gather(*(claim(7) for _ in range(5)))
    taken = [n for batch in batches for n in batch]
    assert sorted(taken) == list(range(30))  # every row once, none twice
    assert all(batch == sorted(batch) for batch in batches)
    assert [len(batch) for batch in sorted(batches, key=len, reverse=True)] == [7, 7, 7, 7, 2]
    assert await claim(10) == []  # all leased
