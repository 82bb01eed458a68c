"""bid storage: fewer, narrower indexes, foreign keys and columns on bids and bid_operations

Measured on a 100k-bid upload, the indexes (SQLite), the foreign keys (PostgreSQL: a trigger per
row each) and the repeated columns were most of what storing it cost. `bids` loses its
300-character `dimension` key (two partial unique indexes over the dimension's columns replace it
and ix_bids_ad_set; `source_id` is '' when none, as a unique index holds NULLs distinct), the
foreign keys its campaign's stands for (account, network), and the latest operation's kind and
old value, read from the operation. `bid_operations` takes its account and creation time from a
new `bid_uploads` row, writes no `updated_at` until the saga changes it, and keeps one full index
besides the upload's; the others are partial, on what the saga sets later. Existing rows are kept
(and rebuilt on downgrade).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _where(clause: str) -> dict[str, object]:
    return {"sqlite_where": sa.text(clause), "postgresql_where": sa.text(clause)}


def upgrade() -> None:
    op.create_table(
        "bid_uploads",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_bid_uploads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_uploads")),
    )
    op.create_index("ix_bid_uploads_account", "bid_uploads", ["account_id", "id"])
    op.execute(
        "INSERT INTO bid_uploads (id, account_id, created_at) "
        "SELECT upload_id, MIN(account_id), MIN(created_at) FROM bid_operations GROUP BY upload_id"
    )

    for name in ("network", "bid", "batch", "status"):
        op.drop_index(f"ix_bid_operations_{name}", table_name="bid_operations")
    with op.batch_alter_table("bid_operations") as batch:
        batch.drop_constraint("fk_bid_operations_account_id_accounts", type_="foreignkey")
        batch.drop_column("account_id")
        batch.drop_column("created_at")
        batch.alter_column("updated_at", existing_type=UTCDateTime(), nullable=True)
        batch.create_foreign_key(
            "fk_bid_operations_upload_id_bid_uploads",
            "bid_uploads",
            ["upload_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(
        "ix_bid_operations_pending",
        "bid_operations",
        ["network_id", "batch_id", "id"],
        **_where("status = 'pending'"),
    )
    op.create_index(
        "ix_bid_operations_batch", "bid_operations", ["batch_id"], **_where("batch_id IS NOT NULL")
    )
    op.create_index(
        "ix_bid_operations_open",
        "bid_operations",
        ["bid_id"],
        **_where("status = 'pending' AND batch_id IS NOT NULL"),
    )

    op.execute("UPDATE bids SET source_id = '' WHERE source_id IS NULL")
    op.drop_index("ix_bids_ad_set", table_name="bids")
    with op.batch_alter_table("bids") as batch:
        batch.drop_constraint("fk_bids_account_id_accounts", type_="foreignkey")
        batch.drop_constraint("fk_bids_network_id_networks", type_="foreignkey")
        batch.drop_constraint("uq_bids_dimension", type_="unique")
        batch.drop_column("dimension")
        batch.drop_column("previous_value_micros")
        batch.drop_column("operation_kind")
        batch.alter_column("source_id", existing_type=sa.String(length=255), nullable=False)
    op.create_index(
        "uq_bids_campaign_bid",
        "bids",
        ["campaign_id", "country", "source_id"],
        unique=True,
        **_where("ad_set_id IS NULL"),
    )
    op.create_index(
        "uq_bids_ad_set_bid",
        "bids",
        ["ad_set_id", "country", "source_id"],
        unique=True,
        **_where("ad_set_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_bids_ad_set_bid", table_name="bids")
    op.drop_index("uq_bids_campaign_bid", table_name="bids")
    with op.batch_alter_table("bids") as batch:
        batch.add_column(sa.Column("dimension", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("previous_value_micros", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("operation_kind", sa.String(length=8), nullable=True))
        batch.alter_column("source_id", existing_type=sa.String(length=255), nullable=True)
    latest = "FROM bid_operations o WHERE o.id = bids.operation_id"
    op.execute(
        "UPDATE bids SET "
        f"previous_value_micros = (SELECT o.old_value_micros {latest}), "
        f"operation_kind = COALESCE((SELECT o.kind {latest}), 'create'), "
        "dimension = CAST(campaign_id AS VARCHAR(20)) || ':' || CAST(COALESCE(ad_set_id, 0) AS VARCHAR(20)) "
        "|| ':' || country || ':' || source_id"
    )
    op.execute("UPDATE bids SET source_id = NULL WHERE source_id = ''")
    with op.batch_alter_table("bids") as batch:
        batch.alter_column("dimension", existing_type=sa.String(length=300), nullable=False)
        batch.alter_column("operation_kind", existing_type=sa.String(length=8), nullable=False)
        batch.create_unique_constraint("uq_bids_dimension", ["dimension"])
        batch.create_foreign_key(
            "fk_bids_account_id_accounts", "accounts", ["account_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            "fk_bids_network_id_networks", "networks", ["network_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_bids_ad_set", "bids", ["ad_set_id", "country", "id"])

    for name in ("open", "batch", "pending"):
        op.drop_index(f"ix_bid_operations_{name}", table_name="bid_operations")
    with op.batch_alter_table("bid_operations") as batch:
        batch.drop_constraint("fk_bid_operations_upload_id_bid_uploads", type_="foreignkey")
        batch.add_column(sa.Column("account_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("created_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE bid_operations SET "
        "account_id = (SELECT u.account_id FROM bid_uploads u WHERE u.id = bid_operations.upload_id), "
        "created_at = (SELECT u.created_at FROM bid_uploads u WHERE u.id = bid_operations.upload_id)"
    )
    op.execute("UPDATE bid_operations SET updated_at = created_at WHERE updated_at IS NULL")
    with op.batch_alter_table("bid_operations") as batch:
        batch.alter_column("account_id", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("created_at", existing_type=UTCDateTime(), nullable=False)
        batch.alter_column("updated_at", existing_type=UTCDateTime(), nullable=False)
        batch.create_foreign_key(
            "fk_bid_operations_account_id_accounts", "accounts", ["account_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_bid_operations_network", "bid_operations", ["network_id", "status", "id"])
    op.create_index("ix_bid_operations_bid", "bid_operations", ["bid_id", "id"])
    op.create_index("ix_bid_operations_batch", "bid_operations", ["batch_id"])
    op.create_index("ix_bid_operations_status", "bid_operations", ["status", "network_id"])
    op.drop_index("ix_bid_uploads_account", table_name="bid_uploads")
    op.drop_table("bid_uploads")
