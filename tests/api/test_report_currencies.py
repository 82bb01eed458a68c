"""Reports of publishers and the network span advertisers in several currencies: every money
figure is in the caller's account currency, converted with the operator's rates and stated on
the answer; a currency without a rate is refused (409 naming it), never added up unconverted.
An advertiser's own reports (one currency) are unchanged. Amounts read as exact decimals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.events import DuckDBEventStore
from auctera.services.ports import EventStore
from support.clock import FrozenClock

from .conftest import app_at, bearer, error

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OCT1 = {"start_date": "2026-10-01", "end_date": "2026-10-02"}
SEK_USD = {"base": "SEK", "quote": "USD", "rate": "0.094", "from": "2026-11-23"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Viewer:
    """An account of any kind calling the reports, its amounts read as exact decimals."""

    def __init__(self, app: RootApp, client: TestClient, name: str, kind: str, currency: str = "USD") -> None:
        new = app.container.accounts.create_account(name, kind, currency=currency)
        self.client, self.account, self.headers = client, new.account, bearer(new.api_key)

    def answer(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        response = self.answer(path, **params)
        assert response.status_code == 200, response.text
        return response.json(parse_float=Decimal)


class Advertiser(Viewer):
    """An advertiser in `currency` with a campaign, logging its events (in that currency)."""

    def __init__(self, app: RootApp, client: TestClient, name: str, currency: str) -> None:
        super().__init__(app, client, name, "advertiser", currency)
        self.sink: EventStore = app.container.events
        self.logged = 0
        body = {"name": f"{name} CPA", "type": "affiliate_cpa", "budget": 10000, "payout": 5}
        response = client.post(
            "/v2/campaigns", json={**body, "destination_url": "https://a.example.com/"}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        self.campaign = idfmt.parse("cmp", response.json()["campaign_id"])

    def log(self, kind: EventType, at: datetime, *, logged_at: datetime | None = None, **fields: Any) -> None:
        ms = int((logged_at or at).timestamp() * 1000)
        event_id = IdGenerator(1, lambda: ms).next_id() + self.logged
        self.logged += 1
        fields.setdefault("campaign_id", self.campaign)
        self.sink.append(Event(event_id, kind, at, self.account.id, currency=self.account.currency, **fields))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    with app_at(tmp_path, FrozenClock(NOW), "http://trk.example.com") as application:
        yield application


class Market:
    """Acme (USD) and Nordic Home (SEK) paying one publisher (USD); the operator's SEK rate."""

    def __init__(self, app: RootApp, client: TestClient) -> None:
        self.app, self.client = app, client
        self.acme = Advertiser(app, client, "Acme", "USD")
        self.nordic = Advertiser(app, client, "Nordic Home", "SEK")
        self.publisher = Viewer(app, client, "Deal Hunters Blog", "publisher")
        self.network = Viewer(app, client, "Operator", "network")

    def set_rate(self, base: str, quote: str, rate: str, effective_from: date | None = None) -> None:
        with self.app.container.uow() as uow:
            uow.fx_rates.set(base, quote, Decimal(rate), NOW, effective_from)
            uow.commit()

    def log_october(self) -> None:
        pub = self.publisher.account.id
        at = utc("2026-10-01T15:00")
        self.acme.log(
            EventType.CLICK,
            at,
            publisher_id=pub,
            creative_id=11,
            cost_micros=1_500_000,
            payout_micros=1_000_000,
        )
        self.nordic.log(
            EventType.CLICK,
            at,
            publisher_id=pub,
            creative_id=22,
            cost_micros=10_000_000,
            payout_micros=7_000_000,
        )
        self.nordic.log(
            EventType.CONVERSION,
            at,
            publisher_id=pub,
            creative_id=22,
            cost_micros=300_000_000,
            revenue_micros=1_000_000_000,
            payout_micros=250_000_000,
        )
        # A conversion of Oct 1 logged on Nov 10, long after the day became final: a restatement.
        self.nordic.log(
            EventType.CONVERSION,
            utc("2026-10-01T20:00"),
            logged_at=utc("2026-11-10T09:00"),
            publisher_id=pub,
            creative_id=22,
            cost_micros=23_587_305,
            payout_micros=23_587_305,
        )


@pytest.fixture
def market(app: RootApp, client: TestClient) -> Market:
    m = Market(app, client)
    m.set_rate("SEK", "USD", "0.094")
    m.log_october()
    return m


# SEK converted at 0.094, each day's sum per currency rounded half-even to the micro:
# payout 1 + (7 + 250) * 0.094 = 25.158, and the late 23.587305 SEK = 2.21720667 -> 2.217207 USD.


def test_a_publishers_daily_earnings_are_in_its_currency(market: Market) -> None:
    body = market.publisher.get("/v2/reports/daily", **OCT1)
    assert body["currency"] == "USD" and body["exchange_rates"] == [SEK_USD]
    [oct1] = body["data"]
    # The advertisers' spend is not a publisher's to see (D49): null, converted for the network.
    assert (oct1["payout"], oct1["spend"], oct1["revenue"]) == (Decimal("25.158"), None, 94)  # 1000 SEK
    changes = oct1["restatement"]["changes"]
    assert (changes["payout"], changes["spend"]) == (Decimal("2.217207"), None)
    totals = body["totals"]
    # Unconverted this was 1 + 7 + 250 + 23.587305 = 281.587305 "USD".
    assert (totals["payout"], totals["spend"]) == (Decimal("27.375207"), None)
    assert (totals["clicks"], totals["conversions"]) == (2, 2)


def test_the_networks_reports_are_in_its_currency(market: Market) -> None:
    body = market.network.get("/v2/reports/daily", **OCT1)
    assert body["currency"] == "USD" and body["exchange_rates"] == [SEK_USD]
    assert body["totals"]["spend"] == Decimal("32.857207")
    [oct1] = body["data"]
    assert (oct1["spend"], oct1["restatement"]["changes"]["spend"]) == (
        Decimal("30.64"),  # 1.5 + 310 * 0.094
        Decimal("2.217207"),
    )
    # Per campaign type (the restatement read per campaign): the same figures.
    typed = market.network.get("/v2/reports/daily", **OCT1, type="affiliate_cpa")
    assert typed["totals"] == body["totals"] and typed["data"] == body["data"]
    one = market.network.get("/v2/reports/daily", **OCT1, publisher_id=_pub(market))
    assert one["totals"]["payout"] == Decimal("27.375207")
    acme, nordic = market.network.get("/v2/reports/creatives")["data"]
    assert (acme["creative_id"], acme["spend"]) == (idfmt.render("ast", 11), Decimal("1.5"))
    assert (nordic["creative_id"], nordic["spend"]) == (idfmt.render("ast", 22), Decimal("31.357207"))


def test_the_publisher_report_converts_every_row(market: Market) -> None:
    for viewer in (market.publisher, market.network):
        body = viewer.get("/v2/reports/publishers", **OCT1)
        assert body["currency"] == "USD" and body["exchange_rates"] == [SEK_USD]
        [row] = body["data"]  # one row per placement, not one per currency
        assert row["publisher_id"] == _pub(market)
        assert (row["payout"], row["revenue"], row["paid_events"]) == (Decimal("27.375207"), 94, 2)
        if viewer is market.publisher:  # the advertisers' cost figures are not its to see (D49)
            assert (row["spend"], row["clearing_price_paid"], row["avg_clearing_price"]) == (None, None, None)
            continue
        assert row["spend"] == Decimal("32.857207")
        # The clicks' clearing prices: 1 USD and 7 SEK = 0.658 USD.
        assert (row["clearing_price_paid"], row["avg_clearing_price"]) == (Decimal("1.658"), Decimal("0.829"))


def test_an_advertisers_reports_stay_in_its_own_currency(market: Market) -> None:
    body = market.nordic.get("/v2/reports/daily", **OCT1)
    assert body["currency"] == "SEK" and body["exchange_rates"] == []
    assert (body["totals"]["spend"], body["totals"]["payout"]) == (
        Decimal("333.587305"),
        Decimal("280.587305"),
    )
    [row] = market.nordic.get("/v2/reports/publishers", **OCT1)["data"]
    assert row["spend"] == Decimal("333.587305")
    assert market.nordic.get("/v2/reports/creatives")["currency"] == "SEK"


def test_a_rate_stored_the_other_way_round_is_divided_by(app: RootApp, client: TestClient) -> None:
    m = Market(app, client)
    m.set_rate("USD", "SEK", "10.6")
    m.log_october()
    sek_publisher = Viewer(app, client, "Nordic Deals", "publisher", currency="SEK")
    pub = sek_publisher.account.id
    m.acme.log(
        EventType.CLICK,
        utc("2026-10-01T16:00"),
        publisher_id=pub,
        cost_micros=1_000_000,
        payout_micros=1_000_000,
    )
    m.nordic.log(
        EventType.CLICK,
        utc("2026-10-01T16:00"),
        publisher_id=pub,
        cost_micros=2_000_000,
        payout_micros=2_000_000,
    )
    body = sek_publisher.get("/v2/reports/daily", **OCT1)
    assert body["currency"] == "SEK"
    assert body["exchange_rates"] == [{"base": "USD", "quote": "SEK", "rate": "10.6", "from": "2026-11-23"}]
    assert body["totals"]["payout"] == Decimal("12.6")  # 1 USD * 10.6 + 2 SEK
    usd = m.publisher.get("/v2/reports/daily", **OCT1)  # SEK into USD: divided by 10.6
    assert usd["exchange_rates"] == [{"base": "USD", "quote": "SEK", "rate": "10.6", "from": "2026-11-23"}]
    # 1 + 257 / 10.6 = 25.245283..., and the late 23.587305 / 10.6 = 2.225217...
    assert usd["totals"]["payout"] == Decimal("1") + Decimal("24.245283") + Decimal("2.225217")


def test_a_new_rate_leaves_the_reports_of_past_days_as_they_were(app: RootApp, client: TestClient) -> None:
    m = Market(app, client)
    m.set_rate("SEK", "USD", "0.094", date(2026, 9, 1))
    m.log_october()

    def october() -> list[Any]:
        return [
            m.publisher.get("/v2/reports/daily", **OCT1),
            m.publisher.get("/v2/reports/publishers", **OCT1),
            m.network.get("/v2/reports/daily", **OCT1),
            m.network.get("/v2/reports/creatives", **OCT1),
        ]

    before = october()
    assert before[0]["totals"]["payout"] == Decimal("27.375207")
    m.set_rate("SEK", "USD", "0.2")  # from today, Nov 23
    assert october() == before
    # Today's money is converted at today's rate: 10 SEK paid today are 2 USD.
    m.nordic.log(
        EventType.CLICK, NOW, publisher_id=m.publisher.account.id, creative_id=22, payout_micros=10_000_000
    )
    today = m.publisher.get("/v2/reports/daily", start_date="2026-11-23", end_date="2026-11-23")
    assert today["totals"]["payout"] == Decimal("2")
    assert today["exchange_rates"] == [{**SEK_USD, "rate": "0.2"}]


def test_each_day_is_converted_at_the_rate_of_that_day(app: RootApp, client: TestClient) -> None:
    """A rate from Oct 2 on: Oct 1 (and its late restatement) at the old one, Oct 2 at the new,
    in every report, the ones without days by day too; each rate used is listed."""
    market = Market(app, client)
    market.set_rate("SEK", "USD", "0.094", date(2026, 9, 1))
    market.set_rate("SEK", "USD", "0.1", date(2026, 10, 2))
    market.log_october()
    pub = market.publisher.account.id
    market.nordic.log(
        EventType.CLICK,
        utc("2026-10-02T09:00"),
        publisher_id=pub,
        creative_id=22,
        cost_micros=20_000_000,
        payout_micros=10_000_000,
    )
    old = {**SEK_USD, "from": "2026-09-01"}
    both = [old, {**SEK_USD, "rate": "0.1", "from": "2026-10-02"}]
    daily = market.publisher.get("/v2/reports/daily", **OCT1)
    assert daily["exchange_rates"] == both
    oct1, oct2 = daily["data"]
    assert (oct1["payout"], oct1["restatement"]["changes"]["payout"]) == (
        Decimal("25.158"),
        Decimal("2.217207"),
    )
    assert oct2["payout"] == Decimal("1")  # 10 SEK * 0.1
    assert daily["totals"]["payout"] == Decimal("28.375207")
    for viewer in (market.publisher, market.network):
        body = viewer.get("/v2/reports/publishers", **OCT1)
        assert body["exchange_rates"] == both
        [row] = body["data"]
        assert (row["payout"], row["paid_events"]) == (Decimal("28.375207"), 3)
    # Oct 1 alone sees only the rate of Oct 1.
    only = market.publisher.get("/v2/reports/publishers", start_date="2026-10-01", end_date="2026-10-01")
    assert only["exchange_rates"] == [old] and only["data"][0]["payout"] == Decimal("27.375207")
    acme, nordic = market.network.get("/v2/reports/creatives")["data"]  # all days
    assert (acme["creative_id"], acme["spend"]) == (idfmt.render("ast", 11), Decimal("1.5"))
    # 333.587305 SEK on Oct 1 at 0.094, and 20 SEK on Oct 2 at 0.1.
    assert (nordic["creative_id"], nordic["spend"]) == (idfmt.render("ast", 22), Decimal("33.357207"))


def test_a_currency_without_a_rate_is_refused_naming_it(app: RootApp, client: TestClient) -> None:
    m = Market(app, client)
    m.log_october()  # no SEK rate set
    for path in ("/v2/reports/daily", "/v2/reports/publishers", "/v2/reports/creatives"):
        body = error(m.publisher.answer(path, **OCT1), 409, "currency")
        assert body["code"] == "exchange_rate_missing"
        assert "SEK" in body["message"] and "auctera fx set SEK USD" in body["message"]
        error(m.network.answer(path, **OCT1), 409, "currency")
    # Traffic without money in that currency needs no rate.
    assert m.publisher.get("/v2/reports/daily", start_date="2026-11-01", end_date="2026-11-02")["data"] == []
    only_usd = m.publisher.get(
        "/v2/reports/daily", **OCT1, campaign_id=idfmt.render("cmp", m.acme.campaign or 0)
    )
    assert only_usd["totals"]["payout"] == 1 and only_usd["exchange_rates"] == []
    # The advertiser's own reports need none either.
    assert m.nordic.get("/v2/reports/daily", **OCT1)["totals"]["payout"] == Decimal("280.587305")


def test_converted_figures_are_the_same_after_compaction(app: RootApp, client: TestClient) -> None:
    events = app.container.events
    writer = DuckDBEventStore(events.directory, "another-writer", compact_interval=None)
    m = Market(app, client)
    m.set_rate("SEK", "USD", "0.094")
    m.acme.sink = m.nordic.sink = writer
    m.log_october()
    writer.close()

    def answers() -> list[Any]:
        return [
            m.publisher.get("/v2/reports/daily", **OCT1),
            m.publisher.get("/v2/reports/publishers", **OCT1),
            m.network.get("/v2/reports/creatives"),
        ]

    before = answers()
    assert before[0]["totals"]["payout"] == Decimal("27.375207")
    assert events.compact() == 1
    assert answers() == before


def _pub(market: Market) -> str:
    return idfmt.render("pub", market.publisher.account.id)
