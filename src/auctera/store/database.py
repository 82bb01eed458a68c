"""Engine creation for the two backends: SQLite (WAL, embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from auctera.config import Settings

# More than can be checked out at once: one per thread of anyio's default threadpool (40), one
# for the event loop's inline reads (they never await, so one at a time) and those the units of
# work keep between uses (uow.MAX_IDLE, 8). So taking one never waits, on the event loop least of
# all. A SQLite connection is a file handle and a page cache; idle ones above pool_size are closed.
SQLITE_POOL_SIZE = 8
SQLITE_MAX_CONNECTIONS = 64


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostgresLimits:
    """How long a PostgreSQL engine waits for the server (docs/operations.md, "PostgreSQL time
    limits"; D59). Without them a server that stops answering (a hung host, a stopped process, a
    dropped network path) held every request for minutes: psycopg waits 130 s to connect, and a
    query or the pool's pre-ping on an open connection waits forever, since the kernel of a stopped
    server still acknowledges what is sent to it."""

    connect_seconds: int = 5  # to connect (per address), and for the ping before a pooled connection's reuse
    statement_seconds: float = 30.0  # each statement, cancelled by the server (0: no limit)
    pool_wait_seconds: float = 5.0  # for a free connection of the pool
    keepalives_idle: int = 30  # TCP keepalives: idle seconds before the first probe,
    keepalives_interval: int = 10  # seconds between probes,
    keepalives_count: int = 3  # unanswered probes before the connection counts as dead

    @classmethod
    def of(cls, settings: Settings) -> PostgresLimits:
        return cls(
            connect_seconds=settings.database_connect_timeout_seconds,
            statement_seconds=settings.database_statement_timeout_seconds,
            pool_wait_seconds=settings.database_pool_timeout_seconds,
            keepalives_idle=settings.database_keepalives_idle_seconds,
            keepalives_interval=settings.database_keepalives_interval_seconds,
            keepalives_count=settings.database_keepalives_count,
        )

    @property
    def answer_seconds(self) -> float | None:
        """How long a statement may go without an answer on our side: a live server cancels it at
        `statement_seconds`, so past that (and a connect timeout's grace) the server is not
        answering at all. None with no statement limit."""
        return self.statement_seconds + self.connect_seconds if self.statement_seconds else None


def make_engine(
    url: str,
    *,
    echo: bool = False,
    background_checkpoints: bool = False,
    limits: PostgresLimits | None = None,
) -> Engine:
    """`background_checkpoints`: SQLite does not copy its WAL back into the database inside a
    commit; a `WalCheckpointer` must run for the engine (`build` starts one). `limits`: a
    PostgreSQL engine's time limits; None (migrations, `auctera db upgrade`) keeps the bounded
    connect, ping and keepalives but sets no statement limit, so long DDL can run."""
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
        return _postgres_engine(url, echo, limits or PostgresLimits(statement_seconds=0))
    return create_engine(url, echo=echo, poolclass=NullPool)


def _postgres_engine(url: str, echo: bool, limits: PostgresLimits) -> Engine:
    libpq = {
        "connect_timeout": limits.connect_seconds,
        "keepalives": 1,
        "keepalives_idle": limits.keepalives_idle,
        "keepalives_interval": limits.keepalives_interval,
        "keepalives_count": limits.keepalives_count,
    }
    given = make_url(url).query  # a libpq parameter written in the URL's query wins
    engine = create_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=20,
        pool_timeout=limits.pool_wait_seconds,
        pool_pre_ping=True,
        connect_args={k: v for k, v in libpq.items() if k not in given},
        json_deserializer=orjson.loads,
    )
    event.listen(engine, "do_connect", partial(_bounded_connect, seconds=limits.connect_seconds))
    if limits.statement_seconds:
        event.listen(engine, "connect", partial(_statement_timeout, seconds=limits.statement_seconds))
    # The pool pre-pings a connection between check-in and check-out: only then the short bound.
    event.listen(engine, "checkin", partial(_answer_within, seconds=limits.connect_seconds))
    event.listen(engine, "checkout", partial(_answer_within, seconds=limits.answer_seconds))
    return engine


@cache
def _bounded_connection() -> type[Any]:
    """The psycopg connection class of PostgreSQL engines: psycopg (~90 ms to import) is loaded
    only by processes that use PostgreSQL."""
    import psycopg

    class BoundedConnection(psycopg.Connection[Any]):
        """A psycopg connection that waits at most `answer_within` seconds for each exchange with
        the server (a statement, a fetch, a commit). A statement the server cannot have cancelled
        by then means a server that is not answering: the connection is closed (its state is
        unknown), and the error is a disconnect, so the pool replaces it and the caller fails."""

        answer_within: float | None = None

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            if self.answer_within is None:
                return super().wait(gen, *args, **kwargs)
            return super().wait(self._within(gen, self.answer_within), *args, **kwargs)

        def _within(self, gen: Generator[Any, Any, Any], seconds: float) -> Generator[Any, Any, Any]:
            # psycopg's wait loop resumes the generator every 0.1 s even when the socket is silent
            # (to notice Ctrl-C), so the deadline is checked at least that often.
            deadline = time.monotonic() + seconds
            try:
                state = next(gen)
                while True:
                    ready = yield state
                    if time.monotonic() >= deadline:
                        self.pgconn.finish()
                        raise psycopg.OperationalError(
                            f"the database server did not answer within {seconds:g} s"
                        )
                    state = gen.send(ready)
            except StopIteration as done:
                return done.value

    return BoundedConnection


def _bounded_connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any, *, seconds: float) -> Any:
    conn = _bounded_connection().connect(*cargs, **cparams)
    conn.answer_within = seconds  # the dialect's first queries, then those of the "connect" event
    return conn


def _statement_timeout(dbapi_conn: Any, _record: Any, *, seconds: float) -> None:
    # For the session, committed: a SET inside a transaction rolled back later would be undone.
    dbapi_conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(round(seconds * 1000)),))
    dbapi_conn.commit()


def _answer_within(dbapi_conn: Any, *_: Any, seconds: float | None) -> None:
    if isinstance(dbapi_conn, _bounded_connection()):
        dbapi_conn.answer_within = seconds


# A table every migrated database has, of one row: what the health check reads.
MIGRATED = "alembic_version"


def check_store(engine: Engine, timeout: float = 2.0) -> None:
    """Raises unless the state store answers a read of a migrated database now (the health check;
    bounded by `timeout` on SQLite, by the engine's limits on PostgreSQL). SQLite: a fresh
    connection to the file, so a file gone (or an empty one made in its place), unreadable, not a
    database or locked fails here as the next connection the pool opens would, where the pool's
    open ones may still read the old file. PostgreSQL: a pooled connection, pre-pinged."""
    url = engine.url
    if engine.dialect.name == "sqlite" and url.database and is_sqlite_file(str(url)):
        # mode=rw: never create a missing database, as sqlite3.connect would.
        path = Path(url.database).resolve().as_uri()
        probe = sqlite3.connect(f"{path}?mode=rw", uri=True, timeout=timeout)
        try:
            probe.execute(f"SELECT 1 FROM {MIGRATED}").fetchall()
        finally:
            probe.close()
        return
    with engine.connect().execution_options(read_only=True) as conn:
        conn.execute(text(f"SELECT 1 FROM {MIGRATED}")).all()


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
