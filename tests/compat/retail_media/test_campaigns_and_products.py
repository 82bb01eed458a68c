"""The account's retail-media campaigns and the products a line item promotes, as the SDKs of each
API version read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from auctera.app import RootApp
from support.clock import FrozenClock

from .conftest import Catalog, Tenant, pointers, problems


def post_campaign(tenant: Tenant, **attributes: Any) -> Any:
    body = {"data": {"type": "RetailMediaCampaign", "attributes": attributes}}
    return tenant.call("POST", f"/accounts/{tenant.id}/campaigns", body)


def test_create_and_read_a_campaign(app: RootApp, client: TestClient, catalog: Catalog) -> None:
    la = Tenant(app, client, "Pacific", timezone="America/Los_Angeles")
    response = post_campaign(
        la,
        name="Holiday",
        budget="250.50",
        dailyPacing=20,
        isAutoDailyPacing=False,
        startDate="2026-12-01T00:00:00",
        endDate=None,
        clickAttributionWindow="30D",  # accepted, not stored: attribution is the account's setting
        viewAttributionWindow="none",
    )
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    a = created["attributes"]
    assert created["type"] == "RetailMediaCampaign"
    assert (a["accountId"], a["name"], a["type"], a["status"]) == (la.id, "Holiday", "auction", "scheduled")
    assert (a["budget"], a["dailyPacing"], a["budgetSpent"], a["budgetRemaining"]) == (
        250.5,
        20.0,
        0.0,
        250.5,
    )
    assert a["startDate"] == "2026-12-01T00:00:00-08:00"  # local midnight in the account's zone
    assert (a["endDate"], a["monthlyPacing"], a["isAutoDailyPacing"]) == (None, None, False)
    catalog.spend(created["id"], "total", 50_500_000)
    again = la.call("GET", f"/campaigns/{created['id']}").json()["data"]["attributes"]
    assert (again["budgetSpent"], again["budgetRemaining"]) == (50.5, 200.0)
    listed = la.call("GET", f"/accounts/{la.id}/campaigns").json()
    assert [c["id"] for c in listed["data"]] == [created["id"]]
    assert listed["metadata"]["totalItemsAcrossAllPages"] == 1


def test_campaign_validation(acme: Tenant) -> None:
    assert pointers(post_campaign(acme, isAutoDailyPacing=False, budget=1)) == {"/data/attributes/name"}
    no_cap = post_campaign(acme, name="Uncapped", isAutoDailyPacing=False)
    assert pointers(no_cap) == {"/data/attributes/budget"}  # Auctera campaigns always carry a cap
    refused = post_campaign(
        acme, name="X", budget=1, isAutoDailyPacing=True, monthlyPacing=5, type="preferred"
    )
    assert pointers(refused) == {
        "/data/attributes/isAutoDailyPacing",
        "/data/attributes/monthlyPacing",
        "/data/attributes/type",
    }
    assert pointers(post_campaign(acme, name="X", budget=1, colour="red")) == {"/data/attributes/colour"}
    backwards = post_campaign(acme, name="X", budget=1, startDate="2026-12-05", endDate="2026-12-01")
    assert pointers(backwards) == {"/data/attributes/endDate"}


def test_campaign_dates_and_money_at_the_edges(acme: Tenant) -> None:
    # Valid datetimes whose date in another zone is outside the calendar.
    early = post_campaign(acme, name="X", budget=1, startDate="0001-01-01T00:00:00+14:00")
    late = post_campaign(acme, name="X", budget=1, endDate="9999-12-31T23:00:00-14:00")
    week = post_campaign(acme, name="X", budget=1, startDate="2026-W49-1")
    for response, attribute in ((early, "startDate"), (late, "endDate"), (week, "startDate")):
        [error] = problems(response)
        assert (error["code"], error["source"]) == (
            "invalid-date",
            {"pointer": f"/data/attributes/{attribute}"},
        )
    for budget, code in (("1e999999999999", "out-of-range"), ("1e-999999999999", "invalid-number")):
        for value in (f'"{budget}"', budget):  # a string, and a JSON number (a raw body)
            raw = f'{{"data": {{"attributes": {{"name": "X", "budget": {value}}}}}}}'
            response = acme.client.post(
                f"{acme.base}/accounts/{acme.id}/campaigns",
                content=raw,
                headers={**acme.headers, "Content-Type": "application/json"},
            )
            [error] = problems(response)
            assert (error["code"], error["source"]) == (code, {"pointer": "/data/attributes/budget"}), value
    assert pointers(post_campaign(acme, name="X", budget="1_000")) == {"/data/attributes/budget"}
    assert acme.call("GET", f"/accounts/{acme.id}/campaigns").json()["data"] == []  # nothing written


def products_of(tenant: Tenant, line_item_id: str, version: str) -> Any:
    path = f"/{version}/retail-media/line-items/{line_item_id}/products"
    return tenant.client.get(path, headers=tenant.headers).json()


def test_promote_and_withdraw_products(acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    kettle = catalog.product(retailer, external_id="KETTLE-1")
    toaster = catalog.product(retailer)
    item = acme.line_item(acme.campaign(), retailer)
    by_feed_id = {"data": [{"id": "KETTLE-1", "type": "RetailMediaPromotedProduct"}]}
    assert acme.call("POST", f"/line-items/{item['id']}/products/append", by_feed_id).json() == {
        "warnings": [],
        "errors": [],
    }
    assert acme.append(item["id"], kettle, toaster).status_code == 200  # idempotent
    assert acme.get(item["id"])["status"] == "active"

    current = products_of(acme, item["id"], "2025-10")  # PromotedProductResourceCollectionOutcome
    assert current["meta"] == {"count": 2, "offset": 0, "limit": 500, "responseCount": 2}
    assert current["data"][0] == {
        "id": str(min(kettle, toaster)),
        "type": "RetailMediaPromotedProduct",
        "attributes": {"id": str(min(kettle, toaster)), "bidOverride": None, "status": "active"},
    }
    legacy = products_of(acme, item["id"], "2023-10")  # PromotedProduct202110PagedListResponse
    assert sorted(p["id"] for p in legacy["data"]) == sorted([str(kettle), str(toaster)])
    assert legacy["data"][0]["attributes"] == {"bidOverride": None}
    assert legacy["metadata"]["totalItemsAcrossAllPages"] == 2

    body = {"data": [{"id": str(kettle)}, {"id": str(toaster)}]}
    assert acme.call("POST", f"/line-items/{item['id']}/products/delete", body).status_code == 200
    # Named twice, or by both its ids: one product, listed once in the answer as it is stored.
    twice = {"data": [{"id": str(kettle)}, {"id": str(kettle)}, {"id": "KETTLE-1"}, {"id": str(toaster)}]}
    for version in ("2023-10", "2024-01", "2024-04"):
        path = f"/{version}/retail-media/line-items/{item['id']}/products"
        for change in ("append", "delete"):
            echoed = acme.client.post(f"{path}/{change}", json=twice, headers=acme.headers).json()
            assert sorted(p["id"] for p in echoed["data"]) == sorted([str(kettle), str(toaster)])
            assert echoed["metadata"]["totalItemsAcrossAllPages"] == 2
    assert acme.get(item["id"])["status"] == "draft"
    assert acme.call("POST", f"/line-items/{item['id']}/products/delete", body).status_code == 200


def test_products_that_cannot_be_promoted(acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    item = acme.line_item(acme.campaign(), retailer)
    elsewhere = catalog.product(catalog.retailer())
    mine = catalog.product(retailer)
    unknown = problems(acme.append(item["id"], mine, elsewhere, 999, elsewhere))
    assert [(e["code"], e["source"]["pointer"]) for e in unknown] == [  # each where the body names it
        ("unknown-product", "/data/1/id"),
        ("unknown-product", "/data/2/id"),
    ]
    assert [e["code"] for e in problems(acme.append(item["id"]))] == ["required"]
    product = catalog.product(retailer)
    override = {"data": [{"id": str(product), "attributes": {"bidOverride": 1.5}}]}
    assert pointers(acme.call("POST", f"/line-items/{item['id']}/products/append", override)) == {
        "/data/0/attributes/bidOverride"
    }
    paused = {"data": [{"id": str(product), "attributes": {"status": "paused"}}]}
    assert pointers(acme.call("POST", f"/line-items/{item['id']}/products/append", paused)) == {
        "/data/0/attributes/status"
    }
    assert acme.get(item["id"])["status"] == "draft"  # nothing was added


def test_created_before_the_account_day_turns(app: RootApp, client: TestClient, clock: FrozenClock) -> None:
    """`today` is the account's: a campaign created at 23:30 in Tokyo ends "today" there."""
    tokyo = Tenant(app, client, "Tokyo", timezone="Asia/Tokyo")
    clock.now = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 23:30 on the 23rd in Tokyo
    campaign = post_campaign(tokyo, name="Last day", budget=5, endDate="2026-11-23").json()["data"]
    assert campaign["attributes"]["status"] == "active"
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # the 24th there
    assert tokyo.call("GET", f"/campaigns/{campaign['id']}").json()["data"]["attributes"]["status"] == "ended"


def test_a_method_the_path_does_not_answer(acme: Tenant, catalog: Catalog) -> None:
    item = acme.line_item(acme.campaign(), catalog.retailer())
    refused = acme.call("DELETE", f"/auction-line-items/{item['id']}")
    assert refused.status_code == 405
    assert refused.json()["errors"][0]["code"] == "method-not-allowed"
    assert refused.headers["allow"] == "GET, PUT"
    assert acme.get(item["id"])["name"] == "Line"  # nothing was deleted
