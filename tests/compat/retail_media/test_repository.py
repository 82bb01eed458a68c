"""The line-item store and service on both backends (SQLite and a real PostgreSQL server): rows
round-trip, spend is read per local period, and concurrent creations of one name in one
campaign leave exactly one line item (the campaign row lock, then the unique constraint)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert

from auctera.domain.accounts import Account, AccountKind, Principal
from auctera.domain.budgets import Spend
from auctera.domain.campaigns import Budget, Campaign, CampaignStatus, CampaignType
from auctera.domain.ids import IdGenerator
from auctera.domain.line_items import (
    BidStrategy,
    Circumstances,
    LineItem,
    LineItemInvalid,
    LineItemSettings,
    LineItemStatus,
)
from auctera.services.line_items import LineItemService, LineItemWrite
from auctera.store.tables import products, retailers, spend_periods
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> tuple[SqlUnitOfWorkFactory, Principal, int, int]:
    """An advertiser with a retail-media campaign, and a retailer with one product."""
    account = Account(1, "Acme", AccountKind.ADVERTISER, "Asia/Tokyo", "USD", "auc_ss_x", None, T0)
    campaign = Campaign(
        10, 1, "Spring", CampaignType.RETAIL_MEDIA, CampaignStatus.ACTIVE, Budget("USD", None, 10**9), T0, T0
    )
    with uow_factory() as u:
        u.accounts.add(account)
        u.accounts.add(Account(2, "Shop", AccountKind.PUBLISHER, "UTC", "USD", "auc_ss_y", None, T0))
        u.campaigns.add(campaign)
        u.commit()
    with uow_factory.engine.begin() as conn:
        conn.execute(
            insert(retailers).values(
                id=20, account_id=2, name="Shop", domain="shop.example.com", created_at=T0, updated_at=T0
            )
        )
        conn.execute(
            insert(products).values(
                id=30,
                retailer_id=20,
                account_id=2,
                external_id="SKU-1",
                name="Kettle",
                price_micros=1,
                currency="USD",
                url="https://shop.example.com/k",
                in_stock=True,
                min_bid_micros=250_000,
                created_at=T0,
                updated_at=T0,
            )
        )
    principal = Principal(1, AccountKind.ADVERTISER, "Asia/Tokyo", "USD", None, "client:x")
    return uow_factory, principal, 10, 20


def test_rows_round_trip(world: tuple[SqlUnitOfWorkFactory, Principal, int, int]) -> None:
    uow, _, campaign, retailer = world
    settings = LineItemSettings(
        name="Kettles",
        start_date=date(2026, 11, 1),
        end_date=date(2026, 12, 31),
        budget_micros=100_000_000,
        monthly_pacing_micros=30_000_000,
        is_auto_daily_pacing=True,
        bid_strategy=BidStrategy.CLICKS,
        target_bid_micros=500_000,
        max_bid_micros=900_000,
    )
    item = LineItem(40, 1, campaign, retailer, settings, LineItemStatus.PAUSED, T0, T0)
    with uow() as u:
        u.line_items.add(item)
        u.line_items.add_products(40, [30])
        u.commit()
    with uow.engine.begin() as conn:
        rows = [("total", 7), ("2026-11", 5), ("2026-11-23", 2), ("2026-10", 1)]
        conn.execute(
            insert(spend_periods), [{"subject_id": 40, "period": p, "spent_micros": m} for p, m in rows]
        )
    with uow(read_only=True) as u:
        assert u.line_items.get(40, account_id=1) == item
        assert u.line_items.get(40, account_id=2) is None  # another tenant's
        assert u.line_items.spend([40], "2026-11-23", "2026-11") == {40: Spend(7, 5, 2)}
        assert u.line_items.find_products(retailer, ["SKU-1", "30", "31"]) == {
            "SKU-1": (30, 250_000, "USD"),
            "30": (30, 250_000, "USD"),
        }
        assert u.line_items.min_bids(40) == [(250_000, "USD")]
        [(read, circumstances)], total = u.line_items.read_page(
            campaign, today=date(2026, 11, 23), offset=0, limit=10
        )
        assert (read, total) == (item, 1)
        assert circumstances == Circumstances(date(2026, 11, 23), True, Spend(7, 5, 2), None, False)


def test_one_name_created_concurrently(world: tuple[SqlUnitOfWorkFactory, Principal, int, int]) -> None:
    uow, principal, campaign, retailer = world
    service = LineItemService(uow, IdGenerator(1, lambda: int(T0.timestamp() * 1000)), FrozenClock(T0))
    write = LineItemWrite(
        LineItemSettings(name="Twin", start_date=date(2026, 11, 1)), target_retailer_id=retailer
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        try:
            service.create(principal, campaign, write)
            outcomes.append("created")
        except LineItemInvalid as exc:
            outcomes.append(exc.problems[0].code)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["duplicate-name"] * 3
    with uow(read_only=True) as u:
        assert u.line_items.read_page(campaign, today=date(2026, 11, 23), offset=0, limit=10)[1] == 1
