"""AuctionService against real components: the state store on SQLite and PostgreSQL, the event log.

The inventory reads (live line items, their products, SmartLink CPC campaigns, merchants) run on
both backends; the predictions learn from the sponsored events in the log, incrementally.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from auctera.api.v2.schemas import CampaignCreate
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.campaigns import CampaignType
from auctera.domain.catalog import FeedFormat
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import RequestFacts
from auctera.domain.line_items import BidStrategy as LineItemStrategy
from auctera.domain.line_items import LineItemSettings
from auctera.services.auctions import DecisionRequest
from auctera.services.line_items import LineItemWrite
from auctera.services.page_targeting import Page, PageType
from auctera.services.smartlinks import SmartLinkCreate
from support.clock import FrozenClock

FEED = (
    "id,title,price,currency,link,availability,product_type,brand,gtin\n"
    "kettle,Steel Kettle,40.00,USD,https://{domain}/p/kettle,in stock,Kitchen,Brew,4006381333931\n"
    "pot,Tea Pot,25.00,USD,https://{domain}/p/pot,in stock,Kitchen,Brew,\n"
)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


@pytest.fixture
def container(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        auction_cache_seconds=0,
        auction_inventory_seconds=0,
    )
    built = build(settings, clock=clock)
    yield built
    built.close()


class Shop:
    def __init__(self, c: Container) -> None:
        self.c = c

    def account(self, kind: str, name: str, currency: str = "USD") -> Principal:
        return self.c.auth.authenticate(self.c.accounts.create_account(name, kind, currency=currency).api_key)

    def retailer(self, owner: Principal, domain: str) -> int:
        retailer = self.c.catalog.create_retailer(owner, domain.split(".")[0], domain)
        feed = FEED.format(domain=domain).encode()
        assert (
            self.c.catalog.import_feed(None, retailer.id, io.BytesIO(feed), FeedFormat.CSV).rows_invalid == 0
        )
        return retailer.id

    def campaign(self, owner: Principal, type: CampaignType, bid: str | None = None) -> int:
        body: dict[str, Any] = {"name": type.value, "type": type.value, "budget": 1000}
        if bid is not None:
            body["bidding"] = {"strategy": "manual_cpc", "target_amount": bid}
        campaign = self.c.campaigns.create(owner, type, CampaignCreate.model_validate(body).patch())
        reviewed = self.c.campaigns.review(campaign.id)
        assert reviewed is not None and reviewed.status.value == "active", reviewed
        return reviewed.id

    def merchant(self, name: str, bid: str, currency: str = "USD") -> tuple[Principal, int, int]:
        """An advertiser selling the feed's products at <name>.example.com, bidding `bid` per
        SmartLink click: (the advertiser, its retailer, its SmartLink CPC campaign)."""
        owner = self.account("advertiser", name, currency=currency)
        retailer = self.retailer(owner, f"{name.lower()}.example.com")
        return owner, retailer, self.campaign(owner, CampaignType.SMARTLINK_CPC, bid=bid)

    def line_item(self, owner: Principal, campaign: int, retailer: int, products: list[str], bid: int) -> int:
        settings = LineItemSettings(
            name=f"li {bid}",
            start_date=self.c.clock().date(),
            bid_strategy=LineItemStrategy.CLICKS,
            target_bid_micros=bid,
        )
        state = self.c.line_items.create(
            owner, campaign, LineItemWrite(settings, target_retailer_id=retailer)
        )
        self.c.line_items.add_products(owner, state.item.id, products)
        return state.item.id


@pytest.fixture
def world(container: Container) -> dict[str, Any]:
    s = Shop(container)
    retailer_owner = s.account("publisher", "Retailer")
    retailer = s.retailer(retailer_owner, "kitchen.example.com")
    brand = s.account("advertiser", "Brew")
    campaign = s.campaign(brand, CampaignType.RETAIL_MEDIA)
    high = s.line_item(brand, campaign, retailer, ["kettle"], 600_000)
    rival = s.account("advertiser", "Rival")
    low = s.line_item(
        rival, s.campaign(rival, CampaignType.RETAIL_MEDIA), retailer, ["kettle", "pot"], 500_000
    )
    return {"s": s, "owner": retailer_owner, "retailer": retailer, "high": high, "low": low}


def kettle_search(container: Container, world: dict[str, Any], slots: int = 1) -> list[int | None]:
    decision = container.auctions.decide(
        world["owner"],
        world["retailer"],
        DecisionRequest(Page(PageType.SEARCH, keywords="kettle"), slots=slots),
    )
    return [s.bidder.line_item_id for s in decision.served]


def test_decisions_read_live_line_items_on_each_backend(container: Container, world: dict[str, Any]) -> None:
    # One product at most once per auction: the rival's kettle loses as a duplicate.
    assert kettle_search(container, world, slots=2) == [world["high"]]
    decision = container.auctions.decide(
        world["owner"], world["retailer"], DecisionRequest(Page(PageType.SEARCH, keywords="tea pot"))
    )
    assert [(s.bidder.line_item_id, s.product.name) for s in decision.served] == [(world["low"], "Tea Pot")]


def test_smartlink_candidates_on_each_backend(
    container: Container, world: dict[str, Any], clock: FrozenClock
) -> None:
    s: Shop = world["s"]
    s.merchant("Merchant", "0.70")
    publisher = s.account("publisher", "Blog")
    link = container.smartlinks.create(publisher, SmartLinkCreate(gtin="4006381333931"))
    facts = RequestFacts(ip="198.51.100.7", user_agent=CHROME, headers={"accept-language": "en"}, at=clock())
    answer = container.auctions.smartlink_auction(link.id, facts)
    # The merchant's CPC campaign (0.70) beats the line item promoting the retailer's kettle (0.60).
    assert answer.winner is not None and answer.winner.bidder.campaign_id != world["high"]
    assert (
        answer.winner.bidder.line_item_id is None and answer.winner.merchant.domain == "merchant.example.com"
    )
    assert str(answer.usd_price) == "40.00"


def test_smartlink_bidders_in_other_currencies_on_each_backend(
    container: Container, world: dict[str, Any], clock: FrozenClock
) -> None:
    """The inventory reads each bidder's currency; the auction runs in USD with the rate stored the
    other way round (USD -> SEK 10.5, so SEK -> USD is exactly 2/21)."""
    s: Shop = world["s"]
    with container.uow() as uow:
        uow.fx_rates.set("USD", "SEK", Decimal("10.5"), clock())
        uow.commit()
    _, _, campaign = s.merchant("Merchant", "7.00", currency="SEK")
    publisher = s.account("publisher", "Blog")
    link = container.smartlinks.create(publisher, SmartLinkCreate(gtin="4006381333931"))
    facts = RequestFacts(ip="198.51.100.7", user_agent=CHROME, headers={"accept-language": "en"}, at=clock())
    answer = container.auctions.smartlink_auction(link.id, facts)
    # 7.00 SEK x 2/21 = 0.666666 USD (rounded down) beats the line item's 0.60 USD and pays it
    # + 0.01 = 610,000 USD micros; back in SEK: 610,000 x 10.5 = 6,405,000.
    won = answer.winner
    assert won is not None and won.bidder.campaign_id == campaign and won.bidder.currency == "SEK"
    assert (won.auction_price_micros, won.price_micros) == (610_000, 6_405_000)
    log = container.auctions.auction_log(publisher, answer.result_id)
    assert log.placement["currency"] == "USD"
    bids = {c["campaign_id"]: (c["bid_micros"], c["currency"], c["own_bid_micros"]) for c in log.candidates}
    assert bids[str(campaign)] == (666_666, "SEK", 7_000_000)
    [usd] = [c for c in log.candidates if c["line_item_id"] == str(world["high"])]
    assert (usd["bid_micros"], usd["currency"], usd["own_bid_micros"], usd["reason"]) == (
        600_000,
        "USD",
        None,
        "outranked",
    )
    # The page session's replay gives the same token (same prices in both currencies).
    again = container.auctions.smartlink_auction(link.id, facts, uuid="1b4e28ba-2fa1-41d2-883f-0016d3cca427")
    replay = container.auctions.smartlink_auction(link.id, facts, uuid="1b4e28ba-2fa1-41d2-883f-0016d3cca427")
    assert again.winner is not None and replay.winner == again.winner
    assert (replay.winner.price_micros, replay.winner.auction_price_micros) == (6_405_000, 610_000)


def sponsored(
    kind: EventType, at: datetime, account: int, line_item: int, product: int, n: int, **kw: Any
) -> Event:
    return Event(
        id=n,
        type=kind,
        at=at,
        account_id=account,
        campaign_id=1,
        line_item_id=line_item,
        publisher_id=account,
        attrs={"placement": "retail", "product_id": str(product), "auction_id": "1"},
        **kw,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_predictions_learn_incrementally_and_change_the_ranking(
    container: Container, world: dict[str, Any], clock: FrozenClock
) -> None:
    auctions = container.auctions
    assert auctions.refresh_stats() == 0  # nothing logged yet
    assert kettle_search(container, world) == [world["high"]]
    [(pool_product, owner_account)] = {
        (s.product.id, world["owner"].account_id)
        for s in container.auctions.decide(
            world["owner"], world["retailer"], DecisionRequest(Page(PageType.SEARCH, keywords="kettle"))
        ).served
    }
    # The cheaper line item's kettle gets clicked 3 times in 10 impressions, the other never.
    at = clock()
    ids = iter(range(10**6, 10**7))
    events = []
    for line_item, clicks in ((world["low"], 3), (world["high"], 0)):
        events += [
            sponsored(EventType.IMPRESSION, at, owner_account, line_item, pool_product, next(ids))
            for _ in range(10)
        ]
        events += [
            sponsored(EventType.CLICK, at, owner_account, line_item, pool_product, next(ids))
            for _ in range(clicks)
        ]
    container.events.append_many(events)
    assert auctions.refresh_stats() == 0  # younger than the lag: still on their way
    clock.now += timedelta(seconds=10)
    assert auctions.refresh_stats() == 2
    assert auctions.refresh_stats() == 0  # read once: the next round starts where this one ended
    # 0.50 x its higher click rate now outranks 0.60 x the lower one.
    assert kettle_search(container, world) == [world["low"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_conversions_count_for_the_sponsored_click_they_follow(
    container: Container, world: dict[str, Any], clock: FrozenClock
) -> None:
    owner = world["owner"].account_id
    product = 42
    click_id = container.ids.next_id()
    click = sponsored(
        EventType.CLICK,
        clock(),
        owner,
        world["low"],
        product,
        click_id,
        click_id=idfmt.render("auc", click_id),
    )
    container.events.append(click)
    clock.now += timedelta(days=2)  # the conversion comes two days later: another refresh window
    # As the conversion service logs it: the click's placement kind and product kept.
    kept = {k: click.attrs[k] for k in ("placement", "product_id")}
    conversion = replace(
        click,
        id=container.ids.next_id(),
        type=EventType.CONVERSION,
        at=clock(),
        line_item_id=None,
        attrs=kept,
    )
    # A conversion without a sponsored click's placement (an affiliate one) is not the auction's:
    # not fetched, so it does not count even naming this click.
    other_click = replace(click, id=container.ids.next_id(), attrs={}, line_item_id=None)
    container.events.append(conversion)
    container.events.append(
        replace(other_click, id=container.ids.next_id(), type=EventType.CONVERSION, at=clock())
    )
    clock.now += timedelta(seconds=10)
    rows = container.events.ad_stats(clock() - timedelta(days=1), clock())
    assert [(r.placement, r.product_id, r.bidder_id, r.clicks, r.conversions) for r in rows] == [
        (f"retail:{owner}", product, world["low"], 0, 1)
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def smartlink_winner(c: Container, s: Shop, clock: FrozenClock) -> Callable[[], str]:
    """A publisher's SmartLink on the kettle's GTIN: the domain of its auction's winner, asked anew."""
    publisher = s.account("publisher", "Blog")
    link = c.smartlinks.create(publisher, SmartLinkCreate(gtin="4006381333931"))
    facts = RequestFacts(ip="198.51.100.7", user_agent=CHROME, headers={"accept-language": "en"}, at=clock())

    def winner() -> str:
        answer = c.auctions.smartlink_auction(link.id, facts)
        assert answer.winner is not None
        return answer.winner.merchant.domain

    return winner


def test_cached_inventories_reload_in_the_background_when_the_store_changes(
    database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    c = build(Settings(data_dir=tmp_path / "cached", database_url=database_url), clock=clock)  # real caches
    try:
        s = Shop(c)
        s.merchant("First", "0.50")
        winner = smartlink_winner(c, s, clock)
        c.auctions.refresh_caches()  # the background round: notes the store's version
        assert winner() == "first.example.com"
        s.merchant("Better", "0.90")
        assert winner() == "first.example.com"  # the auction reads no database: the cache holds
        assert c.auctions.refresh_caches() == 1  # the store changed: the SmartLink is reloaded
        assert winner() == "better.example.com"
        assert c.auctions.refresh_caches() == 0  # nothing changed since
    finally:
        c.close()


def test_a_feed_import_that_only_updates_products_reloads_the_cached_inventories(
    database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    """The caches' change check reads no product: an import touches its retailer instead."""
    c = build(Settings(data_dir=tmp_path / "cached", database_url=database_url), clock=clock)  # real caches
    try:
        s = Shop(c)
        s.merchant("First", "0.50")
        _, better_shop, _ = s.merchant("Better", "0.90")
        winner = smartlink_winner(c, s, clock)
        c.auctions.refresh_caches()
        assert winner() == "better.example.com"
        clock.now += timedelta(seconds=1)
        # The same products again, the kettle now out of stock: no product added, one updated.
        feed = FEED.format(domain="better.example.com").replace(
            "in stock,Kitchen,Brew,4006", "out of stock,Kitchen,Brew,4006"
        )
        assert "out of stock" in feed
        c.catalog.import_feed(None, better_shop, io.BytesIO(feed.encode()), FeedFormat.CSV)
        assert winner() == "better.example.com"  # the cache holds until the background round
        assert c.auctions.refresh_caches() == 1
        assert winner() == "first.example.com"
    finally:
        c.close()
