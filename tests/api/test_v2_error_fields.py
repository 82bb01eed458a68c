"""/v2 errors name the field one way, whatever found the fault (Pydantic, the JSON text check, a
service): dotted names, list items by index in brackets (`targeting.device_types[0]`), and
nothing of Pydantic's own bookkeeping (`[key]`, union member tags) -- docs/api-v2-campaigns.md."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, error

BASE = {"name": "Holiday Promo", "type": "dsp_retargeting", "budget": 10000}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"targeting": {"device_types": ["mobile", "phone"]}}, "targeting.device_types[1]"),
        ({"targeting": {"geo": ["US", "Narnia"]}}, "targeting.geo"),  # the list: all bad codes named
        ({"bid_multipliers": {"device_type": {"phone": 1}}}, "bid_multipliers.device_type.phone"),
        ({"bid_multipliers": {"device_type": {"mobile": "x"}}}, "bid_multipliers.device_type.mobile"),
        ({"budget": {"daily": "lots"}}, "budget.daily"),
    ],
)
def test_a_bad_campaign_field_is_named_in_one_style(acme: Api, fields: dict[str, Any], field: str) -> None:
    body = error(acme.call("POST", "/v2/campaigns", {**BASE, **fields}), 422, field)
    assert "[key]" not in body["message"], body
    assert acme.call("GET", "/v2/campaigns").json()["data"] == []


def test_a_nul_in_a_list_item_is_named_as_the_others_are(acme: Api) -> None:
    # D45: refused as JSON no store can hold (400 invalid_json), naming the item as a 422 would.
    response = acme.call("POST", "/v2/campaigns", {**BASE, "targeting": {"geo": ["US\u0000"]}})
    error(response, 400, "targeting.geo[0]")


def test_an_unknown_query_parameter_is_refused_naming_it(acme: Api) -> None:
    """A misspelled filter must not answer unfiltered figures as if they were filtered."""
    acme.create()
    misspelled = acme.call("GET", "/v2/campaigns", stauts="archived")
    body = error(misspelled, 422, "stauts")
    assert "unknown query parameter 'stauts'" in body["message"] and "status" in body["message"]
    report = acme.call(
        "GET", "/v2/reports/daily", start_date="2026-11-01", end_date="2026-11-02", campaign="x"
    )
    assert error(report, 422, "campaign")["message"].startswith("unknown query parameter 'campaign'")
    one = acme.call("GET", "/v2/campaigns", status="active", limit=5)  # what a route takes still works
    assert one.status_code == 200, one.text


@pytest.mark.parametrize("limit", ["1_0", "+10", " 10", "10.0", "1e1", "\u0661\u0660"])
def test_a_query_number_is_written_in_plain_digits(acme: Api, limit: str) -> None:
    """As bid management and retail media read theirs: Python's int() would take all of these."""
    refused = acme.call("GET", "/v2/campaigns", limit=limit)
    assert "whole number in digits" in error(refused, 422, "limit")["message"]
    assert acme.call("GET", "/v2/campaigns", limit="10").json()["pagination"]["limit"] == 10
