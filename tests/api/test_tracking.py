"""Click redirect, impression pixels, signed postbacks, reversals and the fraud log, through the
real app: what a publisher's visitor, an advertiser's server and an API user see."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.events import Event, EventType
from auctera.domain.signatures import sign
from auctera.domain.tracking import link_query, tracking_links
from auctera.services.conversions import OfflineEvent
from auctera.tracking.handlers import PIXEL
from support.clock import FrozenClock

from .conftest import Api, app_at, error

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
BROWSER = {"User-Agent": CHROME, "Accept-Language": "en-US,en;q=0.9", "CF-IPCountry": "US"}


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # No lookup cache: a paused campaign's links stop at once (in production, within 2 s).
    with app_at(tmp_path, clock, "https://trk.example.com", tracking_cache_seconds=0) as application:
        yield application


def offer(acme: Api, **fields: Any) -> int:
    body = {
        "type": "affiliate_cpa",
        "payout": 45,
        "destination_url": "https://shop.example.com/land?cid={click_id}&src={sub_id1}",
        **fields,
    }
    campaign_id = acme.create(**body)
    assert acme.get(campaign_id)["status"] == "active"
    value = idfmt.parse("cmp", campaign_id)
    assert value is not None
    return value


def click_url(offer_id: int, publisher: Api, **sub_ids: str) -> str:
    url, _ = tracking_links("https://trk.example.com", offer_id, publisher.account.id, sub_ids, offer=True)
    return url.removeprefix("https://trk.example.com")


def click(client: TestClient, path: str, **headers: str) -> Any:
    return client.get(path, headers={**BROWSER, **headers}, follow_redirects=False)


def click_id_of(response: Any) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["cid"][0]


def postback(
    acme: Api, body: dict[str, Any], *, secret: str | None = None, at: int | None = None, **headers: str
) -> Any:
    raw = json.dumps(body).encode()
    now = int(acme.client.app.container.clock().timestamp()) if at is None else at  # type: ignore[attr-defined]
    signature = sign(secret or acme.account.signing_secret, raw, now)
    return acme.client.post(
        "/v2/conversions",
        content=raw,
        headers={
            **acme.headers,
            "Content-Type": "application/json",
            "X-Auctera-Signature": signature,
            **headers,
        },
    )


# --- clicks and impressions ---------------------------------------------------------------------


def test_a_click_is_logged_and_redirected_with_macros_filled(
    app: RootApp, client: TestClient, acme: Api, publisher: Api
) -> None:
    offer_id = offer(acme)
    response = click(
        client, click_url(offer_id, publisher, sub_id1="source a"), **{"X-Forwarded-For": "1.2.3.4"}
    )
    location = response.headers["location"]
    assert location.startswith("https://shop.example.com/land?cid=auc_")
    assert "src=source%20a" in location
    assert response.headers["cache-control"].startswith("no-store")
    assert "auc_uid=" in response.headers["set-cookie"]
    click_id = click_id_of(response)
    event = app.container.tracking.find_click(idfmt.parse("auc", click_id) or 0)
    assert event is not None and event.type is EventType.CLICK
    assert (event.campaign_id, event.publisher_id, event.country) == (offer_id, publisher.account.id, "US")
    assert event.attrs["sub_id1"] == "source a"
    assert event.attrs["user_agent"] == CHROME
    assert event.device_type == "desktop"
    # Found again from the event log alone (another worker, or after a restart).
    app.container.tracking.recent_clicks = type(app.container.tracking.recent_clicks)()
    assert app.container.tracking.find_click(event.id) == event


def test_a_returning_visitor_keeps_its_id_whatever_other_cookies_the_host_has(
    app: RootApp, client: TestClient, acme: Api, publisher: Api
) -> None:
    """Other cookies of the tracking host (JSON, spaces) must not hide ours: SimpleCookie, used
    before, gave up on such a header and a returning visitor got a new id."""
    path = click_url(offer(acme), publisher)
    for header in ('session={"cart": [1, 2]}; auc_uid=visitor42', 'bad name=1; auc_uid="visitor42"'):
        response = click(client, path, Cookie=header)
        assert "set-cookie" not in response.headers, header  # nothing new to remember
        event = app.container.tracking.find_click(idfmt.parse("auc", click_id_of(response)) or 0)
        assert event is not None and event.attrs["uid"] == "visitor42", header
    # A value that is not one of our ids is not taken: the visitor gets a new one.
    fresh = click(client, path, Cookie="auc_uid=<script>")
    assert "auc_uid=" in fresh.headers["set-cookie"]


def test_a_url_without_the_click_macro_gets_click_id_appended(
    acme: Api, publisher: Api, client: TestClient
) -> None:
    offer_id = offer(acme, destination_url="https://shop.example.com/p?x=1")
    response = click(client, click_url(offer_id, publisher))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["x"] == ["1"] and query["click_id"][0].startswith("auc_")


def test_the_visitor_cookie_ties_clicks_together(
    app: RootApp, acme: Api, publisher: Api, client: TestClient
) -> None:
    offer_id = offer(acme)
    first = click_id_of(click(client, click_url(offer_id, publisher)))
    second = click_id_of(click(client, click_url(offer_id, publisher)))  # the client keeps the cookie
    find = app.container.tracking.find_click
    a, b = find(idfmt.parse("auc", first) or 0), find(idfmt.parse("auc", second) or 0)
    assert a is not None and b is not None and a.attrs["uid"] == b.attrs["uid"]


def test_links_that_must_not_redirect(app: RootApp, acme: Api, publisher: Api, client: TestClient) -> None:
    offer_id = offer(acme)
    url = click_url(offer_id, publisher)
    assert click(client, "/click?o=zz!").status_code == 400
    assert click(client, "/click?p=1").status_code == 400
    assert click(client, f"/click?o={idfmt.to_base36(offer_id)}").status_code == 400  # no publisher
    assert click(client, f"/click?o={idfmt.to_base36(offer_id + 1)}&p=1").status_code == 404
    as_advertiser = f"/click?o={idfmt.to_base36(offer_id)}&p={idfmt.to_base36(acme.account.id)}"
    assert click(client, as_advertiser).status_code == 404
    acme.call("PATCH", f"/v2/campaigns/{idfmt.render('cmp', offer_id)}", {"status": "paused"})
    paused = click(client, url)
    assert paused.status_code == 404 and "not running" in paused.text and "location" not in paused.headers
    acme.call("DELETE", f"/v2/campaigns/{idfmt.render('cmp', offer_id)}")
    assert click(client, url).status_code == 410


def test_only_a_get_is_a_click(app: RootApp, acme: Api, publisher: Api, client: TestClient) -> None:
    """A HEAD is a link checker or a prefetcher: no click logged, nothing charged."""
    url = click_url(offer(acme), publisher)
    for method in ("HEAD", "POST", "PUT"):
        refused = client.request(method, url, headers=BROWSER, follow_redirects=False)
        assert refused.status_code == 405 and refused.headers["allow"] == "GET"
        assert "location" not in refused.headers
    assert app.container.events.query("SELECT count(*) FROM events")[0][0] == 0
    assert click(client, url).status_code == 302


def test_private_offers_do_not_redirect_unapproved_publishers(
    acme: Api, publisher: Api, client: TestClient
) -> None:
    offer_id = offer(acme, visibility="private")
    assert click(client, click_url(offer_id, publisher)).status_code == 404


def test_pixels_log_impressions_and_viewable_impressions(app: RootApp, acme: Api, client: TestClient) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    tracking = acme.get(campaign_id)["tracking"]
    assert tracking["click_url"].startswith("https://trk.example.com/click?c=")
    for key in ("impression_pixel", "viewable_pixel"):
        response = client.get(tracking[key].removeprefix("https://trk.example.com"), headers=BROWSER)
        assert response.status_code == 200
        assert response.content == PIXEL and len(PIXEL) == 43
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
    kinds = [row[0] for row in app.container.events.query("SELECT type FROM events ORDER BY id")]
    assert kinds == ["impression", "viewable_impression"]
    viewable = tracking["viewable_pixel"].removeprefix("https://trk.example.com")
    assert client.post(viewable, headers=BROWSER).content == PIXEL  # navigator.sendBeacon POSTs
    refused = client.head(viewable, headers=BROWSER)  # not a view: nothing logged
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, POST"
    kinds = [row[0] for row in app.container.events.query("SELECT type FROM events ORDER BY id")]
    assert kinds == ["impression", "viewable_impression", "viewable_impression"]
    assert click(client, tracking["click_url"].removeprefix("https://trk.example.com")).status_code == 302


# --- postbacks --------------------------------------------------------------------------------


@pytest.fixture
def clicked(acme: Api, publisher: Api, client: TestClient, clock: FrozenClock) -> str:
    click_id = click_id_of(click(client, click_url(offer(acme), publisher, sub_id1="a")))
    clock.now += timedelta(minutes=5)  # a person takes minutes to buy; seconds would be click injection
    return click_id


def test_seed_postback(acme: Api, clicked: str) -> None:
    response = postback(
        acme, {"click_id": clicked, "event_type": "purchase", "revenue": 149.99, "currency": "USD"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["transaction_id"].startswith("txn_")
    assert 0 <= body["fraud_score"] <= 1 and body["status"] == "approved"


def test_postbacks_are_idempotent(acme: Api, clicked: str) -> None:
    body = {"click_id": clicked, "event_type": "purchase", "revenue": 10, "order_id": "o-1"}
    first = postback(acme, body).json()["transaction_id"]
    assert postback(acme, body).json()["transaction_id"] == first
    assert postback(acme, {**body, "order_id": "o-2"}).json()["transaction_id"] != first
    keyed = postback(acme, {**body, "order_id": "o-3"}, **{"Idempotency-Key": "k1"}).json()["transaction_id"]
    assert (
        postback(acme, {**body, "order_id": "o-4"}, **{"Idempotency-Key": "k1"}).json()["transaction_id"]
        == keyed
    )
    # A retry of the first sale adding a key: the key then names that sale, whatever it is sent with.
    assert postback(acme, body, **{"Idempotency-Key": "k2"}).json()["transaction_id"] == first
    assert (
        postback(acme, {**body, "order_id": "o-5"}, **{"Idempotency-Key": "k2"}).json()["transaction_id"]
        == first
    )
    # A key another conversion holds stays that one's.
    assert (
        postback(acme, {**body, "order_id": "o-2"}, **{"Idempotency-Key": "k1"}).json()["transaction_id"]
        != keyed
    )


def test_conversions_reach_the_campaign_figures_and_reversals_take_them_back(
    app: RootApp, acme: Api, clicked: str, clock: FrozenClock
) -> None:
    txn = postback(acme, {"click_id": clicked, "event_type": "purchase", "revenue": 149.99}).json()[
        "transaction_id"
    ]
    totals = app.container.events.campaign_totals(
        acme.account.id, None, clock.now - timedelta(days=1), clock.now + timedelta(days=1)
    )
    (figures,) = totals.values()
    assert (figures.conversions, figures.revenue_micros, figures.payout_micros) == (
        1,
        149_990_000,
        45_000_000,
    )
    reversal = acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "chargeback"})
    assert reversal.json() == {
        "success": True,
        "transaction_id": txn,
        "status": "reversed",
        "payout_deducted": 45.0,
    }
    again = acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "chargeback"})
    assert again.json() == reversal.json()
    totals = app.container.events.campaign_totals(
        acme.account.id, None, clock.now - timedelta(days=1), clock.now + timedelta(days=1)
    )
    (figures,) = totals.values()
    assert (figures.reversals, figures.revenue_micros, figures.payout_micros) == (1, 0, 0)


def test_conversions_and_reversals_are_reported_where_their_click_came_from(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    """The publisher report splits conversions by the domain the click came from, and the
    creative report by the creative and variant it showed: the postback names neither."""
    offer_id = offer(acme)
    clicks = []
    for referrer, variant in (
        ("https://www.forbes.com/business/", "blue"),
        ("https://www.forbes.com/tech/", "red"),
        ("https://blog.example.org/", "blue"),
    ):
        query = link_query(offer_id, publisher.account.id, {}, offer=True, creative_id=7, variant=variant)
        clicks.append(click_id_of(click(client, f"/click?{query}", Referer=referrer)))
    clock.now += timedelta(minutes=5)
    txns = [
        postback(acme, {"click_id": c, "event_type": "purchase", "revenue": 100}).json()["transaction_id"]
        for c in clicks
    ]
    acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txns[1], "reason": "chargeback"})

    rows = acme.call("GET", "/v2/reports/publishers").json()["data"]
    by_domain = {row["domain"]: row for row in rows}
    assert set(by_domain) == {"forbes.com", "blog.example.org"}
    assert (by_domain["forbes.com"]["clicks"], by_domain["forbes.com"]["conversions"]) == (2, 1)
    assert by_domain["forbes.com"]["payout"] == 45  # the reversed one's payout is taken back
    assert (by_domain["blog.example.org"]["clicks"], by_domain["blog.example.org"]["conversions"]) == (1, 1)
    creatives = acme.call("GET", "/v2/reports/creatives").json()["data"]
    by_variant = {row["variant"]: row for row in creatives}
    assert {row["creative_id"] for row in creatives} == {idfmt.render("dco", 7)}  # links with a variant: DCO
    assert (by_variant["blue"]["clicks"], by_variant["blue"]["conversions"]) == (2, 2)
    assert (by_variant["red"]["clicks"], by_variant["red"]["conversions"]) == (1, 0)


def test_reversal_window_and_bad_reversals(acme: Api, clicked: str, clock: FrozenClock) -> None:
    txn = postback(acme, {"click_id": clicked, "event_type": "purchase", "revenue": 5}).json()[
        "transaction_id"
    ]
    error(
        acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "bored"}),
        422,
        "reason",
    )
    error(
        acme.call("POST", "/v2/conversions/reversal", {"transaction_id": "txn_nope", "reason": "refund"}), 404
    )
    clock.now += timedelta(days=30, seconds=1)
    late = error(
        acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "refund"}), 409
    )
    assert late["code"] == "reversal_window_expired" and "30 days" in late["message"]


def test_a_reversal_deducts_exactly_what_was_paid(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    click_id = click_id_of(click(client, click_url(offer(acme, payout=2.7775), publisher)))
    clock.now += timedelta(minutes=5)
    txn = postback(acme, {"click_id": click_id, "event_type": "purchase"}).json()["transaction_id"]
    reversed_ = acme.call("POST", "/v2/conversions/reversal", {"transaction_id": txn, "reason": "refund"})
    assert '"payout_deducted":2.7775' in reversed_.text  # not 2.78: what the publisher was paid


def test_postback_signatures(acme: Api, clicked: str, clock: FrozenClock) -> None:
    body = {"click_id": clicked, "event_type": "purchase"}
    unsigned = acme.client.post("/v2/conversions", json=body, headers=acme.headers)
    assert error(unsigned, 401)["code"] == "missing_signature"
    assert error(postback(acme, body, secret="auc_ss_wrong"), 401)["code"] == "invalid_signature"
    stale = postback(acme, body, at=int(clock.now.timestamp()) - 301)
    assert error(stale, 401)["code"] == "stale_signature"
    # Unsigned bad input is refused for the signature, not described.
    assert (
        error(acme.client.post("/v2/conversions", json={}, headers=acme.headers), 401)["code"]
        == "missing_signature"
    )


def test_bad_postbacks_write_nothing(app: RootApp, acme: Api, clicked: str) -> None:
    unknown = error(postback(acme, {"click_id": "auc_zzzzzz", "event_type": "purchase"}), 422, "click_id")
    assert unknown["code"] == "unknown_click_id"
    error(postback(acme, {"click_id": clicked, "event_type": "Purchase!"}), 422, "event_type")
    error(postback(acme, {"click_id": clicked, "event_type": "purchase", "revenue": -1}), 422, "revenue")
    error(postback(acme, {"click_id": clicked, "event_type": "purchase", "currency": "EUR"}), 422, "currency")
    error(postback(acme, {"click_id": clicked, "event_type": "purchase", "surprise": 1}), 422, "surprise")
    error(postback(acme, {"click_id": clicked, "event_type": "purchase", "revenue": 1e13}), 422, "revenue")
    error(
        postback(acme, {"click_id": clicked, "event_type": "purchase", "order_id": "\ud800"}), 400, "order_id"
    )
    # A blank key (a client's unset variable) would make every later postback a copy of the first.
    blank = postback(acme, {"click_id": clicked, "event_type": "purchase"}, **{"Idempotency-Key": " "})
    error(blank, 422, "idempotency-key")
    assert app.container.events.query("SELECT count(*) FROM events WHERE type = 'conversion'") == [(0,)]


def test_another_tenants_click_is_unknown(app: RootApp, client: TestClient, clicked: str) -> None:
    other = Api(app, client, name="Other")
    assert (
        error(postback(other, {"click_id": clicked, "event_type": "purchase"}), 422)["code"]
        == "unknown_click_id"
    )


def test_a_landing_page_with_macros_and_a_fragment_gets_the_click_id_in_its_query(
    acme: Api, publisher: Api, client: TestClient
) -> None:
    offer_id = offer(acme, destination_url="https://shop.example.com/land?o={offer_id}&s={sub_id1}#reviews")
    location = click(client, click_url(offer_id, publisher, sub_id1="a")).headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["click_id"][0].startswith("auc_") and query["s"] == ["a"]
    assert query["o"] == [idfmt.to_base36(offer_id)] and urlsplit(location).fragment == "reviews"


def test_a_campaigns_own_link_cannot_be_made_a_publishers(
    acme: Api, publisher: Api, client: TestClient
) -> None:
    campaign = acme.create(destination_url="https://shop.example.com/dsp")  # not an offer
    own = urlsplit(acme.get(campaign)["tracking"]["click_url"])
    assert click(client, f"{own.path}?{own.query}").status_code == 302
    forged = click(client, f"{own.path}?{own.query}&p={idfmt.to_base36(publisher.account.id)}")
    assert forged.status_code == 404 and "not an offer" in forged.text


def test_revenue_in_another_currency_is_converted_at_the_operators_rate(
    app: RootApp, acme: Api, clicked: str
) -> None:
    with app.container.uow() as uow:
        uow.fx_rates.set("EUR", "USD", Decimal("1.08"), app.container.clock())
        uow.commit()
    txn = postback(
        acme, {"click_id": clicked, "event_type": "purchase", "revenue": 100, "currency": "EUR"}
    ).json()
    conversion = app.container.conversions.get(
        app.container.auth.authenticate(acme.headers["Authorization"][7:]), txn["transaction_id"]
    )  # type: ignore[arg-type]
    assert (conversion.revenue_micros, conversion.original_revenue_micros) == (108_000_000, 100_000_000)
    # A rate set past any sense makes the amount one no column holds: the postback is refused.
    for absurd in ("1e20", "1e999999"):
        with app.container.uow() as uow:
            uow.fx_rates.set("GBP", "USD", Decimal(absurd), app.container.clock())
            uow.commit()
        body = {"click_id": clicked, "event_type": "sale", "revenue": 100, "currency": "GBP"}
        assert "exchange rate" in error(postback(acme, body), 422, "revenue")["message"]


def test_revenue_is_converted_at_the_rate_of_the_sales_day(
    app: RootApp, acme: Api, clicked: str, clock: FrozenClock
) -> None:
    sale_time = clock.now
    with app.container.uow() as uow:
        uow.fx_rates.set("EUR", "USD", Decimal("1.08"), clock.now)
        uow.commit()
    clock.now += timedelta(days=2)  # the rate changes, then the sale of two days ago is reported
    with app.container.uow() as uow:
        uow.fx_rates.set("EUR", "USD", Decimal("1.20"), clock.now)
        uow.commit()
    principal = app.container.auth.authenticate(acme.headers["Authorization"][7:])
    assert principal is not None

    def revenue(order: str, **fields: Any) -> int:
        body = {
            "click_id": clicked,
            "event_type": "sale",
            "revenue": 100,
            "currency": "EUR",
            "order_id": order,
        }
        txn = postback(acme, {**body, **fields}).json()["transaction_id"]
        return app.container.conversions.get(principal, txn).revenue_micros

    assert revenue("late", event_time=sale_time.isoformat()) == 108_000_000
    assert revenue("today") == 120_000_000


def test_fraud_log(acme: Api, clicked: str) -> None:
    txn = postback(acme, {"click_id": clicked, "event_type": "purchase"}).json()["transaction_id"]
    log = acme.call("GET", "/v2/conversions/fraud-log", transaction_id=txn).json()
    assert {"transaction_id", "status", "reason", "confidence_score"} <= set(log)
    assert log["transaction_id"] == txn and log["status"] == "approved"
    error(acme.call("GET", "/v2/conversions/fraud-log", transaction_id="txn_zz"), 404)


def test_a_conversion_seconds_after_its_click_is_rejected_and_explained(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    click_id = click_id_of(click(client, click_url(offer(acme), publisher)))
    clock.now += timedelta(seconds=2)
    answer = postback(acme, {"click_id": click_id, "event_type": "install"}).json()
    assert answer["status"] == "rejected" and answer["fraud_score"] >= 0.8
    log = acme.call("GET", "/v2/conversions/fraud-log", transaction_id=answer["transaction_id"]).json()
    assert log["status"] == "rejected" and log["reason"] == "click_injection"
    assert log["confidence_score"] == answer["fraud_score"]
    (signal,) = log["signals"]
    assert signal["telemetry"]["click_to_conversion_seconds"] == 2.0


def _history(app: RootApp, acme: Api, offer_id: int, publisher: Api, delays: list[timedelta]) -> None:
    """Sales of `publisher` in the past weeks, each `delay` after its click, as the log holds them."""
    now, log = app.container.clock(), app.container.events
    for i, delay in enumerate(delays):
        clicked = now - timedelta(days=25) + timedelta(minutes=i)
        click_id = app.container.ids.next_id()
        common = {"campaign_id": offer_id, "publisher_id": publisher.account.id}
        rendered = idfmt.render("auc", click_id)
        log.append(Event(click_id, EventType.CLICK, clicked, acme.account.id, click_id=rendered, **common))
        sale_id, sold = app.container.ids.next_id(), clicked + delay
        log.append(Event(sale_id, EventType.CONVERSION, sold, acme.account.id, click_id=rendered, **common))


def test_late_sales_from_a_publisher_suspected_of_click_flooding_are_rejected(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id, honest = offer(acme), Api(app, client, "publisher", "Honest")
    _history(app, acme, offer_id, honest, [timedelta(minutes=20)] * 27 + [timedelta(days=2)] * 3)
    _history(app, acme, offer_id, publisher, [timedelta(hours=1 + 12 * i) for i in range(30)])
    assert app.container.flooding.refresh() == 1  # the server does it every 5 minutes

    def sale(by: Api, after: timedelta) -> dict[str, Any]:
        click_id = click_id_of(click(client, click_url(offer_id, by)))
        clock.now += after
        answer = postback(acme, {"click_id": click_id, "event_type": "purchase", "revenue": 80}).json()
        return dict(
            acme.call("GET", "/v2/conversions/fraud-log", transaction_id=answer["transaction_id"]).json()
        )

    late = sale(publisher, timedelta(days=3))
    assert (late["status"], late["reason"]) == ("rejected", "click_flooding")
    strongest = max(late["signals"], key=lambda s: s["confidence"])
    assert strongest["telemetry"]["rule"] == "late_from_flooding_publisher"
    assert strongest["telemetry"]["publisher_late_share"] == pytest.approx(28 / 30)
    assert strongest["telemetry"]["reference_late_share"] == pytest.approx(3 / 30)
    # The same publisher's sale within the hour is its own; another's late sale is a person returning.
    assert sale(publisher, timedelta(minutes=30))["status"] == "approved"
    returning = sale(honest, timedelta(days=3))
    assert (returning["status"], returning["reason"]) == ("approved", "click_flooding")  # a weak signal
    assert [s["telemetry"]["rule"] for s in returning["signals"]] == ["long_ctit_without_touches"]


def test_bot_clicks_are_redirected_but_logged_as_ivt_and_not_paid(
    app: RootApp, acme: Api, publisher: Api, client: TestClient
) -> None:
    offer_id = offer(acme, type="affiliate_cpc", payout=0.5)
    human = click(client, click_url(offer_id, publisher))
    bot = click(
        client,
        click_url(offer_id, publisher),
        **{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    )
    assert human.status_code == bot.status_code == 302
    rows = app.container.events.query(
        "SELECT ivt, payout_micros, cost_micros FROM events WHERE type = 'click' ORDER BY id"
    )
    assert rows == [(False, 500_000, 500_000), (True, 0, 0)]


# --- offline conversions ------------------------------------------------------------------------

ALICE = "alice@example.com"


def test_offline_conversions_match_hashed_identifiers_from_clicks_and_postbacks(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme)
    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    # The publisher passes Alice's hashed email on the link; Bob's phone reaches us on a postback.
    click(client, click_url(offer_id, publisher) + f"&em={alice}")
    bob_client = TestClient(app)
    bob_click = click_id_of(click(bob_client, click_url(offer_id, publisher)))
    clock.now += timedelta(hours=1)
    postback(acme, {"click_id": bob_click, "event_type": "lead", "phone": "+1 (415) 555-2671"})
    clock.now += timedelta(days=2)
    events = [
        {"event_id": "pos-1", "hashed_email": alice.upper(), "value": 50},
        {"event_id": "pos-2", "phone": "+14155552671", "value": 120.5, "currency": "USD"},
        {"event_id": "pos-3", "email": "nobody@example.com", "value": 9},
        {"event_id": "pos-4", "email": "alice.at.example.com", "value": 9},
        {"event_id": "pos-5", "value": 9},
    ]
    answer = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert (answer["success"], answer["matched_events"], answer["unmatched_events"]) == (True, 2, 1)
    assert answer["invalid_events"] == 2
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(3, "email"), (4, "hashed_email")]
    assert "alice.at" not in json.dumps(answer)  # raw identifiers are never echoed
    again = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert again["matched_events"] == 2  # matched again, but recorded once
    rows = app.container.events.query(
        "SELECT (attrs->>'order_id'), revenue_micros, payout_micros FROM events "
        "WHERE type = 'conversion' AND (attrs->>'event_type') = 'offline_purchase' ORDER BY 1"
    )
    assert rows == [("pos-1", 50_000_000, 45_000_000), ("pos-2", 120_500_000, 45_000_000)]
    with app.container.engine.connect() as conn:  # their events are in the log: marked, not left to the sweep
        logged = conn.exec_driver_sql(
            "SELECT order_id, logged FROM conversions WHERE event_type = 'offline_purchase' ORDER BY 1"
        ).all()
    assert [tuple(r) for r in logged] == [("pos-1", True), ("pos-2", True)]
    raw = b"".join(p.read_bytes() for p in (app.container.settings.data_dir).rglob("*") if p.is_file())
    assert b"alice@example.com" not in raw and b"nobody@example.com" not in raw


def test_an_offline_event_the_service_refuses_fails_alone_and_writes_nothing_of_its_own(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    click(client, click_url(offer(acme), publisher) + f"&em={alice}")
    clock.now += timedelta(days=1)
    future = (clock.now + timedelta(days=30)).isoformat()
    events = [
        {"event_id": "ok-1", "hashed_email": alice, "value": 11},
        {"event_id": "late", "hashed_email": alice, "value": 12, "event_time": future},
        {"event_id": "naive", "hashed_email": alice, "value": 13, "event_time": "2026-11-24T10:00:00"},
        {"event_id": "chf", "hashed_email": alice, "value": 14, "currency": "CHF"},  # no rate set
        {"event_id": "xx", "hashed_email": alice, "value": 15, "currency": "XXQ"},
        {"event_id": "ok-2", "hashed_email": alice, "value": 16},
        {"event_id": "odd", "hashed_email": alice, "value": 17, "event_type": "Not A Type!"},  # as postbacks
    ]
    answer = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert (answer["matched_events"], answer["unmatched_events"], answer["invalid_events"]) == (2, 0, 5)
    fields = [(e["index"], e["field"]) for e in answer["errors"]]
    assert fields == [
        (1, "event_time"),
        (2, "event_time"),
        (3, "currency"),
        (4, "currency"),
        (6, "event_type"),
    ]
    rows = app.container.events.query(
        "SELECT (attrs->>'order_id') FROM events WHERE type = 'conversion' ORDER BY 1"
    )
    assert rows == [("ok-1",), ("ok-2",)]
    # A currency without a rate is invalid whoever the event would match: nobody's sale in CHF
    # can be counted, and calling it "unmatched" would send the advertiser looking for visitors.
    stranger = {"event_id": "chf-2", "email": "nobody@example.com", "value": 14, "currency": "CHF"}
    answer = acme.call("POST", "/v2/conversions/offline", {"events": [stranger]}).json()
    assert (answer["unmatched_events"], answer["invalid_events"]) == (0, 1)
    assert [e["field"] for e in answer["errors"]] == ["currency"]
    # Two addresses for one person: which one bought? Neither is guessed.
    both = {"event_id": "two", "email": "bob@example.com", "hashed_email": alice, "value": 5}
    same = {"event_id": "one", "email": ALICE, "hashed_email": alice, "value": 5}
    answer = acme.call("POST", "/v2/conversions/offline", {"events": [both, same]}).json()
    assert (answer["matched_events"], answer["invalid_events"]) == (1, 1)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(0, "email")]
    assert "bob@" not in json.dumps(answer)
    error(acme.client.post("/v2/conversions/offline", content=b"{bad", headers=acme.headers), 400)
    misspelt = error(acme.call("POST", "/v2/conversions/offline", {"events": [], "evnts": []}), 422)
    assert (misspelt["code"], misspelt["field"]) == ("unknown_field", "evnts")


def test_an_offline_upload_without_event_ids_or_times_is_counted_once_a_day(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    """The seed's own example: a retried upload must not pay the publisher twice."""
    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    click(client, click_url(offer(acme), publisher) + f"&em={alice}")
    clock.now += timedelta(hours=2)
    body = {"events": [{"hashed_email": alice, "value": 50}]}
    assert acme.call("POST", "/v2/conversions/offline", body).json()["matched_events"] == 1
    clock.now += timedelta(minutes=10)
    assert acme.call("POST", "/v2/conversions/offline", body).json()["matched_events"] == 1  # a retry
    # The account's currency named, in either case, is the same sale as no currency (it was paid again).
    for currency in ("USD", "usd"):
        named = {"events": [{"hashed_email": alice, "value": 50, "currency": currency}]}
        assert acme.call("POST", "/v2/conversions/offline", named).json()["matched_events"] == 1
    clock.now += timedelta(days=1)
    acme.call("POST", "/v2/conversions/offline", body)  # another day's sale
    rows = app.container.events.query("SELECT count(*) FROM events WHERE type = 'conversion'")
    assert rows == [(2,)]


def test_an_offline_event_stored_by_an_earlier_release_is_not_paid_again(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    """Earlier releases keyed an event without an id by the currency as sent (None when left
    out); re-uploading the same file after an upgrade must find those rows."""
    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    click(client, click_url(offer(acme), publisher) + f"&em={alice}")
    clock.now += timedelta(hours=2)
    body = {"events": [{"hashed_email": alice, "value": 50}]}
    assert acme.call("POST", "/v2/conversions/offline", body).json()["matched_events"] == 1
    upload = OfflineEvent((("email_sha256", alice),), 50_000_000)
    old_key, new_key = upload.dedup_key(clock.now, None), upload.dedup_key(clock.now, "USD")
    with app.container.engine.begin() as conn:
        changed = conn.exec_driver_sql(
            "UPDATE conversions SET dedup_key = ? WHERE dedup_key = ?", (old_key, new_key)
        )
        assert changed.rowcount == 1
    clock.now += timedelta(minutes=10)
    assert acme.call("POST", "/v2/conversions/offline", body).json()["matched_events"] == 1
    rows = app.container.events.query("SELECT count(*) FROM events WHERE type = 'conversion'")
    assert rows == [(1,)]


def test_offline_csv_upload_and_lookback(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    click(client, click_url(offer(acme), publisher) + f"&em={alice}")
    clock.now += timedelta(days=10)
    csv_body = f"event_id,hashed_email,value,event_time\nc-1,{alice},10,{clock.now.isoformat()}\n"
    headers = {**acme.headers, "Content-Type": "text/csv"}
    upload = acme.client.post("/v2/conversions/offline", content=csv_body, headers=headers).json()
    assert (upload["matched_events"], upload["unmatched_events"]) == (1, 0)
    short = acme.client.post(
        "/v2/conversions/offline",
        params={"lookback_days": 7},
        content=csv_body.replace("c-1", "c-2"),
        headers=headers,
    ).json()
    assert (short["matched_events"], short["unmatched_events"]) == (0, 1)
    # An unquoted comma shifts a line's cells: refused on its line, never read under the wrong columns.
    shifted = f"event_id,hashed_email,value\nc-3,{alice},1,200\nc-4,{alice},3\n"
    answer = acme.client.post("/v2/conversions/offline", content=shifted, headers=headers).json()
    assert (answer["matched_events"], answer["invalid_events"]) == (1, 1)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(0, "events")]
    bad = acme.client.post("/v2/conversions/offline", content="who,what\n1,2\n", headers=headers)
    error(bad, 422, "events")
    error(publisher.call("POST", "/v2/conversions/offline", {"events": []}), 403)


def test_the_country_comes_from_the_geoip_database_without_a_proxy_header(
    tmp_path: Path, clock: FrozenClock
) -> None:
    from ivt.test_geoip import country_db

    settings = Settings(
        data_dir=tmp_path / "geo",
        geoip_database=country_db(tmp_path / "c.mmdb"),
        client_ip_header="X-Forwarded-For",
    )
    application = create_app(container=build(settings, clock=clock))
    try:
        with TestClient(application) as geo_client:
            acme, publisher = Api(application, geo_client), Api(application, geo_client, "publisher", "Pub")
            headers = {"User-Agent": CHROME, "Accept-Language": "en", "X-Forwarded-For": "81.2.69.142"}
            response = geo_client.get(
                click_url(offer(acme), publisher), headers=headers, follow_redirects=False
            )
            event = application.container.tracking.find_click(idfmt.parse("auc", click_id_of(response)) or 0)
            assert event is not None and event.country == "GB"
    finally:
        application.container.close()


@pytest.mark.parametrize(("hops", "seen"), [(1, "81.2.69.142"), (2, "203.0.113.9"), (5, "6.6.6.6")])
def test_the_visitor_address_is_read_from_the_right_of_x_forwarded_for(
    tmp_path: Path, clock: FrozenClock, hops: int, seen: str
) -> None:
    """The left-most entries are whatever the client sent: a bot writing a new one on each click
    must not pass as new visitors. One proxy appending (the default) gives the right-most entry;
    two (a CDN, then a load balancer) the one before it; more hops than entries, the left-most."""
    settings = Settings(data_dir=tmp_path / "xff", client_ip_header="X-Forwarded-For", client_ip_hops=hops)
    application = create_app(container=build(settings, clock=clock))
    try:
        with TestClient(application) as xff_client:
            acme, publisher = Api(application, xff_client), Api(application, xff_client, "publisher", "Pub")
            forged = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 81.2.69.142"}
            response = click(xff_client, click_url(offer(acme), publisher), **forged)
            event = application.container.tracking.find_click(idfmt.parse("auc", click_id_of(response)) or 0)
            assert event is not None and event.attrs["ip"] == seen
    finally:
        application.container.close()


def test_the_postback_route_behaves_like_every_other_api_route(acme: Api, clicked: str) -> None:
    answer = postback(acme, {"click_id": clicked, "event_type": "purchase"}, **{"X-Request-ID": "trace-1"})
    assert answer.headers["x-request-id"] == "trace-1"
    assert int(answer.headers["x-ratelimit-limit"]) > 0
    assert error(acme.client.post("/v2/conversions", json={}), 401)["code"] == "unauthorized"
    assert acme.call("GET", "/v2/conversions").status_code == 405
    long_key = postback(
        acme, {"click_id": clicked, "event_type": "purchase"}, **{"Idempotency-Key": "k" * 256}
    )
    error(long_key, 422, "idempotency-key")


def test_a_postback_body_that_arrives_in_pieces_is_signed_and_read_whole(
    app: RootApp, acme: Api, clicked: str
) -> None:
    """The route reads the body straight from the server's messages: all of them, not the first."""
    fields = {"click_id": clicked, "event_type": "purchase", "revenue": 7, "order_id": "p-1"}
    raw = json.dumps(fields).encode()
    signature = sign(acme.account.signing_secret, raw, int(app.container.clock().timestamp()))
    headers = {**acme.headers, "Content-Type": "application/json", "X-Auctera-Signature": signature}
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v2/conversions",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    pieces = [raw[:7], raw[7:30], raw[30:]]
    messages = [{"type": "http.request", "body": p, "more_body": i < 2} for i, p in enumerate(pieces)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200, sent
    txn = json.loads(sent[1]["body"])["transaction_id"]
    # Sent again in one piece: the same conversion, so the whole body was recorded the first time.
    assert postback(acme, fields).json()["transaction_id"] == txn


def test_a_large_csv_upload_is_matched_in_batches_as_it_streams(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    from auctera.services.conversions import OFFLINE_BATCH

    alice = hashlib.sha256(ALICE.encode()).hexdigest()
    click(client, click_url(offer(acme), publisher) + f"&em={alice}")
    clock.now += timedelta(days=1)
    strangers = OFFLINE_BATCH + 5  # more than one batch, sent in small chunks
    lines = ["event_id,hashed_email,value", f"alice,{alice},10"]
    lines += [f"s{i},{hashlib.sha256(f'{i}@x.example'.encode()).hexdigest()},1" for i in range(strangers)]
    lines.append("bad,not-a-hash,1")
    body = ("\n".join(lines) + "\n").encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    headers = {**acme.headers, "Content-Type": "text/csv"}
    answer = acme.client.post("/v2/conversions/offline", content=chunks(), headers=headers).json()
    assert (answer["matched_events"], answer["unmatched_events"], answer["invalid_events"]) == (
        1,
        strangers,
        1,
    )
    assert answer["errors"][0]["index"] == strangers + 1


def test_events_past_the_upload_limit_are_refused_not_recorded(
    acme: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auctera.api.v2 import conversions as api

    monkeypatch.setattr(api, "MAX_OFFLINE_EVENTS", 2)
    events = [{"event_id": f"e{i}", "hashed_email": "a" * 64, "value": 1} for i in range(4)]
    answer = acme.call("POST", "/v2/conversions/offline", {"events": events}).json()
    assert (answer["unmatched_events"], answer["invalid_events"]) == (2, 2)
    assert answer["errors"] == [
        {
            "index": 2,
            "field": "events",
            "message": "beyond the 2 events of one upload: send the rest in another",
        }
    ]


def test_the_account_sets_its_fraud_threshold_and_rotates_its_signing_secret(
    acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    assert acme.call("PATCH", "/v2/account", {"fraud_threshold": 0.99}).json()["fraud_threshold"] == 0.99
    error(acme.call("PATCH", "/v2/account", {"fraud_threshold": 2}), 422, "fraud_threshold")
    click_id = click_id_of(click(client, click_url(offer(acme), publisher)))
    clock.now += timedelta(seconds=2)  # click injection scores 0.95: under this account's 0.99
    assert postback(acme, {"click_id": click_id, "event_type": "install"}).json()["status"] == "approved"

    old = acme.account.signing_secret
    rotated = acme.call("POST", "/v2/account/signing-secret/rotate", {"grace_seconds": 60}).json()
    assert rotated["api_secret"] != old
    body = {"click_id": click_id, "event_type": "purchase"}
    assert postback(acme, {**body, "order_id": "1"}, secret=old).status_code == 200  # in the grace
    assert postback(acme, {**body, "order_id": "2"}, secret=rotated["api_secret"]).status_code == 200
    clock.now += timedelta(seconds=61)
    assert error(postback(acme, {**body, "order_id": "3"}, secret=old), 401)["code"] == "invalid_signature"
