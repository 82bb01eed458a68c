"""The Alembic migrations build exactly the schema the code's tables describe, on both backends."""

from __future__ import annotations

import subprocess
import sys

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


def test_processes_migrating_one_database_at_once_take_turns(database_url: str) -> None:
    # `auctera demo` started next to `auctera serve` on an empty database: on PostgreSQL both
    # created alembic_version and one failed (a unique violation), until migrations took a lock.
    # Processes, as in life (Alembic's context is one per process); each is ready before any starts.
    racer = (
        "import sys\n"
        "from auctera.store.migrate import upgrade_url\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "upgrade_url(sys.argv[1])\n"
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", racer, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in racers:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for process in racers:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.close()
    failures = [process.stderr.read() for process in racers if process.wait() != 0 and process.stderr]
    assert failures == []
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        assert versions == [current_head()]
    finally:
        engine.dispose()
