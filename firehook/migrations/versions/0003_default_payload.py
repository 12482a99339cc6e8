"""a routine's default payload, merged under every fire's payload

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_payload", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routines", schema=None) as batch_op:
        batch_op.drop_column("default_payload")
