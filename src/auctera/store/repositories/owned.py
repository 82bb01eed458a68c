"""Reads shared by the repositories of rows an account owns (programs, channels, retailers):
one by id, optionally only the account's; many by id; a page, newest first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")


def dialect_of(conn: Connection) -> Any:
    """The dialect module whose `insert` has `on_conflict_do_nothing`."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


@dataclass(frozen=True)
class OwnedRows(Generic[T]):
    """`table`'s rows as `made` makes them from `selected` (default: the whole row)."""

    table: Table
    made: Callable[[Any], T]
    selected: Select[Any] | None = None

    def _select(self) -> Select[Any]:
        return self.selected if self.selected is not None else select(self.table)

    def get(self, conn: Connection, row_id: int, account_id: int | None) -> T | None:
        stmt = self._select().where(self.table.c.id == row_id)
        if account_id is not None:
            stmt = stmt.where(self.table.c.account_id == account_id)
        row = conn.execute(stmt).first()
        return self.made(row) if row else None

    def many(self, conn: Connection, row_ids: Sequence[int]) -> dict[int, T]:
        if not row_ids:
            return {}
        rows = conn.execute(self._select().where(self.table.c.id.in_(list(row_ids))))
        return {row.id: self.made(row) for row in rows}

    def page(self, conn: Connection, account_id: int | None, before_id: int | None, limit: int) -> list[T]:
        """Newest first, ids below `before_id`; account_id None: every account's."""
        stmt = self._select().order_by(self.table.c.id.desc()).limit(limit)
        if account_id is not None:
            stmt = stmt.where(self.table.c.account_id == account_id)
        if before_id is not None:
            stmt = stmt.where(self.table.c.id < before_id)
        return [self.made(row) for row in conn.execute(stmt)]
