"""First-run setup and operator key creation, shared by `firehook dev` and `firehook keys`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from firehook.auth import generate_api_key, hash_api_key, shown_prefix
from firehook.ids import new_id
from firehook.store import Database, accounts
from schemas.common import Role


@dataclass(frozen=True)
class IssuedKey:
    key: str
    key_id: str
    role: Role
    company_id: str | None
    agent_id: str | None
    collection: str | None = None


async def issue_api_key(
    db: Database,
    role: Role,
    *,
    company_id: str | None = None,
    agent_id: str | None = None,
    name: str | None = None,
    collection: str | None = None,
) -> IssuedKey:
    """Create a key (stored hashed) and return its plaintext, to be shown once."""
    if role is not Role.ADMIN and company_id is None:
        raise ValueError(f"a {role} key needs --company")
    if collection is not None and (role is Role.ADMIN or not collection.strip()):
        raise ValueError("--collection binds a board or agent key to a non-empty collection")
    if (role is Role.AGENT) != (agent_id is not None):
        raise ValueError("--agent-id is required for agent keys and only for them")
    key, key_id = generate_api_key(), new_id()
    async with db.write() as conn:
        if company_id is not None and await accounts.get_company(conn, company_id) is None:
            raise ValueError(f"no company {company_id}")
        await accounts.insert_api_key(
            conn,
            id=key_id,
            company_id=company_id,
            role=role.value,
            agent_id=agent_id,
            name=name,
            key_hash=hash_api_key(key),
            prefix=shown_prefix(key),
            now=datetime.now(UTC),
            collection=collection,
        )
    return IssuedKey(key, key_id, role, company_id, agent_id, collection)


async def bootstrap_empty_store(db: Database) -> tuple[str, IssuedKey] | None:
    """On an empty database: a first company and an admin key. None otherwise."""
    async with db.read() as conn:
        if await accounts.count_companies(conn):
            return None
    company_id = new_id()
    async with db.write() as conn:
        await accounts.insert_company(
            conn, id=company_id, name="Default company", now=datetime.now(UTC)
        )
    return company_id, await issue_api_key(db, Role.ADMIN, name="dev bootstrap")
