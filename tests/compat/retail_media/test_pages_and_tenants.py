"""List pages and their `metadata`, and one tenant never reaching another's data (404, in the
surface's envelope, as for anything that does not exist)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType

from .conftest import Catalog, Tenant


def test_pages_and_links(acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    campaign = acme.campaign()
    ids = [acme.line_item(campaign, retailer, name=f"L{n}")["id"] for n in range(7)]
    path = f"/campaigns/{campaign}/auction-line-items"
    base = f"http://testserver{acme.base}{path}"

    middle = acme.call("GET", path, pageIndex=1, pageSize=3).json()
    assert [d["id"] for d in middle["data"]] == ids[3:6]  # oldest first
    assert middle["metadata"] == {
        "totalItemsAcrossAllPages": 7,
        "currentPageSize": 3,
        "currentPageIndex": 1,
        "totalPages": 3,
        "nextPage": f"{base}?pageIndex=2&pageSize=3",
        "previousPage": f"{base}?pageIndex=0&pageSize=3",
    }
    last = acme.call("GET", path, pageIndex=2, pageSize=3).json()
    assert [d["id"] for d in last["data"]] == ids[6:]
    assert "nextPage" not in last["metadata"]
    beyond = acme.call("GET", path, pageIndex=9, pageSize=3).json()
    assert beyond["data"] == [] and "nextPage" not in beyond["metadata"]
    default = acme.call("GET", path).json()["metadata"]
    assert (default["currentPageSize"], default["totalPages"]) == (25, 1)


def test_limit_to_id(acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    campaign = acme.campaign()
    ids = [acme.line_item(campaign, retailer, name=f"L{n}")["id"] for n in range(4)]
    path = acme.base + f"/campaigns/{campaign}/auction-line-items"
    repeated = acme.client.get(f"{path}?limitToId={ids[1]}&limitToId={ids[3]}", headers=acme.headers).json()
    assert [d["id"] for d in repeated["data"]] == [ids[1], ids[3]]
    assert repeated["metadata"]["totalItemsAcrossAllPages"] == 2
    comma = acme.client.get(f"{path}?limitToId={ids[0]},{ids[2]}", headers=acme.headers).json()
    assert [d["id"] for d in comma["data"]] == [ids[0], ids[2]]


def _not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["warnings"] == []
    [error] = body["errors"]
    assert error["type"] == "validation" and error["code"] == "not-found"


def test_tenants_see_only_their_own(app: RootApp, client: TestClient, acme: Tenant, catalog: Catalog) -> None:
    retailer = catalog.retailer()
    product = catalog.product(retailer)
    campaign = acme.campaign()
    item = acme.line_item(campaign, retailer)
    other = Tenant(app, client, "Rival")

    _not_found(other.call("GET", f"/campaigns/{campaign}"))
    _not_found(other.call("GET", f"/campaigns/{campaign}/auction-line-items"))
    _not_found(other.call("POST", f"/campaigns/{campaign}/auction-line-items", {"data": {"attributes": {}}}))
    _not_found(other.call("GET", f"/auction-line-items/{item['id']}"))
    body = {
        "data": {
            "attributes": {"name": "x", "startDate": "2026-11-01", "isAutoDailyPacing": False, "targetBid": 1}
        }
    }
    _not_found(other.call("PUT", f"/auction-line-items/{item['id']}", body))
    _not_found(other.append(item["id"], product))
    _not_found(other.call("GET", f"/line-items/{item['id']}/products"))
    _not_found(other.call("GET", f"/accounts/{acme.id}/campaigns"))
    _not_found(other.call("POST", f"/accounts/{acme.id}/campaigns", {"data": {"attributes": {"name": "x"}}}))
    assert [a["id"] for a in other.call("GET", "/accounts").json()["data"]] == [other.id]
    assert other.call("GET", f"/accounts/{other.id}/campaigns").json()["data"] == []
    assert acme.get(item["id"])["name"] == "Line"  # untouched


def test_what_does_not_exist(acme: Tenant, app: RootApp) -> None:
    _not_found(acme.call("GET", "/auction-line-items/123"))
    _not_found(acme.call("GET", "/auction-line-items/not-a-number"))
    _not_found(acme.call("GET", "/campaigns/123/auction-line-items"))
    # A campaign of another type (made on /v2) is not a retail-media campaign.
    principal = app.container.auth.authenticate(acme.headers["Authorization"].removeprefix("Bearer "))
    fields = CampaignPatch(name="Display", budget=BudgetPatch(total_micros=10**9))
    display = app.container.campaigns.create(principal, CampaignType.DSP_PROSPECTING, fields)
    _not_found(acme.call("GET", f"/campaigns/{display.id}"))
    _not_found(acme.call("GET", f"/campaigns/{display.id}/auction-line-items"))
    unserved = acme.client.get("/2023-07/retail-media/accounts", headers=acme.headers)
    assert unserved.status_code == 404
