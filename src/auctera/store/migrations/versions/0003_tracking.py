"""tracking: conversions, exchange rates, offer rules and visibility, fraud threshold, secret rotation

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("fraud_threshold", sa.Float, nullable=True))
        batch.add_column(sa.Column("previous_signing_secret", sa.String(128), nullable=True))
        batch.add_column(sa.Column("previous_signing_secret_until", UTCDateTime, nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("promotional_rules", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("visibility", sa.String(10), nullable=False, server_default="public"))
    with op.batch_alter_table("campaigns") as batch:  # defaults only filled the existing rows
        batch.alter_column("promotional_rules", server_default=None)
        batch.alter_column("visibility", server_default=None)
    op.create_table(
        "conversions",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=False),
        sa.Column(
            "account_id", sa.BigInteger, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("publisher_id", sa.BigInteger, nullable=True),
        sa.Column("click_id", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(255), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("dedup_key", sa.String(400), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("revenue_micros", sa.BigInteger, nullable=False),
        sa.Column("original_revenue_micros", sa.BigInteger, nullable=False),
        sa.Column("original_currency", sa.String(3), nullable=False),
        sa.Column("payout_micros", sa.BigInteger, nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False),
        sa.Column("fraud_score", sa.Float, nullable=False),
        sa.Column("fraud_reason", sa.String(64), nullable=True),
        sa.Column("fraud_signals", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("reversed_at", UTCDateTime, nullable=True),
        sa.Column("reversal_reason", sa.String(16), nullable=True),
        sa.Column("logged", sa.Boolean, nullable=False),
        sa.Column("attrs", sa.JSON, nullable=False),
        sa.UniqueConstraint("account_id", "dedup_key", name="uq_conversions_account_id_dedup_key"),
        sa.UniqueConstraint(
            "account_id", "idempotency_key", name="uq_conversions_account_id_idempotency_key"
        ),
    )
    op.create_index("ix_conversions_account", "conversions", ["account_id", "id"])
    op.create_index("ix_conversions_logged", "conversions", ["logged", "id"])
    op.create_table(
        "fx_rates",
        sa.Column("base", sa.String(3), primary_key=True),
        sa.Column("quote", sa.String(3), primary_key=True),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fx_rates")
    op.drop_index("ix_conversions_logged", "conversions")
    op.drop_index("ix_conversions_account", "conversions")
    op.drop_table("conversions")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("visibility")
        batch.drop_column("promotional_rules")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("previous_signing_secret_until")
        batch.drop_column("previous_signing_secret")
        batch.drop_column("fraud_threshold")
