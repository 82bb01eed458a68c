"""/v2 bodies and queries take what JSON says, and nothing Pydantic's lax coercion would make of
it: text that cannot be stored is a 400 on every router (D45), a count is a JSON integer (never
`true` or "1_000"), a ratio a JSON number, a date ISO text (never a Unix timestamp), money a
number or ASCII decimal text, and an object an object (`1.5` is not `{}`). Each is a 4xx naming
the field, with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from auctera.api.v2.schemas import DecimalJSONRoute
from auctera.app import RootApp
from auctera.services.accounts import MAX_RATE_LIMIT_PER_MINUTE

from .conftest import Api, error
from .test_bids import Bidder


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        yield from _routes(included.routes) if included is not None else (route,)


def test_every_v2_route_reads_json_with_decimal_json_route(app: RootApp) -> None:
    # A router without it reads 0.1 as a float and lets a lone surrogate reach the database (a 500).
    v2 = [r for r in _routes(app.api.routes) if isinstance(r, APIRoute) and r.path.startswith("/v2/")]
    assert len(v2) > 50
    assert [r.path for r in v2 if not isinstance(r, DecimalJSONRoute)] == []


def _post_raw(api: Api, path: str, body: bytes) -> Any:
    return api.client.post(path, content=body, headers={**api.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("text", [b"\\ud800", b"A\\u0000"])
def test_text_that_cannot_be_stored_is_a_400_on_every_router(app: RootApp, network: Api, text: bytes) -> None:
    shop = Api(app, network.client, "publisher", "Shop")
    retailer = b'{"name": "%s", "domain": "a.example.com"}' % text
    assert error(_post_raw(shop, "/v2/retailers", retailer), 400, "name")["code"] == "invalid_json"
    assert shop.call("GET", "/v2/retailers").json()["data"] == []

    link = b'{"name": "%s", "product_url": "https://shop.example.com/p/1"}' % text
    assert error(_post_raw(shop, "/v2/smartlinks", link), 400, "name")["code"] == "invalid_json"
    assert shop.call("GET", "/v2/smartlinks").json()["data"] == []

    account = b'{"name": "%s", "kind": "advertiser"}' % text
    assert error(_post_raw(network, "/v2/accounts", account), 400, "name")["code"] == "invalid_json"
    assert (
        error(_post_raw(network, "/v2/keys", b'{"name": "%s"}' % text), 400, "name")["code"] == "invalid_json"
    )
    assert len(network.call("GET", "/v2/accounts").json()["data"]) == 2
    assert len(network.call("GET", "/v2/keys").json()["data"]) == 1


# --- rate limits and time zones of new accounts -------------------------------------------------


def _create_account(network: Api, **fields: Any) -> Any:
    return network.call("POST", "/v2/accounts", {"name": "Bench", "kind": "advertiser", **fields})


@pytest.mark.parametrize("limit", [0, 60_000_000_001, 2**63, True, "1_000", 1000.0])
def test_a_rate_limit_outside_1_to_a_billion_a_minute_is_refused(network: Api, limit: Any) -> None:
    # 60_000_000_001 a minute made every request of the account a 500; 2**63 failed the insert.
    error(_create_account(network, rate_limit_per_minute=limit), 422, "rate_limit_per_minute")
    assert len(network.call("GET", "/v2/accounts").json()["data"]) == 1


def test_the_largest_rate_limit_is_taken_and_the_account_works(app: RootApp, network: Api) -> None:
    created = _create_account(network, rate_limit_per_minute=MAX_RATE_LIMIT_PER_MINUTE)
    assert created.status_code == 201, created.text
    assert created.json()["account"]["rate_limit_per_minute"] == 1_000_000_000
    own = network.client.get("/v2/account", headers={"Authorization": f"Bearer {created.json()['api_key']}"})
    assert own.status_code == 200, own.text


@pytest.mark.parametrize("zone", ["Mars/Olympus", "a" * 300, "Europe/" + "x" * 255, "../etc"])
def test_an_unknown_time_zone_of_any_length_is_a_422(network: Api, zone: str) -> None:
    refused = error(_create_account(network, timezone=zone), 422, "timezone")
    assert refused["message"].startswith("unknown time zone")
    assert len(network.call("GET", "/v2/accounts").json()["data"]) == 1


# --- objects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["targeting", "bidding", "bid_multipliers"])
@pytest.mark.parametrize("value", [1.5, 2, [], "x", True])
def test_a_value_where_an_object_belongs_is_refused(acme: Api, field: str, value: Any) -> None:
    body = {"name": "Promo", "type": "dsp_retargeting", "budget": 100, field: value}
    error(acme.call("POST", "/v2/campaigns", body), 422, field)
    assert acme.call("GET", "/v2/campaigns").json()["data"] == []


def test_a_patch_whose_body_is_a_number_changes_nothing(acme: Api) -> None:
    campaign = acme.create(targeting={"geo": ["US"]})
    error(acme.call("PATCH", f"/v2/campaigns/{campaign}", 1.5), 422, "body")
    error(acme.call("PATCH", f"/v2/campaigns/{campaign}", {"targeting": 1.5}), 422, "targeting")
    assert acme.get(campaign)["targeting"]["geo"] == ["US"]


def test_sponsored_products_user_must_be_an_object(app: RootApp, acme: Api) -> None:
    shop = Api(app, acme.client, "publisher", "Shop")
    made = shop.call("POST", "/v2/retailers", {"name": "Shop", "domain": "shop.example.com"})
    assert made.status_code == 201, made.text
    path = f"/v2/retailers/{made.json()['retailer_id']}/sponsored-products"
    page = {"type": "search", "keywords": "shoes"}
    error(shop.call("POST", path, {"page": page, "user": 1.5}), 422, "user")
    error(shop.call("POST", path, {"page": 1.5}), 422, "page")


# --- money --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ("\u0661\u0662", "budget.total"),  # Arabic-Indic 12
        ({"total": "1_000"}, "budget.total"),
        ({"daily": "\uff15"}, "budget.daily"),  # a fullwidth 5
        ({"total": True}, "budget.total"),
        ({"total": "NaN"}, "budget.total"),
    ],
)
def test_money_is_a_number_or_ascii_decimal_text(acme: Api, budget: Any, field: str) -> None:
    error(
        acme.call("POST", "/v2/campaigns", {"name": "P", "type": "dsp_retargeting", "budget": budget}),
        422,
        field,
    )
    assert acme.call("GET", "/v2/campaigns").json()["data"] == []


def test_money_as_plain_decimal_text_is_still_taken(acme: Api, network: Api) -> None:
    campaign = acme.create(budget={"total": "1000.50", "daily": 25})
    assert acme.get(campaign)["budget"]["total"] == 1000.5
    balance = f"/v2/accounts/{acme.id}/balance"
    assert network.call("PATCH", balance, {"balance": "100.00"}).json()["balance"] == "100.00"
    error(network.call("PATCH", balance, {"add": "1_0"}), 422, "add")
    assert network.call("GET", balance).json()["balance"] == "100.00"


@pytest.mark.parametrize("value", ["1_000", "0.01", True])
def test_bid_management_min_bid_is_a_json_number(app: RootApp, acme: Api, value: Any) -> None:
    bidder = Bidder(app, acme.client, "Bidder")
    body = {"name": "Unity", "kind": "simulated", "bidding": {"minBidUsd": value}}
    refused = bidder.post("/management/v0/networks", body)
    assert refused.status_code == 400, refused.text
    assert "bidding.minBidUsd" in refused.json()["error"]
    assert bidder.client.get("/management/v0/networks", headers=bidder.headers).json() == []


# --- counts, ratios and dates -------------------------------------------------------------------


@pytest.mark.parametrize("value", [False, True, "0.5", "1"])
def test_fraud_threshold_is_a_json_number(network: Api, value: Any) -> None:
    error(network.call("PATCH", "/v2/account", {"fraud_threshold": value}), 422, "fraud_threshold")
    assert network.call("GET", "/v2/account").json()["fraud_threshold"] is None


def test_fraud_threshold_takes_numbers(network: Api) -> None:
    assert network.call("PATCH", "/v2/account", {"fraud_threshold": 0.25}).json()["fraud_threshold"] == 0.25
    assert network.call("PATCH", "/v2/account", {"fraud_threshold": 1}).json()["fraud_threshold"] == 1.0


def test_counts_are_json_integers(app: RootApp, acme: Api) -> None:
    publisher = Api(app, acme.client, "publisher", "Pub")
    applied = {"offer_id": "off_x", "volume_estimate": True}
    error(publisher.call("POST", "/v2/network/applications", applied), 422, "volume_estimate")
    rule = {"event": "click", "within_days": True}
    audience = {"name": "Clickers", "source": "Pixel Event", "rule": rule}
    error(acme.call("POST", "/v2/audiences", audience), 422, "rule.within_days")
    program = {"market": "SE", "cookie_duration_days": True}
    error(acme.call("PUT", "/v2/programs/cmp_x", program), 422, "cookie_duration_days")
    error(
        acme.call("PUT", "/v2/programs/cmp_x", {**program, "cookie_duration_days": "30"}),
        422,
        "cookie_duration_days",
    )


@pytest.mark.parametrize("day", ["0", "1700000000", "2026-01-01T00:00:00", "20260101"])
def test_query_dates_are_iso_dates_only(acme: Api, day: str) -> None:
    error(acme.call("GET", "/v2/reports/publishers", start_date=day), 422, "start_date")
    error(acme.call("GET", "/v2/reports/creatives", start_date=day), 422, "start_date")
    error(acme.call("GET", "/v2/campaigns", start_date=day), 422, "start_date")
    error(acme.call("GET", "/v2/reports/daily", start_date=day, end_date="2026-01-02"), 422, "start_date")


@pytest.mark.parametrize("day", [0, 1700000000, "0", True])
def test_body_dates_are_iso_dates_only(acme: Api, day: Any) -> None:
    error(acme.call("POST", "/v2/reports/export", {"type": "daily", "date": day}), 422, "date")
    error(
        acme.call(
            "POST", "/v2/campaigns", {"name": "P", "type": "dsp_retargeting", "budget": 10, "start_date": day}
        ),
        422,
        "start_date",
    )
    assert acme.call("GET", "/v2/campaigns").json()["data"] == []


def test_iso_dates_are_still_taken(acme: Api) -> None:
    assert acme.call("GET", "/v2/reports/publishers", start_date="2026-01-01").status_code == 200
    export = acme.call("POST", "/v2/reports/export", {"type": "daily", "date": "2026-01-01"})
    assert export.status_code == 202, export.text
    campaign = acme.create(start_date="2026-01-01", end_date="2026-12-31")
    assert acme.get(campaign)["start_date"] == "2026-01-01"


def test_a_v2_answer_writes_a_raw_datetime_as_pydantic_would() -> None:
    """The answers are written by orjson; a UTC time still ends in Z, never +00:00."""
    from datetime import UTC, datetime

    from fastapi import APIRouter, FastAPI
    from starlette.testclient import TestClient

    router = APIRouter(route_class=DecimalJSONRoute)

    @router.get("/at")
    def at() -> dict[str, Any]:
        return {"at": datetime(2026, 11, 24, 10, 0, tzinfo=UTC)}

    app = FastAPI()
    app.include_router(router)
    assert TestClient(app).get("/at").json() == {"at": "2026-11-24T10:00:00Z"}
