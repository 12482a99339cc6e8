"""API keys bound to one collection of tasks; a task's one-shot routine

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collection", sa.String(length=200), nullable=True))
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("one_shot", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.drop_column("one_shot")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("collection")
