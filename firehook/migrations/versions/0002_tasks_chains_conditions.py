"""tasks, chains, conditions, parameters and delivery

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import firehook.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("init_params", _json(), nullable=False),
        sa.Column("dispatch", _json(), nullable=True),
        sa.Column("payload_overrides", sa.Boolean(), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_tasks_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tasks_company_id_collection_name"),
            ["company_id", "collection", "name"],
            unique=False,
        )

    op.create_table(
        "chains",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("routine_ids", _json(), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_chains_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chains")),
    )
    with op.batch_alter_table("chains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chains_company_id_created_at"),
            ["company_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "chain_edges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chain_id", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=36), nullable=False),
        sa.Column("from_routine_id", sa.String(length=36), nullable=False),
        sa.Column("to_routine_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", firehook.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["chains.id"],
            name=op.f("fk_chain_edges_chain_id_chains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_edges")),
    )
    with op.batch_alter_table("chain_edges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_edges_chain_id"), ["chain_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_edges_company_id"), ["company_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chain_edges_from_routine_id"), ["from_routine_id"], unique=False
        )

    # Plain ADD COLUMN on both backends (no table rebuild on SQLite: nothing here needs one).
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("init_params_overrides", _json(), nullable=True))
        batch_op.add_column(sa.Column("secret_params_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("condition", _json(), nullable=True))
        batch_op.add_column(sa.Column("delivery", _json(), nullable=True))
        batch_op.add_column(sa.Column("trigger_conditions", _json(), nullable=True))
        batch_op.create_index(batch_op.f("ix_routines_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("condition", _json(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runs_company_id_created_at"), ["company_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_company_id_created_at"))

    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_column("condition")

    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routines_task_id"))
        batch_op.drop_column("trigger_conditions")
        batch_op.drop_column("delivery")
        batch_op.drop_column("condition")
        batch_op.drop_column("secret_params_enc")
        batch_op.drop_column("init_params_overrides")
        batch_op.drop_column("task_id")

    with op.batch_alter_table("chain_edges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_edges_from_routine_id"))
        batch_op.drop_index(batch_op.f("ix_chain_edges_company_id"))
        batch_op.drop_index(batch_op.f("ix_chain_edges_chain_id"))

    op.drop_table("chain_edges")
    with op.batch_alter_table("chains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chains_company_id_created_at"))

    op.drop_table("chains")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_company_id_collection_name"))

    op.drop_table("tasks")
