"""Exchange-rate history (migration 0017): a rate set before it takes effect from the day it was
set and, the earliest of its pair, serves the days before too, so reports read as they did;
the downgrade keeps each pair's latest rate. On both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from alembic import command
from sqlalchemy import Engine

from auctera.store.database import make_engine
from auctera.store.migrate import alembic_config, upgrade
from auctera.store.repositories.conversions import SqlFxRateRepository

SET_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _history(engine: Engine, base: str, quote: str) -> list[tuple[date, Decimal]]:
    with engine.connect() as conn:
        return SqlFxRateRepository(conn).history(base, quote)


def test_rates_survive_the_fx_history_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0016")
        with engine.begin() as conn:
            marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * 4)
            for base, quote, rate in (("SEK", "USD", "0.094"), ("EUR", "USD", "1.0842")):
                conn.exec_driver_sql(
                    f"INSERT INTO fx_rates (base, quote, rate, updated_at) VALUES ({marks})",
                    (base, quote, rate, SET_AT.replace(tzinfo=None)),
                )
        upgrade(engine)
        assert _history(engine, "SEK", "USD") == [(date(2026, 3, 4), Decimal("0.094"))]
        with engine.begin() as conn:
            rates = SqlFxRateRepository(conn)
            rates.set("SEK", "USD", Decimal("0.1"), SET_AT, date(2026, 6, 1))
            rates.set("SEK", "USD", Decimal("0.09"), SET_AT, date(2026, 1, 1))
        assert [rate for _, rate in _history(engine, "SEK", "USD")] == [
            Decimal(r) for r in ("0.09", "0.094", "0.1")
        ]
        command.downgrade(alembic_config(engine), "0016")
        with engine.connect() as conn:
            rows = sorted(conn.exec_driver_sql("SELECT base, quote, rate FROM fx_rates").all())
        assert rows == [("EUR", "USD", "1.0842"), ("SEK", "USD", "0.1")]
        upgrade(engine)  # and up again
        assert _history(engine, "EUR", "USD") == [(date(2026, 3, 4), Decimal("1.0842"))]
    finally:
        engine.dispose()
