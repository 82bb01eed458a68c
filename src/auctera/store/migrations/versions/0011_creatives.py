"""creatives (issue 8): assets, audits, DCO templates, trackers

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
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


def upgrade() -> None:
    op.create_table(
        "creatives",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("video_codec", sa.String(length=16), nullable=True),
        sa.Column("audio_codec", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("malware_scan", sa.String(length=10), nullable=False),
        sa.Column("iab_category", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("audited_at", UTCDateTime(), nullable=False),
        sa.Column("click_trackers", sa.JSON(), nullable=False),
        sa.Column("impression_trackers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        _fk("creatives", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creatives")),
    )
    op.create_index("ix_creatives_account", "creatives", ["account_id", "id"])
    op.create_table(
        "creative_campaigns",
        sa.Column("creative_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        _fk("creative_campaigns", "creative_id", "creatives"),
        _fk("creative_campaigns", "campaign_id", "campaigns"),
        sa.PrimaryKeyConstraint("creative_id", "campaign_id", name=op.f("pk_creative_campaigns")),
    )
    op.create_index("ix_creative_campaigns_campaign", "creative_campaigns", ["campaign_id"])
    op.create_table(
        "dco_templates",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("dco_templates", "account_id", "accounts"),
        _fk("dco_templates", "campaign_id", "campaigns", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dco_templates")),
    )
    op.create_index("ix_dco_templates_account", "dco_templates", ["account_id", "id"])


def downgrade() -> None:
    for table in ("dco_templates", "creative_campaigns", "creatives"):
        op.drop_table(table)
