"""audiences (issue 8): audiences, members, sync jobs, lookalikes

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
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
        "audiences",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("lookalike_seed_id", sa.BigInteger(), nullable=True),
        sa.Column("lookalike_percent_bp", sa.Integer(), nullable=True),
        sa.Column("lookalike_geo", sa.JSON(), nullable=True),
        sa.Column("lookalike_auc", sa.Float(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("refreshed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("audiences", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audiences")),
    )
    op.create_index("ix_audiences_account", "audiences", ["account_id", "id"])
    op.create_table(
        "audience_members",
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        _fk("audience_members", "audience_id", "audiences"),
        sa.PrimaryKeyConstraint("audience_id", "key", name=op.f("pk_audience_members")),
    )
    op.create_index("ix_audience_members_key", "audience_members", ["key", "audience_id"])
    op.create_table(
        "audience_links",
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        _fk("audience_links", "audience_id", "audiences"),
        sa.PrimaryKeyConstraint("audience_id", "key", "uid", name=op.f("pk_audience_links")),
    )
    op.create_index("ix_audience_links_uid", "audience_links", ["uid", "audience_id"])
    op.create_table(
        "audience_sync_jobs",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("job_key", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("malformed", sa.BigInteger(), nullable=False),
        sa.Column("malformed_samples", sa.JSON(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("lease_token", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        _fk("audience_sync_jobs", "account_id", "accounts"),
        _fk("audience_sync_jobs", "audience_id", "audiences"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_sync_jobs")),
        sa.UniqueConstraint("account_id", "job_key", name=op.f("uq_audience_sync_jobs_account_id_job_key")),
    )
    op.create_index("ix_audience_sync_jobs_open", "audience_sync_jobs", ["state", "id"])
    op.create_index("ix_audience_sync_jobs_audience", "audience_sync_jobs", ["audience_id", "id"])
    op.create_table(
        "audience_sync_chunks",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("member_keys", sa.Text(), nullable=False),
        _fk("audience_sync_chunks", "job_id", "audience_sync_jobs"),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_audience_sync_chunks")),
    )
    op.create_table(
        "audience_targets",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("audience_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("exclude", sa.Boolean(), nullable=False),
        _fk("audience_targets", "audience_id", "audiences"),
        _fk("audience_targets", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("subject_id", "audience_id", name=op.f("pk_audience_targets")),
    )
    op.create_index("ix_audience_targets_audience", "audience_targets", ["audience_id"])
    op.create_table(
        "audience_purges",
        sa.Column("audience_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("members_purged", sa.BigInteger(), nullable=False),
        sa.Column("links_purged", sa.BigInteger(), nullable=False),
        sa.Column("jobs_purged", sa.Integer(), nullable=False),
        sa.Column("paused_campaigns", sa.JSON(), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=False),
        _fk("audience_purges", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("audience_id", name=op.f("pk_audience_purges")),
    )
    op.create_index("ix_audience_purges_account", "audience_purges", ["account_id", "purged_at"])


def downgrade() -> None:
    for table in (
        "audience_purges",
        "audience_targets",
        "audience_sync_chunks",
        "audience_sync_jobs",
        "audience_links",
        "audience_members",
        "audiences",
    ):
        op.drop_table(table)
