"""Schemathesis over every operation of /openapi.json, in-process, with a real admin key.

Its engine runs as `st run` would, with tests/schemathesis.toml: the examples, coverage,
fuzzing and stateful phases. Operations are taken from the document the app serves, so
an operation added anywhere is fuzzed without naming it here. SQLite only: the store's
two backends answer the API alike, and on PostgreSQL the run takes twice as long.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as engine_events
from schemathesis.engine.run import PhaseName
from schemathesis.python.asgi import shutdown_lifespans
from starlette.applications import Starlette

from firehook.app import build_app, build_context
from firehook.bootstrap import issue_api_key
from firehook.crypto import generate_secret_key
from firehook.roles import embedded
from firehook.settings import Settings
from firehook.store import Database
from schemas.common import Role

CONFIG = Path(__file__).with_name("schemathesis.toml")
pytestmark = pytest.mark.slow


async def _admin_key(database_url: str) -> str:
    db = Database(database_url)
    try:
        return (await issue_api_key(db, Role.ADMIN, name="fuzz")).key
    finally:
        await db.close()


@pytest.fixture(scope="module")
def fuzzed_app(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Starlette, str]]:
    """The app of `firehook dev` (no scheduler) on a fresh SQLite file, and an admin key."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(sqlite_template, folder / "firehook.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'firehook.db'}",
        secret_key=generate_secret_key(),
        secret_key_file=str(folder / "unused.key"),
        public_base_url="https://hooks.example.test",
        _env_file=None,  # type: ignore[call-arg]
    )
    key = asyncio.run(_admin_key(settings.database_url))
    ctx = build_context(settings)
    app = build_app(ctx, embedded(ctx, scheduler=False).services)
    yield app, key
    # The lifespan (services, database) runs in Schemathesis's event loop thread.
    shutdown_lifespans()


def _failures(events: list[Any]) -> list[str]:
    """Each failed check once: the check, the request and what was answered."""
    found: set[str] = set()
    for event in events:
        if isinstance(event, engine_events.NonFatalError | engine_events.FatalError):
            found.add(f"error: {event.info.message if hasattr(event, 'info') else event}")
        if not isinstance(event, engine_events.ScenarioFinished):
            continue
        recorder = event.recorder
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                case = recorder.cases[case_id].value
                answer = recorder.interactions.get(case_id)
                status = answer.response.status_code if answer and answer.response else None
                found.add(
                    f"{check.name}: {case.method} {case.path} -> {status}: "
                    f"{check.failure_info.failure.title}: {check.failure_info.failure.message}"
                )
    return sorted(found)


def test_every_operation_answers_as_documented(
    fuzzed_app: tuple[Starlette, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, key = fuzzed_app
    # The configuration's bearer auth reads it.
    monkeypatch.setenv("FIREHOOK_FUZZ_KEY", key)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_path(CONFIG)
    )
    events = list(from_schema(schema).execute())
    assert isinstance(events[-1], engine_events.EngineFinished)
    failures = _failures(events)
    assert not failures, "\n\n".join(failures)
    # Every operation of the document was fuzzed (the document itself aside).
    fuzzed = {
        event.label
        for event in events
        if isinstance(event, engine_events.ScenarioFinished)
        and event.phase is PhaseName.FUZZING
        and event.status is not Status.SKIP
    }
    documented = {
        f"{method.upper()} {path}"
        for path, methods in app.state.openapi["paths"].items()
        for method in methods
    }
    assert fuzzed == documented - {"GET /openapi.json"}
    stateful = [
        event
        for event in events
        if isinstance(event, engine_events.ScenarioFinished)
        and event.phase is PhaseName.STATEFUL_TESTING
    ]
    assert stateful and all(event.status is not Status.SKIP for event in stateful)
