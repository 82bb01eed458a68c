"""Bid storage (migration 0012): the bids and operations stored before it are kept, on both
backends, and its downgrade gives them back in the old shape; one bid per dimension holds in the
schema itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from auctera.domain.bids import BidFilter, BidStatus, NewBid, OperationKind, UploadWrites
from auctera.store.database import make_engine
from auctera.store.migrate import alembic_config, upgrade
from auctera.store.repositories.bids import SqlBidRepository

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC)
ACCOUNT, NETWORK, CAMPAIGN, AD_SET = 1, 10, 20, 30
FIRST_UPLOAD, SECOND_UPLOAD, BATCH = 100, 200, 300


def _hierarchy() -> list[tuple[str, dict[str, Any]]]:
    """An account's network, campaign and ad set, as every revision since 0008 stores them."""
    naive = CREATED.replace(tzinfo=None)
    return [
        ("accounts", {"id": ACCOUNT, "name": "A", "kind": "advertiser", "timezone": "UTC", "currency": "USD",
                      "signing_secret": "s", "created_at": naive}),
        ("networks", {"id": NETWORK, "account_id": ACCOUNT, "name": "N", "kind": "simulated",
                      "base_url": "http://127.0.0.1:9", "credentials": "{}", "bidding_enabled": True,
                      "campaign_bidding": True, "ad_set_bidding": True, "source_id_bidding": True,
                      "min_bid_micros": 0, "decimal_precision": 3, "max_change_percent": None,
                      "batch_size": 10, "concurrency": 1, "retry_max_attempts": 3, "retry_backoff_ms": 0,
                      "vendor_attributes": "{}", "client_vendor_attributes": "{}",
                      "required_attributes": "{}", "created_at": naive, "updated_at": naive}),
        ("network_campaigns", {"id": CAMPAIGN, "account_id": ACCOUNT, "network_id": NETWORK, "name": "C",
                               "countries": '["DE"]', "optimization_type": "cpi", "attributes": "{}",
                               "external_id": None, "campaign_id": None, "created_at": naive,
                               "updated_at": naive}),
        ("ad_sets", {"id": AD_SET, "account_id": ACCOUNT, "network_id": NETWORK,
                     "network_campaign_id": CAMPAIGN, "name": "S", "external_id": None, "line_item_id": None,
                     "created_at": naive, "updated_at": naive}),
    ]  # fmt: skip


def _insert(engine: Engine, rows: list[tuple[str, dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table, values in rows:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            marks = ", ".join([mark] * len(values))
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})", tuple(values.values())
            )


def _seed_old_schema(engine: Engine) -> None:
    """Rows as revision 0011 stored them: a campaign bid (no source id) changed by a second upload,
    and a source-id bid whose operation sits in a partner batch."""
    naive, later = CREATED.replace(tzinfo=None), LATER.replace(tzinfo=None)
    rows = [
        *_hierarchy(),
        ("bid_batches", {"id": BATCH, "account_id": ACCOUNT, "network_id": NETWORK, "phase": "apply",
                         "size": 1, "attempts": 0, "next_attempt_at": later, "locked_until": None,
                         "lease_token": None, "error": None, "created_at": later, "updated_at": later}),
        ("bids", {"id": 1, "account_id": ACCOUNT, "network_id": NETWORK, "campaign_id": CAMPAIGN,
                  "ad_set_id": None, "country": "DE", "source_id": None, "dimension": f"{CAMPAIGN}:0:DE:",
                  "value_micros": 250_000, "previous_value_micros": 100_000, "status": "pending",
                  "operation_id": 12, "operation_kind": "update", "created_at": naive, "updated_at": later}),
        ("bids", {"id": 2, "account_id": ACCOUNT, "network_id": NETWORK, "campaign_id": CAMPAIGN,
                  "ad_set_id": AD_SET, "country": "DE", "source_id": "app",
                  "dimension": f"{CAMPAIGN}:{AD_SET}:DE:app",
                  "value_micros": 300_000, "previous_value_micros": None, "status": "pending",
                  "operation_id": 21, "operation_kind": "create", "created_at": later, "updated_at": later}),
    ]  # fmt: skip
    operations = [
        (11, 1, FIRST_UPLOAD, None, "create", None, 100_000, "success", naive, later),
        (12, 1, SECOND_UPLOAD, None, "update", 100_000, 250_000, "pending", later, later),
        (21, 2, SECOND_UPLOAD, BATCH, "create", None, 300_000, "pending", later, later),
    ]
    for op_id, bid, upload, batch, kind, old, new, status, created, updated in operations:
        rows.append(
            ("bid_operations", {"id": op_id, "account_id": ACCOUNT, "bid_id": bid, "network_id": NETWORK,
                                "upload_id": upload, "batch_id": batch, "kind": kind, "old_value_micros": old,
                                "new_value_micros": new, "status": status, "attempts": 0, "error": None,
                                "created_at": created, "updated_at": updated})
        )  # fmt: skip
    _insert(engine, rows)


def test_bids_and_operations_survive_the_bid_storage_migration(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0011")
        _seed_old_schema(engine)
        upgrade(engine)
        with engine.begin() as conn:
            repo = SqlBidRepository(conn)
            listed = repo.bids(BidFilter(campaign_id=CAMPAIGN), account_id=ACCOUNT, offset=0, limit=10)
            assert [
                (b.id, b.ad_set_id, b.source_id, b.value_micros, b.previous_value_micros, b.operation_kind)
                for b in listed
            ] == [
                (1, None, None, 250_000, 100_000, OperationKind.UPDATE),
                (2, AD_SET, "app", 300_000, None, OperationKind.CREATE),
            ]
            assert set(repo.stored_bids([CAMPAIGN])) == {
                (CAMPAIGN, None, "DE", None),
                (CAMPAIGN, AD_SET, "DE", "app"),
            }
            [first] = repo.operations(upload_id=FIRST_UPLOAD)
            assert (first.account_id, first.created_at, first.status) == (ACCOUNT, CREATED, BidStatus.SUCCESS)
            second = repo.operations(upload_id=SECOND_UPLOAD)
            assert [(o.id, o.batch_id, o.created_at) for o in second] == [
                (12, None, LATER),
                (21, BATCH, LATER),
            ]
            assert repo.pending_networks() == [NETWORK]  # operation 12 still waits for a batch
            repo.lease_batch(BATCH, LATER, token=7)
            batch = repo.sync_batch(BATCH, token=7)
            assert batch is not None
            assert [(i.operation_id, i.key.ad_set, i.key.source_id) for i in batch.items] == [
                (21, str(AD_SET), "app")
            ]
        command.downgrade(alembic_config(engine), "0011")
        with engine.connect() as conn:
            old = conn.exec_driver_sql(
                "SELECT id, source_id, dimension, previous_value_micros, operation_kind FROM bids ORDER BY id"
            ).fetchall()
            assert [tuple(r) for r in old] == [
                (1, None, f"{CAMPAIGN}:0:DE:", 100_000, "update"),
                (2, "app", f"{CAMPAIGN}:{AD_SET}:DE:app", None, "create"),
            ]
            ops = conn.exec_driver_sql("SELECT id, account_id FROM bid_operations ORDER BY id").fetchall()
            assert [tuple(r) for r in ops] == [(11, ACCOUNT), (12, ACCOUNT), (21, ACCOUNT)]
        upgrade(engine)  # and up again
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "first, second",
    [
        ((None, None), (None, None)),  # a campaign bid
        ((AD_SET, None), (AD_SET, None)),  # an ad-set bid
        ((AD_SET, "app"), (AD_SET, "app")),  # a source-id bid
    ],
)
def test_the_schema_holds_one_bid_per_dimension(
    migrated_engine: Engine, first: tuple[int | None, str | None], second: tuple[int | None, str | None]
) -> None:
    """Past the upload's own checks (which reject a duplicate row first): a second bid on a
    dimension is refused by the unique indexes, and the transaction writes nothing."""
    _insert(migrated_engine, _hierarchy())

    def upload(upload_id: int, bid_id: int, ad_set: int | None, source: str | None) -> UploadWrites:
        bid: NewBid = (bid_id, bid_id + 1, NETWORK, CAMPAIGN, ad_set, "DE", source, 100_000)
        return UploadWrites(upload_id, ACCOUNT, CREATED, [bid], [])

    with migrated_engine.begin() as conn:
        SqlBidRepository(conn).save_upload(upload(100, 1000, *first))
        # Other dimensions of the same campaign and country coexist with it.
        SqlBidRepository(conn).save_upload(upload(101, 1100, AD_SET, "other"))
        SqlBidRepository(conn).save_upload(upload(102, 1200, None if first[0] else AD_SET, None))
    with pytest.raises(IntegrityError), migrated_engine.begin() as conn:
        SqlBidRepository(conn).save_upload(upload(200, 2000, *second))
    with migrated_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM bids").scalar() == 3
        assert conn.exec_driver_sql("SELECT count(*) FROM bid_uploads").scalar() == 3
