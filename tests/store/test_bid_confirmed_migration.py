"""Migration 0018 on both backends: bids stored before it get the value their network was last
known to run, and repeated links to one campaign of ours keep only the oldest."""

from __future__ import annotations

from alembic import command

from auctera.domain.bids import BidFilter
from auctera.store.database import make_engine
from auctera.store.migrate import alembic_config, upgrade
from auctera.store.repositories.bids import SqlBidRepository

from .test_bid_storage_migration import ACCOUNT, CAMPAIGN, CREATED, NETWORK, _hierarchy, _insert

UPLOAD = 100


def _bid(
    bid_id: int, country: str, value: int, status: str, kind: str, old: int | None
) -> list[tuple[str, dict]]:
    naive = CREATED.replace(tzinfo=None)
    op = bid_id * 10
    return [
        ("bids", {"id": bid_id, "account_id": ACCOUNT, "network_id": NETWORK, "campaign_id": CAMPAIGN,
                  "ad_set_id": None, "country": country, "source_id": "", "value_micros": value,
                  "status": status, "operation_id": op, "created_at": naive, "updated_at": naive}),
        ("bid_operations", {"id": op, "upload_id": UPLOAD, "bid_id": bid_id, "network_id": NETWORK,
                            "kind": kind, "old_value_micros": old, "new_value_micros": value,
                            "status": status, "attempts": 0}),
    ]  # fmt: skip


def test_stored_bids_get_their_confirmed_value(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0017")
        naive = CREATED.replace(tzinfo=None)
        _insert(
            engine,
            [
                *_hierarchy(),
                ("bid_uploads", {"id": UPLOAD, "account_id": ACCOUNT, "created_at": naive}),
                *_bid(1, "DE", 300_000, "success", "update", 250_000),
                *_bid(2, "FR", 300_000, "error", "update", 250_000),
                *_bid(3, "US", 300_000, "pending", "update", 250_000),
                *_bid(4, "GB", 300_000, "pending", "create", None),
            ],
        )
        upgrade(engine)
        with engine.connect() as conn:
            repo = SqlBidRepository(conn)
            listed = repo.bids(BidFilter(campaign_id=CAMPAIGN), account_id=ACCOUNT, offset=0, limit=10)
            assert [(b.country, b.confirmed_micros, b.confirmed_current, b.shown_micros) for b in listed] == [
                ("DE", 300_000, True, 300_000),
                ("FR", 250_000, False, None),  # the value it failed to take is not shown
                ("US", 250_000, True, 300_000),
                ("GB", None, False, 300_000),
            ]
            assert {k[2]: s.confirmed_micros for k, s in repo.stored_bids([CAMPAIGN]).items()} == {
                "DE": 300_000,
                "FR": 250_000,
                "US": 250_000,
                "GB": None,
            }
        command.downgrade(alembic_config(engine), "0017")
        upgrade(engine)
    finally:
        engine.dispose()
