"""bid confirmed values, and one network campaign (ad set) per campaign (line item) of ours

A bid in `error` showed, and a later upload's maximum change was measured from, the value the
network had refused: an upload could move a bid further than `maxChangePercent` allows. A bid now
keeps the value its network was last known to run (`confirmed_micros`) and whether it still runs
it (`confirmed_current`). Rows stored before take their best guess: a settled bid's value (an
`error` one: the value before its failed operation, no longer known to run), a pending change's
value before it; a pending new bid has none yet.

Two network campaigns (or ad sets) linked to one campaign (line item) of ours each showed their
own bid while the platform runs one: the link is unique. Where links repeat, the oldest network
campaign (ad set) keeps it and the later ones are unlinked (their bids then fail as unlinked ones
do, and roll back to the platform's value).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_LATEST = "FROM bid_operations o WHERE o.id = bids.operation_id"


def _unlink_repeats(table: str, column: str) -> None:
    op.execute(
        f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL AND id > "
        f"(SELECT MIN(t.id) FROM {table} t WHERE t.{column} = {table}.{column})"
    )


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: rebuilding `bids` (SQLite's batch mode) would cost a copy.
    op.add_column("bids", sa.Column("confirmed_micros", sa.BigInteger(), nullable=True))
    op.add_column(
        "bids", sa.Column("confirmed_current", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.execute(
        "UPDATE bids SET confirmed_micros = CASE WHEN status IN ('success', 'rollback-error') "
        f"THEN value_micros ELSE (SELECT o.old_value_micros {_LATEST}) END, "
        "confirmed_current = (status IN ('success', 'rollback-error') OR (status = 'pending' AND "
        f"(SELECT o.kind {_LATEST}) <> 'create'))"
    )
    _unlink_repeats("network_campaigns", "campaign_id")
    _unlink_repeats("ad_sets", "line_item_id")
    op.create_index("uq_network_campaigns_own", "network_campaigns", ["campaign_id"], unique=True)
    op.create_index("uq_ad_sets_own", "ad_sets", ["line_item_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_ad_sets_own", table_name="ad_sets")
    op.drop_index("uq_network_campaigns_own", table_name="network_campaigns")
    # DROP COLUMN (SQLite 3.35+) keeps the table's partial indexes, which a batch rebuild would not.
    op.execute("ALTER TABLE bids DROP COLUMN confirmed_current")
    op.execute("ALTER TABLE bids DROP COLUMN confirmed_micros")
