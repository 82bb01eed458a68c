"""Unit of work: one connection, one transaction, the repositories bound to it."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from auctera.store.repositories.accounts import SqlAccountRepository, SqlApiKeyRepository, SqlOAuthRepository
from auctera.store.repositories.campaigns import SqlBlocklistRepository, SqlCampaignRepository


class SqlUnitOfWork:
    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._conn: Connection | None = None
        self._committed = False

    def __enter__(self) -> SqlUnitOfWork:
        conn = self._engine.connect()
        if self._read_only:
            conn = conn.execution_options(read_only=True)
        conn.begin()
        self._conn = conn
        self.accounts = SqlAccountRepository(conn)
        self.api_keys = SqlApiKeyRepository(conn)
        self.oauth = SqlOAuthRepository(conn)
        self.campaigns = SqlCampaignRepository(conn)
        self.blocklist = SqlBlocklistRepository(conn)
        return self

    def commit(self) -> None:
        assert self._conn is not None, "commit outside `with`"
        self._conn.commit()
        self._committed = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        try:
            if not self._committed:
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=read_only)
