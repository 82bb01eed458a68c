"""Unlogged indexes (migration 0014): conversions written before it keep their Idempotency-Key
guarantee and are still found by the crash sweep, on both backends, through the downgrade too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from auctera.store.database import make_engine
from auctera.store.migrate import alembic_config, upgrade
from auctera.store.repositories.conversions import SqlConversionRepository

NAIVE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)


def _insert(engine: Engine, table: str, values: dict[str, object]) -> None:
    with engine.begin() as conn:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join([mark] * len(values))})",
            tuple(values.values()),
        )


def _conversion(conversion_id: int, *, key: str | None, logged: bool) -> dict[str, object]:
    return {
        "id": conversion_id, "account_id": 1, "campaign_id": 5, "publisher_id": None,
        "click_id": 9, "event_type": "purchase", "order_id": f"o{conversion_id}",
        "idempotency_key": key, "dedup_key": f"9:purchase:o{conversion_id}", "currency": "USD",
        "revenue_micros": 1, "original_revenue_micros": 1, "original_currency": "USD",
        "payout_micros": 0, "cost_micros": 0, "fraud_score": 0.0, "fraud_reason": None,
        "fraud_signals": "[]", "status": "approved", "occurred_at": NAIVE, "created_at": NAIVE,
        "reversed_at": None, "reversal_reason": None, "logged": logged, "attrs": "{}",
    }  # fmt: skip


def _unlogged(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [c.id for c in SqlConversionRepository(conn).unlogged(10)]


def test_conversions_survive_the_unlogged_indexes_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0013")
        account = {"id": 1, "name": "A", "kind": "advertiser", "timezone": "UTC", "currency": "USD",
                   "signing_secret": "s", "created_at": NAIVE}  # fmt: skip
        _insert(engine, "accounts", account)
        _insert(engine, "conversions", _conversion(10, key="key-a", logged=True))
        _insert(engine, "conversions", _conversion(11, key=None, logged=False))
        upgrade(engine)
        assert _unlogged(engine) == [11]
        # Any number of rows without a key; a key stays unique per account.
        _insert(engine, "conversions", _conversion(12, key=None, logged=False))
        with pytest.raises(IntegrityError):
            _insert(engine, "conversions", _conversion(13, key="key-a", logged=True))
        assert _unlogged(engine) == [11, 12]
        command.downgrade(alembic_config(engine), "0013")
        assert _unlogged(engine) == [11, 12]
        with pytest.raises(IntegrityError):
            _insert(engine, "conversions", _conversion(13, key="key-a", logged=True))
    finally:
        engine.dispose()
