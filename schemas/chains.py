"""Chains: DAGs over routines, where a run's end fires the routines downstream (seed 003)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from schemas.common import ApiModel, Identifier, LongText, ResponseModel, RunStatus, ShortText

MAX_CHAIN_ROUTINES = 200
MAX_CHAIN_EDGES = 500


class EdgeType(StrEnum):
    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    ON_COMPLETE = "on_complete"


# The edges a run's final status follows. Cancelled, skipped and coalesced runs follow
# none: a cancel stops the chain on purpose, and a skipped or coalesced fire never ran
# (a coalesced fire's work is the active run's, whose own end fires the successors).
EDGES_OF_STATUS: dict[RunStatus, frozenset[EdgeType]] = {
    RunStatus.SUCCEEDED: frozenset({EdgeType.ON_SUCCESS, EdgeType.ON_COMPLETE}),
    RunStatus.FAILED: frozenset({EdgeType.ON_FAILURE, EdgeType.ON_COMPLETE}),
    RunStatus.TIMED_OUT: frozenset({EdgeType.ON_FAILURE, EdgeType.ON_COMPLETE}),
}


class ChainEdgeCreate(ApiModel):
    from_routine: Identifier = Field(alias="from", description="The upstream routine's id.")
    to: Identifier = Field(description="The routine fired when the upstream run ends.")
    type: EdgeType = EdgeType.ON_SUCCESS


class ChainCreate(ApiModel):
    name: ShortText
    description: LongText | None = None
    routines: list[Identifier] | None = Field(
        default=None,
        max_length=MAX_CHAIN_ROUTINES,
        description="The chain's routines; by default those its edges name.",
    )
    edges: list[ChainEdgeCreate] = Field(min_length=1, max_length=MAX_CHAIN_EDGES)

    @model_validator(mode="after")
    def _edges_well_formed(self) -> Self:
        seen: set[tuple[str, str, EdgeType]] = set()
        for edge in self.edges:
            if edge.from_routine == edge.to:
                raise ValueError(f"edge from {edge.to} to itself: a chain is acyclic")
            key = (edge.from_routine, edge.to, edge.type)
            if key in seen:
                raise ValueError(f"edge {edge.from_routine} → {edge.to} ({edge.type}) is repeated")
            seen.add(key)
        if self.routines is not None:
            if len(set(self.routines)) != len(self.routines):
                raise ValueError("routines lists a routine twice")
            listed = set(self.routines)
            missing = sorted({r for e in self.edges for r in (e.from_routine, e.to)} - listed)
            if missing:
                raise ValueError(f"edges name routines not in routines: {', '.join(missing)}")
        return self

    def routine_ids(self) -> list[str]:
        """The chain's routines: as listed, else in the order the edges name them."""
        if self.routines is not None:
            return list(self.routines)
        ordered = (r for e in self.edges for r in (e.from_routine, e.to))
        return list(dict.fromkeys(ordered))


class ChainEdge(ResponseModel):
    id: str
    from_routine: str = Field(alias="from")
    to: str
    type: EdgeType


class Chain(ResponseModel):
    id: str
    company_id: str
    name: str
    description: str | None
    routines: list[str]
    edges: list[ChainEdge]
    created_at: datetime
    updated_at: datetime


class ChainListQuery(ApiModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


def find_cycle(edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """A cycle of the directed graph as `[a, b, ..., a]`, or None when it is acyclic."""
    successors: dict[str, list[str]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
        successors.setdefault(target, [])
    state: dict[str, int] = dict.fromkeys(successors, 0)  # 0 new, 1 on the path, 2 done
    for start in sorted(successors):
        if state[start]:
            continue
        path = [start]
        stack = [iter(sorted(successors[start]))]
        state[start] = 1
        # Iterative depth-first search: a chain of a few hundred routines must not
        # meet Python's recursion limit.
        while stack:
            node = next(stack[-1], None)
            if node is None:
                state[path.pop()] = 2
                stack.pop()
            elif state[node] == 1:
                return [*path[path.index(node) :], node]
            elif state[node] == 0:
                state[node] = 1
                path.append(node)
                stack.append(iter(sorted(successors[node])))
    return None
