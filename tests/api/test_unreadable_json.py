"""Bodies that cannot be read as JSON (not UTF-8, nested without end, a number longer than Python
reads, trailing garbage): 400 invalid_json saying why, on FastAPI's /v2 routes as on the surfaces
that read their bodies themselves, never FastAPI's "There was an error parsing the body" nor
Python's own advice ("use sys.set_int_max_str_digits()"), and nothing written."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from auctera.app import RootApp
from auctera.domain.signatures import sign

from .conftest import Api, error
from .test_bids import Bidder

LONG = b"1" * 5000  # past sys.get_int_max_str_digits() (4300)
CAMPAIGN = b'{"name": "Promo", "type": "dsp_prospecting", "budget": %s}'


def _raw(api: Api, method: str, path: str, body: bytes) -> Any:
    headers = {**api.headers, "Content-Type": "application/json"}
    return api.client.request(method, path, content=body, headers=headers)


def _no_python(message: str) -> None:
    assert "sys." not in message and "set_int_max_str_digits" not in message, message
    assert "error parsing the body" not in message, message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            b'{"name": "\xff", "type": "dsp_prospecting", "budget": 10}',
            "not UTF-8 text (byte 0xff at position 10)",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (CAMPAIGN % b"10" + b" x", "Extra data: line 1 column"),
        (CAMPAIGN % b"10" + b"\n}", "(char "),
    ],
    ids=["not-utf8", "deep", "trailing", "trailing-brace"],
)
def test_unreadable_bodies_on_fastapi_routes_say_why(acme: Api, body: bytes, said: str) -> None:
    campaign = acme.create()
    for method, path in (("POST", "/v2/campaigns"), ("PATCH", f"/v2/campaigns/{campaign}")):
        refused = error(_raw(acme, method, path, body), 400)
        assert refused["code"] == "invalid_json", refused
        assert said in refused["message"], refused
        _no_python(refused["message"])
    assert [c["name"] for c in acme.call("GET", "/v2/campaigns").json()["data"]] == ["Holiday Promo"]


def test_a_number_too_long_to_read_names_its_field_on_v2(acme: Api, network: Api) -> None:
    digits = f"more than {sys.get_int_max_str_digits():,} digits"
    campaign = acme.create()
    for method, path, body, field in (
        ("POST", "/v2/campaigns", CAMPAIGN % LONG, "budget"),
        ("PATCH", f"/v2/campaigns/{campaign}", b'{"budget": {"daily": %s}}' % LONG, "budget.daily"),
    ):
        refused = error(_raw(acme, method, path, body), 400, field)
        assert refused["code"] == "invalid_json"
        assert digits in refused["message"]
        _no_python(refused["message"])
    assert acme.get(campaign)["budget"]["daily"] is None
    assert len(acme.call("GET", "/v2/campaigns").json()["data"]) == 1

    account = b'{"name": "X", "kind": "advertiser", "rate_limit_per_minute": -%s}' % LONG
    refused = error(_raw(network, "POST", "/v2/accounts", account), 400, "rate_limit_per_minute")
    assert digits in refused["message"]
    # An exponent past what Decimal holds was a 500.
    huge = error(_raw(acme, "POST", "/v2/campaigns", CAMPAIGN % b"1e99999999999999999999"), 400, "budget")
    assert (huge["code"], "exponent" in huge["message"]) == ("invalid_json", True)
    assert len(network.call("GET", "/v2/accounts").json()["data"]) == 2


def test_an_empty_body_is_still_no_body(acme: Api) -> None:
    """Reading bodies ourselves keeps FastAPI's reading of an empty one: none sent."""
    created = acme.client.post(
        "/v2/keys", content=b"", headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.text


def test_a_number_too_long_on_the_other_surfaces_is_said_in_their_envelope(app: RootApp, acme: Api) -> None:
    digits = f"more than {sys.get_int_max_str_digits():,} digits"
    bidder = Bidder(app, acme.client, "Bidder")
    bids = bidder.raw(
        "/management/v0/networks", b'{"name": "U", "kind": "simulated", "bidding": {"minBidUsd": %s}}' % LONG
    )
    assert bids.status_code == 400
    assert f"bidding.minBidUsd is a number of {digits}" in bids.json()["error"]
    _no_python(bids.json()["error"])

    v3 = acme.client.post(
        "/v3/client/channels",
        content=b'{"programId": %s}' % LONG,
        headers={
            "X-Token": acme.headers["Authorization"].removeprefix("Bearer "),
            "Content-Type": "application/json",
        },
    )
    assert (v3.status_code, v3.json()["field"]) == (400, "programId"), v3.text
    assert digits in v3.json()["message"]
    _no_python(v3.json()["message"])

    form = {"grant_type": "client_credentials"}
    new = app.container.accounts.create_account("Shopper", "advertiser")
    token = acme.client.post(
        "/oauth2/token", data={**form, "client_id": new.client_id, "client_secret": new.client_secret}
    ).json()["access_token"]
    retail = acme.client.post(
        f"/2025-10/retail-media/accounts/{new.account.id}/campaigns",
        content=b'{"data": {"attributes": {"budget": %s}}}' % LONG,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert retail.status_code == 400, retail.text
    (problem,) = retail.json()["errors"]
    assert (problem["code"], digits in problem["detail"]) == ("invalid-json", True), problem
    assert problem["source"] == {"pointer": "/data/attributes/budget"}  # where the body has it
    _no_python(problem["detail"])

    raw = b'{"click_id": "x", "event_type": "purchase", "revenue": %s}' % LONG
    now = int(app.container.clock().timestamp())
    headers = {**acme.headers, "Content-Type": "application/json"}
    postback = acme.client.post(
        "/v2/conversions",
        content=raw,
        headers={**headers, "X-Auctera-Signature": sign(acme.account.signing_secret, raw, now)},
    )
    refused = error(postback, 400, "revenue")
    assert (refused["code"], digits in refused["message"]) == ("invalid_json", True)
    _no_python(refused["message"])


def test_a_body_that_parses_is_unchanged(acme: Api) -> None:
    created = _raw(
        acme,
        "POST",
        "/v2/campaigns",
        json.dumps({"name": "P", "type": "dsp_prospecting", "budget": 10.5}).encode(),
    )
    assert created.status_code == 201, created.text
    assert acme.get(created.json()["campaign_id"])["budget"]["total"] == 10.5
