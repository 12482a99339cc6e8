"""repair routines and triggers left unreadable by null updates

Revision ID: 0004
Revises: 0003

A PATCH used to store JSON null for a routine's `retry` or `dispatch`, and SQL
NULL for a webhook trigger's `signingMode` or `replayWindowSec`; such a row failed
every read (and every fire) afterwards. Each is set back to the default it had
before it was ever given.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The defaults of RetryPolicy and DispatchTarget as stored (camelCase), fixed here so
# that this repair means the same whatever the models become.
_RETRY = '{"maxAttempts":1,"strategy":"exponential","baseDelaySec":60,"maxDelaySec":3600}'
_DISPATCH = '{"type":"stream","url":null,"timeoutSec":10.0}'


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for column, default in (("retry", _RETRY), ("dispatch", _DISPATCH)):
        if postgres:
            repair = sa.text(
                f"UPDATE routines SET {column} = CAST(:default AS jsonb) "
                f"WHERE {column} IS NULL OR jsonb_typeof({column}) <> 'object'"
            )
        else:
            repair = sa.text(
                f"UPDATE routines SET {column} = :default "
                f"WHERE {column} IS NULL OR json_valid({column}) = 0 "
                f"OR json_type({column}) <> 'object'"
            )
        op.execute(repair.bindparams(default=default))
    op.execute(
        "UPDATE triggers SET signing_mode = 'bearer' "
        "WHERE kind = 'webhook' AND signing_mode IS NULL"
    )
    op.execute(
        "UPDATE triggers SET replay_window_sec = 300 "
        "WHERE kind = 'webhook' AND replay_window_sec IS NULL"
    )


def downgrade() -> None:
    # The broken values are not worth restoring.
    pass
