"""Companies and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, or_, select, true, update
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
    prefix: str,
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
            prefix=prefix,
            created_at=now,
        )
    )


async def find_api_key(conn: AsyncConnection, key_hash: str) -> RowMapping | None:
    """The live (not revoked) key with this hash."""
    result = await conn.execute(
        select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )
    return result.mappings().first()


async def get_api_key(conn: AsyncConnection, key_id: str) -> RowMapping | None:
    result = await conn.execute(select(*_LISTED).where(api_keys.c.id == key_id))
    return result.mappings().first()


async def list_api_keys(
    conn: AsyncConnection, company_id: str | None, *, limit: int | None, offset: int = 0
) -> tuple[list[RowMapping], int]:
    """A page of the company's keys (every key for None), oldest first, and the total."""
    where = api_keys.c.company_id == company_id if company_id is not None else true()
    counted = await conn.execute(select(func.count()).select_from(api_keys).where(where))
    total = counted.scalar_one()
    rows = await conn.execute(
        select(*_LISTED)
        .where(where)
        .order_by(api_keys.c.created_at, api_keys.c.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.mappings().all()), int(total)


async def revoke_api_key(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    """Revoke the key unless it already is; the first revocation time stands."""
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def record_api_key_use(conn: AsyncConnection, used: dict[str, datetime]) -> None:
    """Move each key's `last_used_at` forward to the time given, never back."""
    for key_id, when in used.items():
        await conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < when),
            )
            .values(last_used_at=when)
        )


# Every column but the hash: what a listing may show.
_LISTED = [column for column in api_keys.columns if column.name != "key_hash"]
