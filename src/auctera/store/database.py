"""Engine creation for the two backends: SQLite (WAL, embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

# More than can be checked out at once: one per thread of anyio's default threadpool (40), one
# for the event loop's inline reads (they never await, so one at a time) and those the units of
# work keep between uses (uow.MAX_IDLE, 8). So taking one never waits, on the event loop least of
# all. A SQLite connection is a file handle and a page cache; idle ones above pool_size are closed.
SQLITE_POOL_SIZE = 8
SQLITE_MAX_CONNECTIONS = 64


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_CONNECTIONS - SQLITE_POOL_SIZE,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
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


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (IMMEDIATE); read-only units of work stay DEFERRED
    # so reads never wait for a writer under WAL.
    mode = "DEFERRED" if conn.get_execution_options().get("read_only") else "IMMEDIATE"
    # Straight to the driver: exec_driver_sql would build a whole execution context (~20 µs) for it.
    # (A failure here, "database is locked" after busy_timeout, surfaces as sqlite3's own error.)
    conn.connection.driver_connection.execute(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at WAL checkpoints; safe with WAL
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
