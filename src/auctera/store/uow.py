"""Unit of work: one connection, one transaction, the repositories bound to it."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from types import TracebackType
from typing import Any, get_type_hints

from sqlalchemy import Connection, Engine

from auctera.store.repositories.accounts import SqlAccountRepository, SqlApiKeyRepository, SqlOAuthRepository
from auctera.store.repositories.audiences import SqlAudienceRepository
from auctera.store.repositories.bids import SqlBidRepository
from auctera.store.repositories.campaigns import SqlBlocklistRepository, SqlCampaignRepository
from auctera.store.repositories.catalog import (
    SqlFeedImportRepository,
    SqlProductRepository,
    SqlRetailerRepository,
)
from auctera.store.repositories.conversions import SqlConversionRepository, SqlFxRateRepository
from auctera.store.repositories.creatives import SqlCreativeRepository
from auctera.store.repositories.exports import SqlExportRepository
from auctera.store.repositories.inventory import SqlInventoryRepository, SqlSmartLinkRepository
from auctera.store.repositories.line_items import SqlLineItemRepository
from auctera.store.repositories.programs import SqlChannelRepository, SqlProgramRepository
from auctera.store.repositories.spend import SqlSpendRepository
from auctera.store.repositories.webhooks import SqlWebhookRepository

# SQLite: connections kept open between units of work (see SqlUnitOfWorkFactory), at most this many.
MAX_IDLE = 8


class SqlUnitOfWork:
    # Its repositories, each made on first use (`__getattr__`): most units of work use one or two,
    # and making all of them cost more than a SQLite BEGIN does (7 µs a unit of work).
    accounts: SqlAccountRepository
    api_keys: SqlApiKeyRepository
    oauth: SqlOAuthRepository
    campaigns: SqlCampaignRepository
    blocklist: SqlBlocklistRepository
    conversions: SqlConversionRepository
    fx_rates: SqlFxRateRepository
    spend: SqlSpendRepository
    retailers: SqlRetailerRepository
    products: SqlProductRepository
    feed_imports: SqlFeedImportRepository
    inventory: SqlInventoryRepository
    smartlinks: SqlSmartLinkRepository
    line_items: SqlLineItemRepository
    webhooks: SqlWebhookRepository
    programs: SqlProgramRepository
    channels: SqlChannelRepository
    bids: SqlBidRepository
    exports: SqlExportRepository
    creatives: SqlCreativeRepository
    audiences: SqlAudienceRepository

    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        idle: deque[Connection] | None = None,
        write_lock: threading.RLock | None = None,
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        self._idle = idle
        self._write_lock = None if read_only else write_lock
        self._conn: Connection | None = None
        self._committed = False

    def __enter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            return self._begin()
        except BaseException:
            if self._write_lock is not None:
                self._write_lock.release()
            raise

    def _begin(self) -> SqlUnitOfWork:
        conn = None
        if self._idle:
            with contextlib.suppress(IndexError):  # taken by another thread meanwhile
                conn = self._idle.pop()
        if conn is None:
            conn = self._engine.connect()
        try:
            # In place (SQLAlchemy 2): read by the SQLite "begin" listener to pick DEFERRED or IMMEDIATE.
            conn.execution_options(read_only=self._read_only)
            conn.begin()
        except BaseException:  # e.g. the database stayed locked: no __exit__ will close it
            conn.close()
            raise
        self._conn = conn
        return self

    def __getattr__(self, name: str) -> Any:
        """A repository on first use, bound to this transaction's connection, then kept."""
        repository = _REPOSITORIES.get(name)
        if repository is None or self.__dict__.get("_conn") is None:
            raise AttributeError(f"{type(self).__name__} has no {name!r} (or is not entered)")
        made = self.__dict__[name] = repository(self._conn)
        return made

    def commit(self) -> None:
        assert self._conn is not None, "commit outside `with`"
        self._conn.commit()
        self._committed = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        try:
            if not self._committed:
                conn.rollback()
        except BaseException:
            conn.close()
            raise
        finally:
            if self._write_lock is not None:
                self._write_lock.release()
        # Back to the idle list only when it is known to be clean: its transaction has ended.
        if self._idle is not None and len(self._idle) < MAX_IDLE and not conn.invalidated:
            self._idle.append(conn)
        else:
            conn.close()


_REPOSITORIES: dict[str, Any] = get_type_hints(SqlUnitOfWork)  # name -> repository class


class SqlUnitOfWorkFactory:
    """Makes units of work on `engine`.

    With SQLite it keeps a few connections open between units of work (checked out of the engine's
    pool) and hands them out again: a pool checkout and check-in and a new `Connection` cost more
    than the indexed read most units of work do, ~15 µs of ~20 for a read-only unit of work, and
    three times that inside a request. A connection is kept only once its transaction has ended
    cleanly, so a kept one holds no snapshot (nor WAL checkpoints back), and SQLite has no server
    that could drop it meanwhile. PostgreSQL connections always go back to the pool, whose
    pre-ping notices a restarted server. `close()` (and garbage collection) closes the kept ones.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: deque[Connection] | None = None
        # SQLite: one writer at a time. Threads queue on this lock in turn, instead of polling the
        # database lock with the busy handler's sleeps (1 to 100 ms), which under a burst of
        # postbacks cost tens of milliseconds each. Other processes still meet the busy handler.
        self._write_lock: threading.RLock | None = None
        if engine.dialect.name == "sqlite":
            self._idle = deque()
            self._write_lock = threading.RLock()
            weakref.finalize(self, _close_all, self._idle)

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=read_only, idle=self._idle, write_lock=self._write_lock)

    def close(self) -> None:
        """Close the connections kept between units of work (before `engine.dispose()`)."""
        if self._idle is not None:
            _close_all(self._idle)


def _close_all(idle: deque[Connection]) -> None:
    with contextlib.suppress(IndexError):  # emptied by another thread meanwhile
        while idle:
            idle.pop().close()
