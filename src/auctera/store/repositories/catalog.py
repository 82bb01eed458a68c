"""Retailers, their products, and feed imports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from auctera.domain.accounts import AccountKind
from auctera.domain.catalog import (
    FeedFormat,
    FeedImport,
    ImportStatus,
    Product,
    ProductColumns,
    ProductFields,
    Retailer,
    RowError,
)
from auctera.store.tables import accounts, feed_imports, products, retailers


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _retailer(row: Any) -> Retailer:
    return Retailer(
        row.id, row.account_id, AccountKind(row.kind), row.name, row.domain, row.created_at, row.updated_at
    )


# A retailer with its account's kind (publisher: a retail site; advertiser: a merchant).
_RETAILERS = select(retailers, accounts.c.kind).join(accounts, accounts.c.id == retailers.c.account_id)


class SqlRetailerRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, retailer: Retailer) -> bool:
        """False when the account has a retailer on this domain already (nothing is written)."""
        stmt = (
            _dialect(self._conn)
            .insert(retailers)
            .values(
                id=retailer.id,
                account_id=retailer.account_id,
                name=retailer.name,
                domain=retailer.domain,
                created_at=retailer.created_at,
                updated_at=retailer.updated_at,
            )
        )
        inserted = stmt.on_conflict_do_nothing().returning(retailers.c.id)
        return self._conn.execute(inserted).first() is not None

    def get(self, retailer_id: int, *, account_id: int | None = None) -> Retailer | None:
        stmt = _RETAILERS.where(retailers.c.id == retailer_id)
        if account_id is not None:
            stmt = stmt.where(retailers.c.account_id == account_id)
        row = self._conn.execute(stmt).first()
        return _retailer(row) if row else None

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Retailer]:
        stmt = _RETAILERS
        if account_id is not None:
            stmt = stmt.where(retailers.c.account_id == account_id)
        if before_id is not None:
            stmt = stmt.where(retailers.c.id < before_id)
        stmt = stmt.order_by(retailers.c.id.desc()).limit(limit)
        return [_retailer(r) for r in self._conn.execute(stmt)]

    def many(self, retailer_ids: Sequence[int]) -> dict[int, Retailer]:
        if not retailer_ids:
            return {}
        stmt = _RETAILERS.where(retailers.c.id.in_(list(retailer_ids)))
        return {r.id: _retailer(r) for r in self._conn.execute(stmt)}


_FIELDS = list(ProductFields.__slots__)
# Re-listed products keep their id and created_at; everything else is the feed's latest word.
_UPDATED = [*_FIELDS, "import_id", "updated_at"]
_INSERTED = ["id", "retailer_id", "account_id", "import_id", "created_at", "updated_at", *_FIELDS]
# SQLite: the batch goes straight to the driver. Through Core, binding and processing the
# parameters of 5,000 rows costs four times what SQLite takes to write them. Values are stored
# as SQLAlchemy stores them there: booleans 0/1, naive UTC datetimes (`tables.UTCDateTime`).
_SQLITE_UPSERT = (
    f"INSERT INTO products ({', '.join(_INSERTED)}) VALUES ({', '.join('?' * len(_INSERTED))}) "
    "ON CONFLICT (retailer_id, external_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _UPDATED)
)


def _sqlite_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_PRODUCT_COLUMNS = [products.c[name] for name in Product.__slots__]
_SQLITE_LISTED = (
    "SELECT external_id FROM products WHERE retailer_id = ? AND import_id = ?"
    " AND external_id IN (SELECT value FROM json_each(?))"
)
# Compiled once: the ids are expanded at execution (an `in_` of a list compiles it every time).
_LISTED = select(products.c.external_id).where(
    products.c.retailer_id == bindparam("retailer_id"),
    products.c.import_id == bindparam("import_id"),
    products.c.external_id.in_(bindparam("ids", expanding=True)),
)


def _product(row: Any) -> Product:
    return Product(**{name: getattr(row, name) for name in Product.__slots__})


class SqlProductRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def upsert(
        self,
        *,
        retailer_id: int,
        account_id: int,
        import_id: int,
        items: Sequence[ProductFields],
        new_ids: Sequence[int],
        now: datetime,
    ) -> None:
        """Insert or update by (retailer, external id); `new_ids[i]` is the id of `items[i]` if new."""
        self.upsert_columns(
            retailer_id=retailer_id,
            account_id=account_id,
            import_id=import_id,
            batch=ProductColumns.of((0, item) for item in items),
            new_ids=new_ids,
            now=now,
        )

    def upsert_columns(
        self,
        *,
        retailer_id: int,
        account_id: int,
        import_id: int,
        batch: ProductColumns,
        new_ids: Sequence[int],
        now: datetime,
    ) -> None:
        """`upsert` of products a column at a time: the rows zipped from the columns in C."""
        if not len(batch):
            return
        columns = [getattr(batch, name) for name in _FIELDS]
        if self._conn.dialect.name == "sqlite":
            stamp = _sqlite_datetime(now)
            head = (retailer_id, account_id, import_id, stamp, stamp)
            driver = self._conn.connection.driver_connection  # in this unit of work's transaction
            assert driver is not None
            driver.executemany(_SQLITE_UPSERT, zip(new_ids, *map(repeat, head), *columns, strict=False))
            return
        rows = [
            {
                "id": new_id,
                "retailer_id": retailer_id,
                "account_id": account_id,
                "import_id": import_id,
                "created_at": now,
                "updated_at": now,
                **dict(zip(_FIELDS, values, strict=True)),
            }
            for new_id, *values in zip(new_ids, *columns, strict=True)
        ]
        stmt = _dialect(self._conn).insert(products)
        stmt = stmt.on_conflict_do_update(
            index_elements=[products.c.retailer_id, products.c.external_id],
            set_={name: stmt.excluded[name] for name in _UPDATED},
        )
        self._conn.execute(stmt, rows)

    def listed_in_import(self, retailer_id: int, import_id: int, external_ids: Sequence[str]) -> set[str]:
        """Which of `external_ids` this import has stored already (an id listed twice in a feed)."""
        if not external_ids:
            return set()
        if self._conn.dialect.name == "sqlite":  # the ids as one JSON parameter: no list to expand
            driver = self._conn.connection.driver_connection
            assert driver is not None
            rows = driver.execute(_SQLITE_LISTED, (retailer_id, import_id, orjson.dumps(list(external_ids))))
            return {external_id for (external_id,) in rows}
        found = self._conn.execute(
            _LISTED, {"retailer_id": retailer_id, "import_id": import_id, "ids": external_ids}
        )
        return set(found.scalars())

    def mark_unlisted_out_of_stock(self, retailer_id: int, import_id: int, now: datetime) -> int:
        """Take the retailer's products this import did not list out of stock; how many it took."""
        stmt = (
            update(products)
            .where(
                products.c.retailer_id == retailer_id,
                products.c.in_stock.is_(True),
                or_(products.c.import_id.is_(None), products.c.import_id != import_id),
            )
            .values(in_stock=False, updated_at=now)
        )
        return int(self._conn.execute(stmt).rowcount or 0)

    def get(self, product_id: int, *, retailer_id: int | None = None) -> Product | None:
        stmt = select(products).where(products.c.id == product_id)
        if retailer_id is not None:
            stmt = stmt.where(products.c.retailer_id == retailer_id)
        row = self._conn.execute(stmt).first()
        return _product(row) if row else None

    def page(
        self,
        *,
        retailer_id: int,
        in_stock: bool | None,
        gtin: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[Product]:
        """Newest first (id descending), ids below `before_id`: keyset pagination on an index."""
        stmt = select(products).where(products.c.retailer_id == retailer_id)
        if in_stock is not None:
            stmt = stmt.where(products.c.in_stock.is_(in_stock))
        if gtin is not None:
            stmt = stmt.where(products.c.gtin == gtin)
        if before_id is not None:
            stmt = stmt.where(products.c.id < before_id)
        stmt = stmt.order_by(products.c.id.desc()).limit(limit)
        return [_product(r) for r in self._conn.execute(stmt)]

    def by_ids(self, product_ids: Sequence[int]) -> dict[int, Product]:
        if not product_ids:
            return {}
        stmt = select(products).where(products.c.id.in_(list(product_ids)))
        return {row.id: _product(row) for row in self._conn.execute(stmt)}

    def matching(
        self, *, gtin: str | None, match_key: str | None, in_stock_only: bool = True, limit: int = 1000
    ) -> list[Product]:
        """Products of every retailer with this GTIN-14 or this match key (the same product at
        other merchants, for the SmartLink auction), lowest id first."""
        wanted = []
        if gtin is not None:
            wanted.append(products.c.gtin == gtin)
        if match_key is not None:
            wanted.append(products.c.match_key == match_key)
        if not wanted:
            return []
        stmt = select(products).where(or_(*wanted))
        if in_stock_only:
            stmt = stmt.where(products.c.in_stock.is_(True))
        stmt = stmt.order_by(products.c.id).limit(limit)
        return [_product(r) for r in self._conn.execute(stmt)]

    def after(self, retailer_id: int, after_id: int | None, limit: int) -> list[Product]:
        """Keyset pagination on (retailer_id, id): each batch is one index range scan. Columns in
        Product's field order, built positionally: a feed reads every product of a catalog."""
        stmt = select(*_PRODUCT_COLUMNS).where(products.c.retailer_id == retailer_id)
        if after_id is not None:
            stmt = stmt.where(products.c.id > after_id)
        stmt = stmt.order_by(products.c.id).limit(limit)
        return [Product(*row) for row in self._conn.execute(stmt)]

    def counts(self, retailer_ids: Sequence[int]) -> dict[int, int]:
        if not retailer_ids:
            return {}
        stmt = (
            select(products.c.retailer_id, func.count())
            .where(products.c.retailer_id.in_(list(retailer_ids)))
            .group_by(products.c.retailer_id)
        )
        return {retailer_id: int(n) for retailer_id, n in self._conn.execute(stmt)}


def _feed_import(row: Any) -> FeedImport:
    return FeedImport(
        id=row.id,
        account_id=row.account_id,
        retailer_id=row.retailer_id,
        source=row.source,
        format=FeedFormat(row.format),
        status=ImportStatus(row.status),
        rows_read=row.rows_read,
        rows_valid=row.rows_valid,
        rows_invalid=row.rows_invalid,
        marked_out_of_stock=row.marked_out_of_stock,
        errors=tuple(RowError(e["line"], e["field"], e["reason"]) for e in row.errors),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _import_values(record: FeedImport) -> dict[str, Any]:
    return {
        "account_id": record.account_id,
        "retailer_id": record.retailer_id,
        "source": record.source,
        "format": record.format.value,
        "status": record.status.value,
        "rows_read": record.rows_read,
        "rows_valid": record.rows_valid,
        "rows_invalid": record.rows_invalid,
        "marked_out_of_stock": record.marked_out_of_stock,
        "errors": [{"line": e.line, "field": e.field, "reason": e.reason} for e in record.errors],
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


class SqlFeedImportRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, record: FeedImport) -> None:
        self._conn.execute(insert(feed_imports).values(id=record.id, **_import_values(record)))

    def update(self, record: FeedImport) -> None:
        self._conn.execute(
            update(feed_imports).where(feed_imports.c.id == record.id).values(**_import_values(record))
        )

    def get(self, import_id: int, *, retailer_id: int) -> FeedImport | None:
        stmt = select(feed_imports).where(
            and_(feed_imports.c.id == import_id, feed_imports.c.retailer_id == retailer_id)
        )
        row = self._conn.execute(stmt).first()
        return _feed_import(row) if row else None

    def last_succeeded(self, retailer_ids: Sequence[int]) -> dict[int, datetime]:
        if not retailer_ids:
            return {}
        stmt = (
            select(feed_imports.c.retailer_id, func.max(feed_imports.c.finished_at))
            .where(
                feed_imports.c.retailer_id.in_(list(retailer_ids)),
                feed_imports.c.status == ImportStatus.SUCCEEDED.value,
            )
            .group_by(feed_imports.c.retailer_id)
        )
        return {retailer_id: at for retailer_id, at in self._conn.execute(stmt) if at is not None}

    def latest(self, retailer_ids: Sequence[int]) -> dict[int, FeedImport]:
        if not retailer_ids:
            return {}
        newest = (
            select(func.max(feed_imports.c.id))
            .where(feed_imports.c.retailer_id.in_(list(retailer_ids)))
            .group_by(feed_imports.c.retailer_id)
        )
        stmt = select(feed_imports).where(feed_imports.c.id.in_(newest.scalar_subquery()))
        return {row.retailer_id: _feed_import(row) for row in self._conn.execute(stmt)}
