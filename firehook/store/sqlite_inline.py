"""SQLite driven on the event loop's own thread.

aiosqlite runs every call on a worker thread and wakes the loop for each result.
For the statements Firehook issues (a handful of rows, by index) that hop costs
two orders of magnitude more than SQLite itself: on a 2-core machine a hop is about
115 µs of CPU, `select 1` in sqlite3 about 1 µs, and one SQLAlchemy statement
takes two to four hops. So the SQLite engine calls sqlite3 directly from the
loop. The price: a statement blocks the loop while it runs (they are short),
and a write lock held by another process would block it up to `busy_timeout`.
One process owns a SQLite database, as `firehook dev` does; in-process writers
are serialised by `Database.write` before they reach SQLite.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_, in_greenlet


async def _done() -> None:
    """Completes at once: awaiting it yields nothing to the loop."""


def _pass_through_async() -> None:
    # AsyncConnection.execute insists that the driver awaited something, as an async
    # driver always does; a coroutine that is already done satisfies it for ~2 µs.
    if in_greenlet():
        await_(_done())


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        _pass_through_async()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        _pass_through_async()
        return super().executemany(sql, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        """What AsyncConnection calls on an async driver's cursor after a statement.

        An async driver's cursor fetches its rows here; this one reads them lazily
        from SQLite, which is already at hand.
        """


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class _ExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        # A sqlite3 cursor reads its rows as they are fetched: it streams already.
        return self._dbapi_connection.cursor()


class SQLiteDialect_inline(SQLiteDialect_pysqlite):
    """The pysqlite dialect, usable from an AsyncEngine: its calls never suspend."""

    driver = "inline"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = _ExecutionContext

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # Connections live on the loop's thread, but the pool may close one elsewhere.
        kwargs.update(factory=_Connection, check_same_thread=False)
        return args, kwargs


dialect = SQLiteDialect_inline
