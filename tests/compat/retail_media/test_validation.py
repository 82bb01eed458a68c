"""Every rule of seed 004's attribute table, answered 400 in the surface's envelope with one error
per bad attribute pointing at it; nothing is written when a write fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Catalog, Tenant, pointers, problems


@pytest.fixture
def setup(acme: Tenant, catalog: Catalog) -> tuple[str, int]:
    return acme.campaign(), catalog.retailer()


def post(acme: Tenant, campaign: str, **attributes: Any) -> Any:
    return acme.call(
        "POST", f"/campaigns/{campaign}/auction-line-items", {"data": {"attributes": attributes}}
    )


def put(acme: Tenant, line_item_id: str, **attributes: Any) -> Any:
    body = {"data": {"id": line_item_id, "type": "RetailMediaLineItem", "attributes": attributes}}
    return acme.call("PUT", f"/auction-line-items/{line_item_id}", body)


FULL = {"name": "Line", "startDate": "2026-11-01", "isAutoDailyPacing": False, "targetBid": 0.5}


def test_post_requires_name_start_date_and_retailer(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, _ = setup
    response = post(acme, campaign)
    assert pointers(response) == {
        "/data/attributes/name",
        "/data/attributes/startDate",
        "/data/attributes/targetRetailerId",
    }
    assert {p["code"] for p in problems(response)} == {"required"}


def test_put_requires_every_non_nullable_writeable_attribute(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    item = acme.line_item(campaign, retailer)
    response = put(acme, item["id"])
    assert pointers(response) == {
        f"/data/attributes/{a}" for a in ("name", "startDate", "isAutoDailyPacing", "targetBid")
    }


def test_put_sets_omitted_nullable_attributes_to_null_and_keeps_bid_strategy(
    acme: Tenant, setup: tuple[str, int]
) -> None:
    campaign, retailer = setup
    item = acme.line_item(
        campaign,
        retailer,
        endDate="2026-12-31",
        budget=100,
        monthlyPacing=50,
        dailyPacing=5,
        maxBid=2,
        bidStrategy="revenue",
    )
    response = put(acme, item["id"], **FULL)
    assert response.status_code == 200, response.text
    a = response.json()["data"]["attributes"]
    assert [
        a[k] for k in ("endDate", "budget", "monthlyPacing", "dailyPacing", "maxBid", "budgetRemaining")
    ] == [None] * 6
    assert a["bidStrategy"] == "revenue"


def test_nulls_where_the_seed_says_not_nullable(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    response = post(
        acme,
        campaign,
        name=None,
        startDate=None,
        targetRetailerId=str(retailer),
        isAutoDailyPacing=None,
        bidStrategy=None,
        targetBid=None,
        status=None,
    )
    assert pointers(response) == {
        f"/data/attributes/{a}"
        for a in ("name", "startDate", "isAutoDailyPacing", "bidStrategy", "targetBid", "status")
    }


def test_one_answer_names_every_bad_attribute(acme: Tenant, setup: tuple[str, int]) -> None:
    """Values that cannot be read and values out of range, in one answer (not one per try)."""
    campaign, retailer = setup
    attributes = {**FULL, "targetRetailerId": str(retailer)}
    response = post(acme, campaign, **{**attributes, "bidStrategy": "x", "budget": -1, "maxBid": 0.001})
    assert {(p["source"]["pointer"], p["code"]) for p in problems(response)} == {
        ("/data/attributes/bidStrategy", "invalid-value"),
        ("/data/attributes/budget", "out-of-range"),
        ("/data/attributes/maxBid", "out-of-range"),
    }
    response = post(acme, campaign, **{**attributes, "monthlyPacing": -5, "budget": "abc", "name": " "})
    assert {p["source"]["pointer"] for p in problems(response)} == {
        "/data/attributes/monthlyPacing",
        "/data/attributes/budget",
        "/data/attributes/name",
    }


def test_unknown_attributes_are_named(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    response = post(
        acme,
        campaign,
        name="L",
        startDate="2026-11-01",
        targetRetailerId=str(retailer),
        colour="red",
        pacing=1,
    )
    errors = problems(response)
    assert {e["source"]["pointer"] for e in errors} == {"/data/attributes/colour", "/data/attributes/pacing"}
    assert all(e["code"] == "unknown-attribute" and "unknown attribute" in e["detail"] for e in errors)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("name", ""),
        ("name", "x" * 256),
        ("startDate", "2026/11/01"),
        ("startDate", "2026-W49-1"),  # an ISO week date: the seed accepts YYYY-MM-DD only
        ("endDate", "2026-W49-7"),
        ("endDate", "2026-10-31"),  # before startDate
        ("budget", -1),
        ("monthlyPacing", "-0.01"),
        ("dailyPacing", -5),
        ("targetBid", -0.3),
        ("maxBid", 0.009),
        ("maxBid", 0),
        ("budget", "ten"),
        ("budget", "1.0000001"),  # below a micro
        ("budget", "1e-999999999999"),  # not zero: far below a micro
        ("budget", "1_000"),  # Python's Decimal() reads it; no JSON client writes it
        ("budget", "1e999999999999"),
        ("budget", True),
        ("isAutoDailyPacing", "true"),
        ("bidStrategy", "cpc"),
        ("status", "archived"),
        ("status", "running"),
        ("targetRetailerId", "299x"),
    ],
)
def test_bad_values(acme: Tenant, setup: tuple[str, int], attribute: str, value: Any) -> None:
    campaign, retailer = setup
    fields = {"name": "L", "startDate": "2026-11-01", "targetRetailerId": str(retailer), attribute: value}
    assert pointers(post(acme, campaign, **fields)) == {f"/data/attributes/{attribute}"}


def test_money_of_extreme_magnitude(acme: Tenant, setup: tuple[str, int]) -> None:
    """As a string or as a JSON number (which httpx cannot write, hence the raw body)."""
    campaign, retailer = setup
    for budget, code in [
        ("1e999999999999", "out-of-range"),
        ("1e400", "out-of-range"),
        ("1e-999999999999", "invalid-number"),
        ("0.0000001", "invalid-number"),
    ]:
        for value in (f'"{budget}"', budget):
            fields = {"name": "L", "startDate": "2026-11-01", "targetRetailerId": str(retailer), "budget": 0}
            raw = json.dumps({"data": {"attributes": fields}}).replace('"budget": 0', f'"budget": {value}')
            response = acme.client.post(
                f"{acme.base}/campaigns/{campaign}/auction-line-items",
                content=raw,
                headers={**acme.headers, "Content-Type": "application/json"},
            )
            [error] = problems(response)
            assert (error["code"], error["source"]) == (code, {"pointer": "/data/attributes/budget"}), value
    assert acme.call("GET", f"/campaigns/{campaign}/auction-line-items").json()["data"] == []
    exact = acme.line_item(campaign, retailer, budget="1.000000000000000000000000000000")
    assert exact["attributes"]["budget"] == 1.0  # trailing zeros are no precision


def test_numbers_as_strings_or_numbers(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    a = acme.line_item(campaign, retailer, budget="12.5", targetBid=1, maxBid="0.01", monthlyPacing=7.25)
    assert (a["attributes"]["budget"], a["attributes"]["targetBid"]) == (12.5, 1.0)
    assert (a["attributes"]["maxBid"], a["attributes"]["monthlyPacing"]) == (0.01, 7.25)


def test_unknown_retailer(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, _ = setup
    response = post(acme, campaign, name="L", startDate="2026-11-01", targetRetailerId="299")
    [error] = problems(response)
    assert (error["code"], error["source"]["pointer"]) == (
        "unknown-retailer",
        "/data/attributes/targetRetailerId",
    )


def test_names_are_unique_within_a_campaign(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    first = acme.line_item(campaign, retailer, name="Kettles")
    second = acme.line_item(campaign, retailer, name="Toasters")
    duplicate = post(acme, campaign, name="Kettles", startDate="2026-11-01", targetRetailerId=str(retailer))
    assert [e["code"] for e in problems(duplicate)] == ["duplicate-name"]
    renamed = put(acme, second["id"], **{**FULL, "name": "Kettles"})
    assert pointers(renamed) == {"/data/attributes/name"}
    assert put(acme, first["id"], **{**FULL, "name": "Kettles"}).status_code == 200  # its own name
    acme.line_item(acme.campaign(name="Autumn"), retailer, name="Kettles")  # another campaign: fine


def test_auto_daily_pacing_rules(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    base = {"startDate": "2026-11-01", "targetRetailerId": str(retailer), "isAutoDailyPacing": True}
    with_daily = post(acme, campaign, name="A", monthlyPacing=30, dailyPacing=1, **base)
    [error] = problems(with_daily)
    assert error["code"] == "invalid-is-auto-daily-pacing"
    alone = post(acme, campaign, name="B", **base)
    assert pointers(alone) == {"/data/attributes/isAutoDailyPacing"}
    budget_only = post(acme, campaign, name="C", budget=10, **base)
    assert pointers(budget_only) == {"/data/attributes/isAutoDailyPacing"}
    assert post(acme, campaign, name="D", budget=10, endDate="2026-12-31", **base).status_code == 201
    assert post(acme, campaign, name="E", monthlyPacing=30, **base).status_code == 201


def test_target_bid_at_least_the_greatest_min_bid(
    acme: Tenant, setup: tuple[str, int], catalog: Catalog
) -> None:
    campaign, retailer = setup
    item = acme.line_item(campaign, retailer, targetBid=0.5)
    cheap, dear = (
        catalog.product(retailer, min_bid_micros=200_000),
        catalog.product(retailer, min_bid_micros=600_000),
    )
    assert acme.append(item["id"], cheap).status_code == 200
    refused = acme.append(item["id"], cheap, dear)
    assert [(e["code"], e["source"]) for e in problems(refused)] == [
        ("bid-below-min-bid", {"pointer": "/data/1/id"})  # the second product of the body
    ]
    assert put(acme, item["id"], **{**FULL, "targetBid": 0.6}).status_code == 200
    assert acme.append(item["id"], dear).status_code == 200
    lowered = put(acme, item["id"], **{**FULL, "targetBid": 0.59})
    [error] = problems(lowered)
    assert error["source"] == {"pointer": "/data/attributes/targetBid"}
    assert "0.60" in error["detail"]


def test_status_writes(acme: Tenant, setup: tuple[str, int], catalog: Catalog) -> None:
    campaign, retailer = setup
    item = acme.line_item(campaign, retailer, status="paused")
    assert item["attributes"]["status"] == "draft"
    acme.append(item["id"], catalog.product(retailer))
    assert acme.get(item["id"])["status"] == "paused"
    assert (
        put(acme, item["id"], **{**FULL, "status": "active"}).json()["data"]["attributes"]["status"]
        == "active"
    )
    # Writing back the status shown is accepted; a derived status that is not shown is refused.
    assert put(acme, item["id"], **{**FULL, "status": "active"}).status_code == 200
    assert pointers(put(acme, item["id"], **{**FULL, "status": "ended"})) == {"/data/attributes/status"}


def test_read_only_attributes(acme: Tenant, setup: tuple[str, int], catalog: Catalog) -> None:
    campaign, retailer = setup
    with_id = post(acme, campaign, id="1", name="L", startDate="2026-11-01", targetRetailerId=str(retailer))
    assert pointers(with_id) == {"/data/attributes/id"}
    elsewhere = post(
        acme, campaign, campaignId="1", name="L", startDate="2026-11-01", targetRetailerId=str(retailer)
    )
    assert pointers(elsewhere) == {"/data/attributes/campaignId"}
    item = acme.line_item(campaign, retailer)
    moved = put(acme, item["id"], **FULL, targetRetailerId=str(catalog.retailer()))
    assert pointers(moved) == {"/data/attributes/targetRetailerId"}
    other_id = acme.call(
        "PUT", f"/auction-line-items/{item['id']}", {"data": {"id": "12", "attributes": FULL}}
    )
    assert [(e["code"], e["source"]) for e in problems(other_id)] == [("read-only", {"pointer": "/data/id"})]
    echoed = {**item["attributes"], **FULL}
    echoed.pop("id")
    assert put(acme, item["id"], **echoed).status_code == 200  # computed figures and times: ignored


def test_a_failed_write_changes_nothing(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, retailer = setup
    item = acme.line_item(campaign, retailer, budget=10)
    before = acme.get(item["id"])
    assert put(acme, item["id"], **{**FULL, "name": "New", "budget": -1}).status_code == 400
    assert acme.get(item["id"]) == before


def test_bodies_that_are_not_the_envelope(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, _ = setup
    path = acme.base + f"/campaigns/{campaign}/auction-line-items"
    not_json = acme.client.post(
        path, content=b"{nope", headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0]["code"] == "invalid-json"
    assert pointers(acme.call("POST", f"/campaigns/{campaign}/auction-line-items", {"name": "L"})) == {
        "/data"
    }


def test_page_parameters(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, _ = setup
    path = f"/campaigns/{campaign}/auction-line-items"
    for params in (
        {"pageSize": 0},
        {"pageSize": 101},
        {"pageIndex": -1},
        {"pageIndex": "x"},
        {"pageIndex": "²"},
    ):
        errors = problems(acme.call("GET", path, **params))
        assert errors[0]["code"] == "invalid-page"


def test_auth_errors_in_the_envelope(acme: Tenant, setup: tuple[str, int]) -> None:
    campaign, _ = setup
    path = acme.base + f"/campaigns/{campaign}/auction-line-items"
    for headers in ({}, {"Authorization": "Bearer auc_at_nope"}, {"Authorization": "Basic x"}):
        response = acme.client.get(path, headers=headers)
        assert response.status_code == 401
        [error] = response.json()["errors"]
        assert error["type"] == "authentication"
        assert response.json()["warnings"] == []
    api_key = acme.app.container.accounts.create_key(acme.account.id).secret
    response = acme.client.get(path, headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 401  # an API key is not an OAuth2 token


def test_a_version_not_served_answers_in_the_envelope(acme: Tenant) -> None:
    # An SDK newer (or older) than the server learns so in the envelope it parses, not /v2's.
    response = acme.client.get("/1999-01/retail-media/accounts", headers=acme.headers)
    assert response.status_code == 404
    assert response.json()["warnings"] == []
    [error] = response.json()["errors"]
    assert error["title"] == "Resource not found"
