"""Chains and their edges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import chain_edges, chains, companies, routines


async def lock_company_chains(conn: AsyncConnection, company_id: str) -> None:
    """Serialise changes to a company's chains (PostgreSQL row lock on the company), so two
    chains created at once cannot close a cycle that neither saw. SQLite has one writer."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            select(companies.c.id).where(companies.c.id == company_id).with_for_update()
        )


async def insert_chain(
    conn: AsyncConnection, values: Mapping[str, Any], edges: Sequence[Mapping[str, Any]]
) -> None:
    await conn.execute(insert(chains).values(**values))
    if edges:
        await conn.execute(insert(chain_edges), list(edges))


async def get_chain(conn: AsyncConnection, chain_id: str) -> RowMapping | None:
    return (await conn.execute(select(chains).where(chains.c.id == chain_id))).mappings().first()


async def list_chains(
    conn: AsyncConnection, company_id: str, *, limit: int, offset: int
) -> tuple[Sequence[RowMapping], int]:
    where = chains.c.company_id == company_id
    total = (await conn.execute(select(func.count()).select_from(chains).where(where))).scalar_one()
    rows = await conn.execute(
        select(chains)
        .where(where)
        .order_by(chains.c.created_at.desc(), chains.c.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.mappings().all(), int(total)


async def edges_of_chains(
    conn: AsyncConnection, chain_ids: Sequence[str]
) -> dict[str, list[RowMapping]]:
    """Each chain's edges, in the order they were given."""
    grouped: dict[str, list[RowMapping]] = {chain_id: [] for chain_id in chain_ids}
    if not chain_ids:
        return grouped
    result = await conn.execute(
        select(chain_edges)
        .where(chain_edges.c.chain_id.in_(list(chain_ids)))
        .order_by(chain_edges.c.chain_id, chain_edges.c.position)
    )
    for row in result.mappings():
        grouped[row["chain_id"]].append(row)
    return grouped


async def company_edges(conn: AsyncConnection, company_id: str) -> list[tuple[str, str, str]]:
    """Every edge of the company's chains as (from routine, to routine, chain id)."""
    result = await conn.execute(
        select(
            chain_edges.c.from_routine_id, chain_edges.c.to_routine_id, chain_edges.c.chain_id
        ).where(chain_edges.c.company_id == company_id)
    )
    return [(source, target, chain_id) for source, target, chain_id in result.all()]


async def edges_from(
    conn: AsyncConnection, routine_id: str, types: Iterable[str]
) -> Sequence[RowMapping]:
    """The edges leaving a routine whose type is one of `types`."""
    result = await conn.execute(
        select(chain_edges)
        .where(chain_edges.c.from_routine_id == routine_id, chain_edges.c.type.in_(list(types)))
        .order_by(chain_edges.c.chain_id, chain_edges.c.position)
    )
    return result.mappings().all()


async def delete_chain(conn: AsyncConnection, chain_id: str) -> None:
    # Edges go explicitly too: SQLite enforces the cascade only with its pragma on.
    await conn.execute(delete(chain_edges).where(chain_edges.c.chain_id == chain_id))
    await conn.execute(delete(chains).where(chains.c.id == chain_id))


async def company_routines(
    conn: AsyncConnection, company_id: str, routine_ids: Iterable[str]
) -> dict[str, RowMapping]:
    """Id, title and status of those of `routine_ids` that belong to the company."""
    ids = sorted(set(routine_ids))
    if not ids:
        return {}
    result = await conn.execute(
        select(routines.c.id, routines.c.title, routines.c.status).where(
            routines.c.company_id == company_id, routines.c.id.in_(ids)
        )
    )
    return {row["id"]: row for row in result.mappings()}
