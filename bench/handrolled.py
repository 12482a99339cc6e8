"""What a user would write instead of Firehook: a webhook receiver by hand.

Each receiver verifies the same HMAC-SHA256 signature the gateway checks (over
`timestamp.body`, with a 5-minute window), parses the JSON body, makes the fire
durable its own way, and answers 202:

* `sqlite`: INSERT the fire into a SQLite table (WAL) and commit, one transaction
  per request, with `synchronous=FULL` (an fsync per request) or `NORMAL`;
* `kafka`: produce the fire with aiokafka and await `send_and_wait` with `acks=all`.

`bench/ingest.py` starts them as baselines; run one alone with
`python bench/handrolled.py sqlite PORT DB_PATH FULL|NORMAL` or
`python bench/handrolled.py kafka PORT BOOTSTRAP TOPIC`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = b"bench-secret-0123456789abcdef-0123456789"
PATH = "/api/routine-triggers/public/{publicId}/fire"
REPLAY_WINDOW_SEC = 300

Store = Callable[[str, bytes], Awaitable[None]]


def _verified(request: Request, body: bytes) -> bool:
    timestamp = request.headers.get("x-firehook-timestamp", "")
    signature = request.headers.get("x-firehook-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SEC:
        return False
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


def receiver(store: Store, lifespan: Callable[[Starlette], object] | None = None) -> Starlette:
    async def fire(request: Request) -> Response:
        body = await request.body()
        if not _verified(request, body):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        fire_id = str(uuid.uuid4())
        await store(fire_id, body)
        return JSONResponse({"id": fire_id}, status_code=202)

    return Starlette(routes=[Route(PATH, fire, methods=["POST"])], lifespan=lifespan)  # type: ignore[arg-type]


def sqlite_receiver(path: str, synchronous: str) -> Starlette:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS fires (id TEXT PRIMARY KEY, received_at REAL, body BLOB)"
    )

    async def store(fire_id: str, body: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO fires VALUES (?, ?, ?)", (fire_id, time.time(), body))
        conn.execute("COMMIT")

    return receiver(store)


def kafka_receiver(bootstrap: str, topic: str) -> Starlette:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    producers: list[AIOKafkaProducer] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # aiokafka binds a producer to the running loop: it is made here, not at import.
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False
        )
        await producer.start()
        producers.append(producer)
        try:
            yield
        finally:
            await producer.stop()

    async def store(fire_id: str, body: bytes) -> None:
        await producers[0].send_and_wait(topic, body, key=fire_id.encode())

    return receiver(store, lifespan)


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = sqlite_receiver(argv[2], argv[3]) if kind == "sqlite" else kafka_receiver(*argv[2:4])
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None)


if __name__ == "__main__":
    main(sys.argv[1:])
