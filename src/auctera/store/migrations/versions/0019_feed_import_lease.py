"""feed import lease: one import per retailer at a time, and a killed one told from a running one

Two imports of one retailer at once each took out of stock what the other listed, and an import
whose process was killed stayed `running` for ever. A running import now holds a lease on its
retailer (`lease_until`), renewed as it goes: the next import is refused (409) while the lease
holds, and once it has run out the import reads as failed ("interrupted"). Imports left running
by earlier releases have no lease, so they read as interrupted at once.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feed_imports", sa.Column("lease_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    # DROP COLUMN (SQLite 3.35+) keeps the table as it is, which a batch rebuild would not.
    op.execute("ALTER TABLE feed_imports DROP COLUMN lease_until")
