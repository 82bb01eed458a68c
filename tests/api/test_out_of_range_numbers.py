"""Numbers past what Auctera stores (a 64-bit or 32-bit column) or past the money caps get a 422
naming the field, never a 500: applications, programs, sponsored-product reserves and prepaid
balances."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api, error
from .test_offers import make_offer
from .test_sponsored_products import Market, ret

HUGE = 99999999999999999999  # past int64


def test_an_application_volume_estimate_past_64_bits(app: RootApp, client: TestClient) -> None:
    brand = Api(app, client, "advertiser", "Brand")
    offer_id = make_offer(brand)
    pub = Api(app, client, "publisher", "Pub")
    body = {"offer_id": offer_id, "volume_estimate": HUGE}
    error(pub.call("POST", "/v2/network/applications", body), 422, "volume_estimate")
    assert pub.call("GET", "/v2/network/applications").json()["data"] == []


def test_a_program_category_id_past_its_column(app: RootApp, client: TestClient) -> None:
    brand = Api(app, client, "advertiser", "Brand")
    offer_id = make_offer(brand)
    for category_id in (HUGE, 2**31):
        body = {"market": "US", "category_id": category_id}
        error(brand.call("PUT", f"/v2/programs/{offer_id}", body), 422, "category_id")
    ok = brand.call("PUT", f"/v2/programs/{offer_id}", {"market": "US", "category_id": 2**31 - 1})
    assert ok.status_code == 201, ok.text  # created


@pytest.mark.parametrize("reserve", [99999999999999, 1000000000.01, "1e300"])
def test_a_sponsored_products_reserve_past_the_money_cap(
    app: RootApp, client: TestClient, reserve: Any
) -> None:
    market = Market(app, client)
    shop = market.account(name="Shop")
    retailer = market.retailer(shop)
    path = f"/v2/retailers/{ret(retailer)}/sponsored-products"
    body = {"page": {"type": "search", "keywords": "shoe"}, "reserve": reserve}
    error(shop.call("POST", path, body), 422, "reserve")
    body["reserve"] = 1000000000
    assert shop.call("POST", path, body).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"balance": 10000000000000}, {"balance": 1e300}, {"balance": 1000000000.5}, {"add": 1e300}],
)
def test_a_balance_past_the_money_cap(app: RootApp, client: TestClient, network: Api, body: Any) -> None:
    acme = Api(app, client, "advertiser", "Acme")
    path = f"/v2/accounts/{acme.id}/balance"
    assert network.call("PATCH", path, {"balance": 100}).status_code == 200
    error(network.call("PATCH", path, body), 422, next(iter(body)))
    assert network.call("GET", path).json()["balance"] == "100.00"


def test_top_ups_cannot_carry_a_balance_past_the_cap(app: RootApp, client: TestClient, network: Api) -> None:
    acme = Api(app, client, "advertiser", "Acme")
    path = f"/v2/accounts/{acme.id}/balance"
    assert network.call("PATCH", path, {"balance": 999999999}).status_code == 200
    error(network.call("PATCH", path, {"add": 2}), 422, "add")
    assert network.call("GET", path).json()["balance"] == "999999999.00"
    assert network.call("PATCH", path, {"add": 1}).json()["balance"] == "1000000000.00"
