"""The SQL schema, shared by SQLite and PostgreSQL; Alembic migrations mirror it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # On SQLite, one step to the text SQLAlchemy's DATETIME stores
        # ("2026-11-22 09:00:00.000000"): the consumer binds seven of these per run,
        # and the chained converters cost more than the rest of the row.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime reached the store")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
Id = String(36)
Serial = BigInteger().with_variant(Integer(), "sqlite")


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime(), nullable=False)


companies = Table(
    "companies",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, ForeignKey("companies.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=False),
    Column("agent_id", String(200), nullable=True),
    # A key bound to a collection sees only the tasks of that collection and their routines.
    Column("collection", String(200), nullable=True),
    Column("name", String(200), nullable=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    # The key's first characters, so an operator can tell keys apart; never enough to use one.
    Column("prefix", String(16), nullable=True),
    _created(),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

routines = Table(
    "routines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    # Null on a draft (Paperclip's): it stays paused until both are set.
    Column("assignee_agent_id", String(200), nullable=True),
    Column("project_id", String(200), nullable=True),
    Column("goal_id", String(200), nullable=True),
    Column("parent_issue_id", String(200), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("concurrency_policy", String(32), nullable=False),
    Column("catch_up_policy", String(32), nullable=False),
    Column("catch_up_cap", Integer, nullable=False),
    Column("misfire_grace_sec", Integer, nullable=False),
    Column("run_timeout_sec", Integer, nullable=False),
    Column("retry", Json, nullable=False),
    Column("dispatch", Json, nullable=False),
    Column("dispatch_secret_enc", Text, nullable=True),
    Column("next_run_at", UtcDateTime(), nullable=True),
    Column("last_fired_at", UtcDateTime(), nullable=True),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("archived_at", UtcDateTime(), nullable=True),
    # No foreign key to tasks: SQLite could add one only by rebuilding this table, whose
    # rows runs and triggers cascade from; the API checks the reference instead.
    Column("task_id", Id, nullable=True),
    Column("init_params_overrides", Json, nullable=True),
    Column("secret_params_enc", Text, nullable=True),
    Column("condition", Json, nullable=True),
    Column("delivery", Json, nullable=True),
    Column("default_payload", Json, nullable=True),
    # The conditions of the routine's triggers by trigger id, copied from them so that
    # applying a fire reads no trigger row.
    Column("trigger_conditions", Json, nullable=True),
    Column("variables", Json, nullable=True),
    Column("latest_revision_id", Id, nullable=True),
    Column("latest_revision_number", Integer, nullable=False, server_default="0"),
    # The routine that carries a task's direct runs (seed 000's one-shot run endpoint):
    # its runs are tagged with no routine, and their payload may set init params.
    Column("one_shot", Boolean, nullable=True),
    # Kubernetes-style labels, matched by label selectors (schemas/labels.py).
    Column("labels", Json, nullable=True),
    Column("pause_after_failures", Integer, nullable=True),
    Column("paused_reason", String(500), nullable=True),
    Index(None, "company_id", "created_at"),
    Index(None, "task_id"),
)

triggers = Table(
    "triggers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("routine_id", Id, ForeignKey("routines.id", ondelete="CASCADE"), nullable=False),
    Column("company_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("label", String(200), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("cron_expression", String(200), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("cadence", Json, nullable=True),
    Column("every_sec", Integer, nullable=True),
    Column("at", UtcDateTime(), nullable=True),
    Column("jitter_sec", Integer, nullable=True),
    Column("public_id", String(64), nullable=True, unique=True),
    Column("signing_mode", String(32), nullable=True),
    Column("replay_window_sec", Integer, nullable=True),
    Column("max_body_bytes", Integer, nullable=True),
    Column("rate_limit_per_minute", Integer, nullable=True),
    Column("secret_enc", Text, nullable=True),
    Column("previous_secret_enc", Text, nullable=True),
    Column("previous_secret_expires_at", UtcDateTime(), nullable=True),
    Column("next_run_at", UtcDateTime(), nullable=True),
    Column("last_fired_at", UtcDateTime(), nullable=True),
    Column("last_rotated_at", UtcDateTime(), nullable=True),
    Column("version", Integer, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("condition", Json, nullable=True),
    # The custom_hmac mode's configuration (schemas.signing.HmacConfig).
    Column("signing_config", Json, nullable=True),
    Column("exclude_dates", Json, nullable=True),
    Column("dst_policy", Json, nullable=True),
    Index(None, "routine_id"),
    Index(None, "next_run_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, nullable=False),
    Column("routine_id", Id, ForeignKey("routines.id", ondelete="CASCADE"), nullable=False),
    Column("trigger_id", Id, nullable=True),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("idempotency_key", String(300), nullable=True),
    Column("fire_id", Id, nullable=True),
    Column("payload", Json, nullable=True),
    Column("scheduled_for", UtcDateTime(), nullable=True),
    Column("coalesced_into_run_id", Id, nullable=True),
    Column("triggered_by_routine_id", Id, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("attempts", Json, nullable=False),
    Column("output", Json, nullable=True),
    Column("error", Text, nullable=True),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("dispatched_at", UtcDateTime(), nullable=True),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("deadline_at", UtcDateTime(), nullable=True),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    # The executor's work item for this run, as it reported it.
    Column("linked_issue_id", String(200), nullable=True),
    # The routine's title and description with the run's variables rendered in.
    Column("title", String(4000), nullable=True),
    Column("description", Text, nullable=True),
    UniqueConstraint("routine_id", "idempotency_key"),
    Index(None, "routine_id", "status"),
    Index(None, "routine_id", "created_at"),
    Index(None, "status", "deadline_at"),
    Index(None, "status", "next_attempt_at"),
    # Company-wide statistics, the heatmap and today's count read runs by time.
    Index(None, "company_id", "created_at"),
)

# Every change to a routine or its triggers, as a snapshot of both afterwards.
routine_revisions = Table(
    "routine_revisions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, nullable=False),
    Column("routine_id", Id, ForeignKey("routines.id", ondelete="CASCADE"), nullable=False),
    Column("revision_number", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("snapshot", Json, nullable=False),
    Column("change_summary", String(500), nullable=True),
    Column("changed_fields", Json, nullable=False),
    Column("restored_from_revision_id", Id, nullable=True),
    Column("created_by_key_id", Id, nullable=True),
    Column("created_by_agent_id", String(200), nullable=True),
    _created(),
    UniqueConstraint("routine_id", "revision_number"),
)

# Messages to publish once the transaction that wrote them has committed: a crash
# between commit and publish leaves them here, and the relay sends them after restart.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=True),
    Column("headers", Json, nullable=False),
    Column("body", Json, nullable=False),
    _created(),
    Column("claimed_by", String(36), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
)

# RunEvents kept for Server-Sent Events subscribers; `seq` is the SSE event id.
run_events = Table(
    "run_events",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("company_id", Id, nullable=False),
    Column("routine_id", Id, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("ce_id", String(100), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("data", Json, nullable=False),
    _created(),
    Index(None, "company_id", "seq"),
)

# Tasks: what routines fire, with the init params a routine may override (seed 000).
tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("collection", String(200), nullable=True),
    Column("description", Text, nullable=True),
    Column("init_params", Json, nullable=False),
    Column("dispatch", Json, nullable=True),
    Column("payload_overrides", Boolean, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "company_id", "collection", "name"),
)

# Chains: DAGs over routines; an edge fires its target when a run of its source ends.
chains = Table(
    "chains",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("routine_ids", Json, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "company_id", "created_at"),
)

chain_edges = Table(
    "chain_edges",
    metadata,
    Column("id", Id, primary_key=True),
    Column("chain_id", Id, ForeignKey("chains.id", ondelete="CASCADE"), nullable=False),
    Column("company_id", Id, nullable=False),
    Column("from_routine_id", Id, nullable=False),
    Column("to_routine_id", Id, nullable=False),
    Column("type", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    _created(),
    # A run's end looks up the edges leaving its routine.
    Index(None, "from_routine_id"),
    Index(None, "chain_id"),
    Index(None, "company_id"),
)

# The last deliveries of each webhook trigger, for the inspector: headers redacted,
# body truncated, trimmed to `webhook_deliveries_kept` a trigger.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("trigger_id", Id, ForeignKey("triggers.id", ondelete="CASCADE"), nullable=False),
    Column("routine_id", Id, nullable=False),
    Column("company_id", Id, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("method", String(8), nullable=False),
    Column("query", String(2000), nullable=True),
    Column("headers", Json, nullable=False),
    Column("body", Text, nullable=True),
    Column("body_size", Integer, nullable=False),
    Column("body_truncated", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("failed_check", String(300), nullable=True),
    Column("answer", Json, nullable=True),
    Column("run_id", Id, nullable=True),
    Column("idempotency_key", String(300), nullable=True),
    Index(None, "trigger_id", "received_at"),
)

# The occurrence ledger: what happened to each tick of a schedule trigger, and why.
# The primary key makes every replica's record of a tick the same row.
schedule_occurrences = Table(
    "schedule_occurrences",
    metadata,
    Column("trigger_id", Id, primary_key=True),
    Column("scheduled_for", UtcDateTime(), primary_key=True),
    Column("routine_id", Id, nullable=False),
    Column("company_id", Id, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("run_id", Id, nullable=True),
    Column("handled_at", UtcDateTime(), nullable=False),
    Column("lateness_sec", Float, nullable=True),
    Column("origin", String(16), nullable=False),
    Index(None, "routine_id", "scheduled_for"),
    Index(None, "handled_at"),
)

# Backfills: the ticks of a past range fired on request, at a bounded rate.
backfills = Table(
    "backfills",
    metadata,
    Column("id", Id, primary_key=True),
    Column("company_id", Id, nullable=False),
    Column("routine_id", Id, ForeignKey("routines.id", ondelete="CASCADE"), nullable=False),
    Column("range_from", UtcDateTime(), nullable=False),
    Column("range_to", UtcDateTime(), nullable=False),
    Column("overlap_policy", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("fired", Integer, nullable=False),
    Column("excluded", Integer, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Index(None, "routine_id"),
)
