"""/v2 money in responses is written as plain decimal digits, as the seed writes it (5000,
1240.5): never in exponent form (1e-6, 1e+16), whatever the amount.
Asserted on the raw response text: a JSON parser reads 1e-6 and 0.000001 alike."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api

TINY = "0.000001"
HUGE = "999999999.999999"  # just under the largest budget (1000000000), to the micro


def _numbers(text: str) -> list[str]:
    """Every JSON number written with a fraction or an exponent (ids and dates are strings)."""
    return re.findall(r"(?<![\w\".])-?\d+(?:\.\d+)?[eE][+-]?\d+|(?<![\w\".])-?\d+\.\d+(?![\w\"])", text)


def test_the_smallest_and_largest_amounts_read_back_as_written(acme: Api) -> None:
    body = (
        '{"name": "tiny", "type": "affiliate_cpa", "destination_url": "https://x.example.com/?c={click_id}",'
        f' "budget": {{"daily": {TINY}, "total": {HUGE}}}, "payout": {TINY},'
        f' "bidding": {{"strategy": "target_cpa", "target_amount": {TINY}}}}}'
    )
    created = acme.client.post(
        "/v2/campaigns", content=body, headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]

    one = acme.call("GET", f"/v2/campaigns/{campaign_id}").text
    assert f'"daily":{TINY}' in one and f'"total":{HUGE}' in one, one
    assert f'"payout":{TINY}' in one and f'"target_amount":{TINY}' in one, one
    listed = acme.call("GET", "/v2/campaigns").text
    assert f'"daily":{TINY}' in listed and f'"total":{HUGE}' in listed, listed
    for text in (one, listed):
        assert not [n for n in _numbers(text) if "e" in n.lower()], text


def test_an_offer_payout_reads_back_as_written(app: RootApp, client: TestClient, acme: Api) -> None:
    acme.create(
        name="Card signup", type="affiliate_cpa", payout=0.000001,
        destination_url="https://x.example.com/?c={click_id}",
    )  # fmt: skip
    publisher = Api(app, client, "publisher", "Pub")
    text = publisher.call("GET", "/v2/offers").text
    assert f'"payout":{TINY}' in text, text


def test_whole_and_fractional_amounts_keep_the_seed_form(acme: Api) -> None:
    campaign_id = acme.create(budget={"daily": 1240.50, "total": 5000})
    text = acme.call("GET", f"/v2/campaigns/{campaign_id}").text
    assert '"daily":1240.5,' in text and '"total":5000,' in text, text
