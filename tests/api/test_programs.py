"""/v2/programs through the real app: program settings, segments and commission types as an
advertiser (and the operator) manages them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api, bearer, error

SEED_COMMISSION = {  # seed 003's example, in /v2's spelling
    "name": "Sale new customer",
    "event_type": "purchase",
    "type": "SEK",
    "value": 100,
    "categories": [{"category": "Books", "type": "%", "value": 4.5}],
    "thresholds": [{"order_value": 1500, "type": "SEK", "value": 7.5}],
}


def advertiser(app: RootApp, client: TestClient, name: str, currency: str) -> Api:
    """An advertiser whose account (and so its campaigns and programs) uses `currency`."""
    api = Api.__new__(Api)
    new = app.container.accounts.create_account(name, "advertiser", currency=currency)
    api.client, api.account, api.headers = client, new.account, bearer(new.api_key)
    return api


@pytest.fixture
def kitchen(app: RootApp, client: TestClient) -> Api:
    return advertiser(app, client, "Kitchentime", "SEK")


def affiliate(api: Api, **fields: Any) -> str:
    campaign_id = api.create(
        name="Kitchentime SE",
        type="affiliate_cpa",
        payout=45,
        destination_url="https://www.kitchentime.se/?c={click_id}",
        **fields,
    )
    return campaign_id.replace("cmp_", "off_")


def put(api: Api, offer_id: str, **body: Any) -> Any:
    return api.call("PUT", f"/v2/programs/{offer_id}", {"market": "SE", **body})


def test_a_program_is_created_then_replaced(kitchen: Api) -> None:
    offer = affiliate(kitchen)
    retailer = kitchen.call("POST", "/v2/retailers", {"name": "Kitchentime", "domain": "kitchentime.se"})
    feed = retailer.json()["retailer_id"]
    created = put(
        kitchen,
        offer,
        cookie_duration_days=45,
        promotion_methods=["email", "coupon"],
        category_id=1,
        category_name="Fashion & accessories",
        program_url="https://www.kitchentime.se",
        logo_url="https://cdn.example.com/logo.png",
        tracking_type="pixel",
        feed_ids=[feed],
    )
    assert created.status_code == 201, created.text
    body = created.json()
    standard = body["segments"][0]
    assert {k: body[k] for k in body if k not in ("segments", "created_at", "updated_at")} == {
        "program_id": offer,
        "campaign_id": offer.replace("off_", "cmp_"),
        "name": "Kitchentime SE",
        "currency": "SEK",
        "market": "SE",
        "status": "live",
        "cookie_duration_days": 45,
        "promotion_methods": ["coupon", "email"],
        "category_id": 1,
        "category_name": "Fashion & accessories",
        "program_url": "https://www.kitchentime.se",
        "logo_url": "https://cdn.example.com/logo.png",
        "tracking_type": "pixel",
        "feed_ids": [feed],
        "epc": None,
    }
    assert standard["name"] == "Standard" and standard["standard"] is True
    assert standard["segment_id"].startswith("seg_")

    replaced = put(kitchen, offer.replace("off_", "cmp_"), status="closing")  # cmp_ is accepted too
    assert replaced.status_code == 200, replaced.text
    again = replaced.json()
    assert again["status"] == "closing" and again["cookie_duration_days"] == 30 and again["feed_ids"] == []
    assert again["promotion_methods"] == ["cashback", "coupon", "email", "ppc", "social"]
    assert again["segments"] == [standard]
    assert kitchen.call("GET", f"/v2/programs/{offer}").json() == again


def test_the_programs_list_is_paginated(kitchen: Api) -> None:
    offers = [affiliate(kitchen) for _ in range(3)]
    for offer in offers:
        assert put(kitchen, offer).status_code == 201
    affiliate(kitchen)  # no program settings: not listed
    first = kitchen.call("GET", "/v2/programs", limit=2).json()
    assert [p["program_id"] for p in first["data"]] == offers[::-1][:2]
    cursor = first["pagination"]["next_cursor"]
    rest = kitchen.call("GET", "/v2/programs", limit=2, cursor=cursor).json()
    assert [p["program_id"] for p in rest["data"]] == [offers[0]]
    assert rest["pagination"]["next_cursor"] is None
    error(kitchen.call("GET", "/v2/programs", cursor="nope"), 422, "cursor")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"market": "XX"}, "market"),
        ({"market": "SE", "status": "paused"}, "status"),
        ({"market": "SE", "cookie_duration_days": 0}, "cookie_duration_days"),
        ({"market": "SE", "cookie_duration_days": 366}, "cookie_duration_days"),
        ({"market": "SE", "promotion_methods": ["ppc", "tv"]}, "promotion_methods[1]"),
        ({"market": "SE", "program_url": "javascript:alert(1)"}, "program_url"),
        ({"market": "SE", "logo_url": "//cdn.example.com/x.png"}, "logo_url"),
        ({"market": "SE", "tracking_type": "carrier_pigeon"}, "tracking_type"),
        ({"market": "SE", "feed_ids": ["ret_zz"]}, "feed_ids"),
        ({"market": "SE", "feed_ids": ["cmp_1"]}, "feed_ids"),
        ({"market": "SE", "surprise": 1}, "surprise"),
        ({}, "market"),
    ],
)
def test_bad_program_settings_name_the_field(kitchen: Api, body: dict[str, Any], field: str) -> None:
    offer = affiliate(kitchen)
    error(kitchen.call("PUT", f"/v2/programs/{offer}", body), 422, field)
    error(kitchen.call("GET", f"/v2/programs/{offer}"), 404, "program_id")  # nothing written


def test_only_affiliate_campaigns_have_programs_and_feeds_must_be_the_advertisers(
    app: RootApp, client: TestClient, kitchen: Api
) -> None:
    dsp = kitchen.create(destination_url="https://www.kitchentime.se/").replace("cmp_", "off_")
    error(put(kitchen, dsp), 422, "offer_id")
    shop = Api(app, client, "publisher", "Shop")
    foreign = shop.call("POST", "/v2/retailers", {"name": "Shop", "domain": "shop.example.com"}).json()
    refused = error(put(kitchen, affiliate(kitchen), feed_ids=[foreign["retailer_id"]]), 422, "feed_ids")
    assert refused["code"] == "unknown_feed"
    error(put(kitchen, "off_zzzzzz"), 404, "offer_id")
    error(put(kitchen, "nonsense"), 404, "offer_id")


def test_segments(kitchen: Api) -> None:
    offer = affiliate(kitchen)
    standard = put(kitchen, offer).json()["segments"][0]
    base = f"/v2/programs/{offer}/segments"
    gold = kitchen.call("POST", base, {"name": "Gold"})
    assert gold.status_code == 201, gold.text
    gold_id = gold.json()["segment_id"]
    assert error(kitchen.call("POST", base, {"name": "Gold"}), 409, "name")["code"] == "duplicate_segment"
    error(kitchen.call("POST", base, {"name": ""}), 422, "name")
    silver = kitchen.call("POST", base, {"name": "Silver"}).json()["segment_id"]
    error(kitchen.call("PATCH", f"{base}/{silver}", {"name": "Gold"}), 409, "name")
    renamed = kitchen.call("PATCH", f"{base}/{silver}", {"name": "Platinum"}).json()
    assert renamed["name"] == "Platinum" and renamed["segment_id"] == silver
    assert [s["name"] for s in kitchen.call("GET", base).json()["data"]] == ["Standard", "Gold", "Platinum"]
    refused = error(kitchen.call("DELETE", f"{base}/{standard['segment_id']}"), 409, "segment_id")
    assert refused["code"] == "standard_segment"
    assert kitchen.call("DELETE", f"{base}/{gold_id}").json() == {"success": True, "segment_id": gold_id}
    error(kitchen.call("DELETE", f"{base}/{gold_id}"), 404, "segment_id")
    error(kitchen.call("PATCH", f"{base}/seg_nope!", {"name": "x"}), 404, "segment_id")
    assert [s["name"] for s in kitchen.call("GET", base).json()["data"]] == ["Standard", "Platinum"]


def test_commission_types_render_as_seed_003_shows(kitchen: Api) -> None:
    offer = affiliate(kitchen)
    put(kitchen, offer)
    base = f"/v2/programs/{offer}/commissions"
    created = kitchen.call("POST", base, SEED_COMMISSION)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["commission_id"].startswith("com_") and body["segment"] == "Standard"
    assert {k: body[k] for k in SEED_COMMISSION} == SEED_COMMISSION
    assert body["transaction_type"] == 3 and body["program_id"] == offer

    gold = kitchen.call("POST", f"/v2/programs/{offer}/segments", {"name": "Gold"}).json()["segment_id"]
    lead = {"name": "Lead", "event_type": "lead", "type": "sek", "value": "2.5", "segment_id": gold}
    gold_lead = kitchen.call("POST", base, lead).json()
    assert (gold_lead["type"], gold_lead["value"], gold_lead["segment"]) == ("SEK", 2.5, "Gold")
    assert gold_lead["transaction_type"] == 1
    other = kitchen.call("POST", base, {**lead, "event_type": "newsletter", "name": "News"}).json()
    assert other["transaction_type"] == 0  # not one of seed 003's numbers

    listed = kitchen.call("GET", base).json()["data"]
    assert [c["commission_id"] for c in listed] == [
        body["commission_id"],
        gold_lead["commission_id"],
        other["commission_id"],
    ]
    only_gold = kitchen.call("GET", base, segment_id=gold).json()["data"]
    assert [c["segment_id"] for c in only_gold] == [gold, gold]
    error(kitchen.call("GET", base, segment_id="seg_zz"), 404, "segment_id")

    duplicate = error(kitchen.call("POST", base, SEED_COMMISSION), 409, "event_type")
    assert duplicate["code"] == "duplicate_commission"

    one = f"{base}/{body['commission_id']}"
    changed = kitchen.call("PATCH", one, {"type": "%", "value": 5, "thresholds": []}).json()
    assert (changed["type"], changed["value"], changed["thresholds"]) == ("%", 5, [])
    assert changed["categories"] == SEED_COMMISSION["categories"] and changed["name"] == "Sale new customer"
    error(kitchen.call("PATCH", one, {"segment_id": gold, "event_type": "lead"}), 409, "event_type")
    assert kitchen.call("DELETE", one).json() == {"success": True, "commission_id": body["commission_id"]}
    error(kitchen.call("PATCH", one, {"value": 1}), 404, "commission_id")
    error(kitchen.call("DELETE", f"{base}/com_nope!"), 404, "commission_id")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "EUR"}, "type"),
        ({"type": "%", "value": 100.5}, "value"),
        ({"value": -1}, "value"),
        ({"value": 0.0000001}, "value"),
        ({"event_type": "Sale!"}, "event_type"),
        ({"name": ""}, "name"),
        ({"categories": [{"category": "Books", "type": "NOK", "value": 1}]}, "categories[0].type"),
        ({"categories": [{"category": "Books", "type": "%", "value": 1, "x": 1}]}, "categories[0].x"),
        (
            {
                "thresholds": [
                    {"order_value": 10, "type": "%", "value": 1},
                    {"order_value": 10, "type": "%", "value": 2},
                ]
            },
            "thresholds[1].order_value",
        ),
        ({"thresholds": [{"order_value": -1, "type": "%", "value": 1}]}, "thresholds[0].order_value"),
        ({"segment_id": "seg_zz"}, "segment_id"),
        ({"segment_id": "gold"}, "segment_id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_commission_types_name_the_field(kitchen: Api, change: dict[str, Any], field: str) -> None:
    offer = affiliate(kitchen)
    put(kitchen, offer)
    base = f"/v2/programs/{offer}/commissions"
    response = kitchen.call("POST", base, {**SEED_COMMISSION, **change})
    assert response.status_code in (404, 422), response.text
    error(response, response.status_code, field)
    assert kitchen.call("GET", base).json()["data"] == []


def test_other_tenants_get_404_and_the_operator_manages_any_program(
    app: RootApp, client: TestClient, kitchen: Api, network: Api
) -> None:
    offer = affiliate(kitchen)
    put(kitchen, offer)
    commission = kitchen.call("POST", f"/v2/programs/{offer}/commissions", SEED_COMMISSION).json()
    other, publisher = Api(app, client, name="Other"), Api(app, client, "publisher", "Pub")
    for intruder in (other, publisher):
        error(intruder.call("GET", f"/v2/programs/{offer}"), 404, "program_id")
        error(put(intruder, offer), 404, "offer_id")
        error(intruder.call("GET", f"/v2/programs/{offer}/commissions"), 404, "program_id")
        error(intruder.call("DELETE", f"/v2/programs/{offer}/commissions/{commission['commission_id']}"), 404)
        assert intruder.call("GET", "/v2/programs").json()["data"] == []
    # Their own program's path does not reach this program's commission types either.
    theirs = affiliate(other)
    put(other, theirs)
    error(other.call("DELETE", f"/v2/programs/{theirs}/commissions/{commission['commission_id']}"), 404)
    assert network.call("GET", f"/v2/programs/{offer}").json()["program_id"] == offer
    assert put(network, offer, status="closing").json()["status"] == "closing"
    assert {p["program_id"] for p in network.call("GET", "/v2/programs").json()["data"]} == {offer, theirs}
    assert len(kitchen.call("GET", f"/v2/programs/{offer}/commissions").json()["data"]) == 1
