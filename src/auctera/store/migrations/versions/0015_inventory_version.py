"""inventory version: an index on line_items.updated_at

The auctions' background upkeep asks every second whether any inventory changed (line items,
products, campaigns, retailers, rates). It read every product (`max(updated_at)` and a count:
18 ms a second at 100,000 products, growing with the catalog, each burst stalling the requests
sharing its cores) and every line item. Products now change only through feed imports, which
touch their retailer's `updated_at` in the same transaction, so the check reads the small
retailers table instead; line items get an index for their latest `updated_at`.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_line_items_updated", "line_items", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_line_items_updated", table_name="line_items")
