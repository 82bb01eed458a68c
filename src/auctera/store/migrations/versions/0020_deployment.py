"""deployment: the database remembers which event log it writes to

Two servers with separate data directories on one PostgreSQL database each kept their own event
log: a postback for a click the other served was refused, and each crash sweep copied the other's
unmarked conversions and charged clicks into its own log (counted twice). The database now holds
the id of its event log (`<data dir>/events/log.id`), and a process with another one is refused
at start (store/deployment.py).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deployment")
