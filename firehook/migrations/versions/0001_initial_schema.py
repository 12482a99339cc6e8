"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import firehook.store.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "run_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("ce_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_run_events")),
        sa.UniqueConstraint("ce_id", name=op.f("uq_run_events_ce_id")),
    )
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_events_company_id_seq"), ["company_id", "seq"], unique=False
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_api_keys_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "routines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("assignee_agent_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("goal_id", sa.String(length=200), nullable=True),
        sa.Column("parent_issue_id", sa.String(length=200), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("concurrency_policy", sa.String(length=32), nullable=False),
        sa.Column("catch_up_policy", sa.String(length=32), nullable=False),
        sa.Column("catch_up_cap", sa.Integer(), nullable=False),
        sa.Column("misfire_grace_sec", sa.Integer(), nullable=False),
        sa.Column("run_timeout_sec", sa.Integer(), nullable=False),
        sa.Column(
            "retry",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "dispatch",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dispatch_secret_enc", sa.Text(), nullable=True),
        sa.Column("next_run_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_routines_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routines")),
    )
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routines_company_id_created_at"),
            ["company_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("trigger_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("fire_id", sa.String(length=36), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("scheduled_for", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("coalesced_into_run_id", sa.String(length=36), nullable=True),
        sa.Column("triggered_by_routine_id", sa.String(length=36), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "attempts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("started_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "next_attempt_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_runs_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint(
            "routine_id", "idempotency_key", name=op.f("uq_runs_routine_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runs_routine_id_created_at"), ["routine_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_runs_routine_id_status"), ["routine_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_runs_status_deadline_at"), ["status", "deadline_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_runs_status_next_attempt_at"),
            ["status", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "triggers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("cron_expression", sa.String(length=200), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column(
            "cadence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("every_sec", sa.Integer(), nullable=True),
        sa.Column("at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("jitter_sec", sa.Integer(), nullable=True),
        sa.Column("public_id", sa.String(length=64), nullable=True),
        sa.Column("signing_mode", sa.String(length=32), nullable=True),
        sa.Column("replay_window_sec", sa.Integer(), nullable=True),
        sa.Column("max_body_bytes", sa.Integer(), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("previous_secret_enc", sa.Text(), nullable=True),
        sa.Column(
            "previous_secret_expires_at",
            firehook.store.tables.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("next_run_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_rotated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_triggers_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("public_id", name=op.f("uq_triggers_public_id")),
    )
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triggers_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_triggers_routine_id"), ["routine_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triggers_routine_id"))
        batch_op.drop_index(batch_op.f("ix_triggers_next_run_at"))

    op.drop_table("triggers")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_status_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_runs_status_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_runs_routine_id_status"))
        batch_op.drop_index(batch_op.f("ix_runs_routine_id_created_at"))

    op.drop_table("runs")
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routines_company_id_created_at"))

    op.drop_table("routines")
    op.drop_table("api_keys")
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_events_company_id_seq"))

    op.drop_table("run_events")
    op.drop_table("outbox")
    op.drop_table("companies")
