"""fx rate history: a rate takes effect from a day, and the earlier ones are kept

Reports converted every past day at the current rate, so a publisher's earnings of last month
changed whenever the operator set a new one. Each rate now has the day it takes effect from
(`effective_from`, part of the key); a rate set before this migration takes effect from the day
it was set, and as the earliest of its pair it also serves the days before (docs/api-v2-reports.md).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auctera.store.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _table(name: str, *, history: bool) -> sa.Table:
    key = [sa.Column("effective_from", sa.Date, primary_key=True)] if history else []
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("base", sa.String(3), primary_key=True),
        sa.Column("quote", sa.String(3), primary_key=True),
        *key,
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def _copy(*, history: bool) -> None:
    """fx_rates rebuilt with (history) or without the effective day in its key: a new table,
    the rows copied in Python (one way on both backends), then renamed."""
    bind = op.get_bind()
    old, new = _table("fx_rates", history=not history), _table("fx_rates_new", history=history)
    new.create(bind)
    rows = bind.execute(sa.select(old)).mappings().all()
    if history:
        copied = [{**row, "effective_from": row["updated_at"].date()} for row in rows]
    else:  # each pair's latest rate, as the table held before
        latest: dict[tuple[str, str], dict[str, object]] = {}
        for row in sorted(rows, key=lambda r: r["effective_from"]):
            latest[(row["base"], row["quote"])] = {k: v for k, v in row.items() if k != "effective_from"}
        copied = list(latest.values())
    if copied:
        bind.execute(new.insert(), copied)
    op.drop_table("fx_rates")
    op.rename_table("fx_rates_new", "fx_rates")
    if bind.dialect.name == "postgresql":  # the key's constraint keeps the old table's name
        op.execute("ALTER TABLE fx_rates RENAME CONSTRAINT fx_rates_new_pkey TO fx_rates_pkey")


def upgrade() -> None:
    _copy(history=True)


def downgrade() -> None:
    _copy(history=False)
