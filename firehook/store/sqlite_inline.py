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

The exception is COMMIT when it syncs to disk (`synchronous=FULL`): its fsync
takes hundreds of microseconds in which the loop could serve requests, so it
runs on a thread of its own (sqlite3 releases the GIL meanwhile). The writer
holding the connection waits for it, and the connection is not handed to
anyone else before the commit ended, cancelled or not.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
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


async def _commit_on(executor: ThreadPoolExecutor, dbapi_connection: sqlite3.Connection) -> None:
    committed = asyncio.get_running_loop().run_in_executor(executor, dbapi_connection.commit)
    cancelled = False
    while not committed.done():
        try:
            await asyncio.wait((committed,))
        except asyncio.CancelledError:
            # The connection is in use until the thread is done with it: whoever
            # cancelled this writer must not roll back or reuse it before then.
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    committed.result()


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._commit_thread: ThreadPoolExecutor | None = None

    def commit_off_loop(self) -> None:
        """Commit on a thread of this engine's own from now on (see the module's notes)."""
        if self._commit_thread is None:
            self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")

    def stop_committing_off_loop(self) -> None:
        """Let the commit thread end (the engine is disposed of: nothing commits any more)."""
        if self._commit_thread is not None:
            self._commit_thread.shutdown(wait=False)
            self._commit_thread = None

    def do_commit(self, dbapi_connection: Any) -> None:
        if self._commit_thread is not None and in_greenlet():
            await_(_commit_on(self._commit_thread, dbapi_connection))
        else:
            dbapi_connection.commit()

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
