"""GET /v2/offers shows what the calling publisher would earn, through the real app: once an
offer's program has commission types, the listed `payout` is null and `commissions` lists the
types that apply to the publisher's segment; each listed rate is then checked against what a
signed postback through the publisher's own link actually pays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.conversions import Conversion
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_tracking import click, click_id_of, postback

TRACKING = "https://trk.example.com"
MICROS = Decimal(1_000_000)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # No lookup cache: new commission types apply to the very next postback.
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


@pytest.fixture
def gold_pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Gold Pub")


class Offer:
    """An advertiser's affiliate offer, its program's terms, and conversions on it."""

    def __init__(self, app: RootApp, acme: Api, clock: FrozenClock, **fields: Any) -> None:
        self.app, self.acme, self.clock = app, acme, clock
        body = {"type": "affiliate_cpa", "destination_url": "https://shop.example.com/?cid={click_id}"}
        campaign_id = acme.create(**{**body, **fields})
        assert acme.get(campaign_id)["status"] == "active"
        self.id = campaign_id.replace("cmp_", "off_")
        self.conversions = 0

    def program(self) -> str:
        """Program settings; the standard segment's id."""
        response = self.acme.call("PUT", f"/v2/programs/{self.id}", {"market": "US"})
        assert response.status_code == 201, response.text
        return str(response.json()["segments"][0]["segment_id"])

    def segment(self, name: str) -> str:
        response = self.acme.call("POST", f"/v2/programs/{self.id}/segments", {"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["segment_id"])

    def commission(self, **body: Any) -> None:
        response = self.acme.call("POST", f"/v2/programs/{self.id}/commissions", body)
        assert response.status_code == 201, response.text

    def place(self, publisher: Api, segment_id: str) -> None:
        """The publisher applies publisher-wide; the advertiser approves it into the segment."""
        applied = publisher.call("POST", "/v2/network/applications", {"offer_id": self.id})
        assert applied.status_code == 201, applied.text
        application = applied.json()["application_id"]
        approved = self.acme.call(
            "POST", f"/v2/network/applications/{application}/approve", {"segment_id": segment_id}
        )
        assert approved.status_code == 200, approved.text

    def listed(self, publisher: Api, **params: Any) -> dict[str, Any]:
        """The offer as `publisher` (or the network acting for one) sees it in the catalogue."""
        response = publisher.call("GET", "/v2/offers", **params)
        assert response.status_code == 200, response.text
        (found,) = [o for o in response.json()["data"] if o["offer_id"] == self.id]
        return dict(found)

    def convert(self, publisher: Api, event_type: str, **body: Any) -> Decimal:
        """What a postback pays: a click on the publisher's own link, minutes later the
        advertiser's signed postback; the conversion's payout in currency units."""
        link = publisher.call("GET", "/v2/offers/links", offer_id=self.id).json()["tracking_url"]
        click_id = click_id_of(click(publisher.client, link.removeprefix(TRACKING)))
        # Minutes, not seconds, after the click (else click injection), and never the same gap
        # twice (touches at a fixed interval are rejected as a scripted cadence: paid nothing).
        self.conversions += 1
        self.clock.now += timedelta(minutes=5, seconds=37 * self.conversions)
        answer = postback(self.acme, {"click_id": click_id, "event_type": event_type, **body})
        assert answer.status_code == 200, answer.text
        principal = self.app.container.auth.authenticate(self.acme.headers["Authorization"][7:])
        conversion: Conversion = self.app.container.conversions.get(
            principal,  # type: ignore[arg-type]
            answer.json()["transaction_id"],
        )
        return Decimal(conversion.payout_micros) / MICROS


def rate(listed: dict[str, Any], revenue: str) -> Decimal:
    """What a listed rate promises on an order of `revenue`."""
    if listed["type"] == "%":
        return Decimal(str(listed["value"])) * Decimal(revenue) / 100
    return Decimal(str(listed["value"]))


def by_event(listed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["event_type"]: c for c in listed["commissions"]}


def test_the_auditors_offer_lists_what_postbacks_pay(
    app: RootApp, acme: Api, publisher: Api, clock: FrozenClock
) -> None:
    """Flat payout 1, program types purchase 7.5% and lead 0.000001: nothing ever pays 1."""
    offer = Offer(app, acme, clock, payout=1)
    offer.program()
    offer.commission(name="Sale", event_type="purchase", type="%", value="7.5")
    offer.commission(name="Lead", event_type="lead", type="USD", value="0.000001")

    listed = offer.listed(publisher)
    assert listed["payout"] is None  # no single amount: each event type pays its own
    assert listed["commissions"] == [
        {
            "name": "Lead",
            "event_type": "lead",
            "type": "USD",
            "value": 0.000001,
            "categories": [],
            "thresholds": [],
        },
        {
            "name": "Sale",
            "event_type": "purchase",
            "type": "%",
            "value": 7.5,
            "categories": [],
            "thresholds": [],
        },
    ]
    raw = publisher.call("GET", "/v2/offers").text
    assert '"value":0.000001' in raw and '"value":7.5' in raw and "e-" not in raw  # exact decimals

    terms = by_event(listed)
    assert offer.convert(publisher, "purchase", revenue="33.33") == rate(terms["purchase"], "33.33")
    assert offer.convert(publisher, "lead") == rate(terms["lead"], "0") == Decimal("0.000001")
    assert "sign_up" not in terms and offer.convert(publisher, "sign_up", revenue=10) == 0


def test_a_publisher_in_another_segment_sees_its_own_terms(
    app: RootApp, acme: Api, publisher: Api, gold_pub: Api, network: Api, clock: FrozenClock
) -> None:
    offer = Offer(app, acme, clock, payout=45)
    offer.program()
    offer.commission(name="Sale", event_type="purchase", type="%", value=5)
    offer.commission(name="Lead", event_type="lead", type="USD", value=2)
    gold = offer.segment("Gold")
    offer.commission(
        segment_id=gold,
        name="Gold sale",
        event_type="purchase",
        type="%",
        value=8,
        categories=[{"category": "Books", "type": "%", "value": 10}],
        thresholds=[{"order_value": 1000, "type": "USD", "value": 80}],
    )
    offer.commission(segment_id=gold, name="Gold install", event_type="install", type="USD", value=3)
    offer.place(gold_pub, gold)

    # A publisher without an application: the standard segment.
    standard = by_event(offer.listed(publisher))
    assert {e: (c["name"], c["type"], c["value"]) for e, c in standard.items()} == {
        "lead": ("Lead", "USD", 2),
        "purchase": ("Sale", "%", 5),
    }
    assert offer.convert(publisher, "purchase", revenue=200) == rate(standard["purchase"], "200") == 10
    assert offer.convert(publisher, "lead") == rate(standard["lead"], "0") == 2
    assert offer.convert(publisher, "install") == 0  # Gold's type is not the standard publisher's

    # The Gold publisher: Gold's types, and the standard one for what Gold does not list.
    listed = offer.listed(gold_pub)
    assert listed["payout"] is None
    gold_terms = by_event(listed)
    assert {e: c["name"] for e, c in gold_terms.items()} == {
        "install": "Gold install",
        "lead": "Lead",
        "purchase": "Gold sale",
    }
    sale = gold_terms["purchase"]
    assert sale["categories"] == [{"category": "Books", "type": "%", "value": 10}]
    assert sale["thresholds"] == [{"order_value": 1000, "type": "USD", "value": 80}]
    assert offer.convert(gold_pub, "purchase", revenue=200) == rate(sale, "200") == 16
    assert offer.convert(gold_pub, "purchase", revenue=200, category="books") == rate(
        sale["categories"][0], "200"
    )
    assert offer.convert(gold_pub, "purchase", revenue=1000) == rate(sale["thresholds"][0], "1000")
    assert offer.convert(gold_pub, "lead") == rate(gold_terms["lead"], "0") == 2
    assert offer.convert(gold_pub, "install") == rate(gold_terms["install"], "0") == 3

    # The network, acting for a publisher, sees that publisher's terms.
    assert offer.listed(network, publisher_id=gold_pub.id)["commissions"] == listed["commissions"]
    assert by_event(offer.listed(network, publisher_id=publisher.id)) == standard


def test_terms_only_in_another_segment_pay_a_standard_publisher_nothing(
    app: RootApp, acme: Api, publisher: Api, clock: FrozenClock
) -> None:
    offer = Offer(app, acme, clock, payout=45)
    offer.program()
    gold = offer.segment("Gold")
    offer.commission(segment_id=gold, name="Gold sale", event_type="purchase", type="%", value=8)
    listed = offer.listed(publisher)
    assert (listed["payout"], listed["commissions"]) == (None, [])  # not the flat 45
    assert offer.convert(publisher, "purchase", revenue=200) == 0


def test_offers_without_commission_types_keep_their_flat_payout(
    app: RootApp, acme: Api, publisher: Api, clock: FrozenClock
) -> None:
    bare = Offer(app, acme, clock, payout=45)  # no program settings at all
    settled = Offer(app, acme, clock, payout="12.34")
    settled.program()  # program settings, no commission types yet
    for offer, flat in ((bare, Decimal(45)), (settled, Decimal("12.34"))):
        listed = offer.listed(publisher)
        assert (Decimal(str(listed["payout"])), listed["commissions"]) == (flat, [])
        assert offer.convert(publisher, "purchase", revenue=200) == flat
        assert offer.convert(publisher, "sign_up") == flat  # the flat payout is for every event


def test_a_cpc_offer_keeps_its_click_payout_and_lists_its_conversion_terms(
    app: RootApp, acme: Api, publisher: Api, clock: FrozenClock
) -> None:
    offer = Offer(app, acme, clock, type="affiliate_cpc", payout="0.25")
    offer.program()
    offer.commission(name="Sale", event_type="purchase", type="%", value=2)
    listed = offer.listed(publisher)
    assert listed["payout"] == 0.25  # paid per click by the click handler, whatever the program says
    (sale,) = listed["commissions"]
    assert offer.convert(publisher, "purchase", revenue=50) == rate(sale, "50") == 1  # and conversions too
