"""Chains: when a run ends, fire the routines its chain edges lead to.

The successor fires are queued in the outbox by the same transaction that ends the
run, so a crash can neither lose them nor send them for a run that did not end.
Their idempotency key `chain:{edgeId}:{runId}` derives the successor run's id, so a
redelivered fire (or a relay that re-sends after a lost lease) never makes a second run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.records import StatusChanges
from firehook.ids import run_id_for
from firehook.store import chains as store
from schemas.chains import EDGES_OF_STATUS
from schemas.common import RunSource, RunStatus
from schemas.events import FireRequested


def chain_key(edge_id: str, run_id: str) -> str:
    """The idempotency key of the fire an edge makes for one upstream run."""
    return f"chain:{edge_id}:{run_id}"


def successor_fire(edge: RowMapping, run: Mapping[str, Any], now: datetime) -> FireRequested:
    """The fire of `edge`'s target for the ended upstream `run`."""
    key = chain_key(edge["id"], run["id"])
    return FireRequested(
        # Derived like the run id, so a re-sent fire is the same CloudEvent (same ce_id).
        fire_id=str(uuid.uuid5(uuid.UUID(run["id"]), f"chain:{edge['id']}")),
        run_id=run_id_for(edge["to_routine_id"], key),
        routine_id=edge["to_routine_id"],
        company_id=run["company_id"],
        source=RunSource.CHAIN,
        idempotency_key=key,
        payload={
            "upstream": {
                "runId": run["id"],
                "routineId": run["routine_id"],
                "status": run["status"],
                "output": run.get("output"),
                "error": run.get("error"),
            },
            "chain": {"id": edge["chain_id"], "edgeId": edge["id"], "type": edge["type"]},
        },
        requested_at=now,
        triggered_by_routine_id=run["routine_id"],
        triggered_by_run_id=run["id"],
    )


async def fire_successors(
    conn: AsyncConnection, run: Mapping[str, Any], changes: StatusChanges, now: datetime
) -> int:
    """Queue the fires of the edges that `run`'s final status follows; how many."""
    types = EDGES_OF_STATUS.get(RunStatus(run["status"]))
    if not types:
        return 0
    edges = await store.edges_from(conn, run["routine_id"], [t.value for t in types])
    for edge in edges:
        changes.request_fire(successor_fire(edge, run, now), now)
    return len(edges)
