"""Alembic environment: the engine comes from `store.migrate` (no alembic.ini, no URL in files)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from auctera.store.tables import metadata

engine = context.config.attributes["engine"]
# Any fixed number, the same in every process: the key of PostgreSQL's migration lock.
MIGRATION_LOCK = 0x41756374657261

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Processes migrating one database at once (`auctera demo` next to `auctera serve`, a
        # deploy's replicas) take turns, and the next finds the work done; without the lock both
        # created alembic_version and one failed. SQLite's writers take turns already (BEGIN
        # IMMEDIATE, store/database.py). Held to the end of this transaction, which is the whole
        # upgrade (PostgreSQL's DDL is transactional).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTERs
        compare_type=True,
    )
    context.run_migrations()
