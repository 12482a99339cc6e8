"""Labels on routines and label selectors over them, with Kubernetes' syntax and limits. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_LABELS = 64
MAX_SELECTOR_LENGTH = 2_000
_NAME = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class InvalidLabel(ValueError):
    """A label key or value, or a selector, that Kubernetes' rules refuse."""


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a label key (optional DNS subdomain prefix, `/`, name), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253:
            return "the prefix must be a DNS subdomain of at most 253 characters"
        if not all(_DNS_LABEL.fullmatch(part) for part in prefix.split(".")):
            return "the prefix must be a DNS subdomain (lowercase letters, digits, '-' and '.')"
    if not name or len(name) > 63:
        return "the name must be 1 to 63 characters"
    if not _NAME.fullmatch(name):
        return (
            "the name must begin and end with a letter or digit, with only letters, digits, "
            "'-', '_' and '.' between"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a label value (empty, or up to 63 name characters), or None."""
    if len(value) > 63:
        return "a value must be at most 63 characters"
    if value and not _NAME.fullmatch(value):
        return (
            "a value must be empty or begin and end with a letter or digit, with only "
            "letters, digits, '-', '_' and '.' between"
        )
    return None


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        problem = label_key_problem(key)
        if problem is not None:
            raise ValueError(f"label key {key!r}: {problem}")
        problem = label_value_problem(value)
        if problem is not None:
            raise ValueError(f"label {key!r}: {problem}")
    return labels


Labels = Annotated[
    dict[Annotated[str, Field(max_length=317)], Annotated[str, Field(max_length=63)]],
    Field(max_length=MAX_LABELS),
    AfterValidator(_check_labels),
]
LABELS_DOC = (
    "Kubernetes-style labels: keys `[prefix/]name` (name of at most 63 letters, digits, "
    "'-', '_', '.'; prefix a DNS subdomain), values of at most 63 such characters or empty."
)


class Operator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a selector: `key op values`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                # As in Kubernetes: a routine without the key matches `!=` and `notin`.
                return not present or value not in self.values


Selector = tuple[Requirement, ...]
_PUNCTUATION = frozenset({"(", ")", ",", "!", "=", "==", "!="})

_TOKEN = re.compile(
    r"\s*(?:(?P<op>!=|==|=|\(|\)|,|!)|(?P<word>[^\s!=(),]+))",
)


def parse_selector(text: str) -> Selector:
    """A selector such as `env=prod,team in (data,ml),!deprecated`; raises InvalidLabel.

    Clauses joined by commas all hold. Each is `key=value` (or `==`), `key!=value`,
    `key in (v1,v2)`, `key notin (v1,v2)`, `key` (exists) or `!key` (does not exist).
    An empty selector matches everything.
    """
    if len(text) > MAX_SELECTOR_LENGTH:
        raise InvalidLabel(f"a selector must be at most {MAX_SELECTOR_LENGTH} characters")
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    position = 0

    def take() -> str | None:
        nonlocal position
        if position >= len(tokens):
            return None
        token = tokens[position]
        position += 1
        return token

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    while position < len(tokens):
        token = take()
        if token == "!":
            key = _key(take())
            requirements.append(Requirement(key, Operator.DOES_NOT_EXIST))
        else:
            key = _key(token)
            following = peek()
            if following in (None, ","):
                requirements.append(Requirement(key, Operator.EXISTS))
            elif following in ("=", "==", "!="):
                take()
                value = peek()
                if value in (None, ","):
                    value = ""  # `key=` selects the empty value, as in Kubernetes
                elif value in _PUNCTUATION:
                    raise InvalidLabel(f"expected a value after {key}{following}")
                else:
                    take()
                    _value(value)
                operator = Operator.EQUALS if following != "!=" else Operator.NOT_EQUALS
                requirements.append(Requirement(key, operator, (value,)))
            elif following in ("in", "notin"):
                take()
                values = _value_list(take, key)
                operator = Operator.IN if following == "in" else Operator.NOT_IN
                requirements.append(Requirement(key, operator, values))
            else:
                raise InvalidLabel(f"unexpected {following!r} after {key!r}")
        separator = take()
        if separator not in (None, ","):
            raise InvalidLabel(f"expected ',' between clauses, found {separator!r}")
        if separator == "," and position >= len(tokens):
            raise InvalidLabel("a selector must not end with ','")
    return tuple(requirements)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidLabel(f"cannot read the selector at character {position + 1}")
        tokens.append(match.group("op") or match.group("word"))
        position = match.end()
    return tokens


def _key(token: str | None) -> str:
    if token is None or token in _PUNCTUATION:
        raise InvalidLabel(f"expected a label key, found {token or 'the end'!r}")
    problem = label_key_problem(token)
    if problem is not None:
        raise InvalidLabel(f"label key {token!r}: {problem}")
    return token


def _value(token: str) -> str:
    problem = label_value_problem(token)
    if problem is not None:
        raise InvalidLabel(f"label value {token!r}: {problem}")
    return token


def _value_list(take: Callable[[], str | None], key: str) -> tuple[str, ...]:
    if take() != "(":
        raise InvalidLabel(f"expected '(' after the set operator of {key!r}")
    values: list[str] = []
    while True:
        token = take()
        if token is None or token in _PUNCTUATION:
            raise InvalidLabel(f"expected a value in the set of {key!r}, found {token!r}")
        values.append(_value(token))
        token = take()
        if token == ")":
            return tuple(values)
        if token != ",":
            raise InvalidLabel(f"expected ',' or ')' in the set of {key!r}, found {token!r}")


def selector_matches(selector: Selector, labels: Mapping[str, str] | None) -> bool:
    """Whether every requirement of `selector` holds for `labels`."""
    given = labels or {}
    return all(requirement.matches(given) for requirement in selector)
