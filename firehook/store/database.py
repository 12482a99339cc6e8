"""The async engine for SQLite or PostgreSQL, and the transaction discipline over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

registry.register("sqlite.inline", "firehook.store.sqlite_inline", "SQLiteDialect_inline")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class UnreadableJson:
    """Stands for a stored JSON value that cannot be decoded.

    Decoding happens for a whole result at once (asyncpg decodes every row before
    returning any), so raising would lose every row of the query for one bad value.
    This stand-in cannot be encoded again, so a reader that meets it skips its row.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"UnreadableJson({self.reason!r})"


def _json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return UnreadableJson(str(exc))


class Database:
    """One engine plus the rules for using it: short write transactions, retried reads.

    SQLite allows one writer at a time; its write transactions start with
    `BEGIN IMMEDIATE` (so two writers never deadlock on a lock upgrade) and are
    serialised in-process by a lock. Every write goes through `write()`: SQLite
    is driven on the loop's thread (`sqlite_inline`), where a second writer would
    wait on `busy_timeout` with the loop blocked, and the first could never finish.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {
            "json_serializer": _json_dumps,
            "json_deserializer": _json_loads,
        }
        if not self.is_sqlite:
            options |= {"pool_size": pool_size, "max_overflow": max_overflow, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(engine_url(url), **options)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_synchronous)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block exits without error."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both backends)."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("select 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()
        if self.is_sqlite:
            self.engine.dialect.stop_committing_off_loop()  # type: ignore[attr-defined]


def store_unreachable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached (or lost the connection).

    The transaction it happened in was not committed, so the same request may be
    retried; any other database error is a fault of ours, not of availability.
    """
    if isinstance(error, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, ConnectionError | TimeoutError)


def engine_url(url: str) -> URL:
    """The URL to build an engine on: SQLite, whichever driver the URL names
    (`sqlite://`, `sqlite+aiosqlite://`), is driven on the event loop (`sqlite_inline`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+inline")
    return parsed


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"SQLite synchronous must be FULL or NORMAL, not {synchronous!r}")
    sync_engine = engine.sync_engine
    if synchronous == "FULL" and engine.url.database not in (None, "", ":memory:"):
        # Only a commit that syncs to disk is worth the hop to another thread (and an
        # in-memory database shares one connection between every reader and the writer).
        engine.dialect.commit_off_loop()  # type: ignore[attr-defined]

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the driver so that we can issue BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
