"""Alembic environment: the engine comes from `store.migrate` (no alembic.ini, no URL in files)."""

from __future__ import annotations

from alembic import context

from auctera.store.tables import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTERs
        compare_type=True,
    )
    context.run_migrations()
