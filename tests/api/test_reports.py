"""GET /v2/reports/daily, /publishers and /creatives on the real app: the seed's examples as
golden contracts, and figures on a hand-built event log (reversals, IVT, time-zone day
boundaries, late events restating final days), reconciled with the log's own sums."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, render_account_id
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.events import DuckDBEventStore
from auctera.services.ports import EventStore
from support.clock import FrozenClock

from .conftest import app_at, bearer, error

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NY = "America/New_York"
ADVERTISER, PUBLISHER = AccountKind.ADVERTISER, AccountKind.PUBLISHER


class Reporter:
    """An advertiser (New York time) with two campaigns, and a way to log events as of a time."""

    def __init__(self, app: RootApp, client: TestClient, name: str = "Acme", tz: str = NY) -> None:
        new = app.container.accounts.create_account(name, "advertiser", timezone=tz)
        self.app, self.client, self.account = app, client, new.account
        self.headers = bearer(new.api_key)
        self.display = self._campaign("dsp_retargeting")
        self.affiliate = self._campaign("affiliate_cpa", payout=5, destination_url="https://a.example.com/")
        self.logged: list[Event] = []
        self.sink: EventStore = app.container.events

    def _campaign(self, type: str, **fields: Any) -> int:
        body = {"name": f"{type} campaign", "type": type, "budget": 10000, **fields}
        response = self.client.post("/v2/campaigns", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        value = idfmt.parse("cmp", response.json()["campaign_id"])
        assert value is not None
        return value

    def log(
        self, kind: EventType, at: datetime, *, logged_at: datetime | None = None, **fields: Any
    ) -> Event:
        """Log an event that happened at `at`, recorded at `logged_at` (default: then): its id tells."""
        ms = int((logged_at or at).timestamp() * 1000)
        fields.setdefault("campaign_id", self.display)
        event_id = IdGenerator(1, lambda: ms).next_id() + len(self.logged)
        if kind is EventType.CLICK:  # a click names itself, as tracking's do: conversions join on it
            fields.setdefault("click_id", idfmt.render("auc", event_id))
        event = Event(event_id, kind, at, self.account.id, **fields)
        self.sink.append(event)
        self.logged.append(event)
        return event

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, "http://trk.example.com") as application:
        yield application


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Reporter:
    return Reporter(app, client)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- golden contracts (seed 000, "Reporting & Analytics") -----------------------------------------


def test_daily_golden(acme: Reporter) -> None:
    acme.log(EventType.IMPRESSION, utc("2026-10-01T15:00"), cost_micros=4_500_000_000)
    acme.log(EventType.CONVERSION, utc("2026-10-01T16:00"), revenue_micros=15_300_000_000)
    for i in range(1240):
        acme.log(EventType.IMPRESSION if i % 2 else EventType.CLICK, utc("2026-10-01T17:00"), ivt=True)
    body = acme.get("/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-07")
    assert body["data"][0] | {"spend": 4500.00, "roas": 3.4, "ivt_blocked": 1240} == body["data"][0]
    assert body["data"][0]["date"] == "2026-10-01"
    assert len(body["data"]) == 1  # days without events are absent


def test_publishers_golden(acme: Reporter, app: RootApp) -> None:
    partner = app.container.accounts.create_account("Partner", "publisher").account
    at = utc("2026-10-01T15:00")
    for _ in range(500):
        acme.log(
            EventType.IMPRESSION,
            at,
            publisher_id=partner.id,
            cost_micros=500_000,
            payout_micros=400_000,
            attrs={"referrer": "https://www.forbes.com/business/"},
        )
    for _ in range(12):
        acme.log(EventType.CONVERSION, at, publisher_id=partner.id, attrs={"domain": "forbes.com"})
    for _ in range(450):
        acme.log(EventType.CLICK, at, campaign_id=acme.affiliate, publisher_id=partner.id)
    for _ in range(24):
        acme.log(
            EventType.CONVERSION,
            at,
            campaign_id=acme.affiliate,
            publisher_id=partner.id,
            payout_micros=50_000_000,
        )
    forbes, affiliate = acme.get("/v2/reports/publishers")["data"]
    assert forbes | {"domain": "forbes.com", "impressions": 500, "spend": 250.00, "conversions": 12} == forbes
    # the exact clearing price paid: 500 impressions at 0.40
    assert forbes["clearing_price_paid"] == 200 and forbes["avg_clearing_price"] == 0.4
    pub = render_account_id(partner.kind, partner.id)
    assert affiliate | {"affiliate_id": pub, "clicks": 450, "payout": 1200.00, "conversions": 24} == affiliate
    display = acme.get("/v2/reports/publishers", campaign_id=idfmt.render("cmp", acme.display))["data"]
    assert [row["domain"] for row in display] == ["forbes.com"]


def test_creatives_golden(acme: Reporter) -> None:
    at = utc("2026-10-01T15:00")
    arms = [(11, "blue_cta", 16824, 143, 3), (12, "red_cta", 12065, 111, 2)]
    for creative, variant, impressions, clicks, conversions in arms:
        attrs = {"variant": variant}
        events = [
            (EventType.IMPRESSION, impressions),
            (EventType.CLICK, clicks),
            (EventType.CONVERSION, conversions),
        ]
        for kind, count in events:
            batch = [
                Event(
                    acme.app.container.ids.next_id(),
                    kind,
                    at,
                    acme.account.id,
                    acme.display,
                    creative_id=creative,
                    attrs=attrs,
                )
                for _ in range(count)
            ]
            acme.app.container.events.append_many(batch)
    body = acme.get("/v2/reports/creatives", campaign_id=idfmt.render("cmp", acme.display))
    blue, red = sorted(body["data"], key=lambda r: r["variant"])
    assert blue | {"creative_id": "dco_b", "variant": "blue_cta", "ctr": 0.85, "cvr": 2.1} == blue
    assert red | {"creative_id": "dco_c", "variant": "red_cta", "ctr": 0.92, "cvr": 1.8} == red
    # Credible statistics: intervals around the rates, probabilities summing to one, no winner
    # on so little difference.
    assert blue["ctr_interval"][0] < 0.85 < blue["ctr_interval"][1]
    assert round(blue["p_best_ctr"] + red["p_best_ctr"], 3) == 1
    assert body["tests"]["ctr"] == {"metric": "ctr", "significant": False, "threshold": 0.95, "winner": None}


def test_a_clear_ab_winner_is_flagged(acme: Reporter) -> None:
    at = utc("2026-10-01T15:00")
    for variant, clicks in (("a", 300), ("b", 100)):
        for kind, n in ((EventType.IMPRESSION, 10_000), (EventType.CLICK, clicks)):
            acme.app.container.events.append_many(
                Event(
                    acme.app.container.ids.next_id(),
                    kind,
                    at,
                    acme.account.id,
                    acme.display,
                    creative_id=7,
                    attrs={"variant": variant},
                )
                for _ in range(n)
            )
    body = acme.get("/v2/reports/creatives")
    assert body["tests"]["ctr"]["significant"] is True
    assert body["tests"]["ctr"]["winner"] == {"creative_id": "dco_7", "variant": "a"}
    winner = next(r for r in body["data"] if r["variant"] == "a")
    assert winner["ctr_winner"] is True and winner["p_best_ctr"] > 0.99


# --- figures on a hand-built log ---------------------------------------------------------------


def hand_built(acme: Reporter) -> None:
    """New York days (UTC-4 in October). Money in micros; 1_500_000 = 1.50."""
    # 2026-09-30 local: 03:59Z on Oct 1 is still Sep 30 in New York.
    acme.log(EventType.IMPRESSION, utc("2026-10-01T03:59:59"), cost_micros=1_000_000)
    # 2026-10-01 local: from 04:00Z Oct 1 to 04:00Z Oct 2.
    acme.log(EventType.IMPRESSION, utc("2026-10-01T04:00"), cost_micros=1_500_000, payout_micros=1_000_000)
    acme.log(EventType.IMPRESSION, utc("2026-10-02T03:59:59"), cost_micros=1_500_000, payout_micros=1_000_000)
    acme.log(EventType.IMPRESSION, utc("2026-10-01T12:00"), ivt=True)  # fraud-flagged: blocked, free
    acme.log(EventType.CLICK, utc("2026-10-01T12:01"), ivt=True)
    acme.log(EventType.CLICK, utc("2026-10-01T12:02"), cost_micros=400_000)
    acme.log(
        EventType.CONVERSION,
        utc("2026-10-01T13:00"),
        cost_micros=5_000_000,
        revenue_micros=100_000_000,
        payout_micros=10_000_000,
    )
    acme.log(EventType.AUCTION, utc("2026-10-01T13:00"))  # counts in nothing
    # 2026-10-02 local: the conversion charged back (negative amounts).
    acme.log(
        EventType.REVERSAL,
        utc("2026-10-02T15:00"),
        cost_micros=-5_000_000,
        revenue_micros=-100_000_000,
        payout_micros=-10_000_000,
    )
    # A conversion of Oct 1 logged on Nov 10, long after Oct 1 became final (Oct 3, 04:00Z).
    acme.log(
        EventType.CONVERSION,
        utc("2026-10-01T20:00"),
        logged_at=utc("2026-11-10T09:00"),
        campaign_id=acme.affiliate,
        cost_micros=2_000_000,
        revenue_micros=30_000_000,
    )
    # Today (Nov 23 local): not final.
    acme.log(EventType.CLICK, utc("2026-11-23T11:00"), cost_micros=700_000)


def test_daily_figures_in_the_accounts_days_with_reversals_ivt_and_restatements(acme: Reporter) -> None:
    hand_built(acme)
    body = acme.get("/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-02")
    assert body["timezone"] == NY
    oct1, oct2 = body["data"]
    assert oct1 == {
        "date": "2026-10-01",
        "spend": 8.4,
        "impressions": 2,
        "clicks": 1,
        "conversions": 1,
        "reversals": 0,
        "revenue": 100,
        "payout": 12,
        "roas": 11.9,
        "ivt_blocked": 2,
        "ctr": 50,
        "cvr": 100,
        "cpa": 8.4,
        "finalized": True,
        "final_at": "2026-10-03T04:00:00Z",
        "restatement": {
            "reason": "events logged after the day was finalized (late conversions, reversals, clawbacks)",
            "last_logged_at": "2026-11-10T09:00:00Z",
            "changes": {
                "spend": 2,
                "impressions": 0,
                "clicks": 0,
                "conversions": 1,
                "reversals": 0,
                "revenue": 30,
                "payout": 0,
                "roas": 15,
                "ivt_blocked": 0,
                "ctr": None,
                "cvr": None,
                "cpa": 2,
            },
        },
    }
    assert oct2["conversions"] == -1 and oct2["reversals"] == 1
    assert (oct2["spend"], oct2["revenue"], oct2["payout"]) == (-5, -100, -10)
    assert oct2["finalized"] is True and "restatement" not in oct2
    # The range's totals include the restatement: they reconcile with the log's sums of charges
    # and payouts over the same local days.
    lo, hi = utc("2026-10-01T04:00"), utc("2026-10-03T04:00")
    in_range = [e for e in acme.logged if lo <= e.at < hi and not e.ivt]
    totals = body["totals"]
    assert totals["spend"] * 1_000_000 == sum(e.cost_micros for e in in_range)
    assert totals["payout"] * 1_000_000 == sum(e.payout_micros for e in in_range)
    assert totals["revenue"] * 1_000_000 == sum(e.revenue_micros for e in in_range)
    assert totals["conversions"] == 1 and totals["ivt_blocked"] == 2


def test_todays_figures_are_not_final(acme: Reporter) -> None:
    hand_built(acme)
    [today] = acme.get("/v2/reports/daily", start_date="2026-11-22", end_date="2026-11-23")["data"]
    assert today["date"] == "2026-11-23" and today["finalized"] is False and today["spend"] == 0.7
    assert today["final_at"] == "2026-11-25T05:00:00Z"  # New York is on EST by then


def test_daily_filters_by_campaign_type_and_publisher(acme: Reporter, app: RootApp) -> None:
    hand_built(acme)
    partner = app.container.accounts.create_account("Partner", "publisher").account
    acme.log(EventType.CLICK, utc("2026-10-01T18:00"), publisher_id=partner.id, cost_micros=9_000_000)
    affiliate = idfmt.render("cmp", acme.affiliate)
    [oct1] = acme.get(
        "/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-01", campaign_id=affiliate
    )["data"]
    assert oct1["spend"] == 0 and oct1["restatement"]["changes"]["spend"] == 2
    [typed] = acme.get(
        "/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-01", type="affiliate_cpa"
    )["data"]
    assert typed == oct1
    pub = render_account_id(partner.kind, partner.id)
    [by_pub] = acme.get(
        "/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-07", publisher_id=pub
    )["data"]
    assert (by_pub["clicks"], by_pub["spend"]) == (1, 9)


def test_publisher_report_sorts_and_paginates(acme: Reporter) -> None:
    at = utc("2026-10-01T15:00")
    for domain, n in (("a.example", 3), ("b.example", 1), ("c.example", 2)):
        for _ in range(n):
            acme.log(EventType.IMPRESSION, at, cost_micros=1_000_000 * (4 - n), attrs={"domain": domain})
    first = acme.get("/v2/reports/publishers", sort="impressions", order="asc", limit=2)
    assert [r["domain"] for r in first["data"]] == ["b.example", "c.example"]
    assert first["pagination"] == {"total": 3, "offset": 0, "limit": 2, "next_offset": 2}
    rest = acme.get("/v2/reports/publishers", sort="impressions", order="asc", limit=2, offset=2)
    assert [r["domain"] for r in rest["data"]] == ["a.example"] and rest["pagination"]["next_offset"] is None
    by_spend = acme.get("/v2/reports/publishers")["data"]  # default: spend, highest first
    assert [r["spend"] for r in by_spend] == [4, 3, 3]


# --- errors and tenants --------------------------------------------------------------------------


def test_bad_input_names_the_field(acme: Reporter) -> None:
    def call(path: str, **params: Any) -> Any:
        return acme.client.get(path, params=params, headers=acme.headers)

    error(call("/v2/reports/daily", start_date="2026-10-07", end_date="2026-10-01"), 422, "end_date")
    error(call("/v2/reports/daily", start_date="2026-10-01"), 422, "end_date")
    error(call("/v2/reports/daily", start_date="2025-01-01", end_date="2026-10-01"), 422, "end_date")
    error(
        call("/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-01", campaign_id="x"),
        404,
        "campaign_id",
    )
    error(call("/v2/reports/publishers", sort="name"), 422, "sort")
    error(call("/v2/reports/publishers", limit=0), 422, "limit")


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1969-12-31", "3000-01-01"])
def test_dates_out_of_the_supported_range_name_the_field(acme: Reporter, day: str) -> None:
    def call(path: str, **params: Any) -> Any:
        return acme.client.get(path, params=params, headers=acme.headers)

    error(call("/v2/reports/daily", start_date=day, end_date=day), 422, "start_date")
    error(call("/v2/reports/daily", start_date="2026-10-01", end_date=day), 422, "end_date")
    error(call("/v2/reports/creatives", start_date=day, end_date=day), 422, "start_date")
    error(call("/v2/reports/creatives", end_date=day), 422, "end_date")
    error(call("/v2/reports/publishers", start_date=day), 422, "start_date")
    error(call("/v2/campaigns", start_date=day, end_date=day), 422, "start_date")
    assert call("/v2/reports/daily", start_date="2999-12-31", end_date="2999-12-31").status_code == 200
    assert call("/v2/reports/daily", start_date="1970-01-01", end_date="1970-01-01").status_code == 200


def test_an_offset_beyond_64_bits_names_the_field(acme: Reporter) -> None:
    response = acme.client.get(
        "/v2/reports/publishers", params={"offset": "99999999999999999999"}, headers=acme.headers
    )
    error(response, 422, "offset")


def test_a_tenant_sees_only_its_own_figures(acme: Reporter, app: RootApp, client: TestClient) -> None:
    hand_built(acme)
    other = Reporter(app, client, "Other")
    theirs = idfmt.render("cmp", acme.display)
    for path in ("/v2/reports/daily", "/v2/reports/publishers", "/v2/reports/creatives"):
        params = {"campaign_id": theirs, "start_date": "2026-10-01", "end_date": "2026-10-07"}
        error(other.client.get(path, params=params, headers=other.headers), 404, "campaign_id")
    assert other.get("/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-07")["data"] == []
    assert other.get("/v2/reports/publishers")["data"] == []


def test_a_publisher_sees_its_own_traffic(acme: Reporter, app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Partner", "publisher")
    acme.log(EventType.CLICK, utc("2026-10-01T18:00"), publisher_id=new.account.id, payout_micros=2_000_000)
    acme.log(EventType.CLICK, utc("2026-10-01T18:00"), publisher_id=None, payout_micros=5_000_000)
    response = client.get(
        "/v2/reports/daily",
        params={"start_date": "2026-10-01", "end_date": "2026-10-01"},
        headers=bearer(new.api_key),
    )
    [day] = response.json()["data"]  # UTC: the publisher's own zone
    assert (day["clicks"], day["payout"]) == (1, 2)


def test_reports_answer_the_same_after_compaction(acme: Reporter) -> None:
    events = acme.app.container.events
    writer = DuckDBEventStore(events.directory, "another-writer", compact_interval=None)
    acme.sink = writer
    hand_built(acme)
    writer.close()  # its segment is sealed, waiting for compaction

    def answers() -> list[Any]:
        return [
            acme.get("/v2/reports/daily", start_date="2026-10-01", end_date="2026-10-02"),
            acme.get("/v2/reports/publishers", start_date="2026-10-01", end_date="2026-10-02"),
            acme.get("/v2/reports/creatives"),
        ]

    before = answers()
    assert events.compact() == 1  # now answered from the segment's rollups
    assert answers() == before


# --- click-to-conversion time (click flooding) ----------------------------------------------------


def _converted(acme: Reporter, publisher: int, clicked: datetime, delay: timedelta) -> None:
    """A click of `publisher` and its conversion `delay` later, as tracking and postbacks log them."""
    click = acme.log(EventType.CLICK, clicked, publisher_id=publisher, campaign_id=acme.affiliate)
    acme.log(
        EventType.CONVERSION,
        clicked + delay,
        publisher_id=publisher,
        campaign_id=acme.affiliate,
        click_id=click.click_id,
        revenue_micros=10_000_000,
    )


def test_a_publisher_whose_conversions_spread_over_days_is_suspected_of_click_flooding(
    acme: Reporter, app: RootApp, client: TestClient
) -> None:
    honest = app.container.accounts.create_account("Honest", "publisher").account.id
    flooder = app.container.accounts.create_account("Flooder", "publisher").account.id
    start = utc("2026-10-01T12:00")
    # Honest: 30 sales, 26 within the hour of their click, 4 two days on (people do come back).
    for i in range(30):
        delay = timedelta(minutes=5 + i) if i < 26 else timedelta(hours=50)
        _converted(acme, honest, start + timedelta(minutes=i), delay)
    # Flooder: 30 sales, their delays flat over two weeks.
    for i in range(30):
        _converted(acme, flooder, start + timedelta(minutes=i), timedelta(hours=11 * i + 1))
    report = acme.get("/v2/reports/click-to-conversion", start_date="2026-10-01", end_date="2026-10-31")
    assert (report["timezone"], report["late_after_seconds"]) == (NY, 86_400)
    rows = {r["publisher_id"]: r for r in report["data"]}
    fair, flood = rows[render_account_id(PUBLISHER, honest)], rows[render_account_id(PUBLISHER, flooder)]
    assert fair["advertiser_id"] == render_account_id(ADVERTISER, acme.account.id)
    assert (fair["conversions"], fair["late_conversions"], fair["late_share"]) == (30, 4, 0.1333)
    assert [b["conversions"] for b in fair["buckets"]] == [0, 0, 6, 20, 0, 0, 4, 0]
    assert [b["up_to_seconds"] for b in fair["buckets"]] == [10, 60, 600, 3600, 21600, 86400, 604800, None]
    assert fair["flooding"]["suspected"] is False
    assert (flood["conversions"], flood["late_conversions"]) == (30, 27)  # 11 h x i + 1 h > 24 h from i = 3
    assert [b["conversions"] for b in flood["buckets"]] == [0, 0, 0, 1, 0, 2, 13, 14]
    assert flood["median_seconds"] == pytest.approx((11 * 14.5 + 1) * 3600)
    assert flood["flooding"]["suspected"] is True
    assert flood["flooding"]["reference_late_share"] == 0.1333  # the honest publisher's
    assert flood["flooding"]["p_value"] < 1e-12
    # One campaign's worth alone; another campaign has none of these sales.
    theirs = acme.get(
        "/v2/reports/click-to-conversion",
        start_date="2026-10-01",
        end_date="2026-10-31",
        campaign_id=idfmt.render("cmp", acme.display),
    )
    assert theirs["data"] == []
    # The days are the account's: Oct 1 in New York ends at 04:00 UTC on Oct 2, so the flooder's
    # sales at 13:00 and 00:01 UTC count, and none after.
    first = acme.get("/v2/reports/click-to-conversion", start_date="2026-10-01", end_date="2026-10-01")
    counts = {r["publisher_id"]: r["conversions"] for r in first["data"]}
    assert counts == {render_account_id(PUBLISHER, honest): 26, render_account_id(PUBLISHER, flooder): 2}
    few = {r["publisher_id"]: r["flooding"] for r in first["data"]}
    assert few[render_account_id(PUBLISHER, flooder)]["suspected"] is None  # 2 sales tell nothing


def test_click_to_conversion_is_the_advertisers_view_and_no_one_elses(
    acme: Reporter, app: RootApp, client: TestClient
) -> None:
    partner = app.container.accounts.create_account("Partner", "publisher")
    _converted(acme, partner.account.id, utc("2026-10-01T12:00"), timedelta(minutes=3))
    days = {"start_date": "2026-10-01", "end_date": "2026-10-07"}
    path = "/v2/reports/click-to-conversion"
    assert len(acme.get(path, **days)["data"]) == 1
    error(client.get(path, params=days, headers=bearer(partner.api_key)), 403)
    other = Reporter(app, client, "Other")
    assert other.get(path, **days)["data"] == []
    theirs = {**days, "campaign_id": idfmt.render("cmp", acme.affiliate)}
    error(client.get(path, params=theirs, headers=other.headers), 404, "campaign_id")
    error(client.get(path, params={"start_date": "2026-10-01"}, headers=acme.headers), 422, "end_date")
    backwards = {"start_date": "2026-10-07", "end_date": "2026-10-01"}
    error(client.get(path, params=backwards, headers=acme.headers), 422, "end_date")
