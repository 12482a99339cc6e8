"""JSON input with limits: what is accepted can always be stored, read and sent again.

orjson refuses to serialise more than 254 levels of nesting and PostgreSQL refuses
NUL in JSON text, so a document past either limit would be stored and then break
every reader of it. Every JSON input (request bodies, webhook bodies, bus messages)
goes through `parse_json` or `check_json`, which refuse such a document up front.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

DEFAULT_MAX_DEPTH: Final = 64
# Far below orjson's own limit, so that the envelopes around a value (an event, a page
# of runs) never push an accepted document past it.
MAX_DEPTH_LIMIT: Final = 200


_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_AS_PARENS: Final = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS: Final = bytes(set(range(256)) - set(b"[]{}"))
_NUL: Final = "must not contain NUL (\\u0000) characters"


class UnstorableJson(ValueError):
    """A JSON document refused before anything is stored; `field` names where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def parse_json(raw: bytes, field: str, max_depth: int, *, members: bool = False) -> Any:
    """Parse `raw` and check it with `check_json`; malformed JSON is refused the same way."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UnstorableJson(field, f"not valid JSON: {exc.msg}") from None
    check_json(value, field, max_depth, raw=raw, members=members)
    return value


def check_json(
    value: Any, field: str, max_depth: int, *, raw: bytes | None = None, members: bool = False
) -> None:
    """Refuse a value nested deeper than `max_depth` or holding a NUL character.

    With `members`, `value` is a document whose top-level members are the values
    limited (a request body of named fields): each may be `max_depth` deep, and a
    refusal names the member. `raw`, the bytes `value` was parsed from, lets the
    check run over the bytes in C instead of walking the value: the hot path.
    """
    limit = max_depth + 1 if members else max_depth
    if raw is None:
        problem = _problem(value, limit, look_for_nul=True)
    else:
        # orjson refuses a raw control character in a string: only the escape is a NUL.
        look_for_nul = b"\\u0000" in raw
        within = _depth_within(raw, limit)
        if within and not look_for_nul:
            return
        problem = _problem(value, -1 if within else limit, look_for_nul)
    if problem is not None:
        member, too_deep = problem
        what = f"is nested deeper than {max_depth} levels" if too_deep else _NUL
        raise UnstorableJson(member if members and member is not None else field, what)


def _depth_within(raw: bytes, limit: int) -> bool:
    """Whether the valid JSON text `raw` nests at most `limit` levels, in C-speed passes."""
    # Each level needs its own bracket, and brackets in strings only make this larger:
    # most bodies stop here, at the price of two byte counts.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return True
    # Brackets in strings must go, or a crafted string could hide real depth. Without
    # an escaped quote, strings are exactly every other piece between quotes.
    if b'\\"' in raw:
        outside = _STRING.sub(b"", raw)
    else:
        outside = b"".join(raw.split(b'"')[::2])
    brackets = outside.translate(_AS_PARENS, _NOT_BRACKETS)
    # Each pass removes the innermost level of every nest.
    for _ in range(limit):
        if not brackets:
            return True
        brackets = brackets.replace(b"()", b"")
    return not brackets


def _problem(value: Any, limit: int, look_for_nul: bool) -> tuple[str | None, bool] | None:
    """The first problem found: the top-level member it is under, and whether it is depth."""
    # Iterative, so that depth is bounded by the limit and not by Python's stack.
    stack: list[tuple[Any, int, str | None]] = [(value, 0, None)]
    while stack:
        item, depth, member = stack.pop()
        if isinstance(item, str):
            if look_for_nul and "\x00" in item:
                return member, False
            continue
        if not isinstance(item, dict | list):
            continue
        depth += 1
        if 0 <= limit < depth:
            return member, True
        if isinstance(item, dict):
            for key, child in item.items():
                if look_for_nul and "\x00" in key:
                    return member, False
                stack.append((child, depth, key if depth == 1 else member))
        else:
            stack.extend((child, depth, member) for child in item)
    return None
