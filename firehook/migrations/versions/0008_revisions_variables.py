"""drafts, variables, revisions, linked issues and rendered run titles

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import firehook.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "routine_revisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("routine_id", sa.String(length=36), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("snapshot", _json(), nullable=False),
        sa.Column("change_summary", sa.String(length=500), nullable=True),
        sa.Column("changed_fields", _json(), nullable=False),
        sa.Column("restored_from_revision_id", sa.String(length=36), nullable=True),
        sa.Column("created_by_key_id", sa.String(length=36), nullable=True),
        sa.Column("created_by_agent_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["routine_id"],
            ["routines.id"],
            name=op.f("fk_routine_revisions_routine_id_routines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routine_revisions")),
        sa.UniqueConstraint(
            "routine_id",
            "revision_number",
            name=op.f("uq_routine_revisions_routine_id_revision_number"),
        ),
    )
    # SQLite rebuilds the table to relax NOT NULL; migrations run with foreign keys off,
    # so dropping the old copy cascades to no trigger or run.
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variables", _json(), nullable=True))
        batch_op.add_column(sa.Column("latest_revision_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("latest_revision_number", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.alter_column(
            "assignee_agent_id", existing_type=sa.String(length=200), nullable=True
        )
        batch_op.alter_column("project_id", existing_type=sa.String(length=200), nullable=True)
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("linked_issue_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("title", sa.String(length=4000), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("description")
        batch_op.drop_column("title")
        batch_op.drop_column("linked_issue_id")
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.alter_column("project_id", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column(
            "assignee_agent_id", existing_type=sa.String(length=200), nullable=False
        )
        batch_op.drop_column("latest_revision_number")
        batch_op.drop_column("latest_revision_id")
        batch_op.drop_column("variables")
    op.drop_table("routine_revisions")
