"""affiliate programs: programs, segments, commission types, channels and applications

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
    )


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "programs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("cookie_duration_days", sa.Integer(), nullable=False),
        sa.Column("promotion_methods", sa.JSON(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("category_name", sa.String(length=255), nullable=True),
        sa.Column("program_url", sa.Text(), nullable=True),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("tracking_type", sa.Integer(), nullable=False),
        sa.Column("feed_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("programs", "id", "campaigns"),
        _fk("programs", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
    )
    op.create_index("ix_programs_market", "programs", ["market", "status", "id"])
    op.create_index("ix_programs_account", "programs", ["account_id", "id"])
    op.create_table(
        "program_segments",
        _id(),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("program_segments", "program_id", "programs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_segments")),
        sa.UniqueConstraint("program_id", "name", name=op.f("uq_program_segments_program_id_name")),
    )
    op.create_table(
        "commission_types",
        _id(),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("percent", sa.Boolean(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("commission_types", "program_id", "programs"),
        _fk("commission_types", "segment_id", "program_segments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_types")),
        sa.UniqueConstraint(
            "segment_id", "event_type", name=op.f("uq_commission_types_segment_id_event_type")
        ),
    )
    op.create_index("ix_commission_types_program", "commission_types", ["program_id", "segment_id", "id"])
    op.create_table(
        "channels",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("channels", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    op.create_index("ix_channels_account", "channels", ["account_id", "id"])
    op.create_table(
        "program_applications",
        _id(),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("publisher_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=True),
        sa.Column("traffic_type", sa.String(length=64), nullable=True),
        sa.Column("volume_estimate", sa.BigInteger(), nullable=True),
        sa.Column("reject_reason", sa.Integer(), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        _fk("program_applications", "program_id", "campaigns"),
        _fk("program_applications", "publisher_id", "accounts"),
        _fk("program_applications", "channel_id", "channels"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_applications")),
    )
    for name, where in (
        ("uq_program_applications_channel", "channel_id IS NOT NULL"),
        ("uq_program_applications_publisher", "channel_id IS NULL"),
    ):
        columns = ["program_id", "channel_id" if "NOT" in where else "publisher_id"]
        op.create_index(
            name,
            "program_applications",
            columns,
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index("ix_program_applications_account", "program_applications", ["account_id", "status", "id"])
    op.create_index(
        "ix_program_applications_publisher", "program_applications", ["publisher_id", "program_id"]
    )


def downgrade() -> None:
    op.drop_table("program_applications")
    op.drop_table("channels")
    op.drop_table("commission_types")
    op.drop_table("program_segments")
    op.drop_table("programs")
