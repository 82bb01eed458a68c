"""Seed 004's examples as contract tests: each request body as the seed gives it, each response
compared whole with the seed's, up to ids and times (which are checked for their format).

Where an example contradicts its own request, the test says so and follows the request:
the create example answers "API Line Item" to a request naming "API Campaing", and the update
example answers monthlyPacing 3000.00 to a request sending 30.00 (its dailyPacing 120.00 is
what 3000.00 gives; both are checked).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.clock import FrozenClock

from .conftest import Catalog, Tenant, problems

GOLDEN = Path(__file__).with_name("golden")
IDS = {"id", "campaignId", "targetRetailerId"}
TIMES = {"createdAt", "updatedAt"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def normalised(value: Any) -> Any:
    """Ids become "<id>" (after checking they are int64 strings), times "<time>"."""
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key in IDS and v is not None:
            assert isinstance(v, str) and v.isdigit(), (key, v)
            v = "<id>"
        elif key in TIMES:
            assert isinstance(v, str) and TIMESTAMP.fullmatch(v), (key, v)
            v = "<time>"
        out[key] = normalised(v)
    return out


def with_ids(body: Any, **ids: str) -> Any:
    """The seed's request with our ids where it names its own."""
    attributes = body["data"]["attributes"]
    for key, value in ids.items():
        if key == "id":
            body["data"]["id"] = value
        else:
            attributes[key] = value
    return body


def test_create_example(acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    campaign = acme.campaign()
    body = with_ids(golden("create_request.json"), targetRetailerId=str(retailer))
    response = acme.call("POST", f"/campaigns/{campaign}/auction-line-items", body)
    assert response.status_code == 201, response.text
    expected = golden("create_response.json")
    expected["data"]["attributes"]["name"] = "API Campaing"  # the seed's example renames it
    assert normalised(response.json()) == normalised(expected)
    got = response.json()["data"]
    assert got["attributes"]["id"] == got["id"]
    assert got["attributes"]["campaignId"] == campaign
    assert got["attributes"]["targetRetailerId"] == str(retailer)


def test_get_example(acme: Tenant, catalog: Catalog) -> None:
    """Only the required attributes sent: every other one takes the seed's default."""
    retailer = catalog.retailer()
    campaign = acme.campaign()
    fields = {"name": "My New Line Item", "startDate": "2020-04-06", "targetRetailerId": str(retailer)}
    created = acme.call("POST", f"/campaigns/{campaign}/auction-line-items", {"data": {"attributes": fields}})
    assert created.status_code == 201, created.text
    response = acme.call("GET", f"/auction-line-items/{created.json()['data']['id']}")
    assert response.status_code == 200
    expected = {**golden("get_response.json"), "warnings": [], "errors": []}
    assert normalised(response.json()) == normalised(expected)


def test_list_example(acme: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    """Two line items as the seed lists them, among 105: the first page of 25."""
    clock.now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # June: 1000.00 a month is 33.33 a day on the 1st
    retailer = catalog.retailer()
    product = catalog.product(retailer)
    campaign = acme.campaign()
    sample = golden("list_response.json")
    for shown in sample["data"]:
        a = shown["attributes"]
        writable = (
            "name",
            "startDate",
            "endDate",
            "budget",
            "monthlyPacing",
            "isAutoDailyPacing",
            "bidStrategy",
        )
        fields = {k: a[k] for k in writable} | {"targetBid": a["targetBid"], "maxBid": a["maxBid"]}
        item = acme.line_item(campaign, retailer, **fields, status=a["status"])
        assert acme.append(item["id"], product).status_code == 200
        catalog.spend(item["id"], "total", round(a["budgetSpent"] * 1_000_000))
    for n in range(103):
        acme.line_item(campaign, retailer, name=f"Filler {n}")
    response = acme.call("GET", f"/campaigns/{campaign}/auction-line-items", pageIndex=0, pageSize=25)
    assert response.status_code == 200
    body = response.json()
    assert normalised(body["data"][:2]) == normalised(sample["data"])
    assert len(body["data"]) == 25
    link = body["metadata"].pop("nextPage")
    assert (
        link
        == f"http://testserver/2025-10/retail-media/campaigns/{campaign}/auction-line-items?pageIndex=1&pageSize=25"
    )
    expected = {k: v for k, v in sample["metadata"].items() if k not in ("nextPage", "previousPage")}
    assert body["metadata"] == expected  # previousPage: there is none, so it is left out


def test_update_example(acme: Tenant, catalog: Catalog, clock: FrozenClock) -> None:
    """Auto daily pacing switched on with a monthly pace; still a draft: no products yet."""
    retailer = catalog.retailer()
    campaign = acme.campaign()
    fields = {"name": "My New Line Item", "startDate": "2020-04-06", "targetRetailerId": str(retailer)}
    created = acme.call("POST", f"/campaigns/{campaign}/auction-line-items", {"data": {"attributes": fields}})
    line_item_id = created.json()["data"]["id"]
    clock.now = datetime(2020, 4, 6, 6, 17, 48, tzinfo=UTC)  # the example's day: 25 days left in April
    body = with_ids(golden("put_request.json"), id=line_item_id)
    response = acme.call("PUT", f"/auction-line-items/{line_item_id}", body)
    assert response.status_code == 200, response.text
    expected = {**golden("put_response.json"), "warnings": [], "errors": []}
    attributes = expected["data"]["attributes"]
    attributes.update(monthlyPacing=30.0, dailyPacing=1.2)  # what the request's 30.00 gives
    assert normalised(response.json()) == normalised(expected)
    assert response.json()["data"]["attributes"]["updatedAt"] == "2020-04-06T06:17:48+00:00"

    body["data"]["attributes"]["monthlyPacing"] = 3000.00  # the example's response figures
    again = acme.call("PUT", f"/auction-line-items/{line_item_id}", body).json()["data"]["attributes"]
    assert (again["monthlyPacing"], again["dailyPacing"]) == (3000.0, 120.0)


def test_python_update_example(acme: Tenant, catalog: Catalog) -> None:
    """The seed's Python variant, at its URL: numbers as strings, a read-back status ("draft") and the
    targetRetailerId echoed. Both are accepted because they change nothing."""
    retailer = catalog.retailer()
    campaign = acme.campaign()
    item = acme.line_item(campaign, retailer, name="API Campaign")
    body = with_ids(golden("put_request_python.json"), id=item["id"], targetRetailerId=str(retailer))
    # At the seed's Python URL: API version 2023-07.
    url = f"/2023-07/retail-media/auction-line-items/{item['id']}"
    response = acme.client.request("PUT", url, json=body, headers=acme.headers)
    assert response.status_code == 200, response.text
    a = response.json()["data"]["attributes"]
    assert a["name"] == "API Campaign Updated new name"
    assert (a["startDate"], a["endDate"]) == ("2022-09-16", "2022-09-18")
    assert (a["budget"], a["targetBid"], a["maxBid"], a["monthlyPacing"]) == (35.0, 0.3, 0.1, 50.0)
    assert a["isAutoDailyPacing"] is True
    assert a["dailyPacing"] == 6.25  # 50.00 over the 8 days left in November 2026 (the end date is past)
    assert a["status"] == "draft"
    assert response.json()["data"]["type"] == "RetailMediaLineItem"


def test_common_validation_error_example(acme: Tenant, catalog: Catalog) -> None:
    """ "Invalid is auto daily pacing - Cannot turn on IsAutoDailyPacing and add a DailyPacing value"."""
    retailer = catalog.retailer()
    campaign = acme.campaign()
    body = with_ids(golden("create_request.json"), targetRetailerId=str(retailer))
    body["data"]["attributes"]["isAutoDailyPacing"] = True
    response = acme.call("POST", f"/campaigns/{campaign}/auction-line-items", body)
    [error] = problems(response)
    assert error["detail"].startswith(
        "Invalid is auto daily pacing - Cannot turn on IsAutoDailyPacing and add a DailyPacing value"
    )
    assert error["source"] == {"pointer": "/data/attributes/isAutoDailyPacing"}
