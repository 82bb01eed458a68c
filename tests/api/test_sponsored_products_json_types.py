"""POST /v2/retailers/{id}/sponsored-products takes numbers as JSON numbers: a retailer's server
sending `"slots": "2"` or `"reserve": "0.5"` has a bug the answer must show (422 naming the
field), not a value guessed for it; and nothing is run or logged for such a request."""

from __future__ import annotations

from typing import Any

import pytest

from auctera.domain.events import EventType

from .test_sponsored_products import Market, market, market_app, ret, shop_world  # noqa: F401

SEARCH = {"type": "search", "keywords": "running shoes"}


def auctions(m: Market) -> int:
    ((count,),) = m.c.events.query(f"SELECT count(*) FROM events WHERE type = '{EventType.AUCTION.value}'")
    return int(count)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slots", "2"),
        ("slots", True),
        ("slots", 2.0),
        ("slots", None),
        ("reserve", "0.5"),
        ("reserve", "0"),
        ("reserve", True),
    ],
)
def test_numbers_sent_as_strings_or_booleans_are_refused_naming_the_field(
    market: Market,  # noqa: F811 - the fixtures of test_sponsored_products
    shop_world: dict[str, Any],  # noqa: F811
    field: str,
    value: Any,
) -> None:
    w = shop_world
    path = f"/v2/retailers/{ret(w['retailer'])}/sponsored-products"
    response = w["shop"].call("POST", path, {"page": SEARCH, field: value})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert auctions(market) == 0


def test_json_numbers_are_taken(
    market: Market,  # noqa: F811
    shop_world: dict[str, Any],  # noqa: F811
) -> None:
    w = shop_world
    path = f"/v2/retailers/{ret(w['retailer'])}/sponsored-products"
    two = w["shop"].call("POST", path, {"page": SEARCH, "slots": 2, "reserve": 0})
    assert two.status_code == 200 and len(two.json()["products"]) == 2, two.text
    # A reserve above the 0.50 bid keeps Zoom's line item out (the reserve is a number, read exactly).
    reserved = w["shop"].call("POST", path, {"page": SEARCH, "slots": 2, "reserve": 0.51})
    assert [p["line_item_id"] for p in reserved.json()["products"]] == [str(w["acme_li"])]
    whole = w["shop"].call("POST", path, {"page": SEARCH, "slots": 2, "reserve": 1})
    assert whole.json()["products"] == []
