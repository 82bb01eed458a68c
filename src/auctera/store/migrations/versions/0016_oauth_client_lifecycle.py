"""oauth client lifecycle: a client can be revoked, and its secret rotated with a grace period

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("revoked_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("previous_secret_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret_hash")
        batch.drop_column("revoked_at")
