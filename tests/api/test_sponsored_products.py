"""POST /v2/retailers/{id}/sponsored-products and GET /v2/auctions/{id}, on the real app.

Retailers, catalogs, campaigns and line items are made the way users make them (the catalog and
line-item services, /v2/campaigns); the decision then runs the open auction among them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.accounts import AccountKind, Principal, render_account_id
from auctera.domain.auction import pacing_phase
from auctera.domain.catalog import FeedFormat
from auctera.domain.line_items import BidStrategy, LineItemInvalid, LineItemSettings
from auctera.services.line_items import LineItemWrite
from auctera.store.tables import fx_rates, spend_periods
from support.clock import FrozenClock

from .conftest import Api, app_at, bearer

TRACKING = "https://trk.example.com"
FEED_HEADER = "id,title,price,currency,link,availability,product_type,brand,gtin,min_bid\n"
SHOES = (
    "shoe-1,Trail Running Shoe,89.90,USD,https://shop.example.com/p/shoe-1,in stock,"
    "Shoes > Running,Acme,,0.10\n"
    "shoe-2,Road Running Shoe,99.00,USD,https://shop.example.com/p/shoe-2,in stock,"
    "Shoes > Running,Zoom,,0.10\n"
    "mug-1,Coffee Mug,9.50,USD,https://shop.example.com/p/mug-1,in stock,Kitchen,Acme,,0.05\n"
    "sock-1,Running Socks,12.00,USD,https://shop.example.com/p/sock-1,out of stock,Shoes > Socks,Acme,,0.05\n"
)


class Market:
    """Accounts, retailers, catalogs, campaigns and line items on one app."""

    def __init__(self, app: RootApp, client: TestClient) -> None:
        self.app = app
        self.c = app.container
        self.client = client

    def account(self, kind: str = "advertiser", name: str = "Acme", currency: str = "USD") -> Api:
        if currency == "USD":
            return Api(self.app, self.client, kind, name)
        return _AccountIn(self.app, self.client, kind, name, currency)

    def fx(self, base: str, quote: str, rate: str) -> None:
        """An exchange rate, set as `auctera fx set BASE QUOTE RATE` sets it."""
        with self.c.uow() as uow:
            uow.fx_rates.set(base, quote, Decimal(rate), self.c.clock())
            uow.commit()

    def drop_fx(self, base: str, quote: str) -> None:
        with self.c.engine.begin() as conn:
            conn.execute(delete(fx_rates).where(fx_rates.c.base == base, fx_rates.c.quote == quote))

    def principal(self, api: Api) -> Principal:
        return self.c.auth.authenticate(api.headers["Authorization"].removeprefix("Bearer "))

    def retailer(
        self, owner: Api, domain: str = "shop.example.com", feed: str = SHOES, name: str = "Shop"
    ) -> int:
        retailer = self.c.catalog.create_retailer(self.principal(owner), name, domain)
        report = self.c.catalog.import_feed(
            None, retailer.id, io.BytesIO((FEED_HEADER + feed).encode()), FeedFormat.CSV
        )
        assert report.rows_invalid == 0, report.errors
        return retailer.id

    def campaign(self, advertiser: Api, type: str = "retail_media", **fields: Any) -> int:
        body = {"name": f"{type} campaign", "type": type, "budget": 10000, **fields}
        response = advertiser.call("POST", "/v2/campaigns", body)
        assert response.status_code == 201, response.text
        campaign_id = self.c.campaigns.get(self.principal(advertiser), _cmp(response.json()["campaign_id"]))
        reviewed = self.c.campaigns.review(campaign_id.id)
        assert reviewed is not None and reviewed.status.value == "active", reviewed
        return reviewed.id

    def line_item(
        self,
        advertiser: Api,
        campaign_id: int,
        retailer_id: int,
        products: list[str],
        *,
        name: str = "Line item",
        target_bid: int = 500_000,
        start: date | None = None,
        **settings: Any,
    ) -> int:
        today = self.c.clock().date()
        write = LineItemWrite(
            settings=LineItemSettings(
                name=name,
                start_date=start or today,
                bid_strategy=settings.pop("bid_strategy", BidStrategy.CLICKS),
                target_bid_micros=target_bid,
                **settings,
            ),
            target_retailer_id=retailer_id,
        )
        principal = self.principal(advertiser)
        state = self.c.line_items.create(principal, campaign_id, write)
        self.c.line_items.add_products(principal, state.item.id, products)
        return state.item.id

    def spent(self, subject_id: int, period: str, micros: int) -> None:
        """Spend recorded as the spend service records it (a row per subject and period)."""
        with self.c.engine.begin() as conn:
            conn.execute(
                spend_periods.insert().values(subject_id=subject_id, period=period, spent_micros=micros)
            )


class _AccountIn(Api):
    """An account whose currency is not the default USD."""

    def __init__(self, app: RootApp, client: TestClient, kind: str, name: str, currency: str) -> None:
        new = app.container.accounts.create_account(name, kind, currency=currency)
        self.client = client
        self.account = new.account
        self.headers = bearer(new.api_key)


def _cmp(text: str) -> int:
    from auctera.domain import ids as idfmt

    value = idfmt.parse("cmp", text)
    assert value is not None
    return value


def ret(retailer_id: int) -> str:
    from auctera.domain import ids as idfmt

    return idfmt.render("ret", retailer_id)


@pytest.fixture
def market_app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # No caching of who may bid: each decision sees the spend and line items the test just set.
    with app_at(
        tmp_path, clock, TRACKING, auction_cache_seconds=0, auction_inventory_seconds=0
    ) as application:
        yield application


@pytest.fixture
def market(market_app: RootApp) -> Iterator[Market]:
    with TestClient(market_app) as client:
        yield Market(market_app, client)


def decide(shop: Api, retailer_id: int, page: dict[str, Any], **body: Any) -> Any:
    response = shop.call(
        "POST", f"/v2/retailers/{ret(retailer_id)}/sponsored-products", {"page": page, **body}
    )
    assert response.status_code == 200, response.text
    return response.json()


def names(answer: Any) -> list[str]:
    return [p["product"]["name"] for p in answer["products"]]


@pytest.fixture
def shop_world(market: Market) -> dict[str, Any]:
    shop = market.account("publisher", name="Shop")
    retailer = market.retailer(shop)
    brand = market.account(name="Brand")
    campaign = market.campaign(brand)
    shoe = market.line_item(brand, campaign, retailer, ["shoe-1", "mug-1"], name="Acme", target_bid=800_000)
    zoom = market.account(name="Zoom")
    zoom_campaign = market.campaign(zoom)
    road = market.line_item(zoom, zoom_campaign, retailer, ["shoe-2"], name="Zoom", target_bid=500_000)
    return {
        "shop": shop,
        "retailer": retailer,
        "brand": brand,
        "zoom": zoom,
        "acme_li": shoe,
        "zoom_li": road,
    }


def test_search_page_gets_matching_products_ranked_with_tracking_urls(
    market: Market, shop_world: dict[str, Any]
) -> None:
    w = shop_world
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "running shoes"}, slots=2)
    assert answer["auction_id"].startswith("au_")
    assert names(answer) == ["Trail Running Shoe", "Road Running Shoe"]  # bid 0.80 over 0.50
    first, second = answer["products"]
    assert [first["slot"], second["slot"]] == [1, 2]
    assert first["line_item_id"] == str(w["acme_li"])
    assert first["product"]["price"] == 89.9 and first["product"]["currency"] == "USD"
    for field, path in (
        ("click_url", "/sp/click"),
        ("impression_url", "/sp/imp"),
        ("viewable_url", "/sp/viewable"),
    ):
        parts = urlsplit(first[field])
        assert f"{parts.scheme}://{parts.netloc}" == TRACKING and parts.path == path
        assert parts.query.startswith("t=")


def test_out_of_stock_and_unmatched_products_are_not_shown(
    market: Market, shop_world: dict[str, Any]
) -> None:
    w = shop_world
    assert names(decide(w["shop"], w["retailer"], {"type": "search", "keywords": "coffee"})) == ["Coffee Mug"]
    assert (
        names(decide(w["shop"], w["retailer"], {"type": "search", "keywords": "socks"})) == []
    )  # out of stock
    assert decide(w["shop"], w["retailer"], {"type": "search", "keywords": "laptop"})["products"] == []


def test_category_and_product_pages(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    category = decide(w["shop"], w["retailer"], {"type": "category", "category": "shoes"}, slots=3)
    assert sorted(names(category)) == ["Road Running Shoe", "Trail Running Shoe"]
    # A product page: the same product, or others of its category or brand (the mug is Acme's too).
    related = decide(w["shop"], w["retailer"], {"type": "product", "product_id": "mug-1"}, slots=5)
    assert sorted(names(related)) == ["Coffee Mug", "Trail Running Shoe"]
    # The product by our id, as the answers show it (prd_…), is the same page.
    (mug,) = [p["product"]["product_id"] for p in related["products"] if p["product"]["name"] == "Coffee Mug"]
    assert mug.startswith("prd_")
    by_ours = decide(w["shop"], w["retailer"], {"type": "product", "product_id": mug}, slots=5)
    assert sorted(names(by_ours)) == ["Coffee Mug", "Trail Running Shoe"]


def test_bad_requests_name_the_field(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    path = f"/v2/retailers/{ret(w['retailer'])}/sponsored-products"
    response = w["shop"].call("POST", path, {"page": {"type": "search"}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "page.keywords"
    response = w["shop"].call("POST", path, {"page": {"type": "search", "keywords": "x"}, "slots": 11})
    assert response.status_code == 422 and response.json()["error"]["field"] == "slots"
    response = w["shop"].call("POST", path, {"page": {"type": "search", "keywords": "x"}, "colour": "red"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_field"


def test_only_the_retailer_owner_runs_its_auctions(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    path = f"/v2/retailers/{ret(w['retailer'])}/sponsored-products"
    body = {"page": {"type": "search", "keywords": "shoe"}}
    refused = w["brand"].call("POST", path, body)
    # Named as the caller named it, not by the internal number.
    assert (
        refused.status_code == 404
        and refused.json()["error"]["message"] == f"retailer {ret(w['retailer'])} not found"
    )
    assert w["shop"].call("POST", "/v2/retailers/ret_zz/sponsored-products", body).status_code == 404


def test_paused_line_items_and_future_flights_do_not_serve(
    market: Market, shop_world: dict[str, Any]
) -> None:
    w = shop_world
    later = market.campaign(w["zoom"])
    market.line_item(w["zoom"], later, w["retailer"], ["mug-1"], name="Later", start=date(2027, 1, 1))
    assert names(decide(w["shop"], w["retailer"], {"type": "search", "keywords": "coffee mug"})) == [
        "Coffee Mug"
    ]
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "coffee mug"})
    # Only the Acme line item took part: the scheduled one is not a candidate at all.
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert {c["line_item_id"] for c in log["candidates"]} == {str(w["acme_li"])}


def test_a_spent_daily_cap_keeps_the_line_item_out(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    campaign = market.campaign(w["zoom"])
    capped = market.line_item(
        w["zoom"],
        campaign,
        w["retailer"],
        ["mug-1"],
        name="Capped",
        target_bid=900_000,
        daily_pacing_micros=5_000_000,
    )
    page = {"type": "search", "keywords": "mug"}
    first = decide(w["shop"], w["retailer"], page)
    assert first["products"][0]["line_item_id"] == str(capped)  # 0.90 beats Acme's 0.80
    market.spent(capped, "2026-11-23", 4_500_000)  # 0.50 left today: less than its bid
    second = decide(w["shop"], w["retailer"], page, placement="search-top")
    assert second["products"][0]["line_item_id"] == str(w["acme_li"])
    log = w["shop"].call("GET", f"/v2/auctions/{second['auction_id']}").json()
    reasons = {c["line_item_id"]: c["reason"] for c in log["candidates"]}
    assert reasons[str(capped)] == "budget_exhausted"


def test_even_pacing_throttles_a_line_item_ahead_of_schedule(
    market: Market, shop_world: dict[str, Any], clock: FrozenClock
) -> None:
    w = shop_world
    clock.now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # three quarters of the (UTC) day gone
    campaign = market.campaign(w["zoom"], pacing="even")
    paced = market.line_item(
        w["zoom"],
        campaign,
        w["retailer"],
        ["mug-1"],
        name="Even",
        target_bid=900_000,
        daily_pacing_micros=100_000_000,
    )
    market.spent(paced, "2026-11-23", 90_000_000)  # 90% spent by 18:00: participation 0.1 / 0.25
    page = {"type": "search", "keywords": "mug"}
    auctions = market.c.auctions
    phase = pacing_phase(paced)
    auctions.draw = lambda: (1.0 - phase) % 1.0  # lands at 0 after the phase: takes part
    assert decide(w["shop"], w["retailer"], page)["products"][0]["line_item_id"] == str(paced)
    auctions.draw = lambda: (1.9 - phase) % 1.0  # lands at 0.9 > 0.4: sits this auction out
    answer = decide(w["shop"], w["retailer"], page)
    assert answer["products"][0]["line_item_id"] == str(w["acme_li"])
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert {c["line_item_id"]: c["reason"] for c in log["candidates"]}[str(paced)] == "paced"


def test_ivt_requests_get_no_sponsored_products_and_are_logged(
    market: Market, shop_world: dict[str, Any]
) -> None:
    w = shop_world
    bot = {
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    }
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "shoe"}, user=bot)
    assert answer["products"] == []
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert log["ivt"] is True and log["candidates"] == []
    human = {"ip": "203.0.113.10", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0"}
    assert decide(w["shop"], w["retailer"], {"type": "search", "keywords": "shoe"}, user=human)["products"]


def test_an_unknown_auction_is_named_as_asked(shop_world: dict[str, Any]) -> None:
    answer = shop_world["shop"].call("GET", "/v2/auctions/au_zzz")
    assert answer.status_code == 404 and answer.json()["error"]["message"] == "auction au_zzz not found"


def test_the_auction_log_is_read_by_its_owner_and_each_advertiser_sees_its_own(
    market: Market, shop_world: dict[str, Any]
) -> None:
    w = shop_world
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "running shoe"}, slots=1)
    path = f"/v2/auctions/{answer['auction_id']}"
    whole = w["shop"].call("GET", path).json()
    assert whole["complete"] is True and whole["placement"]["page"] == {
        "type": "search",
        "keywords": "running shoe",
    }
    by_line_item = {c["line_item_id"]: c for c in whole["candidates"]}
    assert (
        by_line_item[str(w["acme_li"])]["outcome"] == "won" and by_line_item[str(w["acme_li"])]["slot"] == 1
    )
    lost = by_line_item[str(w["zoom_li"])]
    assert lost["outcome"] == "lost" and lost["reason"] == "outranked" and lost["bid_micros"] == 500_000
    # Second price: Zoom's value per impression over Acme's click rate (equal rates), plus a cent.
    assert whole["winners"][0]["price_micros"] == 510_000
    own = w["zoom"].call("GET", path).json()
    assert own["complete"] is False and [c["line_item_id"] for c in own["candidates"]] == [str(w["zoom_li"])]
    assert own["winners"] == []
    stranger = market.account(name="Stranger")
    hidden = stranger.call("GET", path)
    assert (
        hidden.status_code == 404
        and hidden.json()["error"]["message"] == f"auction {path.rsplit('/', 1)[1]} not found"
    )
    assert w["shop"].call("GET", "/v2/auctions/au_zzzz").status_code == 404
    assert w["shop"].call("GET", "/v2/auctions/nonsense").status_code == 404


def test_decision_click_charges_the_winner_its_price(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "running shoe"})
    click = urlsplit(answer["products"][0]["click_url"])
    browser = {
        "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
        "Accept-Language": "en",
    }
    response = market.client.get(f"{click.path}?{click.query}", headers=browser, follow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith("https://shop.example.com/p/shoe-1")
    spend = market.c.spend.spend_of([w["acme_li"]], date(2026, 11, 23))[w["acme_li"]]
    assert spend.lifetime_micros == 510_000


def test_unknown_retailer_key_is_refused(market: Market) -> None:
    response = market.client.post(
        "/v2/retailers/ret_1/sponsored-products",
        json={"page": {"type": "search", "keywords": "x"}},
        headers=bearer("nope"),
    )
    assert response.status_code == 401


BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0", "Accept-Language": "en"}


def test_bids_in_another_currency_are_ranked_and_charged_converted(
    market: Market, shop_world: dict[str, Any]
) -> None:
    """A EUR advertiser on a USD retailer: its bid is converted into USD (rounded down) to rank,
    and the USD price converted back into EUR (rounded down) is what its click is charged."""
    w = shop_world
    market.fx("EUR", "USD", "1.10")
    euro = market.account(name="Euro", currency="EUR")
    euro_li = market.line_item(
        euro,
        market.campaign(euro),
        w["retailer"],
        ["shoe-2"],
        name="Euro",
        target_bid=750_000,  # 0.75 EUR = 0.825 USD: above Acme's 0.80 USD, though 0.75 < 0.80
        daily_pacing_micros=1_000_000,
    )
    page = {"type": "search", "keywords": "running shoe"}
    answer = decide(w["shop"], w["retailer"], page)
    assert [p["line_item_id"] for p in answer["products"]] == [str(euro_li)]
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert log["placement"]["currency"] == "USD"
    by_line_item = {c["line_item_id"]: c for c in log["candidates"]}
    won = by_line_item[str(euro_li)]
    # Ranked in USD: 750,000 EUR micros x 1.10 = 825,000; second price against Acme's 800,000
    # (equal click rates) + 10,000 = 810,000 USD micros; back in EUR: 810,000 / 1.10 =
    # 736,363.6 -> 736,363 (rounded down).
    assert (won["bid_micros"], won["currency"], won["own_bid_micros"]) == (825_000, "EUR", 750_000)
    assert (won["price_micros"], won["own_price_micros"], won["outcome"]) == (810_000, 736_363, "won")
    acme = by_line_item[str(w["acme_li"])]
    assert (acme["bid_micros"], acme["currency"], acme["own_bid_micros"]) == (800_000, "USD", None)
    assert acme["reason"] == "outranked"
    assert by_line_item[str(w["zoom_li"])]["reason"] == "duplicate_product"  # shoe-2 went to Euro
    assert log["winners"] == [
        {
            "slot": 1,
            "line_item_id": str(euro_li),
            "campaign_id": log["winners"][0]["campaign_id"],
            "account_id": render_account_id(AccountKind.ADVERTISER, euro.account.id),
            "product_id": won["product_id"],
            "price_micros": 810_000,
            "currency": "EUR",
            "own_price_micros": 736_363,
        }
    ]
    # The advertiser reads its own record, in both currencies.
    own = euro.call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert [(c["bid_micros"], c["own_bid_micros"]) for c in own["candidates"]] == [(825_000, 750_000)]

    click = urlsplit(answer["products"][0]["click_url"])
    response = market.client.get(f"{click.path}?{click.query}", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 302, response.text
    spent = market.c.spend.spend_of([euro_li], date(2026, 11, 23))[euro_li]
    assert spent.lifetime_micros == 736_363  # EUR micros, the line item's own currency

    # A cap converts down too: 1.00 EUR daily - 0.736363 spent = 263,637 EUR micros left =
    # 289,000.7 -> 289,000 USD micros, below its 825,000 bid: it sits out, Acme wins.
    again = decide(w["shop"], w["retailer"], page)
    assert [p["line_item_id"] for p in again["products"]] == [str(w["acme_li"])]
    log = w["shop"].call("GET", f"/v2/auctions/{again['auction_id']}").json()
    assert {c["line_item_id"]: c["reason"] for c in log["candidates"]}[str(euro_li)] == "budget_exhausted"


def test_a_bidder_without_an_exchange_rate_cannot_win(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    krona = market.account(name="Krona", currency="NOK")
    # Promoting a product needs a rate to compare its minBid; the rate is withdrawn afterwards.
    market.fx("USD", "NOK", "10.8")
    nok_li = market.line_item(
        krona, market.campaign(krona), w["retailer"], ["shoe-2"], name="Krona", target_bid=50_000_000
    )
    market.drop_fx("USD", "NOK")
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "running shoe"})
    assert [p["line_item_id"] for p in answer["products"]] == [str(w["acme_li"])]
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    [record] = [c for c in log["candidates"] if c["line_item_id"] == str(nok_li)]
    assert record["outcome"] == "lost" and record["reason"] == "no_exchange_rate"
    assert (record["currency"], record["own_bid_micros"], record["bid_micros"]) == ("NOK", 50_000_000, None)
    assert record["score"] is None and record["price_micros"] is None
    # Acme still pays against Zoom, the runner-up that could take part: 500,000 + 10,000.
    assert log["winners"][0]["price_micros"] == 510_000 and log["winners"][0]["own_price_micros"] is None


def test_min_bids_are_compared_in_the_auction_currency(market: Market, shop_world: dict[str, Any]) -> None:
    w = shop_world
    krona = market.account(name="Krona", currency="SEK")
    with pytest.raises(LineItemInvalid, match="no exchange rate from USD to SEK"):
        market.line_item(krona, market.campaign(krona), w["retailer"], ["shoe-2"], target_bid=1_000_000)
    market.fx("SEK", "USD", "0.095")
    # 1.00 SEK = 0.095 USD, under shoe-2's minBid of 0.10 USD (though 1.00 > 0.10): refused...
    with pytest.raises(LineItemInvalid, match="shoe-2: its minBid is above the targetBid"):
        market.line_item(krona, market.campaign(krona), w["retailer"], ["shoe-2"], target_bid=1_000_000)
    # ...while the krona was worth more; the auction compares in the rate of the day.
    market.fx("SEK", "USD", "0.2")
    sek_li = market.line_item(
        krona, market.campaign(krona), w["retailer"], ["shoe-2"], name="Krona", target_bid=1_000_000
    )
    market.fx("SEK", "USD", "0.095")
    answer = decide(w["shop"], w["retailer"], {"type": "search", "keywords": "road running shoe"})
    assert [p["line_item_id"] for p in answer["products"]] == [str(w["zoom_li"])]
    log = w["shop"].call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    [record] = [c for c in log["candidates"] if c["line_item_id"] == str(sek_li)]
    assert (record["reason"], record["bid_micros"], record["own_bid_micros"]) == (
        "below_min_bid",
        95_000,
        1_000_000,
    )


def test_a_retailer_auction_runs_in_the_retailer_currency(market: Market) -> None:
    """A SEK retailer: its reserve (and min bids) are in SEK; USD bidders are converted into SEK."""
    market.fx("USD", "SEK", "10.5")
    shop = market.account("publisher", name="Butik", currency="SEK")
    feed = "mug-1,Coffee Mug,95.00,SEK,https://butik.example.com/p/mug-1,in stock,Kitchen,Acme,,0.20\n"
    retailer = market.retailer(shop, "butik.example.com", feed, "Butik")
    usd = market.account(name="Dollar")
    campaign = market.campaign(usd)
    high = market.line_item(usd, campaign, retailer, ["mug-1"], name="High", target_bid=500_000)
    usd2 = market.account(name="Cent")
    low = market.line_item(usd2, market.campaign(usd2), retailer, ["mug-1"], name="Low", target_bid=300_000)
    answer = decide(shop, retailer, {"type": "search", "keywords": "mug"}, reserve=4)
    assert [p["line_item_id"] for p in answer["products"]] == [str(high)]
    log = shop.call("GET", f"/v2/auctions/{answer['auction_id']}").json()
    assert log["placement"]["currency"] == "SEK" and log["placement"]["reserve_micros"] == 4_000_000
    by_line_item = {c["line_item_id"]: c for c in log["candidates"]}
    # 0.50 USD x 10.5 = 5.25 SEK; 0.30 USD = 3.15 SEK, under the 4.00 SEK reserve.
    assert (by_line_item[str(high)]["bid_micros"], by_line_item[str(high)]["currency"]) == (5_250_000, "USD")
    assert (by_line_item[str(low)]["bid_micros"], by_line_item[str(low)]["reason"]) == (
        3_150_000,
        "below_reserve",
    )
    # Alone, it pays the reserve: 4,000,000 SEK micros / 10.5 = 380,952.38 -> 380,952 USD micros.
    assert log["winners"][0]["price_micros"] == 4_000_000
    assert log["winners"][0]["currency"] == "USD" and log["winners"][0]["own_price_micros"] == 380_952
    click = urlsplit(answer["products"][0]["click_url"])
    response = market.client.get(f"{click.path}?{click.query}", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 302, response.text
    assert market.c.spend.spend_of([campaign], date(2026, 11, 23))[campaign].lifetime_micros == 380_952
