"""campaigns and the network's domain blocklist

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_INDEXES = {
    "ix_campaigns_account": ["account_id", "id"],
    "ix_campaigns_account_status": ["account_id", "status", "id"],
    "ix_campaigns_account_type": ["account_id", "type", "id"],
    "ix_campaigns_status": ["status", "id"],
}


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=False),
        sa.Column(
            "account_id", sa.BigInteger, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("budget_daily_micros", sa.BigInteger, nullable=True),
        sa.Column("budget_total_micros", sa.BigInteger, nullable=True),
        sa.Column("pacing", sa.String(10), nullable=False),
        sa.Column("bid_strategy", sa.String(32), nullable=False),
        sa.Column("bid_target_micros", sa.BigInteger, nullable=True),
        sa.Column("targeting", sa.JSON, nullable=False),
        sa.Column("device_multipliers", sa.JSON, nullable=False),
        sa.Column("destination_url", sa.Text, nullable=True),
        sa.Column("payout_micros", sa.BigInteger, nullable=True),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("review_reasons", sa.JSON, nullable=False),
        sa.Column("reviewed_at", UTCDateTime, nullable=True),
        sa.Column("reviewed_by", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("archived_at", UTCDateTime, nullable=True),
    )
    for name, columns in _INDEXES.items():
        op.create_index(name, "campaigns", columns)
    op.create_table(
        "blocked_domains",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("blocked_domains")
    for name in _INDEXES:
        op.drop_index(name, "campaigns")
    op.drop_table("campaigns")
