"""Companies and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from firehook.store.tables import api_keys, companies


async def insert_company(conn: AsyncConnection, *, id: str, name: str, now: datetime) -> None:
    await conn.execute(insert(companies).values(id=id, name=name, created_at=now))


async def get_company(conn: AsyncConnection, company_id: str) -> RowMapping | None:
    result = await conn.execute(select(companies).where(companies.c.id == company_id))
    return result.mappings().first()


async def count_companies(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(companies))).scalar_one())


async def insert_api_key(
    conn: AsyncConnection,
    *,
    id: str,
    company_id: str | None,
    role: str,
    agent_id: str | None,
    name: str | None,
    key_hash: str,
    now: datetime,
    collection: str | None = None,
) -> None:
    await conn.execute(
        insert(api_keys).values(
            id=id,
            company_id=company_id,
            role=role,
            agent_id=agent_id,
            collection=collection,
            name=name,
            key_hash=key_hash,
            created_at=now,
        )
    )


async def find_api_key(conn: AsyncConnection, key_hash: str) -> RowMapping | None:
    """The live (not revoked) key with this hash."""
    result = await conn.execute(
        select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )
    return result.mappings().first()


async def touch_api_key(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))
