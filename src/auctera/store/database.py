"""Engine creation for the two backends: SQLite (WAL, embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
import threading
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

# More than can be checked out at once: one per thread of anyio's default threadpool (40), one
# for the event loop's inline reads (they never await, so one at a time) and those the units of
# work keep between uses (uow.MAX_IDLE, 8). So taking one never waits, on the event loop least of
# all. A SQLite connection is a file handle and a page cache; idle ones above pool_size are closed.
SQLITE_POOL_SIZE = 8
SQLITE_MAX_CONNECTIONS = 64


log = logging.getLogger(__name__)


def make_engine(url: str, *, echo: bool = False, background_checkpoints: bool = False) -> Engine:
    """`background_checkpoints`: SQLite does not copy its WAL back into the database inside a
    commit; a `WalCheckpointer` must run for the engine (`build` starts one)."""
    if url.startswith("sqlite"):
        if is_sqlite_file(url):
            _owner_only(str(make_url(url).database))
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_CONNECTIONS - SQLITE_POOL_SIZE,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, autocheckpoint=not background_checkpoints))
        # pysqlite's own transaction handling defers BEGIN; take it over so a write
        # transaction starts IMMEDIATE and never fails mid-way on lock upgrade.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql"):
        return create_engine(
            url,
            echo=echo,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            json_deserializer=orjson.loads,
        )
    return create_engine(url, echo=echo, poolclass=NullPool)


def _owner_only(path: str) -> None:
    """The database holds signing and webhook secrets in clear: owner-only (0600), whatever the
    umask. Created here, before SQLite opens it, since SQLite gives its -wal and -shm files the
    database file's mode; an existing database and its -wal/-shm are narrowed too."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))  # an empty file is an empty database
        for name in (path, f"{path}-wal", f"{path}-shm"):
            if os.path.exists(name):
                os.chmod(name, 0o600)
    except OSError as exc:  # no such directory, or not ours: SQLite reports what it cannot open
        log.warning("could not make %s owner-only: %s", path, exc)


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (IMMEDIATE); read-only units of work stay DEFERRED
    # so reads never wait for a writer under WAL.
    mode = "DEFERRED" if conn.get_execution_options().get("read_only") else "IMMEDIATE"
    # Straight to the driver: exec_driver_sql would build a whole execution context (~20 µs) for it.
    # (A failure here, "database is locked" after busy_timeout, surfaces as sqlite3's own error.)
    conn.connection.driver_connection.execute(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, autocheckpoint: bool = True) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at WAL checkpoints; safe with WAL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    if not autocheckpoint:
        cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


class WalCheckpointer:
    """Copies a SQLite database's WAL back into the database file from a thread of its own, every
    `interval` seconds. By default SQLite does it inside whichever commit takes the WAL past 1,000
    pages: that commit (a postback's, on the event loop) then waits for the copy and two fsyncs,
    about 5 ms, with every request behind it. PASSIVE: it never waits for readers or writers, and
    what it cannot copy now it copies next time; durability is the same (synchronous=NORMAL)."""

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self.runs = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self) -> None:
        with self._engine.connect() as conn:  # no BEGIN: a checkpoint runs outside transactions
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.runs += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception:  # the database is busy or away: the next round copies it
                log.exception("checkpointing the SQLite WAL failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
