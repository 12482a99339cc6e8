"""labels, exclusion dates, DST policies, the occurrence ledger and backfills

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import firehook.store.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> sa.types.TypeEngine[Any]:
    return firehook.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", _json(), nullable=True))
        batch_op.add_column(sa.Column("pause_after_failures", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("paused_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exclude_dates", _json(), nullable=True))
        batch_op.add_column(sa.Column("dst_policy", _json(), nullable=True))
    op.create_table(
        "schedule_occurrences",
        sa.Column("trigger_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_for", _utc(), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("handled_at", _utc(), nullable=False),
        sa.Column("lateness_sec", sa.Float(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "trigger_id", "scheduled_for", name=op.f("pk_schedule_occurrences")
        ),
    )
    with op.batch_alter_table("schedule_occurrences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedule_occurrences_routine_id_scheduled_for"),
            ["routine_id", "scheduled_for"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_schedule_occurrences_handled_at"), ["handled_at"], unique=False
        )
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("range_from", _utc(), nullable=False),
        sa.Column("range_to", _utc(), nullable=False),
        sa.Column("overlap_policy", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_backfills_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )
    with op.batch_alter_table("backfills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backfills_routine_id"), ["routine_id"], unique=False)


def downgrade() -> None:
    op.drop_table("backfills")
    op.drop_table("schedule_occurrences")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_column("dst_policy")
        batch_op.drop_column("exclude_dates")
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("pause_after_failures")
        batch_op.drop_column("labels")
