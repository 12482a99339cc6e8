"""Label selectors as SQL over a JSON `labels` column, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.sql.elements import KeyedColumnElement

from schemas.labels import Operator, Requirement, Selector


def selector_clause(labels: KeyedColumnElement[object], selector: Selector) -> ColumnElement[bool]:
    """A WHERE clause true for rows whose labels satisfy every requirement of `selector`."""
    if not selector:
        return true()
    return and_(*(_requirement(labels, requirement) for requirement in selector))


def _requirement(labels: KeyedColumnElement[object], req: Requirement) -> ColumnElement[bool]:
    # A missing key (or no labels at all) reads as SQL NULL on both backends.
    value = labels[req.key].as_string()
    match req.operator:
        case Operator.EXISTS:
            return value.is_not(None)  # type: ignore[no-any-return]
        case Operator.DOES_NOT_EXIST:
            return value.is_(None)  # type: ignore[no-any-return]
        case Operator.EQUALS | Operator.IN:
            return value.in_(req.values)  # type: ignore[no-any-return]
        case Operator.NOT_EQUALS | Operator.NOT_IN:
            return or_(value.is_(None), value.not_in(req.values))
