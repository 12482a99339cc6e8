"""The `firehook` command: `dev`, the production roles, `migrate`, and operator helpers."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from firehook.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firehook", description=__doc__)
    sub = parser.add_subparsers(title="commands")

    dev = sub.add_parser("dev", help="everything in one process: SQLite + in-process bus")
    dev.add_argument("--host", help="listen address (FIREHOOK_HOST)")
    dev.add_argument("--port", type=int, help="listen port (FIREHOOK_PORT)")
    dev.add_argument("--database-url", help="FIREHOOK_DATABASE_URL")
    dev.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="use a Kafka broker instead of the in-process bus"
    )
    dev.set_defaults(run=_run_dev)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_run_migrate)

    keys = sub.add_parser("keys", help="API keys and encryption keys")
    keys_sub = keys.add_subparsers(title="keys commands")
    create = keys_sub.add_parser("create", help="create an API key (printed once)")
    create.add_argument("--role", required=True, choices=["admin", "board", "agent"])
    create.add_argument("--company")
    create.add_argument("--agent-id")
    create.add_argument("--name")
    create.set_defaults(run=_run_keys_create)
    generate = keys_sub.add_parser(
        "generate-encryption-key", help="print a new value for FIREHOOK_SECRET_KEY"
    )
    generate.set_defaults(run=_run_generate_key)
    return parser


def _settings(**overrides: object) -> Settings:
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"FIREHOOK_{name.upper()}"] = str(value)
    return Settings()


def _run_dev(args: argparse.Namespace) -> int:
    import uvicorn

    from firehook.logging import configure_logging
    from firehook.roles import build_dev_app, prepare_dev_store

    settings = _settings(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        kafka_bootstrap_servers=args.kafka,
    )
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(prepare_dev_store(settings))
    app = build_dev_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, lifespan="on")
    return 0


def _run_migrate(_args: argparse.Namespace) -> int:
    from firehook.store import upgrade_to_head

    settings = Settings()
    upgrade_to_head(settings.database_url)
    print(f"database is at the latest schema ({_redact(settings.database_url)})")
    return 0


def _run_keys_create(args: argparse.Namespace) -> int:
    from firehook.bootstrap import issue_api_key
    from firehook.store import Database
    from schemas.common import Role

    async def create() -> str:
        db = Database(Settings().database_url)
        try:
            issued = await issue_api_key(
                db, Role(args.role), company_id=args.company, agent_id=args.agent_id, name=args.name
            )
        finally:
            await db.close()
        return issued.key

    try:
        key = asyncio.run(create())
    except ValueError as exc:
        print(f"firehook keys create: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0


def _run_generate_key(_args: argparse.Namespace) -> int:
    from firehook.crypto import generate_secret_key

    print(generate_secret_key())
    return 0


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


if __name__ == "__main__":
    sys.exit(main())
