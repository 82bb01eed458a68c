"""Conversions and the operator's exchange rates."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from auctera.domain.conversions import Conversion, ConversionStatus, ReversalReason
from auctera.store.tables import UNLOGGED, conversions, fx_rates, sqlite_text

_FIELDS = [f for f in Conversion.__slots__ if f not in ("status", "reversal_reason", "fraud_signals")]


def _conversion(row: Any) -> Conversion:
    return Conversion(
        **{f: getattr(row, f) for f in _FIELDS},
        status=ConversionStatus(row.status),
        reversal_reason=ReversalReason(row.reversal_reason) if row.reversal_reason else None,
        fraud_signals=tuple(row.fraud_signals),
    )


def _values(c: Conversion) -> dict[str, Any]:
    return {
        **{f: getattr(c, f) for f in _FIELDS},
        "status": c.status.value,
        "reversal_reason": c.reversal_reason.value if c.reversal_reason else None,
        "fraud_signals": list(c.fraud_signals),
    }


# Built once: a postback runs these, and building (or, for the dialect-specific INSERT, even
# compiling: it is not cacheable) a statement costs more than SQLite takes to run it.
# A conflicting row (a concurrent copy of the postback) is skipped rather than failing the
# transaction; RETURNING says whether the row went in (psycopg gives no usable rowcount here).
_INSERT_SQLITE = insert(conversions).prefix_with("OR IGNORE").returning(conversions.c.id)
_INSERT_POSTGRES = postgresql.insert(conversions).on_conflict_do_nothing().returning(conversions.c.id)
_BY_DEDUP = select(conversions).where(
    conversions.c.account_id == bindparam("account_id"), conversions.c.dedup_key == bindparam("dedup_key")
)
_BY_KEYS = select(conversions).where(
    conversions.c.account_id == bindparam("account_id"),
    or_(
        conversions.c.dedup_key == bindparam("dedup_key"),
        conversions.c.idempotency_key == bindparam("idempotency_key"),
    ),
)


_MARK_LOGGED = (
    update(conversions).where(conversions.c.id.in_(bindparam("ids", expanding=True))).values(logged=True)
)
# Every column `_values` writes but the key, bound by name (`row_id` for the key).
_UPDATE = (
    update(conversions)
    .where(conversions.c.id == bindparam("row_id"))
    .values(
        {
            name: bindparam(name)
            for name in (*(f for f in _FIELDS if f != "id"), "status", "reversal_reason", "fraud_signals")
        }
    )
)
_MARK_UNREVERSED_LOGGED = _MARK_LOGGED.where(conversions.c.reversed_at.is_(None))
_MARK_UNREVERSED_LOGGED_SQLITE = "UPDATE conversions SET logged = 1 WHERE id = ? AND reversed_at IS NULL"

_SEEN_SQLITE = (
    "SELECT 1 FROM conversions WHERE account_id = ? AND dedup_key = ? "
    "UNION ALL SELECT 1 FROM conversions WHERE account_id = ? AND idempotency_key = ? LIMIT 1"
)


# The same INSERT OR IGNORE for the driver itself, with the values as the column types bind them
# (UTCDateTime: naive UTC text; JSON: text; Boolean: 0/1): Core's execution context and bind
# processors cost several times SQLite's own insert, on every postback. `_sqlite_row` gives the
# values in this order (tests/store check it against the table).
SQLITE_COLUMNS = (
    "id", "account_id", "campaign_id", "publisher_id", "click_id", "event_type", "order_id",
    "idempotency_key", "dedup_key", "currency", "revenue_micros", "original_revenue_micros",
    "original_currency", "payout_micros", "cost_micros", "fraud_score", "fraud_reason",
    "fraud_signals", "status", "occurred_at", "created_at", "reversed_at", "reversal_reason",
    "logged", "attrs",
)  # fmt: skip
_INSERT_SQLITE_RAW = (
    f"INSERT OR IGNORE INTO conversions ({', '.join(SQLITE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in SQLITE_COLUMNS)})"
)


def _sqlite_row(c: Conversion, dedup_key: str) -> tuple[Any, ...]:
    return (
        c.id, c.account_id, c.campaign_id, c.publisher_id, c.click_id, c.event_type, c.order_id,
        c.idempotency_key, dedup_key, c.currency, c.revenue_micros, c.original_revenue_micros,
        c.original_currency, c.payout_micros, c.cost_micros, c.fraud_score, c.fraud_reason,
        orjson.dumps(c.fraud_signals).decode(), c.status.value, _sqlite_datetime(c.occurred_at),
        _sqlite_datetime(c.created_at), _sqlite_datetime(c.reversed_at),
        c.reversal_reason.value if c.reversal_reason else None, int(c.logged),
        orjson.dumps(c.attrs).decode(),
    )  # fmt: skip


class SqlConversionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"
        self._insert = _INSERT_SQLITE if self._sqlite else _INSERT_POSTGRES
        self._driver_connection: sqlite3.Connection | None = None

    def _driver(self) -> sqlite3.Connection:
        """The sqlite3 connection under this unit of work's transaction (looked up once: it is a
        chain of properties, and a postback uses it twice)."""
        if self._driver_connection is None:
            self._driver_connection = self._conn.connection.driver_connection
            assert self._driver_connection is not None
        return self._driver_connection

    def add(self, conversion: Conversion, dedup_key: str) -> bool:
        if self._sqlite:
            cursor = self._driver().execute(_INSERT_SQLITE_RAW, _sqlite_row(conversion, dedup_key))
            return bool(cursor.rowcount == 1)
        row = {**_values(conversion), "dedup_key": dedup_key}
        return self._conn.execute(self._insert, row).first() is not None

    def get(
        self, conversion_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Conversion | None:
        stmt = select(conversions).where(conversions.c.id == conversion_id)
        if account_id is not None:
            stmt = stmt.where(conversions.c.account_id == account_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return _conversion(row) if row else None

    def by_keys(self, account_id: int, dedup_key: str, idempotency_key: str | None) -> Conversion | None:
        if self._sqlite and not self._seen_sqlite(account_id, dedup_key, idempotency_key):
            return None  # the common case, a new conversion, answered from the indexes alone
        params = {"account_id": account_id, "dedup_key": dedup_key, "idempotency_key": idempotency_key}
        found = self._conn.execute(_BY_DEDUP if idempotency_key is None else _BY_KEYS, params)
        # The dedup key first: it names the conversion itself, a reused idempotency key only a request.
        rows = sorted(found, key=lambda r: r.dedup_key != dedup_key)
        return _conversion(rows[0]) if rows else None

    def adopt_idempotency_key(self, conversion: Conversion, idempotency_key: str) -> None:
        taken = select(conversions.c.id).where(
            conversions.c.account_id == conversion.account_id,
            conversions.c.idempotency_key == idempotency_key,
        )
        stmt = (
            update(conversions)
            .where(conversions.c.id == conversion.id, conversions.c.idempotency_key.is_(None))
            .where(~taken.exists())
            .values(idempotency_key=idempotency_key)
        )
        try:  # in a savepoint: a concurrent request naming another conversion by it wins (PostgreSQL)
            with self._conn.begin_nested():
                self._conn.execute(stmt)
        except IntegrityError:
            pass

    def _seen_sqlite(self, account_id: int, dedup_key: str, idempotency_key: str | None) -> bool:
        # Straight to the driver, in this unit of work's transaction: Core's execution context
        # costs several times the two index probes (see repositories/campaigns for the same).
        params = (account_id, dedup_key, account_id, idempotency_key)
        return self._driver().execute(_SEEN_SQLITE, params).fetchone() is not None

    def update(self, conversion: Conversion) -> None:
        values = _values(conversion)
        values["row_id"] = values.pop("id")
        self._conn.execute(_UPDATE, values)

    def unlogged(self, limit: int) -> list[Conversion]:
        stmt = select(conversions).where(text(UNLOGGED)).order_by(conversions.c.id).limit(limit)
        return [_conversion(r) for r in self._conn.execute(stmt)]

    def mark_logged(self, conversion_ids: Sequence[int]) -> None:
        if conversion_ids:
            self._conn.execute(_MARK_LOGGED, {"ids": list(conversion_ids)})

    def mark_logged_unless_reversed(self, conversion_ids: Sequence[int]) -> None:
        if not conversion_ids:
            return
        if self._sqlite:  # each postback batch marks the one before it: straight to the driver
            self._driver().executemany(_MARK_UNREVERSED_LOGGED_SQLITE, [(i,) for i in conversion_ids])
            return
        self._conn.execute(_MARK_UNREVERSED_LOGGED, {"ids": list(conversion_ids)})


def _sqlite_datetime(at: datetime | None) -> str | None:
    return None if at is None else sqlite_text(at)


class SqlFxRateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def history(self, base: str, quote: str) -> list[tuple[date, Decimal]]:
        """Every rate of the pair with the day it takes effect from, oldest first."""
        stmt = (
            select(fx_rates.c.effective_from, fx_rates.c.rate)
            .where(fx_rates.c.base == base, fx_rates.c.quote == quote)
            .order_by(fx_rates.c.effective_from)
        )
        return [(day, Decimal(rate)) for day, rate in self._conn.execute(stmt)]

    def set(
        self, base: str, quote: str, rate: Decimal, at: datetime, effective_from: date | None = None
    ) -> None:
        """The pair's rate from `effective_from` (default: the UTC day of `at`) on, replacing one
        set from that very day."""
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        values = {"rate": str(rate), "updated_at": at}
        day = effective_from or at.astimezone(UTC).date()
        stmt = dialect.insert(fx_rates).values(base=base, quote=quote, effective_from=day, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["base", "quote", "effective_from"], set_=values)
        self._conn.execute(stmt)

    def list(self) -> list[tuple[str, str, date, Decimal, datetime]]:
        stmt = select(fx_rates).order_by(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.effective_from)
        return [
            (r.base, r.quote, r.effective_from, Decimal(r.rate), r.updated_at)
            for r in self._conn.execute(stmt)
        ]
