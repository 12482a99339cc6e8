"""api key prefix, shown in key listings

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keys created before this revision have no prefix: only their hash was ever stored.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("prefix", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("prefix")
