"""Affiliate money through the real app: a CPC offer's clicks and a CPA offer's approved conversions
are charged to the campaign's daily and total budgets and to the advertiser's prepaid balance,
through the same ledger as sponsored clicks. What a cap or the balance refuses is still recorded
(the visitor is redirected, the sale is a conversion) but pays nothing. A reversal gives back what
its conversion was charged. On SQLite (clicks charged in groups on the event loop) and PostgreSQL
(one transaction per click in the threadpool).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.events import Event
from auctera.domain.fraud import RequestFacts
from auctera.services.tracking import TrackingRequest
from auctera.store.tables import spend_ledger, spend_periods
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_tracking import BROWSER, CHROME, click, click_id_of, click_url, offer, postback

DOLLAR = 1_000_000
_VISITORS = count(1)  # a new address per visitor


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock, database_url: str) -> Iterator[RootApp]:
    # A clock at 12:00 UTC (accounts' days are UTC here); no lookup cache.
    with app_at(
        tmp_path,
        clock,
        "https://trk.example.com",
        tracking_cache_seconds=0,
        database_url=database_url,
        client_ip_header="X-Forwarded-For",
    ) as application:
        yield application


def visits(app: RootApp, client: TestClient, path: str, n: int) -> list[Event]:
    """`n` clicks of `n` different visitors (one each would be a velocity flag: IVT, not paid)."""
    found = []
    for _ in range(n):
        client.cookies.clear()
        n = next(_VISITORS)
        ip = f"81.{n // 250 + 1}.{n % 250}.7"
        found.append(event_of(app, click_id_of(click(client, path, **{"X-Forwarded-For": ip}))))
    assert not any(e.ivt for e in found)
    return found


def set_balance(network: Api, advertiser: Api, **body: Any) -> str:
    response = network.call("PATCH", f"/v2/accounts/{advertiser.id}/balance", body)
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


def balance(advertiser: Api) -> str:
    return str(advertiser.call("GET", f"/v2/accounts/{advertiser.id}/balance").json()["balance"])


def report_spend(advertiser: Api, start: str, end: str) -> tuple[Decimal, Decimal]:
    """(spend, payout) of the daily report's totals."""
    response = advertiser.call("GET", "/v2/reports/daily", start_date=start, end_date=end)
    assert response.status_code == 200, response.text
    totals = response.json()["totals"]
    return Decimal(str(totals["spend"])), Decimal(str(totals["payout"]))


def event_of(app: RootApp, click_id: str) -> Event:
    found = app.container.tracking.find_click(idfmt.parse("auc", click_id) or 0)
    assert found is not None
    return found


def ledger_equals_periods(app: RootApp, campaign_id: int) -> int:
    """The ledger's sum per period is the spend counters' (day, month, total); returns the total."""
    with app.container.engine.connect() as conn:
        rows = conn.execute(
            select(spend_ledger.c.amount_micros, spend_ledger.c.occurred_at).where(
                spend_ledger.c.campaign_id == campaign_id
            )
        ).all()
        periods = dict(
            conn.execute(
                select(spend_periods.c.period, spend_periods.c.spent_micros).where(
                    spend_periods.c.subject_id == campaign_id
                )
            ).all()
        )
    summed: dict[str, int] = defaultdict(int)
    for amount, at in rows:
        day = at.replace(tzinfo=UTC).date().isoformat()  # the account's zone is UTC
        for period in (day, day[:7], "total"):
            summed[period] += amount
    assert dict(summed) == {p: v for p, v in periods.items() if p in summed or v}
    return summed["total"]


# --- CPC clicks ----------------------------------------------------------------------------------


def test_cpc_clicks_are_charged_under_the_daily_and_total_budgets_and_the_balance(
    app: RootApp, acme: Api, publisher: Api, network: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme, type="affiliate_cpc", payout=0.45, budget={"daily": 1, "total": 2})
    assert set_balance(network, acme, balance="1.00") == "1.00"
    path = click_url(offer_id, publisher)

    first_day = visits(app, client, path, 50)  # all redirected
    assert [(e.cost_micros, e.attrs["charge"]) for e in first_day[:2]] == [(450_000, "charged")] * 2
    # 0.90 spent today: another 0.45 would cross the daily budget of 1.00.
    assert {(e.cost_micros, e.payout_micros, e.attrs["charge"]) for e in first_day[2:]} == {
        (0, 0, "campaign_daily")
    }
    assert balance(acme) == "0.10"

    clock.now += timedelta(days=1)
    broke = visits(app, client, path, 3)  # a new day, but only 0.10 left to draw
    assert {(e.cost_micros, e.attrs["charge"]) for e in broke} == {(0, "no_funds")}
    assert set_balance(network, acme, add="100") == "100.10"
    second_day = visits(app, client, path, 10)
    assert [e.cost_micros for e in second_day[:2]] == [450_000, 450_000]
    # 1.80 spent in all: another 0.45 would cross the total budget of 2.00.
    assert {(e.cost_micros, e.attrs["charge"]) for e in second_day[2:]} == {(0, "campaign_budget")}

    assert balance(acme) == "99.20"  # 100.10 - 0.90: never below zero, drawn only by charges
    assert ledger_equals_periods(app, offer_id) == 1_800_000
    assert report_spend(acme, "2026-11-23", "2026-11-24") == (Decimal("1.80"), Decimal("1.80"))


def test_clicks_that_pay_nothing_write_no_ledger_row(
    app: RootApp, acme: Api, publisher: Api, client: TestClient
) -> None:
    cpa = offer(acme)  # a CPA offer pays per conversion, not per click
    event = event_of(app, click_id_of(click(client, click_url(cpa, publisher))))
    assert (event.cost_micros, "charge" in event.attrs) == (0, False)
    cpc = offer(acme, type="affiliate_cpc", payout=0.45)
    bot = click(client, click_url(cpc, publisher), **{"User-Agent": "curl/8.0"})
    assert event_of(app, click_id_of(bot)).cost_micros == 0  # IVT: logged, never charged
    with app.container.engine.connect() as conn:
        assert conn.execute(select(spend_ledger)).all() == []


def test_the_sweep_logs_a_charged_cpc_click_a_crash_left_out(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    c = app.container
    offer_id = offer(acme, type="affiliate_cpc", payout=0.45)
    path = click_url(offer_id, publisher, sub_id1="s1") + "&cr=7"
    query = path.split("?", 1)[1]
    facts = RequestFacts(
        ip="1.2.3.4", user_agent=CHROME, headers={**BROWSER, "cf-ipcountry": "US"}, at=clock()
    )
    # The process dies after the charge committed, before the event was appended.
    begun, due = c.tracking._begin_click(TrackingRequest(query, facts, None, "visitor1"))
    assert due is not None and c.spend.charge(due).charged
    clock.now += timedelta(minutes=2)
    assert c.sponsored.log_pending() == 1
    assert c.sponsored.log_pending() == 0
    recovered = c.events.find_event(begun.event.id, begun.event.at)
    expected = replace(begun.event, attrs={**begun.event.attrs, "charge": "charged"})
    assert recovered == expected
    assert (recovered.cost_micros, recovered.creative_id, recovered.attrs["sub_id1"]) == (450_000, 7, "s1")


# --- CPA conversions -----------------------------------------------------------------------------


def clicked(app: RootApp, client: TestClient, clock: FrozenClock, path: str) -> str:
    """A new visitor's click, and the minutes a person takes to buy."""
    (event,) = visits(app, client, path, 1)
    clock.now += timedelta(minutes=5)
    assert event.click_id is not None
    return event.click_id


def test_cpa_payouts_stop_at_the_budget_and_reversals_give_the_money_back(
    app: RootApp, acme: Api, publisher: Api, network: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme, payout=65, budget=100)
    set_balance(network, acme, balance="1000")
    path = click_url(offer_id, publisher)
    answers = []
    for n in range(6):
        body = {
            "click_id": clicked(app, client, clock, path),
            "event_type": "purchase",
            "revenue": 200,
            "order_id": f"o-{n}",
        }
        response = postback(acme, body)
        assert response.status_code == 200, response.text
        answers.append((body, response.json()))
    # Every sale is recorded and approved (none is fraud), only the first one is paid; the answer
    # says which were not, and why.
    assert {a["status"] for _, a in answers} == {"approved"}
    assert [a.get("payout_refused") for _, a in answers] == [None] + ["campaign_budget"] * 5
    assert balance(acme) == "935.00"
    assert report_spend(acme, "2026-11-23", "2026-11-23") == (Decimal("65.00"), Decimal("65.00"))
    assert ledger_equals_periods(app, offer_id) == 65 * DOLLAR

    replayed = postback(acme, answers[0][0]).json()  # the same sale again: no second charge
    assert replayed["transaction_id"] == answers[0][1]["transaction_id"]
    assert balance(acme) == "935.00"

    unpaid = answers[1][1]["transaction_id"]
    reversed_unpaid = acme.call(
        "POST", "/v2/conversions/reversal", {"transaction_id": unpaid, "reason": "refund"}
    )
    assert reversed_unpaid.json()["payout_deducted"] == 0.0  # it was charged nothing: nothing back
    paid = answers[0][1]["transaction_id"]
    reversal = acme.call("POST", "/v2/conversions/reversal", {"transaction_id": paid, "reason": "chargeback"})
    assert reversal.json()["payout_deducted"] == 65.0
    again = acme.call("POST", "/v2/conversions/reversal", {"transaction_id": paid, "reason": "chargeback"})
    assert again.json() == reversal.json()
    assert balance(acme) == "1000.00"  # given back exactly, once
    assert ledger_equals_periods(app, offer_id) == 0
    assert report_spend(acme, "2026-11-23", "2026-11-23") == (Decimal("0.00"), Decimal("0.00"))

    # The budget has room again: the next sale is paid.
    body = {
        "click_id": clicked(app, client, clock, path),
        "event_type": "purchase",
        "revenue": 200,
        "order_id": "o-9",
    }
    assert postback(acme, body).json()["status"] == "approved"
    assert balance(acme) == "935.00"
    assert ledger_equals_periods(app, offer_id) == 65 * DOLLAR


def test_a_cpa_payout_the_balance_cannot_cover_is_not_paid(
    app: RootApp, acme: Api, publisher: Api, network: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme, payout=65, budget=10_000)
    set_balance(network, acme, balance="100")
    path = click_url(offer_id, publisher)
    refused = []
    for n in range(3):
        body = {
            "click_id": clicked(app, client, clock, path),
            "event_type": "purchase",
            "revenue": 200,
            "order_id": f"o-{n}",
        }
        answer = postback(acme, body).json()
        assert answer["status"] == "approved"
        refused.append(answer.get("payout_refused"))
    assert refused == [None, "no_funds", "no_funds"]
    assert balance(acme) == "35.00"  # one payout of 65: never below zero
    start = clock.now - timedelta(days=1)
    events = app.container.events.campaign_totals(acme.account.id, None, start, clock.now + timedelta(days=1))
    (figures,) = events.values()
    assert (figures.conversions, figures.payout_micros) == (3, 65 * DOLLAR)
    assert ledger_equals_periods(app, offer_id) == 65 * DOLLAR


def test_a_reversal_gives_the_balance_back_only_what_the_balance_paid(
    app: RootApp, acme: Api, publisher: Api, network: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme, payout=65, budget=10_000)
    path = click_url(offer_id, publisher)
    body = {"click_id": clicked(app, client, clock, path), "event_type": "purchase", "revenue": 200}
    paid = postback(acme, body).json()  # invoiced: charged to the budget, no balance drawn
    set_balance(network, acme, balance="100")  # prepaid from now on
    reversal = acme.call(
        "POST", "/v2/conversions/reversal", {"transaction_id": paid["transaction_id"], "reason": "refund"}
    )
    assert reversal.json()["payout_deducted"] == 65.0
    assert balance(acme) == "100.00"  # not 165: the balance never paid that payout
    assert ledger_equals_periods(app, offer_id) == 0
