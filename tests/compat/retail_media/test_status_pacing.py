"""The status machine and the pacing caps on a clock the test moves, across local day and month
boundaries of accounts far from UTC (Los Angeles, UTC-8 in winter; Tokyo, UTC+9)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from support.clock import FrozenClock

from .conftest import Catalog, Tenant


@pytest.fixture
def la(app: RootApp, client: TestClient) -> Tenant:
    return Tenant(app, client, "Pacific Brand", timezone="America/Los_Angeles")


@pytest.fixture
def tokyo(app: RootApp, client: TestClient) -> Tenant:
    return Tenant(app, client, "Tokyo Brand", timezone="Asia/Tokyo")


def at(clock: FrozenClock, text: str) -> None:
    clock.now = datetime.fromisoformat(text).replace(tzinfo=UTC)


def put(tenant: Tenant, item: dict[str, Any], **changes: Any) -> Any:
    a = {k: v for k, v in item["attributes"].items() if k not in ("id", "targetRetailerId")}
    body = {"data": {"id": item["id"], "attributes": {**a, **changes}}}
    response = tenant.call("PUT", f"/auction-line-items/{item['id']}", body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_flight_in_the_accounts_time_zone(la: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    at(clock, "2026-11-23T12:00:00")
    retailer = catalog.retailer()
    item = la.line_item(la.campaign(), retailer, startDate="2026-12-01", endDate="2026-12-05")
    assert item["attributes"]["status"] == "draft"
    la.append(item["id"], catalog.product(retailer))
    assert la.get(item["id"])["status"] == "scheduled"
    at(clock, "2026-12-01T07:59:59")  # 23:59:59 on 30 November in Los Angeles
    assert la.get(item["id"])["status"] == "scheduled"
    at(clock, "2026-12-01T08:00:00")  # midnight, 1 December in Los Angeles
    assert la.get(item["id"])["status"] == "active"
    at(clock, "2026-12-06T07:59:59")  # still 5 December there: the end date is inclusive
    assert la.get(item["id"])["status"] == "active"
    at(clock, "2026-12-06T08:00:00")
    assert la.get(item["id"])["status"] == "ended"


def test_paused_by_the_user_and_resumed(la: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    retailer = catalog.retailer()
    item = la.line_item(la.campaign(), retailer, startDate="2026-11-01")
    la.append(item["id"], catalog.product(retailer))
    item["attributes"] = la.get(item["id"])
    assert put(la, item, status="paused")["attributes"]["status"] == "paused"
    item["attributes"]["status"] = "paused"
    assert put(la, item, status="active")["attributes"]["status"] == "active"


def test_budget_hit_and_no_funds(la: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    item = la.line_item(la.campaign(), retailer, startDate="2026-11-01", budget=10, targetBid=0.5)
    la.append(item["id"], catalog.product(retailer))
    catalog.spend(item["id"], "total", 9_990_000)
    a = la.get(item["id"])
    assert (a["status"], a["budgetSpent"], a["budgetRemaining"]) == ("active", 9.99, 0.01)
    la.set_balance(499_999)  # a prepaid balance below the target bid of 0.50
    assert la.get(item["id"])["status"] == "noFunds"
    la.set_balance(500_000)
    assert la.get(item["id"])["status"] == "active"
    la.set_balance(None)  # invoiced: no balance to run out of
    assert la.get(item["id"])["status"] == "active"


def test_lifetime_cap_reached(la: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    item = la.line_item(la.campaign(), retailer, startDate="2026-11-01", budget=10)
    la.append(item["id"], catalog.product(retailer))
    catalog.spend(item["id"], "total", 10_000_000)
    a = la.get(item["id"])
    assert (a["status"], a["budgetSpent"], a["budgetRemaining"]) == ("budgetHit", 10.0, 0.0)


def test_archived_with_its_campaign(la: Tenant, catalog: Catalog, app: RootApp) -> None:
    retailer = catalog.retailer()
    campaign = la.campaign()
    item = la.line_item(campaign, retailer)
    principal = app.container.auth.authenticate(la.headers["Authorization"].removeprefix("Bearer "))
    app.container.campaigns.archive(principal, int(campaign))
    assert la.get(item["id"])["status"] == "archived"
    body = {"data": {"attributes": {**item["attributes"], "name": "Renamed"}}}
    del body["data"]["attributes"]["id"]
    response = la.call("PUT", f"/auction-line-items/{item['id']}", body)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "conflict"
    assert la.append(item["id"], catalog.product(retailer)).status_code == 409


def test_monthly_pace_resets_at_the_local_month(tokyo: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    """Auto daily pacing from a monthly pace: what is left of the month over the days left in it."""
    at(clock, "2026-11-30T14:59:00")  # 23:59 on 30 November in Tokyo
    retailer = catalog.retailer()
    item = tokyo.line_item(
        tokyo.campaign(), retailer, startDate="2026-11-01", monthlyPacing=300, isAutoDailyPacing=True
    )
    tokyo.append(item["id"], catalog.product(retailer))
    catalog.spend(item["id"], "2026-11", 290_000_000)
    catalog.spend(item["id"], "2026-11-30", 5_000_000)
    catalog.spend(item["id"], "total", 290_000_000)
    # (300 - 285 spent before today) over 1 day left; today's own spend does not move today's cap.
    assert tokyo.get(item["id"])["dailyPacing"] == 15.0
    at(clock, "2026-11-30T15:00:00")  # midnight: 1 December in Tokyo, a fresh month of 31 days
    assert tokyo.get(item["id"])["dailyPacing"] == 9.67  # 300 / 31, down to the cent
    a = tokyo.get(item["id"])
    assert (a["monthlyPacing"], a["budgetSpent"], a["isAutoDailyPacing"]) == (300.0, 290.0, True)


def test_lifetime_pace_recomputed_each_local_day(la: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    """Auto daily pacing from budget and end date: (budget - spent before today) / days left."""
    at(clock, "2026-11-21T20:00:00")  # noon, 21 November in Los Angeles
    retailer = catalog.retailer()
    item = la.line_item(
        la.campaign(),
        retailer,
        startDate="2026-11-21",
        endDate="2026-11-30",
        budget=100,
        isAutoDailyPacing=True,
    )
    assert la.get(item["id"])["dailyPacing"] == 10.0  # 100 over 10 days
    catalog.spend(item["id"], "total", 30_000_000)
    catalog.spend(item["id"], "2026-11-21", 30_000_000)
    catalog.spend(item["id"], "2026-11", 30_000_000)
    assert la.get(item["id"])["dailyPacing"] == 10.0  # fixed for the day, overspent or not
    at(clock, "2026-11-22T07:59:00")  # 23:59 on the 21st there
    assert la.get(item["id"])["dailyPacing"] == 10.0
    at(clock, "2026-11-22T08:00:00")  # the 22nd: 70 left over 9 days
    assert la.get(item["id"])["dailyPacing"] == 7.77
    at(clock, "2026-12-01T08:00:00")  # after the end date: no cap to compute
    assert la.get(item["id"])["dailyPacing"] is None


def test_set_daily_pacing_is_shown_as_set(la: Tenant, catalog: Catalog) -> None:
    item = la.line_item(la.campaign(), catalog.retailer(), dailyPacing="12.34", monthlyPacing=100)
    assert la.get(item["id"])["dailyPacing"] == 12.34
