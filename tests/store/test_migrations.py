"""The Alembic migrations build exactly the schema the code's tables describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from auctera.store.database import make_engine
from auctera.store.migrate import current_head, upgrade
from auctera.store.tables import metadata


def test_migrations_match_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert diff == [], f"migrations and store/tables.py disagree: {diff}"
        assert version == current_head()
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        upgrade(engine)  # idempotent: a second start changes nothing
    finally:
        engine.dispose()
