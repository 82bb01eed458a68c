"""Retailers, their products, and feed imports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

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
from auctera.store.repositories.owned import OwnedRows, dialect_of
from auctera.store.tables import accounts, feed_imports, products, retailers, sqlite_text


def _retailer(row: Any) -> Retailer:
    return Retailer(
        row.id, row.account_id, AccountKind(row.kind), row.name, row.domain, row.created_at, row.updated_at
    )


# A retailer with its account's kind (publisher: a retail site; advertiser: a merchant).
_RETAILERS = OwnedRows(
    retailers,
    _retailer,
    select(retailers, accounts.c.kind).join(accounts, accounts.c.id == retailers.c.account_id),
)


class SqlRetailerRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, retailer: Retailer) -> bool:
        """False when the account has a retailer on this domain already (nothing is written)."""
        stmt = (
            dialect_of(self._conn)
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
        return _RETAILERS.get(self._conn, retailer_id, account_id)

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Retailer]:
        return _RETAILERS.page(self._conn, account_id, before_id, limit)

    def many(self, retailer_ids: Sequence[int]) -> dict[int, Retailer]:
        return _RETAILERS.many(self._conn, retailer_ids)

    def touch(self, retailer_id: int, at: datetime) -> None:
        self._conn.execute(update(retailers).where(retailers.c.id == retailer_id).values(updated_at=at))


_FIELDS = list(ProductFields.__slots__)
_INSERTED = ["id", "retailer_id", "account_id", "import_id", "created_at", "updated_at", *_FIELDS]
# A product listed again keeps its id, external id and created_at; the feed's other fields, the
# import and updated_at are rewritten. Its GTIN and match key are set apart, only where they
# changed: SQLite rewrites an index entry of every indexed column an UPDATE assigns, even to the
# value it has (two thirds of a re-import's storage time when they were assigned with the rest).
_KEYS = ["gtin", "match_key"]
_REWRITTEN = [name for name in _FIELDS if name not in ("external_id", *_KEYS)]
# SQLite: the rows go straight to the driver. Through Core, binding and processing the parameters
# of 5,000 rows costs four times what SQLite takes to write them. Values are stored as SQLAlchemy
# stores them there: booleans 0/1, naive UTC datetimes (`tables.UTCDateTime`).
_SQLITE_INSERT = f"INSERT INTO products ({', '.join(_INSERTED)}) VALUES ({', '.join('?' * len(_INSERTED))})"
_SQLITE_UPDATE = (
    f"UPDATE products SET {', '.join(f'{name} = ?' for name in _REWRITTEN)}, import_id = ?, updated_at = ?"
    " WHERE id = ?"
)
_SQLITE_UPDATE_KEYS = (
    "UPDATE products SET gtin = ?1, match_key = ?2 WHERE id = ?3 AND (gtin IS NOT ?1 OR match_key IS NOT ?2)"
)
_SQLITE_STORED = (
    "SELECT external_id, id, import_id FROM products"
    " WHERE retailer_id = ? AND external_id IN (SELECT value FROM json_each(?))"
)
# PostgreSQL: new rows by COPY; those listed again in one statement, the batch's rows as one JSON
# parameter. (As arrays, psycopg adapts them a value at a time in Python, over a second per 100k
# rows, and the planner hash-joined an unnest of them with a scan of the whole table; it takes the
# JSON for a few rows and joins on the primary key.) PostgreSQL writes a new row version for any
# update, whatever it assigns, so the keys are assigned with the rest.
_PG_TYPES = {"id": "bigint", "price_micros": "bigint", "min_bid_micros": "bigint", "in_stock": "boolean"}
_PG_UPDATED = [name for name in _FIELDS if name != "external_id"]
_PG_ROWS = ", ".join(
    f"(r->>{n})::{_PG_TYPES.get(name, 'text')} AS {name}" for n, name in enumerate(["id", *_PG_UPDATED])
)
_PG_UPDATE = (
    f"UPDATE products SET {', '.join(f'{name} = v.{name}' for name in _PG_UPDATED)},"
    f" import_id = %s, updated_at = %s FROM (SELECT {_PG_ROWS} FROM json_array_elements(%s::json) AS r) AS v"
    " WHERE products.id = v.id"
)
_PG_STORED = (
    "SELECT external_id, id, import_id FROM products"
    " WHERE retailer_id = %s AND external_id IN (SELECT json_array_elements_text(%s::json))"
)


_PRODUCT_COLUMNS = [products.c[name] for name in Product.__slots__]


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
        """Insert or update by (retailer, external id); `new_ids[i]` is the id of `items[i]` if new.
        An external id given twice is stored once, with the first one's id and the last one's fields."""
        chosen: dict[str, tuple[int, ProductFields]] = {}
        for new_id, item in zip(new_ids, items, strict=True):
            chosen[item.external_id] = (chosen.get(item.external_id, (new_id, item))[0], item)
        stored = self.stored(retailer_id, list(chosen))
        fresh = [(new_id, item) for new_id, item in chosen.values() if item.external_id not in stored]
        self.insert_columns(
            retailer_id=retailer_id,
            account_id=account_id,
            import_id=import_id,
            batch=ProductColumns.of((0, item) for _, item in fresh),
            ids=[new_id for new_id, _ in fresh],
            now=now,
        )
        listed = ProductColumns.of((0, item) for _, item in chosen.values() if item.external_id in stored)
        ids = [stored[external_id][0] for external_id in listed.external_id]
        self.update_columns(import_id=import_id, batch=listed, ids=ids, now=now)

    def stored(self, retailer_id: int, external_ids: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """The retailer's stored products among `external_ids`: external id -> (product id, the
        import that last listed it). It takes the retailer's catalog for the transaction (on
        PostgreSQL its retailer row, FOR UPDATE; SQLite has one writer), so the answer holds until
        commit even with two imports of one retailer at once."""
        if not external_ids:
            return {}
        driver = self._conn.connection.driver_connection  # in this unit of work's transaction
        assert driver is not None
        if self._conn.dialect.name == "sqlite":  # the ids as one JSON parameter: no list to expand
            rows = driver.execute(_SQLITE_STORED, (retailer_id, orjson.dumps(list(external_ids))))
            return {external_id: (product_id, listed_by) for external_id, product_id, listed_by in rows}
        with driver.cursor() as cur:
            cur.execute("SELECT id FROM retailers WHERE id = %s FOR UPDATE", (retailer_id,))
            cur.execute(_PG_STORED, (retailer_id, orjson.dumps(list(external_ids)).decode()))
            return {external_id: (product_id, listed_by) for external_id, product_id, listed_by in cur}

    def insert_columns(
        self,
        *,
        retailer_id: int,
        account_id: int,
        import_id: int,
        batch: ProductColumns,
        ids: Sequence[int],
        now: datetime,
    ) -> None:
        """New products, given a column at a time (a feed import's batch): none of their external
        ids is stored yet (`stored`, in this transaction). The rows are zipped from the columns in C."""
        if not len(batch):
            return
        columns = [getattr(batch, name) for name in _FIELDS]
        driver = self._conn.connection.driver_connection
        assert driver is not None
        if self._conn.dialect.name == "sqlite":
            stamp = sqlite_text(now)
            head = (retailer_id, account_id, import_id, stamp, stamp)
            driver.executemany(_SQLITE_INSERT, zip(ids, *map(repeat, head), *columns, strict=False))
            return
        at = now.astimezone(UTC).replace(tzinfo=None)
        head = (retailer_id, account_id, import_id, at, at)
        failure = self._conn.dialect.loaded_dbapi.Error
        statement = f"COPY products ({', '.join(_INSERTED)}) FROM STDIN"
        try:
            with driver.cursor() as cur, cur.copy(statement) as copy:
                for row in zip(ids, *map(repeat, head), *columns, strict=False):
                    copy.write_row(row)
        except failure as exc:  # as SQLAlchemy raises them: a unique violation is an IntegrityError
            raise DBAPIError.instance(statement, None, exc, failure) from exc

    def update_columns(
        self, *, import_id: int, batch: ProductColumns, ids: Sequence[int], now: datetime
    ) -> None:
        """Products listed again (`ids[i]` is the stored id of row i): the feed's latest word."""
        if not len(batch):
            return
        driver = self._conn.connection.driver_connection
        assert driver is not None
        if self._conn.dialect.name == "sqlite":
            stamp = sqlite_text(now)
            rewritten = [getattr(batch, name) for name in _REWRITTEN]
            driver.executemany(
                _SQLITE_UPDATE, zip(*rewritten, repeat(import_id), repeat(stamp), ids, strict=False)
            )
            driver.executemany(_SQLITE_UPDATE_KEYS, zip(batch.gtin, batch.match_key, ids, strict=True))
            return
        at = now.astimezone(UTC).replace(tzinfo=None)
        rows = orjson.dumps(list(zip(ids, *(getattr(batch, name) for name in _PG_UPDATED), strict=True)))
        with driver.cursor() as cur:
            cur.execute(_PG_UPDATE, (import_id, at, rows.decode()))

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
        lease_until=row.lease_until,
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
        values = {"id": record.id, "lease_until": record.lease_until, **_import_values(record)}
        self._conn.execute(insert(feed_imports).values(**values))

    def update(self, record: FeedImport) -> bool:
        """Write the import's figures, only while it still runs: False when it was ended meanwhile
        (taken for dead and failed by the next import). The lease is `renew`'s alone."""
        done = self._conn.execute(
            update(feed_imports)
            .where(feed_imports.c.id == record.id, feed_imports.c.status == ImportStatus.RUNNING.value)
            .values(**_import_values(record))
        )
        return done.rowcount == 1

    def renew(self, import_id: int, until: datetime) -> bool:
        done = self._conn.execute(
            update(feed_imports)
            .where(feed_imports.c.id == import_id, feed_imports.c.status == ImportStatus.RUNNING.value)
            .values(lease_until=until)
        )
        return done.rowcount == 1

    def running(self, retailer_id: int) -> list[FeedImport]:
        """The retailer's imports marked running, the retailer's row locked until the transaction
        ends (PostgreSQL; SQLite's writers are serialized already), so two imports starting at
        once see each other."""
        self._conn.execute(select(retailers.c.id).where(retailers.c.id == retailer_id).with_for_update())
        stmt = select(feed_imports).where(
            feed_imports.c.retailer_id == retailer_id, feed_imports.c.status == ImportStatus.RUNNING.value
        )
        return [_feed_import(row) for row in self._conn.execute(stmt)]

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
