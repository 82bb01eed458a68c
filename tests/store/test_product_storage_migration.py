"""Product storage (migration 0013): the catalog stored before it is kept and still found by GTIN
and match key on both backends, through the downgrade too."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine

from auctera.store.database import make_engine
from auctera.store.migrate import alembic_config, upgrade
from auctera.store.repositories.catalog import SqlProductRepository

NAIVE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)
GTIN, KEY = "00711719437215", "5 playstation sony"


def _seed(engine: Engine) -> None:
    """An account's retailer with two products, one without a GTIN or match key."""
    product = {
        "retailer_id": 2,
        "account_id": 1,
        "name": "P",
        "description": None,
        "price_micros": 1,
        "currency": "USD",
        "url": "https://shop.example.com/p",
        "image_url": None,
        "in_stock": True,
        "category": None,
        "brand": None,
        "sku": None,
        "min_bid_micros": None,
        "import_id": None,
        "created_at": NAIVE,
        "updated_at": NAIVE,
    }
    rows = [
        ("accounts", {"id": 1, "name": "A", "kind": "advertiser", "timezone": "UTC", "currency": "USD",
                      "signing_secret": "s", "created_at": NAIVE}),
        ("retailers", {"id": 2, "account_id": 1, "name": "Shop", "domain": "shop.example.com",
                       "created_at": NAIVE, "updated_at": NAIVE}),
        ("products", {**product, "id": 10, "external_id": "a", "gtin": GTIN, "match_key": KEY}),
        ("products", {**product, "id": 11, "external_id": "b", "gtin": None, "match_key": None}),
    ]  # fmt: skip
    with engine.begin() as conn:
        for table, values in rows:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join([mark] * len(values))})",
                tuple(values.values()),
            )


def _found(engine: Engine) -> tuple[list[int], list[int], int]:
    with engine.connect() as conn:
        products = SqlProductRepository(conn)
        by_gtin = [p.id for p in products.matching(gtin=GTIN, match_key=None)]
        by_key = [p.id for p in products.matching(gtin=None, match_key=KEY)]
        return by_gtin, by_key, products.counts([2])[2]


def test_products_survive_the_product_storage_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0012")
        _seed(engine)
        upgrade(engine)
        assert _found(engine) == ([10], [10], 2)
        command.downgrade(alembic_config(engine), "0012")
        assert _found(engine) == ([10], [10], 2)
    finally:
        engine.dispose()
