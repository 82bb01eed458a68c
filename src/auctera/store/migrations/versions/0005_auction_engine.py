"""auction engine: retailers, catalogs, feed imports, line items, spend, SmartLinks, balances

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spend_periods",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "period", name=op.f("pk_spend_periods")),
    )
    op.create_table(
        "retailers",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_retailers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retailers")),
        sa.UniqueConstraint("account_id", "domain", name=op.f("uq_retailers_account_id_domain")),
    )
    with op.batch_alter_table("retailers", schema=None) as batch_op:
        batch_op.create_index("ix_retailers_account", ["account_id", "id"], unique=False)

    op.create_table(
        "smartlinks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("product_url", sa.Text(), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("match_key", sa.String(length=600), nullable=True),
        sa.Column("fallback_url", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_smartlinks_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smartlinks")),
    )
    with op.batch_alter_table("smartlinks", schema=None) as batch_op:
        batch_op.create_index("ix_smartlinks_account", ["account_id", "id"], unique=False)

    op.create_table(
        "feed_imports",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("retailer_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_valid", sa.Integer(), nullable=False),
        sa.Column("rows_invalid", sa.Integer(), nullable=False),
        sa.Column("marked_out_of_stock", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_feed_imports_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["retailer_id"],
            ["retailers.id"],
            name=op.f("fk_feed_imports_retailer_id_retailers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_imports")),
    )
    with op.batch_alter_table("feed_imports", schema=None) as batch_op:
        batch_op.create_index("ix_feed_imports_retailer", ["retailer_id", "id"], unique=False)

    op.create_table(
        "line_items",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("target_retailer_id", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("budget_micros", sa.BigInteger(), nullable=True),
        sa.Column("monthly_pacing_micros", sa.BigInteger(), nullable=True),
        sa.Column("daily_pacing_micros", sa.BigInteger(), nullable=True),
        sa.Column("is_auto_daily_pacing", sa.Boolean(), nullable=False),
        sa.Column("bid_strategy", sa.String(length=16), nullable=False),
        sa.Column("target_bid_micros", sa.BigInteger(), nullable=False),
        sa.Column("max_bid_micros", sa.BigInteger(), nullable=True),
        sa.Column("user_status", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_line_items_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_line_items_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_items")),
        sa.UniqueConstraint("campaign_id", "name", name=op.f("uq_line_items_campaign_id_name")),
    )
    with op.batch_alter_table("line_items", schema=None) as batch_op:
        batch_op.create_index("ix_line_items_account", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_line_items_campaign", ["campaign_id", "id"], unique=False)
        batch_op.create_index("ix_line_items_retailer", ["target_retailer_id", "id"], unique=False)

    op.create_table(
        "products",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("retailer_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("brand", sa.String(length=255), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("min_bid_micros", sa.BigInteger(), nullable=True),
        sa.Column("match_key", sa.String(length=600), nullable=True),
        sa.Column("import_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["retailer_id"],
            ["retailers.id"],
            name=op.f("fk_products_retailer_id_retailers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("retailer_id", "external_id", name=op.f("uq_products_retailer_id_external_id")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_gtin", ["gtin"], unique=False)
        batch_op.create_index("ix_products_match_key", ["match_key"], unique=False)
        batch_op.create_index("ix_products_retailer", ["retailer_id", "id"], unique=False)

    op.create_table(
        "line_item_products",
        sa.Column("line_item_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_item_id"],
            ["line_items.id"],
            name=op.f("fk_line_item_products_line_item_id_line_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_line_item_products_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("line_item_id", "product_id", name=op.f("pk_line_item_products")),
    )
    with op.batch_alter_table("line_item_products", schema=None) as batch_op:
        batch_op.create_index("ix_line_item_products_product", ["product_id"], unique=False)

    op.create_table(
        "spend_ledger",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("line_item_id", sa.BigInteger(), nullable=True),
        sa.Column("click_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("logged", sa.Boolean(), nullable=False),
        sa.Column("publisher_id", sa.BigInteger(), nullable=True),
        sa.Column("event_fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_spend_ledger_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_spend_ledger_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_item_id"],
            ["line_items.id"],
            name=op.f("fk_spend_ledger_line_item_id_line_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_ledger")),
        sa.UniqueConstraint("click_id", name=op.f("uq_spend_ledger_click_id")),
    )
    with op.batch_alter_table("spend_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_spend_ledger_campaign", ["campaign_id", "id"], unique=False)
        batch_op.create_index("ix_spend_ledger_line_item", ["line_item_id", "id"], unique=False)
        batch_op.create_index("ix_spend_ledger_logged", ["logged", "id"], unique=False)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("balance_micros", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("balance_micros")

    with op.batch_alter_table("spend_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_spend_ledger_logged")
        batch_op.drop_index("ix_spend_ledger_line_item")
        batch_op.drop_index("ix_spend_ledger_campaign")

    op.drop_table("spend_ledger")
    with op.batch_alter_table("line_item_products", schema=None) as batch_op:
        batch_op.drop_index("ix_line_item_products_product")

    op.drop_table("line_item_products")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_retailer")
        batch_op.drop_index("ix_products_match_key")
        batch_op.drop_index("ix_products_gtin")

    op.drop_table("products")
    with op.batch_alter_table("line_items", schema=None) as batch_op:
        batch_op.drop_index("ix_line_items_retailer")
        batch_op.drop_index("ix_line_items_campaign")
        batch_op.drop_index("ix_line_items_account")

    op.drop_table("line_items")
    with op.batch_alter_table("feed_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_imports_retailer")

    op.drop_table("feed_imports")
    with op.batch_alter_table("smartlinks", schema=None) as batch_op:
        batch_op.drop_index("ix_smartlinks_account")

    op.drop_table("smartlinks")
    with op.batch_alter_table("retailers", schema=None) as batch_op:
        batch_op.drop_index("ix_retailers_account")

    op.drop_table("retailers")
    op.drop_table("spend_periods")
