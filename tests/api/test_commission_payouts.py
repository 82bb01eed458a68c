"""The commission engine prices every conversion, end to end through the real app: an affiliate
campaign with its program and commission types, a publisher's click on its link, the advertiser's
signed postback; the payout on the conversion, in the event log's totals, and taken back exactly
by a reversal. Every expected payout is worked out by hand in the comments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.conversions import Conversion
from auctera.domain.programs import Application, ApprovalStatus, Channel, ChannelType
from auctera.domain.tracking import tracking_links
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_tracking import click, click_id_of, postback

TRACKING = "https://trk.example.com"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # No lookup cache: new commission types and a revoked application apply at once (in
    # production, within the cache's half second).
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


class Shop:
    """Acme's affiliate offer (flat payout 45) with program settings, and a way to convert on it."""

    def __init__(
        self, app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
    ) -> None:
        self.app, self.acme, self.publisher, self.client, self.clock = app, acme, publisher, client, clock
        campaign_id = acme.create(
            type="affiliate_cpa", payout=45, destination_url="https://shop.example.com/?cid={click_id}"
        )
        assert acme.get(campaign_id)["status"] == "active"
        self.campaign_id = idfmt.parse("cmp", campaign_id) or 0
        self.offer = campaign_id.replace("cmp_", "off_")
        program = acme.call("PUT", f"/v2/programs/{self.offer}", {"market": "US"})
        assert program.status_code == 201, program.text
        self.standard = program.json()["segments"][0]["segment_id"]

    def commission(self, **body: Any) -> str:
        response = self.acme.call("POST", f"/v2/programs/{self.offer}/commissions", body)
        assert response.status_code == 201, response.text
        return str(response.json()["commission_id"])

    def segment(self, name: str) -> str:
        return str(
            self.acme.call("POST", f"/v2/programs/{self.offer}/segments", {"name": name}).json()["segment_id"]
        )

    def clicked(self, channel_id: int | None = None, query: str = "") -> str:
        url, _ = tracking_links(
            TRACKING, self.campaign_id, self.publisher.account.id, {}, offer=True, channel_id=channel_id
        )
        click_id = click_id_of(click(self.client, url.removeprefix(TRACKING) + query))
        self.clock.now += timedelta(minutes=5)  # seconds after the click would be click injection
        return click_id

    def convert(self, event_type: str = "purchase", channel_id: int | None = None, **body: Any) -> Conversion:
        answer = postback(self.acme, {"click_id": self.clicked(channel_id), "event_type": event_type, **body})
        assert answer.status_code == 200, answer.text
        return self.transaction(answer.json()["transaction_id"])

    def transaction(self, transaction_id: str) -> Conversion:
        principal = self.app.container.auth.authenticate(self.acme.headers["Authorization"][7:])
        return self.app.container.conversions.get(principal, transaction_id)  # type: ignore[arg-type]

    def logged_payout(self) -> int:
        totals = self.app.container.events.campaign_totals(
            self.acme.account.id, None, self.clock.now - timedelta(days=1), self.clock.now + timedelta(days=1)
        )
        return sum(t.payout_micros for t in totals.values())

    def channel(self, segment_id: str | None, status: ApprovalStatus = ApprovalStatus.APPROVED) -> int:
        """A channel of the publisher with an application to the program (made through the
        repositories: the applications API is not this test's subject)."""
        ids, now = self.app.container.ids, self.clock()
        channel = Channel(
            ids.next_id(), self.publisher.account.id, "Blog", ChannelType.BLOG, None, None, now, now
        )
        segment = None if segment_id is None else idfmt.parse("seg", segment_id)
        application = Application(
            ids.next_id(),
            self.campaign_id,
            self.acme.account.id,
            self.publisher.account.id,
            channel.id,
            status,
            now,
            segment_id=segment,
        )
        with self.app.container.uow() as uow:
            uow.channels.add(channel)
            assert uow.channels.add_application(application)
            uow.commit()
        self.applications = {channel.id: application}
        return channel.id

    def decide(self, channel_id: int, status: ApprovalStatus) -> None:
        with self.app.container.uow() as uow:
            uow.channels.update_application(replace(self.applications[channel_id], status=status))
            uow.commit()


@pytest.fixture
def shop(app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock) -> Shop:
    return Shop(app, acme, publisher, client, clock)


def test_without_commission_types_the_flat_payout_applies(shop: Shop) -> None:
    c = shop.convert(revenue=200)
    assert c.payout_micros == c.cost_micros == 45_000_000
    assert c.attrs["commission_rule"] == "flat" and c.attrs["commission_type_id"] is None


def test_conversions_are_priced_by_the_programs_commission_types(shop: Shop) -> None:
    sale = shop.commission(
        name="Sale",
        event_type="purchase",
        type="%",
        value=5,
        categories=[{"category": "Books", "type": "%", "value": 10}],
        thresholds=[{"order_value": 1000, "type": "USD", "value": 80}],
    )
    shop.commission(name="Lead", event_type="lead", type="USD", value=2)

    base = shop.convert(revenue=200)  # 5% of 200
    assert (base.payout_micros, base.cost_micros) == (10_000_000, 10_000_000)
    assert base.attrs["commission_type_id"] == idfmt.parse("com", sale)
    assert base.attrs["commission_rule"] == "base" and "channel_id" not in base.attrs
    assert shop.convert(revenue=200, category="books").payout_micros == 20_000_000  # 10% of 200
    at_threshold = shop.convert(revenue=1000)  # 1000 reaches the threshold: 80 flat
    assert (at_threshold.payout_micros, at_threshold.attrs["commission_rule"]) == (
        80_000_000,
        "threshold:1000000000",
    )
    assert shop.convert(revenue=999.99).payout_micros == 49_999_500  # 5% of 999.99, below it
    assert shop.convert("lead").payout_micros == 2_000_000
    unpaid = shop.convert("sign_up", revenue=10)  # the program has terms, none for sign_up
    assert (unpaid.payout_micros, unpaid.attrs["commission_rule"]) == (0, "none")
    assert shop.logged_payout() == 10_000_000 + 20_000_000 + 80_000_000 + 49_999_500 + 2_000_000


def test_revenue_in_another_currency_is_priced_after_conversion(app: RootApp, shop: Shop) -> None:
    shop.commission(name="Sale", event_type="purchase", type="%", value=5)
    with app.container.uow() as uow:
        uow.fx_rates.set("EUR", "USD", Decimal("1.08"), app.container.clock())
        uow.commit()
    c = shop.convert(revenue=100, currency="EUR")  # 100 EUR is 108 USD: 5% is 5.40
    assert (c.revenue_micros, c.payout_micros) == (108_000_000, 5_400_000)


def test_a_reversal_takes_back_exactly_the_engines_payout(shop: Shop) -> None:
    shop.commission(name="Sale", event_type="purchase", type="%", value="7.5")
    kept = shop.convert(revenue=100)  # 7.5% of 100
    c = shop.convert(revenue="33.33")  # 7.5% of 33.33 = 2.49975
    assert c.payout_micros == 2_499_750
    before = shop.logged_payout()
    assert before == 7_500_000 + 2_499_750
    txn = idfmt.render("txn", c.id)
    reversal = shop.acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "refund"})
    assert '"payout_deducted":2.49975' in reversal.text  # exactly what was paid, as the postback said
    assert shop.logged_payout() == before - 2_499_750 == kept.payout_micros
    assert shop.transaction(txn).payout_micros == 2_499_750  # the row keeps what was paid and taken back


def test_a_gold_channel_earns_its_segments_terms(shop: Shop) -> None:
    shop.commission(name="Sale", event_type="purchase", type="%", value=5)
    shop.commission(name="Lead", event_type="lead", type="USD", value=2)
    gold = shop.segment("Gold")
    gold_sale = shop.commission(segment_id=gold, name="Gold sale", event_type="purchase", type="%", value=8)
    channel = shop.channel(gold)

    c = shop.convert(revenue=200, channel_id=channel)  # Gold: 8% of 200
    assert c.payout_micros == 16_000_000
    assert (c.attrs["channel_id"], c.attrs["commission_type_id"]) == (channel, idfmt.parse("com", gold_sale))
    assert shop.convert("lead", channel_id=channel).payout_micros == 2_000_000  # Gold lists no lead
    assert shop.convert(revenue=200).payout_micros == 10_000_000  # the same publisher without the channel
    rows = shop.app.container.events.query(
        "SELECT payout_micros FROM events WHERE type = 'conversion' AND (attrs->>'channel_id') = $c "
        "ORDER BY id",
        {"c": str(channel)},
    )
    assert rows == [(16_000_000,), (2_000_000,)]

    # The channel clicked while approved, and lost its approval before the sale: no commission.
    click_id = shop.clicked(channel)
    shop.decide(channel, ApprovalStatus.REJECTED)
    revoked = shop.transaction(
        postback(shop.acme, {"click_id": click_id, "event_type": "purchase", "revenue": 200}).json()[
            "transaction_id"
        ]
    )
    assert (revoked.payout_micros, revoked.attrs["commission_rule"]) == (0, "not_approved")


def test_a_deleted_segments_channels_fall_back_to_the_standard_terms(shop: Shop) -> None:
    shop.commission(name="Sale", event_type="purchase", type="%", value=5)
    gold = shop.segment("Gold")
    shop.commission(segment_id=gold, name="Gold sale", event_type="purchase", type="%", value=8)
    channel = shop.channel(gold)
    assert shop.convert(revenue=100, channel_id=channel).payout_micros == 8_000_000
    assert shop.acme.call("DELETE", f"/v2/programs/{shop.offer}/segments/{gold}").status_code == 200
    assert shop.convert(revenue=100, channel_id=channel).payout_micros == 5_000_000


def test_offline_conversions_are_priced_by_the_engine(shop: Shop) -> None:
    shop.commission(name="In store", event_type="offline_purchase", type="%", value=10)
    alice = hashlib.sha256(b"alice@example.com").hexdigest()
    shop.clicked(query=f"&em={alice}")
    shop.clock.now += timedelta(days=1)
    events = [{"event_id": "pos-1", "hashed_email": alice, "value": 50}]
    answer = shop.acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert answer["matched_events"] == 1
    rows = shop.app.container.events.query(
        "SELECT payout_micros, (attrs->>'commission_rule') FROM events WHERE type = 'conversion'"
    )
    assert rows == [(5_000_000, "base")]  # 10% of 50
