"""What a conversion pays and where it is booked, through the real app on SQLite and PostgreSQL.

- A CPA offer pays for a sale only when its click was made within the flight (`start_date` to
  `end_date`, inclusive, in the account's time zone): links redirect a day either side of the
  flight, so a click just outside it converts, is recorded, and pays nothing
  (`payout_refused: not_live`). Postbacks and offline matches alike; tested at the exact edges on
  an account in America/Noronha (UTC-2, no daylight saving).
- An `event_time` a little ahead of the server's clock (a partner's drifting clock) is booked at
  its arrival, never in a day that has not begun; further ahead it is a 422.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from support.clock import FrozenClock

from .conftest import Api, app_at, bearer, error
from .test_affiliate_spend import report_spend
from .test_tracking import click, click_id_of, click_url, postback

NORONHA = ZoneInfo("America/Noronha")  # UTC-2 all year
TOMORROW = date(2026, 11, 24)  # the clock starts on 23 November, 12:00 UTC (10:00 in Noronha)
_VISITORS = count(1)
TICK = timedelta(microseconds=1)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock, database_url: str) -> Iterator[RootApp]:
    with app_at(
        tmp_path,
        clock,
        "https://trk.example.com",
        tracking_cache_seconds=0,
        database_url=database_url,
        client_ip_header="X-Forwarded-For",
    ) as application:
        yield application


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Api:
    """An advertiser in Noronha time."""
    new = app.container.accounts.create_account("Acme", "advertiser", timezone="America/Noronha")
    api = Api.__new__(Api)
    api.client, api.account, api.headers = client, new.account, bearer(new.api_key)
    return api


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    """An instant of a Noronha day, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NORONHA).astimezone(UTC)


def cpa_offer(acme: Api, **fields: Any) -> int:
    body = {
        "name": "Flight",
        "type": "affiliate_cpa",
        "payout": 1,
        "budget": 1000,
        "destination_url": "https://shop.example.com/land?cid={click_id}",
        **fields,
    }
    response = acme.call("POST", "/v2/campaigns", body)
    assert response.status_code == 201, response.text
    value = idfmt.parse("cmp", response.json()["campaign_id"])
    assert value is not None
    return value


def click_at(client: TestClient, clock: FrozenClock, at: datetime, path: str) -> str:
    """A new visitor's click at `at` (the clock only moves forward: ids are issued from it)."""
    assert at >= clock.now
    clock.now = at
    client.cookies.clear()
    n = next(_VISITORS)
    return click_id_of(click(client, path, **{"X-Forwarded-For": f"81.7.{n // 250}.{n % 250}"}))


def sale(acme: Api, click_id: str, **fields: Any) -> dict[str, Any]:
    response = postback(acme, {"click_id": click_id, "event_type": "purchase", "revenue": 10, **fields})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["status"] == "approved"  # a sale outside the flight is no fraud
    return answer


def test_a_cpa_sale_pays_only_for_a_click_made_within_the_flight(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    end = TOMORROW + timedelta(days=2)
    after = end + timedelta(days=1)
    path = click_url(cpa_offer(acme, start_date=TOMORROW.isoformat(), end_date=end.isoformat()), publisher)
    # The links redirect a day either side of the flight: the last instant before its first local
    # day, its first instant, the last instant of end_date and the first one after.
    early = click_at(client, clock, local(TOMORROW) - TICK, path)
    first = click_at(client, clock, local(TOMORROW), path)
    clock.now += timedelta(minutes=5)  # a person takes minutes to buy
    assert sale(acme, early)["payout_refused"] == "not_live"
    assert "payout_refused" not in sale(acme, first)
    last = click_at(client, clock, local(after) - TICK, path)
    late = click_at(client, clock, local(after), path)
    clock.now += timedelta(minutes=5)  # the flight has ended: a click made in it is paid all the same
    assert "payout_refused" not in sale(acme, last)
    assert sale(acme, late)["payout_refused"] == "not_live"
    # Four sales counted, the two whose clicks were made in the flight paid, and only they.
    days = (TOMORROW - timedelta(days=1)).isoformat(), after.isoformat()
    assert report_spend(acme, *days) == (Decimal("2.00"), Decimal("2.00"))
    report = acme.call("GET", "/v2/reports/daily", start_date=days[0], end_date=days[1]).json()
    assert report["totals"]["conversions"] == 4


def test_an_offline_sale_matched_to_a_click_outside_the_flight_pays_nothing(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = cpa_offer(acme, start_date=TOMORROW.isoformat())
    emails = {}
    for name, at in (("early", local(TOMORROW) - TICK), ("first", local(TOMORROW))):
        emails[name] = hashlib.sha256(f"{name}@example.com".encode()).hexdigest()
        click_at(client, clock, at, click_url(offer_id, publisher) + f"&em={emails[name]}")
    clock.now += timedelta(hours=1)
    events = [{"event_id": name, "hashed_email": digest, "value": 10} for name, digest in emails.items()]
    answer = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert (answer["matched_events"], answer["invalid_events"]) == (2, 0)  # both recorded
    day = TOMORROW.isoformat()
    assert report_spend(acme, day, day) == (Decimal("1.00"), Decimal("1.00"))  # one paid
    assert report_spend(acme, "2026-11-23", "2026-11-23") == (Decimal("0.00"), Decimal("0.00"))


def test_an_event_time_a_little_ahead_of_the_clock_is_booked_on_arrival(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    path = click_url(cpa_offer(acme, budget={"daily": 1, "total": 1000}), publisher)
    click_id = click_at(client, clock, local(date(2026, 11, 23), 23, 51), path)
    clock.now += timedelta(minutes=5)  # 23:56 local
    next_day = local(TOMORROW) + timedelta(seconds=30)  # 00:00:30 tomorrow: 4.5 minutes ahead
    answer = sale(acme, click_id, event_time=next_day.isoformat(), order_id="1")
    assert "payout_refused" not in answer
    # Booked today, in today's daily budget and report row; tomorrow has spent nothing.
    assert report_spend(acme, "2026-11-23", "2026-11-23") == (Decimal("1.00"), Decimal("1.00"))
    assert report_spend(acme, TOMORROW.isoformat(), TOMORROW.isoformat()) == (Decimal("0"), Decimal("0"))
    # So today's daily budget of 1 is spent: a second sale today is not paid.
    assert sale(acme, click_id, order_id="2")["payout_refused"] == "campaign_daily"
    # The same postback again is the same sale, paid once.
    assert sale(acme, click_id, event_time=next_day.isoformat(), order_id="1") == answer
    # Further ahead than the tolerated skew: refused, nothing recorded.
    too_far = (clock.now + timedelta(minutes=5, seconds=1)).isoformat()
    body = {"click_id": click_id, "event_type": "purchase", "event_time": too_far, "order_id": "3"}
    assert "future" in error(postback(acme, body), 422, "event_time")["message"]


def test_an_offline_event_a_little_ahead_of_the_clock_is_booked_on_arrival_and_once(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = cpa_offer(acme)
    alice = hashlib.sha256(b"alice@example.com").hexdigest()
    click_at(
        client, clock, local(date(2026, 11, 23), 23, 51), click_url(offer_id, publisher) + f"&em={alice}"
    )
    clock.now += timedelta(minutes=5)  # 23:56 local
    ahead = (local(TOMORROW) + timedelta(seconds=30)).isoformat()  # within the skew
    too_far = (clock.now + timedelta(minutes=6)).isoformat()
    events = [
        {"hashed_email": alice, "value": 10, "event_time": ahead},  # no event id: keyed on its time
        {"hashed_email": alice, "value": 11, "event_time": too_far},
    ]
    answer = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert (answer["matched_events"], answer["invalid_events"]) == (1, 1)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "event_time")]
    assert report_spend(acme, "2026-11-23", "2026-11-23") == (Decimal("1.00"), Decimal("1.00"))
    assert report_spend(acme, TOMORROW.isoformat(), TOMORROW.isoformat()) == (Decimal("0"), Decimal("0"))
    # Retried a minute later (past local midnight now): the same sale, not paid twice.
    clock.now += timedelta(minutes=5)
    assert acme.call("POST", "/v2/conversions/offline", {"events": events[:1]}).json()["matched_events"] == 1
    assert report_spend(acme, "2026-11-23", TOMORROW.isoformat()) == (Decimal("1.00"), Decimal("1.00"))
