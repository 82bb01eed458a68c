"""trusted networks: only the operator's bid networks may be on internal addresses

Any tenant could register a bid network whose baseUrl was a loopback, private or link-local
address (127.0.0.1, 169.254.169.254, ...), and the bid sync then called it with the tenant's
token: a request forgery into the operator's network. Such addresses are now refused unless the
operator allows them (AUCTERA_PARTNER_ALLOW_PRIVATE) or registered the network itself (the demo):
`trusted`, false for every network stored before, since nothing tells who made those.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "networks", sa.Column("trusted", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )


def downgrade() -> None:
    op.execute("ALTER TABLE networks DROP COLUMN trusted")
