"""A prepaid balance reaches the cached auctions within a background round, both ways.

The app runs with its real auction caches (inventories kept 5 minutes, headroom 2 s); the test
drives the background round (`refresh_caches`) by hand, as the auction cache tests do. Clicks
drawing the balance down, a top-up, an overwrite and a switch to invoiced each change who wins
the next sponsored-products decision after one round, not after the inventory's 5 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_sponsored_products import Market, decide, names

TRACKING = "https://trk.example.com"
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Accept-Language": "en-US,en;q=0.9",
}
SEARCH = {"type": "search", "keywords": "running shoes"}


@pytest.fixture
def cached_market(tmp_path: Path, clock: FrozenClock) -> Iterator[Market]:
    # The default auction caches: a balance change must not wait for the inventory to reload.
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as app, TestClient(app) as client:
        yield Market(app, client)


def _click(market: Market, product: dict[str, Any]) -> None:
    path = product["click_url"].removeprefix(TRACKING)
    response = market.client.get(path, headers=BROWSER, follow_redirects=False)
    assert response.status_code == 302, response.text


def _lost_because(shop: Api, answer: dict[str, Any], line_item_id: int) -> str | None:
    log = shop.call("GET", f"/v2/auctions/{answer['auction_id']}")
    assert log.status_code == 200, log.text
    (mine,) = [c for c in log.json()["candidates"] if c["line_item_id"] == str(line_item_id)]
    return mine["reason"]


def test_a_balance_change_reaches_the_cached_auctions_within_a_round(cached_market: Market) -> None:
    m = cached_market
    app: RootApp = m.app
    shop = m.account("publisher", name="Shop")
    retailer = m.retailer(shop)
    brand = m.account(name="Brand")
    acme = m.line_item(brand, m.campaign(brand), retailer, ["shoe-1"], name="Acme", target_bid=850_000)
    zoom = m.account(name="Zoom")
    m.line_item(zoom, m.campaign(zoom), retailer, ["shoe-2"], name="Zoom", target_bid=600_000)
    network = m.account("network", name="Operator")
    balance = f"/v2/accounts/{brand.id}/balance"
    assert network.call("PATCH", balance, {"balance": "1.00"}).status_code == 200
    refresh = app.container.auctions.refresh_caches

    refresh()  # the background round notes the store's version
    first = decide(shop, retailer, SEARCH)
    assert names(first) == ["Trail Running Shoe"]  # Acme's bid 0.85 over Zoom's 0.60
    _click(m, first["products"][0])
    second = decide(shop, retailer, SEARCH)
    assert names(second) == ["Trail Running Shoe"]  # a page rendered before the click was charged
    _click(m, second["products"][0])
    left = brand.call("GET", balance).json()["balance"]
    assert Decimal("0") < Decimal(left) < Decimal("0.85"), left  # the second click was refused: no_funds

    # One round later the auctions know the balance can no longer cover Acme's bid.
    refresh()
    after = decide(shop, retailer, SEARCH)
    assert names(after) == ["Road Running Shoe"]
    assert _lost_because(shop, after, acme) == "budget_exhausted"

    # A top-up lets it win again after one round, not after the inventory's 5 minutes.
    assert network.call("PATCH", balance, {"balance": "100.00"}).status_code == 200
    refresh()
    assert names(decide(shop, retailer, SEARCH)) == ["Trail Running Shoe"]

    # So do an overwrite to nothing and a switch to invoiced.
    assert network.call("PATCH", balance, {"balance": "0"}).status_code == 200
    refresh()
    assert names(decide(shop, retailer, SEARCH)) == ["Road Running Shoe"]
    assert network.call("PATCH", balance, {"balance": None}).status_code == 200
    refresh()
    assert names(decide(shop, retailer, SEARCH)) == ["Trail Running Shoe"]
