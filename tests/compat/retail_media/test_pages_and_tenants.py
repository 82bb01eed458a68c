"""List pages and their `metadata`, and one tenant never reaching another's data (404, in the
surface's envelope, as for anything that does not exist)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.store.tables import line_items

from .conftest import Catalog, Tenant, parameters, problems


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


def test_limit_to_id_on_campaigns_is_applied_before_paging(acme: Tenant) -> None:
    ids = [acme.campaign(name=f"C{n}") for n in range(4)]
    path = f"/accounts/{acme.id}/campaigns"
    page = acme.call("GET", path, pageSize=1, limitToId=f"{ids[2]},{ids[3]}").json()
    assert [c["id"] for c in page["data"]] == [ids[2]]
    assert (page["metadata"]["totalItemsAcrossAllPages"], page["metadata"]["totalPages"]) == (2, 2)
    second = acme.call("GET", path, pageSize=1, pageIndex=1, limitToId=f"{ids[2]},{ids[3]}").json()
    assert [c["id"] for c in second["data"]] == [ids[3]]
    unknown = acme.call("GET", path, limitToId="123").json()
    assert (unknown["data"], unknown["metadata"]["totalItemsAcrossAllPages"]) == ([], 0)


def test_bad_query_parameters_are_named_as_parameters(acme: Tenant, catalog: Catalog) -> None:
    campaign = acme.campaign()
    item = acme.line_item(campaign, catalog.retailer())
    lists = (f"/campaigns/{campaign}/auction-line-items", f"/accounts/{acme.id}/campaigns", "/accounts")
    for path in lists:
        assert parameters(acme.call("GET", path, pageSize=0)) == {"pageSize"}
        assert parameters(acme.call("GET", path, pageIndex=-1, pageSize=101)) == {"pageIndex", "pageSize"}
        # An id that is no id is an error, not an empty page that reads "none of these exist".
        [error] = problems(acme.call("GET", path, limitToId="abc"))
        assert (error["code"], error["source"]) == ("invalid-id", {"parameter": "limitToId"})
    assert parameters(acme.call("GET", f"/line-items/{item['id']}/products", limit=501)) == {"limit"}


def test_line_items_target_only_retail_sites(
    app: RootApp, client: TestClient, acme: Tenant, catalog: Catalog
) -> None:
    """A merchant's retailer (an advertiser's, for SmartLinks) is private: it answers exactly as an
    id that does not exist, and its products cannot be promoted."""
    merchant = app.container.accounts.create_account("Merchant", "advertiser").account.id
    private = catalog.retailer(owner_id=merchant)
    catalog.product(private, external_id="SECRET-1", owner_id=merchant)
    campaign = acme.campaign()

    def target(retailer: int) -> Any:
        fields = {"name": f"On {retailer}", "startDate": "2026-11-01", "targetRetailerId": str(retailer)}
        return acme.call(
            "POST", f"/campaigns/{campaign}/auction-line-items", {"data": {"attributes": fields}}
        )

    [theirs] = problems(target(private))
    [missing] = problems(target(123))
    assert theirs == missing
    assert (theirs["code"], theirs["source"]) == (
        "unknown-retailer",
        {"pointer": "/data/attributes/targetRetailerId"},
    )
    # Nor its own: a brand's line items buy placements on publishers' retail sites.
    own = catalog.retailer(owner_id=acme.account.id)
    assert problems(target(own))[0]["code"] == "unknown-retailer"
    assert acme.call("GET", f"/campaigns/{campaign}/auction-line-items").json()["data"] == []
    assert target(catalog.retailer()).status_code == 201


def test_a_line_item_made_before_on_a_merchant_promotes_nothing(
    app: RootApp, acme: Tenant, catalog: Catalog
) -> None:
    merchant = app.container.accounts.create_account("Merchant", "advertiser").account.id
    private = catalog.retailer(owner_id=merchant)
    product = catalog.product(private, external_id="SECRET-1", owner_id=merchant)
    item = acme.line_item(acme.campaign(), catalog.retailer())
    with app.container.engine.begin() as conn:  # as an older version let it be created
        conn.execute(
            update(line_items).where(line_items.c.id == int(item["id"])).values(target_retailer_id=private)
        )
    for ref in (product, "SECRET-1"):
        [error] = problems(acme.append(item["id"], ref))
        assert error["code"] == "unknown-product"
    assert acme.call("GET", f"/line-items/{item['id']}/products").json()["data"] == []


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
    unserved = acme.client.get("/2022-07/retail-media/accounts", headers=acme.headers)
    assert unserved.status_code == 404
    assert "2022-07 is not served" in unserved.json()["errors"][0]["detail"]
    for blank in ("%09", "%0A", "%0D", "%20"):  # whitespace a URL parser would drop: still this surface's
        odd = acme.client.get(f"/{blank}/retail-media/accounts", headers=acme.headers)
        assert (odd.status_code, odd.json()["errors"][0]["code"]) == (404, "not-found"), blank
