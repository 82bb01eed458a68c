"""bid management: networks, network campaigns, ad sets, bids and bid operations

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
    )


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _times() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "networks",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("bidding_enabled", sa.Boolean(), nullable=False),
        sa.Column("campaign_bidding", sa.Boolean(), nullable=False),
        sa.Column("ad_set_bidding", sa.Boolean(), nullable=False),
        sa.Column("source_id_bidding", sa.Boolean(), nullable=False),
        sa.Column("min_bid_micros", sa.BigInteger(), nullable=False),
        sa.Column("decimal_precision", sa.Integer(), nullable=False),
        sa.Column("max_change_percent", sa.Integer(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("retry_max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_backoff_ms", sa.Integer(), nullable=False),
        sa.Column("vendor_attributes", sa.JSON(), nullable=False),
        sa.Column("client_vendor_attributes", sa.JSON(), nullable=False),
        sa.Column("required_attributes", sa.JSON(), nullable=False),
        *_times(),
        _fk("networks", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_networks_account_id_name")),
    )
    op.create_table(
        "network_campaigns",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("optimization_type", sa.String(length=16), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        *_times(),
        _fk("network_campaigns", "account_id", "accounts"),
        _fk("network_campaigns", "network_id", "networks"),
        _fk("network_campaigns", "campaign_id", "campaigns", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_campaigns")),
    )
    op.create_index("ix_network_campaigns_account", "network_campaigns", ["account_id", "id"])
    op.create_index("ix_network_campaigns_network", "network_campaigns", ["network_id", "id"])
    op.create_table(
        "ad_sets",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.BigInteger(), nullable=False),
        sa.Column("network_campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("line_item_id", sa.BigInteger(), nullable=True),
        *_times(),
        _fk("ad_sets", "account_id", "accounts"),
        _fk("ad_sets", "network_id", "networks"),
        _fk("ad_sets", "network_campaign_id", "network_campaigns"),
        _fk("ad_sets", "line_item_id", "line_items", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_sets")),
    )
    op.create_index("ix_ad_sets_account", "ad_sets", ["account_id", "id"])
    op.create_index("ix_ad_sets_campaign", "ad_sets", ["network_campaign_id", "id"])
    op.create_table(
        "bids",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("ad_set_id", sa.BigInteger(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.Column("dimension", sa.String(length=300), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("previous_value_micros", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation_id", sa.BigInteger(), nullable=False),
        sa.Column("operation_kind", sa.String(length=8), nullable=False),
        *_times(),
        _fk("bids", "account_id", "accounts"),
        _fk("bids", "network_id", "networks"),
        _fk("bids", "campaign_id", "network_campaigns"),
        _fk("bids", "ad_set_id", "ad_sets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bids")),
        sa.UniqueConstraint("dimension", name=op.f("uq_bids_dimension")),
    )
    op.create_index("ix_bids_network", "bids", ["network_id", "id"])
    op.create_index("ix_bids_campaign", "bids", ["campaign_id", "country", "id"])
    op.create_index("ix_bids_ad_set", "bids", ["ad_set_id", "country", "id"])
    op.create_table(
        "bid_operations",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.BigInteger(), nullable=False),
        sa.Column("upload_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("old_value_micros", sa.BigInteger(), nullable=True),
        sa.Column("new_value_micros", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        *_times(),
        _fk("bid_operations", "account_id", "accounts"),
        _fk("bid_operations", "network_id", "networks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_operations")),
    )
    op.create_index("ix_bid_operations_network", "bid_operations", ["network_id", "status", "id"])
    op.create_index("ix_bid_operations_bid", "bid_operations", ["bid_id", "id"])
    op.create_index("ix_bid_operations_upload", "bid_operations", ["upload_id"])
    op.create_table(
        "bid_batches",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("lease_token", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_times(),
        _fk("bid_batches", "account_id", "accounts"),
        _fk("bid_batches", "network_id", "networks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_batches")),
    )
    op.create_index("ix_bid_batches_open", "bid_batches", ["phase", "next_attempt_at"])
    op.create_index("ix_bid_batches_network", "bid_batches", ["network_id", "phase"])
    op.create_index("ix_bid_operations_batch", "bid_operations", ["batch_id"])
    op.create_index("ix_bid_operations_status", "bid_operations", ["status", "network_id"])


def downgrade() -> None:
    for table in ("bid_batches", "bid_operations", "bids", "ad_sets", "network_campaigns", "networks"):
        op.drop_table(table)
