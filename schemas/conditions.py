"""Conditions: CEL expressions that decide, per fire, whether a routine runs (seed 003).

Expressions are compiled when a routine or trigger is saved, so a syntax error is a
400 naming the position, never a surprise at fire time. Compiled programs are cached
by their text: the consumer evaluates the same few expressions on every fire.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import cel
from pydantic import Field, field_validator

from schemas.common import ApiModel, ResponseModel

MAX_EXPRESSION_LENGTH = 2000


class InvalidCondition(ValueError):
    """An expression that does not compile; the message is the parser's."""


class Condition(ApiModel):
    """`{type: "expression", expression}`: true lets a fire run, anything else skips it."""

    type: Literal["expression"] = "expression"
    expression: str = Field(min_length=1, max_length=MAX_EXPRESSION_LENGTH)

    @field_validator("expression")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_condition(value)
        return value


class ConditionView(ResponseModel):
    """A stored condition as responses show it (not recompiled on every read)."""

    type: str
    expression: str


@lru_cache(maxsize=1024)
def compile_condition(expression: str) -> cel.Program:
    """The compiled program of `expression`, or InvalidCondition with the parser's message."""
    if not expression.strip():
        raise InvalidCondition("expression is empty")
    try:
        return cel.compile(expression)
    except ValueError as exc:
        raise InvalidCondition(_parser_message(str(exc))) from None


def _parser_message(message: str) -> str:
    # The binding prefixes the whole expression ("Failed to parse expression '...': "),
    # which the caret diagram after it already shows; keep only the parser's own words.
    _, separator, rest = message.partition("': ")
    return rest if separator and message.startswith("Failed to parse") else message
