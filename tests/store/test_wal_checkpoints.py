"""SQLite's WAL is copied back into the database by the checkpointer's thread, not inside commits."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, text

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.store.database import WalCheckpointer, make_engine

ROWS = 2_000
BLOB = "x" * 1_000  # about 2 MB of WAL per round


def _write_round(engine: Engine, start: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO t (id, v) VALUES (:id, :v)"),
            [{"id": start + i, "v": BLOB} for i in range(ROWS)],
        )


def test_commits_leave_the_wal_to_the_checkpointer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}", background_checkpoints=True)
    wal = tmp_path / "db.sqlite-wal"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
    _write_round(engine, 0)
    _write_round(engine, ROWS)
    # No commit copied the WAL back: it holds both rounds.
    uncheckpointed = wal.stat().st_size
    checkpointer = WalCheckpointer(engine, interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while checkpointer.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.runs >= 1
        # Once copied back, the WAL is written again from its start: it does not grow by a round.
        _write_round(engine, 2 * ROWS)
        assert wal.stat().st_size <= uncheckpointed
    finally:
        checkpointer.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 3 * ROWS
    engine.dispose()


def test_a_built_container_checkpoints_its_sqlite_database(tmp_path: Path) -> None:
    container = build(Settings(data_dir=tmp_path, log_level="warning"))
    try:
        with container.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        assert container._checkpointer is not None
        container._checkpointer.checkpoint()
    finally:
        container.close()
