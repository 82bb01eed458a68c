"""The campaign repository reads back exactly what it stored, on both backends.

On SQLite `get` reads the row with the driver and decodes SQLAlchemy's storage formats itself (the
hot read of GET /v2/campaigns/{id}); `page` goes through Core. Both must agree with the original.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from auctera.domain.accounts import Account, AccountKind
from auctera.domain.campaigns import (
    Bidding,
    BidStrategy,
    Budget,
    Campaign,
    CampaignStatus,
    CampaignType,
    DeviceType,
    Pacing,
    Review,
    Targeting,
)
from auctera.store.uow import SqlUnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

FULL = Campaign(
    id=1001,
    account_id=7,
    name="Ünïcode \u2013 \u201cquotes\u201d and 'apostrophes'",
    type=CampaignType.AFFILIATE_CPA,
    status=CampaignStatus.ARCHIVED,
    budget=Budget("EUR", 5_000_000_000, 150_000_250_000),
    created_at=T0,
    updated_at=datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC),  # no microseconds
    targeting=Targeting(
        geo=("US", "CA"),
        zip_codes=("10001", "94105-1234"),
        dmas=("501",),
        device_types=(DeviceType.MOBILE, DeviceType.CTV),
    ),
    bidding=Bidding(BidStrategy.TARGET_ROAS, 4_000_000),
    device_multipliers={DeviceType.MOBILE: Decimal("1.25"), DeviceType.TABLET: Decimal("0")},
    pacing=Pacing.ASAP,
    destination_url="https://shop.example.com/q4?cid={click_id}&src={sub_id1}",
    payout_micros=45_000_001,
    start_date=date(2026, 12, 1),
    end_date=date(2026, 12, 31),
    review=Review(("destination blocked", "second reason"), T0, 9),
    archived_at=datetime(2026, 3, 3, 23, 59, 59, 999999, tzinfo=UTC),
)

BARE = Campaign(
    id=1002,
    account_id=7,
    name="x",
    type=CampaignType.DSP_PROSPECTING,
    status=CampaignStatus.PENDING_REVIEW,
    budget=Budget("EUR"),
    created_at=T0,
    updated_at=T0,
)


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    factory = uow_factory
    account = Account(7, "Acme", AccountKind.ADVERTISER, "UTC", "EUR", "auc_ss_x", None, T0)
    with factory() as u:
        u.accounts.add(account)
        u.campaigns.add(FULL)
        u.campaigns.add(BARE)
        u.commit()
    return factory


@pytest.mark.parametrize("campaign", [FULL, BARE], ids=["every-field", "bare"])
def test_get_reads_back_what_was_stored(uow: SqlUnitOfWorkFactory, campaign: Campaign) -> None:
    with uow(read_only=True) as u:
        assert u.campaigns.get(campaign.id) == campaign
        assert u.campaigns.get(campaign.id, account_id=7) == campaign
        assert u.campaigns.get(campaign.id, account_id=8) is None
        assert u.campaigns.get(999) is None
    with uow() as u:
        assert u.campaigns.get(campaign.id, account_id=7, for_update=True) == campaign


def test_get_and_page_agree(uow: SqlUnitOfWorkFactory) -> None:
    with uow(read_only=True) as u:
        page = u.campaigns.page(
            account_id=7, status=None, include_archived=True, type=None, before_id=None, limit=10
        )
        assert page == [BARE, FULL]
        assert [u.campaigns.get(c.id) for c in page] == page


def test_an_update_is_read_back(uow: SqlUnitOfWorkFactory) -> None:
    changed = replace(BARE, name="y", payout_micros=1, status=CampaignStatus.ACTIVE)
    with uow() as u:
        u.campaigns.update(changed)
        u.commit()
    with uow(read_only=True) as u:
        assert u.campaigns.get(BARE.id) == changed
