"""a webhook trigger's signing configuration (custom_hmac), and the deliveries it received

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import firehook.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signing_config", _json(), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("trigger_id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=True),
        sa.Column("headers", _json(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("body_truncated", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("failed_check", sa.String(length=300), nullable=True),
        sa.Column("answer", _json(), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_deliveries_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_trigger_id_received_at"),
            ["trigger_id", "received_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("deliveries")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_column("signing_config")
