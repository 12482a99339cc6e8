"""Inserts of many whole rows handed to sqlite3 without SQLAlchemy's per-row work.

For an executemany SQLAlchemy builds each row's parameters through its compiled
statement and calls a bind processor per column and row; for the runs and run
events the consumer writes for every fire that costs more than SQLite's insert.
Here the statement is compiled once per set of columns and each row becomes a
tuple in one pass, through the very bind processors SQLAlchemy would apply, so
the stored values are the same. A datetime shared by many rows (the batch's
`now`) is formatted once. PostgreSQL keeps the ordinary path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Table, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

_Converter = Callable[[Any], Any] | None
# The SQL, then per parameter in its order: the row's key, its converter, whether a datetime.
_Prepared = tuple[str, list[tuple[str, _Converter, bool]]]


class RowInsert:
    """`INSERT ... ON CONFLICT DO NOTHING` of rows of `table`, every row with the same keys."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._prepared: dict[tuple[str, ...], _Prepared] = {}
        self._postgres = postgresql.insert(table).on_conflict_do_nothing()

    async def execute(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            await conn.execute(self._postgres, list(rows))
            return
        keys = tuple(rows[0])
        prepared = self._prepared.get(keys)
        if prepared is None:
            prepared = self._prepared[keys] = self._prepare(keys, conn.dialect)
        sql, steps = prepared
        parameters = _parameters(rows, steps)
        cursor = (await conn.get_raw_connection()).driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, parameters)
        except sqlite3.Error as exc:
            # The same exception SQLAlchemy raises, so callers classify it as before.
            raise DBAPIError.instance(
                sql, parameters, exc, sqlite3.Error, dialect=conn.dialect, ismulti=True
            ) from exc
        finally:
            cursor.close()

    def _prepare(self, keys: tuple[str, ...], dialect: Dialect) -> _Prepared:
        omitted = [c for c in self._table.columns if c.key not in keys]
        if any(c.default is not None or c.onupdate is not None for c in omitted):
            # Python-side defaults are SQLAlchemy's to fill in; none of these tables has one.
            raise ValueError(f"rows of {self._table.name} must give every defaulted column")
        compiled = (
            sqlite.insert(self._table)
            .on_conflict_do_nothing()
            .compile(dialect=dialect, column_keys=list(keys))
        )
        order = compiled.positiontup
        if order is None or sorted(order) != sorted(keys):
            raise ValueError(f"unexpected parameters for {self._table.name}: {order}")
        steps: list[tuple[str, _Converter, bool]] = []
        for key in order:
            column_type = self._table.c[key].type
            converter = column_type.dialect_impl(dialect).bind_processor(dialect)
            steps.append((key, converter, converter is not None and _holds_datetimes(column_type)))
        return compiled.string, steps


def _parameters(
    rows: Sequence[Mapping[str, Any]], steps: list[tuple[str, _Converter, bool]]
) -> list[tuple[Any, ...]]:
    formatted: dict[datetime, Any] = {}
    parameters = []
    for row in rows:
        values = []
        for key, convert, time in steps:
            value = row[key]
            if time:
                # A datetime column's converter keeps None as None.
                if value is not None:
                    text = formatted.get(value)
                    if text is None:
                        text = formatted[value] = convert(value)  # type: ignore[misc]
                    value = text
            elif convert is not None:
                # Not only for values: a JSON column stores None as JSON's null.
                value = convert(value)
            values.append(value)
        parameters.append(tuple(values))
    return parameters


def _holds_datetimes(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        return column_type.python_type is datetime
    except NotImplementedError:
        return False
