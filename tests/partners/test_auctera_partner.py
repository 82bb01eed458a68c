"""The `auctera` partner: bids uploaded on a network of kind auctera become, after a sync, the
bidding target of our own campaign and the maxBid of our own line item; what our platform
refuses rolls back; what it cannot hold (several countries, source ids) is refused up front."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from auctera.api.compat.bids import translate
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain.accounts import Principal
from auctera.domain.bids import BiddingSettings, BidFilter, BidRow, OptimizationType, PartnerKind
from auctera.domain.campaigns import BiddingPatch, BidStrategy, BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.line_items import LineItemSettings
from auctera.domain.pricing import BidStrategy as LineItemStrategy
from auctera.errors import AucteraError
from auctera.jobs.bid_sync import sync_worker
from auctera.services.bids import BidService
from auctera.services.line_items import LineItemWrite


class Own:
    """An advertiser with a campaign bidding on a CPA target, a retail campaign with a line item,
    and an auctera network whose campaign and ad set stand for them."""

    def __init__(self, c: Container, currency: str = "USD") -> None:
        self.c = c
        new = c.accounts.create_account("Acme", "advertiser", currency=currency)
        principal = c.auth.authenticate(new.api_key)
        assert principal is not None
        self.principal: Principal = principal
        budget = BudgetPatch(total_micros=10**12)
        self.campaign_id = c.campaigns.create(
            principal,
            CampaignType.DSP_PROSPECTING,
            CampaignPatch(name="Own", budget=budget, bidding=BiddingPatch(BidStrategy.TARGET_CPA, 2_000_000)),
        ).id
        retail = c.campaigns.create(
            principal, CampaignType.RETAIL_MEDIA, CampaignPatch(name="Shelf", budget=budget)
        )
        c.campaigns.review(retail.id)
        shop = c.auth.authenticate(c.accounts.create_account("Shop", "publisher").api_key)
        assert shop is not None
        retailer = c.catalog.create_retailer(shop, "Shop", "shop.example.com").id
        settings = LineItemSettings(
            name="Line",
            start_date=date(2026, 11, 1),
            bid_strategy=LineItemStrategy.CLICKS,
            target_bid_micros=500_000,
        )
        self.line_item_id = c.line_items.create(
            principal, retail.id, LineItemWrite(settings, target_retailer_id=retailer)
        ).item.id
        self.bids = BidService(c.uow, c.ids, c.clock)
        self.network = self.bids.create_network(
            principal,
            replace(
                translate.new_network(),
                name="Ours",
                kind=PartnerKind.AUCTERA,
                settings=BiddingSettings(
                    enabled=True, ad_set_bidding=True, decimal_precision=4, retry_max_attempts=1
                ),
            ),
        )
        self.network_campaign = self.bids.create_campaign(
            principal,
            self.network.id,
            replace(
                translate.new_campaign(),
                name="Own",
                countries=frozenset({"DE"}),
                optimization_type=OptimizationType.CPA,
                campaign_id=self.campaign_id,
            ),
        )
        self.ad_set = self.bids.create_ad_set(
            principal,
            self.network_campaign.id,
            replace(translate.new_ad_set(), name="Line", line_item_id=self.line_item_id),
        )

    def upload(self, *rows: BidRow) -> int:
        result = self.bids.upload(self.principal, rows)
        assert result.rejections == [] and result.upload_id is not None
        return result.upload_id

    def sync(self) -> None:
        worker, partners = sync_worker(self.c.uow, self.c.ids, self.c.clock, self.c.settings)
        worker.run(threading.Event(), until_idle=True)
        partners.close()

    def stored(self) -> dict[int | None, tuple[str, int | None]]:
        found = self.bids.bids(self.principal, BidFilter(network_id=self.network.id), offset=0, limit=10)
        return {b.ad_set_id: (b.status.value, b.shown_micros) for b in found}

    def campaign_target(self) -> int | None:
        with self.c.uow(read_only=True) as uow:
            campaign = uow.campaigns.get(self.campaign_id)
            assert campaign is not None
            return campaign.bidding.target_micros

    def max_bid(self) -> int | None:
        return self.c.line_items.get(self.principal, self.line_item_id).item.settings.max_bid_micros

    def fx(self, base: str, quote: str, rate: str) -> None:
        """An exchange rate, as `auctera fx set BASE QUOTE RATE` sets it."""
        with self.c.uow() as uow:
            uow.fx_rates.set(base, quote, Decimal(rate), self.c.clock())
            uow.commit()

    def errors(self, upload_id: int) -> list[str | None]:
        """What went wrong with each of an upload's operations."""
        with self.c.uow(read_only=True) as uow:
            return [o.error for o in uow.bids.operations(upload_id=upload_id)]


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Own]:
    c = build(Settings(data_dir=tmp_path / "data", bid_sync_worker=False))
    try:
        yield Own(c)
    finally:
        c.close()


@pytest.fixture
def own_sek(tmp_path: Path) -> Iterator[Own]:
    """The same, for an advertiser whose account (so its campaigns and line items) runs in SEK."""
    c = build(Settings(data_dir=tmp_path / "data", bid_sync_worker=False))
    try:
        yield Own(c, currency="SEK")
    finally:
        c.close()


def test_bids_become_our_campaigns_target_and_our_line_items_max_bid(own: Own) -> None:
    nc, ad_set = own.network_campaign.id, own.ad_set.id
    own.upload(BidRow(nc, None, "DE", None, Decimal("1.25")), BidRow(nc, ad_set, "DE", None, Decimal("0.8")))
    own.sync()
    assert own.stored() == {None: ("success", 1_250_000), ad_set: ("success", 800_000)}
    assert own.campaign_target() == 1_250_000
    assert own.max_bid() == 800_000
    own.upload(BidRow(nc, ad_set, "DE", None, None, delete=True))
    own.sync()
    assert own.stored() == {None: ("success", 1_250_000)}
    assert own.max_bid() is None  # a delete clears it


def test_what_our_platform_refuses_rolls_back_to_its_value(own: Own) -> None:
    nc, ad_set = own.network_campaign.id, own.ad_set.id
    own.upload(BidRow(nc, ad_set, "DE", None, Decimal("0.5")))
    own.sync()
    own.upload(BidRow(nc, ad_set, "DE", None, Decimal("0.005")))  # under maxBid's floor, 0.01
    own.sync()
    assert own.stored() == {ad_set: ("rollback-error", 500_000)}
    assert own.max_bid() == 500_000


def test_what_our_platform_cannot_hold_is_refused_up_front(own: Own) -> None:
    with pytest.raises(AucteraError, match="exactly one country"):
        own.bids.create_campaign(
            own.principal,
            own.network.id,
            replace(translate.new_campaign(), name="Two", countries=frozenset({"DE", "FR"})),
        )
    with pytest.raises(AucteraError, match="no source-id bids"):
        own.bids.update_network(
            own.principal,
            own.network.id,
            lambda n: replace(n, settings=replace(n.settings, source_id_bidding=True)),
        )
    result = own.bids.upload(
        own.principal, [BidRow(own.network_campaign.id, own.ad_set.id, "DE", "app", Decimal("1"))]
    )
    assert [r.message for r in result.rejections] == ["source ID bidding isn't enabled"]


def test_usd_bids_are_converted_into_the_accounts_currency_and_read_back_in_usd(own_sek: Own) -> None:
    own = own_sek
    own.fx("USD", "SEK", "10.5")
    nc, ad_set = own.network_campaign.id, own.ad_set.id
    own.upload(BidRow(nc, None, "DE", None, Decimal("0.5")), BidRow(nc, ad_set, "DE", None, Decimal("0.8")))
    own.sync()
    assert own.stored() == {None: ("success", 500_000), ad_set: ("success", 800_000)}
    assert own.campaign_target() == 5_250_000  # SEK 5.25 for USD 0.50, not SEK 0.50
    assert own.max_bid() == 8_400_000
    # USD 0.0009 is SEK 0.00945, under maxBid's floor (0.01): refused, and the rollback reads the
    # line item's SEK 8.40 back as USD 0.80.
    own.upload(BidRow(nc, ad_set, "DE", None, Decimal("0.0009")))
    own.sync()
    assert own.stored()[ad_set] == ("rollback-error", 800_000)
    assert own.max_bid() == 8_400_000


def test_rates_set_the_other_way_round_convert_exactly_rounding_the_bid_down(own_sek: Own) -> None:
    own = own_sek
    own.fx("SEK", "USD", "0.095")  # SEK 1 = USD 0.095
    nc = own.network_campaign.id
    own.upload(BidRow(nc, None, "DE", None, Decimal("0.5")))
    own.sync()
    # 0.5 / 0.095 = 5.2631578...: SEK 5.263157, never above the USD bid; read back as USD 0.50.
    assert own.campaign_target() == 5_263_157
    assert own.stored() == {None: ("success", 500_000)}


def test_without_an_exchange_rate_nothing_is_written_and_the_bid_says_why(own_sek: Own) -> None:
    own = own_sek
    nc, ad_set = own.network_campaign.id, own.ad_set.id
    upload = own.upload(
        BidRow(nc, None, "DE", None, Decimal("0.5")), BidRow(nc, ad_set, "DE", None, Decimal("0.5"))
    )
    own.sync()
    assert own.campaign_target() == 2_000_000 and own.max_bid() is None  # neither became SEK 0.50
    for error in own.errors(upload):
        assert error is not None and error.startswith("no exchange rate from USD to SEK"), error
    # The rollback cannot read the campaign's SEK 2.00 as USD either: after the network's retry
    # policy the batch's rollback fails (`error`), and says why. What the platform runs in USD is
    # not known, so no value is shown (not the refused 0.50).
    assert own.stored() == {None: ("error", None), ad_set: ("error", None)}
    for error in own.errors(upload):
        assert error is not None and "rollback failed: no exchange rate from SEK to USD" in error, error
    # Once the operator sets a rate, bids go through.
    own.fx("SEK", "USD", "0.1")
    own.upload(BidRow(nc, ad_set, "DE", None, Decimal("0.7")))
    own.sync()
    assert own.max_bid() == 7_000_000 and own.stored()[ad_set] == ("success", 700_000)
