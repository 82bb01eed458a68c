"""Sponsored clicks and impressions through the real app: a click lands on the product page and is
charged once at the auction's price; IVT, expired and over-cap clicks are logged, not charged;
forged tokens get a page, not a redirect; a crash between charge and log is repaired by the sweep;
1,000 simultaneous clicks through a real server on loopback charge exactly what the budget covers.

The campaign, the retailer and its catalog, and the line item promoting the product are made
by their services, as the API and the feed import make them.
"""

from __future__ import annotations

import asyncio
import io
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from starlette.testclient import TestClient

from auctera.api.v2.schemas import CampaignCreate
from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.campaigns import CampaignStatus
from auctera.domain.catalog import FeedFormat
from auctera.domain.click_tokens import ClickToken, Placement
from auctera.domain.events import Event, EventType
from auctera.domain.line_items import LineItemSettings, LineItemStatus
from auctera.domain.pricing import BidStrategy
from auctera.services.line_items import LineItemWrite
from auctera.services.spend import Click
from auctera.store.tables import spend_ledger, spend_periods
from auctera.tracking.handlers import PIXEL
from support.clock import FrozenClock
from support.ports import free_port

from .conftest import Api, app_at, error

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
BROWSER = {"User-Agent": CHROME, "Accept-Language": "en-US,en;q=0.9", "CF-IPCountry": "US"}
TRACKING = "https://trk.example.com"
CENT = 10_000
PRODUCT_URL = "https://shop.example.com/p/espresso-machine?ref=ads#reviews"


@dataclass
class Placed:
    """A line item promoting a product on a retailer's site, ready to be clicked."""

    app: RootApp
    advertiser: Api
    retailer_account: Api
    campaign_id: int
    line_item_id: int
    product_id: int

    def token(self, price: int = 30 * CENT, **fields: Any) -> ClickToken:
        c = self.app.container
        values: dict[str, Any] = {
            "auction_id": c.ids.next_id(),
            "line_item_id": self.line_item_id,
            "campaign_id": self.campaign_id,
            "product_id": self.product_id,
            "publisher_id": self.retailer_account.account.id,
            "price_micros": price,
            "placement": Placement.RETAIL,
            "issued_at": c.clock(),
            **fields,
        }
        return ClickToken(**values)

    def path(self, kind: str = "click", token: ClickToken | None = None) -> str:
        urls = self.app.container.sponsored_links.urls(token or self.token())
        return str(getattr(urls, kind)).removeprefix(TRACKING)

    def ledger(self) -> list[Any]:
        with self.app.container.engine.connect() as conn:
            return conn.execute(select(spend_ledger)).all()

    def spent(self, subject_id: int) -> int:
        return self.app.container.spend.spend_of([subject_id], date(2026, 11, 23))[subject_id].lifetime_micros

    def event(self, click_id: str) -> Event:
        found = self.app.container.tracking.find_click(idfmt.parse("auc", click_id) or 0)
        assert found is not None
        return found


FEED = (
    f"id,title,price,currency,link,availability\nsku-1,Espresso machine,199.00,USD,{PRODUCT_URL},in stock\n"
)


def principal(app: RootApp, api: Api) -> Principal:
    return app.container.auth.authenticate(api.headers["Authorization"].removeprefix("Bearer "))


def campaign(app: RootApp, advertiser: Api, **fields: Any) -> int:
    """A campaign as POST /v2/campaigns makes it, through its automated review."""
    body = {
        "name": "Espresso",
        "type": "retail_media",
        "budget": 10_000,  # far above what any test here spends: only the line item's caps bind
        "pacing": "asap",
        "bidding": {"strategy": "manual_cpc", "target_amount": 0.30},
        **fields,
    }
    request = CampaignCreate.model_validate(body)
    c = app.container
    created = c.campaigns.create(principal(app, advertiser), request.type, request.patch())
    reviewed = c.campaigns.review(created.id)
    assert reviewed is not None and reviewed.status is CampaignStatus.ACTIVE, reviewed
    return reviewed.id


def place(app: RootApp, client: TestClient, status: LineItemStatus | None = None, **settings: Any) -> Placed:
    advertiser = Api(app, client)
    retailer_account = Api(app, client, "publisher", "Retailer")
    c = app.container
    campaign_id = campaign(app, advertiser)
    retailer = c.catalog.create_retailer(principal(app, retailer_account), "Shop", "shop.example.com")
    report = c.catalog.import_feed(None, retailer.id, io.BytesIO(FEED.encode()), FeedFormat.CSV)
    assert (report.rows_valid, report.rows_invalid) == (1, 0), report.errors
    write = LineItemWrite(
        LineItemSettings(
            name="Espresso line",
            start_date=date(2026, 11, 1),
            bid_strategy=BidStrategy.CLICKS,
            target_bid_micros=30 * CENT,
            **settings,
        ),
        status=status,
        target_retailer_id=retailer.id,
    )
    owner = principal(app, advertiser)
    line_item_id = c.line_items.create(owner, campaign_id, write).item.id
    (product_id,) = c.line_items.add_products(owner, line_item_id, ["sku-1"])
    return Placed(app, advertiser, retailer_account, campaign_id, line_item_id, product_id)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


@pytest.fixture
def placed(app: RootApp, client: TestClient) -> Placed:
    return place(app, client, budget_micros=CENT * 100)


def click(client: TestClient, path: str, **headers: str) -> Any:
    return client.get(path, headers={**BROWSER, **headers}, follow_redirects=False)


def landed_click_id(response: Any) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/p/espresso-machine",
    )
    assert location.fragment == "reviews"
    query = parse_qs(location.query)
    assert query["ref"] == ["ads"]
    return query["click_id"][0]


def test_a_click_lands_on_the_product_and_is_charged_once(client: TestClient, placed: Placed) -> None:
    response = click(client, placed.path())
    click_id = landed_click_id(response)
    assert response.headers["cache-control"].startswith("no-store")
    assert "auc_uid=" in response.headers["set-cookie"]
    event = placed.event(click_id)
    assert (event.type, event.cost_micros, event.payout_micros, event.ivt) == (
        EventType.CLICK,
        30 * CENT,
        30 * CENT,
        False,
    )
    assert (event.campaign_id, event.line_item_id) == (placed.campaign_id, placed.line_item_id)
    assert event.publisher_id == placed.retailer_account.account.id
    assert event.account_id == placed.advertiser.account.id
    assert event.attrs["charge"] == "charged"
    assert event.attrs["placement"] == "retail"
    assert event.attrs["product_id"] == str(placed.product_id)
    assert [(r.click_id, r.amount_micros) for r in placed.ledger()] == [(event.id, 30 * CENT)]
    assert placed.spent(placed.line_item_id) == placed.spent(placed.campaign_id) == 30 * CENT

    # The same link clicked again is another click, charged again (each click is one charge).
    second = landed_click_id(click(client, placed.path(token=None)))
    assert second != click_id
    assert placed.spent(placed.line_item_id) == 60 * CENT


def test_a_smartlink_click_is_charged_to_its_cpc_campaign(
    app: RootApp, client: TestClient, placed: Placed
) -> None:
    campaign_id = campaign(app, placed.advertiser, name="CPC", type="smartlink_cpc", budget={"daily": 0.50})
    token = placed.token(line_item_id=None, campaign_id=campaign_id, placement=Placement.SMARTLINK)
    first = placed.event(landed_click_id(click(client, placed.path(token=token))))
    assert (first.line_item_id, first.campaign_id, first.cost_micros) == (None, campaign_id, 30 * CENT)
    assert first.attrs["placement"] == "smartlink"
    second = placed.event(landed_click_id(click(client, placed.path(token=token))))
    assert (second.cost_micros, second.attrs["charge"]) == (0, "campaign_daily")
    assert placed.spent(campaign_id) == 30 * CENT


def test_the_sale_after_a_sponsored_click_is_a_conversion_of_it(
    client: TestClient, placed: Placed, clock: FrozenClock
) -> None:
    import json

    from auctera.domain.signatures import sign

    click_id = landed_click_id(click(client, placed.path()))
    clock.now += timedelta(minutes=5)
    advertiser = placed.advertiser
    raw = json.dumps(
        {"click_id": click_id, "event_type": "purchase", "revenue": 199, "currency": "USD"}
    ).encode()
    signature = sign(advertiser.account.signing_secret, raw, int(clock().timestamp()))
    headers = {**advertiser.headers, "Content-Type": "application/json", "X-Auctera-Signature": signature}
    response = client.post("/v2/conversions", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    # It keeps its click's placement and product, and the auction's predictions count it there.
    events = placed.app.container.events
    clock.now += timedelta(minutes=5)
    (row,) = events.ad_stats(clock() - timedelta(hours=1), clock())
    retailer = placed.retailer_account.account.id
    assert (row.placement, row.product_id, row.bidder_id) == (
        f"retail:{retailer}",
        placed.product_id,
        placed.line_item_id,
    )
    assert (row.clicks, row.conversions) == (1, 1)


def test_ivt_is_logged_and_never_charged(client: TestClient, placed: Placed) -> None:
    response = click(client, placed.path(), **{"User-Agent": "curl/8.5.0"})
    event = placed.event(landed_click_id(response))
    assert (event.ivt, event.cost_micros, event.attrs["charge"]) == (True, 0, "ivt")
    assert placed.ledger() == []
    assert placed.spent(placed.line_item_id) == 0


def test_a_click_over_the_budget_still_lands_but_costs_nothing(app: RootApp, client: TestClient) -> None:
    placed = place(app, client, budget_micros=50 * CENT)
    assert placed.event(landed_click_id(click(client, placed.path()))).cost_micros == 30 * CENT
    over = placed.event(landed_click_id(click(client, placed.path())))
    assert (over.cost_micros, over.attrs["charge"]) == (0, "budget")
    assert placed.spent(placed.line_item_id) == 30 * CENT


def test_a_paused_line_item_is_not_charged(app: RootApp, client: TestClient) -> None:
    placed = place(app, client, status=LineItemStatus.PAUSED)
    event = placed.event(landed_click_id(click(client, placed.path())))
    assert (event.cost_micros, event.attrs["charge"]) == (0, "not_live")


def test_a_week_old_token_is_logged_not_charged(
    client: TestClient, placed: Placed, clock: FrozenClock
) -> None:
    path = placed.path()
    clock.now += timedelta(days=7, seconds=1)
    event = placed.event(landed_click_id(click(client, path)))
    assert (event.cost_micros, event.attrs["charge"]) == (0, "expired")
    assert placed.ledger() == []


def test_forged_and_malformed_tokens_get_a_page(client: TestClient, placed: Placed) -> None:
    path = placed.path()
    token = parse_qs(urlsplit(path).query)["t"][0]
    forged = token[:60] + ("A" if token[60] != "A" else "B") + token[61:]
    response = click(client, f"/sp/click?t={forged}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert click(client, "/sp/click?t=not-a-token").status_code == 400
    assert click(client, "/sp/click").status_code == 400
    assert client.post(path).status_code == 405
    assert client.head(path).status_code == 405  # link checkers and prefetchers are not charged
    assert placed.ledger() == []


def test_a_token_signed_elsewhere_is_forged(app: RootApp, client: TestClient, placed: Placed) -> None:
    from auctera.services.sponsored import SponsoredLinks

    other = SponsoredLinks(TRACKING, b"another-installation-secret").urls(placed.token())
    assert click(client, other.click.removeprefix(TRACKING)).status_code == 404


def test_impression_pixels_are_logged_and_never_charged(client: TestClient, placed: Placed) -> None:
    token = placed.token()
    for kind in ("impression", "viewable"):
        path = placed.path(kind, token).replace("{RAND}", "123")
        response = click(client, path)
        assert response.status_code == 200
        assert response.content == PIXEL and len(PIXEL) == 43
        assert response.headers["content-type"] == "image/gif"
        assert response.headers["cache-control"].startswith("no-store")
    forged = click(client, "/sp/imp?t=AQ" + "A" * 92)  # version 1, not signed by us
    assert (forged.status_code, forged.content) == (404, PIXEL)
    assert placed.ledger() == []
    c = placed.app.container
    c.events.sync()
    totals = c.events.campaign_totals(
        placed.advertiser.account.id,
        [placed.campaign_id],
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 24, tzinfo=UTC),
    )[placed.campaign_id]
    assert (totals.impressions, totals.clicks, totals.cost_micros) == (1, 0, 0)


def test_a_pixel_fired_again_counts_once(client: TestClient, placed: Placed) -> None:
    token = placed.token()
    for _ in range(3):  # the page shown again from cache, a tag firing twice: other random numbers
        for kind in ("impression", "viewable"):
            path = placed.path(kind, token).replace("{RAND}", str(random.randrange(10**9)))
            assert click(client, path).status_code == 200
    other = placed.path("impression", replace(token, auction_id=token.auction_id + 1))  # another auction
    assert click(client, other.replace("{RAND}", "1")).status_code == 200
    c = placed.app.container
    c.events.sync()
    rows = c.events.query(
        "SELECT type, count(*) FROM events WHERE campaign_id = $c GROUP BY type ORDER BY type",
        {"c": placed.campaign_id},
    )
    assert rows == [("impression", 2), ("viewable_impression", 1)]


def test_the_sweep_logs_a_charged_click_a_crash_left_out(
    client: TestClient, placed: Placed, clock: FrozenClock
) -> None:
    c = placed.app.container
    # A crash after the charge committed, before the event was appended: only the ledger row exists.
    lost = c.ids.next_id()
    fields = {
        "click_id": idfmt.render("auc", lost),
        "country": "US",
        "currency": "USD",
        "attrs": {"placement": "retail", "product_id": str(placed.product_id)},
    }
    charge = c.spend.charge(
        Click(
            lost,
            placed.campaign_id,
            placed.line_item_id,
            30 * CENT,
            clock(),
            placed.retailer_account.account.id,
            fields,
        )
    )
    assert charge.charged
    logged = landed_click_id(click(client, placed.path()))  # a click that went through whole
    assert c.sponsored.log_pending() == 0  # younger than a minute: left to its request
    clock.now += timedelta(minutes=2)
    assert c.sponsored.log_pending() == 1  # only the lost one: the other is in the log already
    assert c.sponsored.log_pending() == 0
    recovered = c.events.find_event(lost, clock.now - timedelta(minutes=2))
    assert recovered is not None
    assert (recovered.cost_micros, recovered.line_item_id, recovered.click_id) == (
        30 * CENT,
        placed.line_item_id,
        idfmt.render("auc", lost),
    )
    assert (recovered.publisher_id, recovered.country, recovered.attrs["charge"]) == (
        placed.retailer_account.account.id,
        "US",
        "charged",
    )
    assert placed.event(logged).cost_micros == 30 * CENT
    assert all(r.logged for r in placed.ledger())


def test_each_charge_marks_the_ledger_rows_before_it_logged(
    client: TestClient, placed: Placed, clock: FrozenClock
) -> None:
    first = landed_click_id(click(client, placed.path()))
    second = landed_click_id(click(client, placed.path()))
    # Both events are in the log; the first's row was marked by the second charge's transaction.
    logged = {idfmt.render("auc", r.click_id): r.logged for r in placed.ledger()}
    assert logged == {first: True, second: False}
    clock.now += timedelta(minutes=2)
    assert placed.app.container.sponsored.log_pending() == 0  # found in the log: marked only
    assert all(r.logged for r in placed.ledger())


def test_the_network_sets_balances_and_accounts_read_their_own(
    client: TestClient, placed: Placed, network: Api
) -> None:
    advertiser = placed.advertiser
    path = f"/v2/accounts/{advertiser.id}/balance"
    assert advertiser.call("GET", path).json() == {
        "account_id": advertiser.id,
        "balance": None,
        "currency": "USD",
    }
    error(advertiser.call("PATCH", path, {"balance": "1000"}), 403)
    error(placed.retailer_account.call("GET", path), 404)
    assert network.call("PATCH", path, {"balance": "0.50"}).json()["balance"] == "0.50"
    error(network.call("PATCH", path, {"add": "1.00", "balance": "1"}), 422)
    error(network.call("PATCH", path, {"balance": "-1"}), 422, "balance")
    error(network.call("PATCH", path, {"balance": "0.0000001"}), 422, "balance")
    error(network.call("PATCH", path, {"balance": 1, "color": "red"}), 422)

    assert placed.event(landed_click_id(click(client, placed.path()))).cost_micros == 30 * CENT
    short = placed.event(landed_click_id(click(client, placed.path())))
    assert (short.cost_micros, short.attrs["charge"]) == (0, "no_funds")
    assert advertiser.call("GET", path).json()["balance"] == "0.20"
    assert network.call("PATCH", path, {"add": "1"}).json()["balance"] == "1.20"
    assert network.call("PATCH", path, {"balance": None}).json()["balance"] is None


# --- THE concurrency test, through a real server ---------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RootApp, str]]:
    """The real app behind uvicorn on loopback, in a thread; the visitor's address comes from
    X-Forwarded-For, so each simulated visitor has its own."""
    settings = Settings(data_dir=tmp_path / "data", client_ip_header="X-Forwarded-For", tracking_url=TRACKING)
    application = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", backlog=2048)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield application, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_1000_simultaneous_clicks_through_a_real_server_charge_exactly_the_budget(
    served: tuple[RootApp, str],
) -> None:
    application, base = served
    # Not entered: the server runs the app's lifespan; this client only carries the accounts' keys.
    placed = place(application, TestClient(application), budget_micros=50 * 37 * CENT)
    paths = [placed.path(token=placed.token(price=37 * CENT)) for _ in range(1000)]

    async def hit_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
            return await asyncio.gather(
                *(
                    http.get(path, headers={**BROWSER, "X-Forwarded-For": f"10.{i // 250}.{i % 250}.7"})
                    for i, path in enumerate(paths)
                )
            )

    responses = asyncio.run(hit_all())
    assert [r.status_code for r in responses] == [302] * 1000
    ledger = placed.ledger()
    assert len(ledger) == 50
    assert sum(r.amount_micros for r in ledger) == 50 * 37 * CENT
    with application.container.engine.connect() as conn:
        periods = {(r.subject_id, r.period): r.spent_micros for r in conn.execute(select(spend_periods))}
    for subject in (placed.line_item_id, placed.campaign_id):  # days and months: in case of midnight
        assert periods[(subject, "total")] == 50 * 37 * CENT
        for length in (10, 7):
            assert (
                sum(v for (s, p), v in periods.items() if s == subject and len(p) == length) == 50 * 37 * CENT
            )
    events = application.container.events
    events.sync()
    totals = events.campaign_totals(
        placed.advertiser.account.id,
        [placed.campaign_id],
        datetime.now(UTC) - timedelta(hours=1),
        datetime.now(UTC) + timedelta(hours=1),
    )[placed.campaign_id]
    assert (totals.clicks, totals.ivt_blocked, totals.cost_micros) == (1000, 0, 50 * 37 * CENT)


def test_the_cli_sets_a_balance_the_api_shows(tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess
    import sys

    auctera = shutil.which("auctera", path=str(Path(sys.executable).parent)) or "auctera"
    data = tmp_path / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [auctera, *args, "--data-dir", str(data)], capture_output=True, text=True, timeout=120
        )

    created = json.loads(run("accounts", "create", "--name", "Acme", "--kind", "advertiser").stdout)
    done = run("accounts", "set-balance", created["account_id"], "250.50")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "account_id": created["account_id"],
        "balance": "250.50",
        "currency": "USD",
    }
    assert run("accounts", "set-balance", created["account_id"], "1.0000001").returncode == 2
    application = create_app(Settings(data_dir=data))
    try:
        with TestClient(application) as client:
            path = f"/v2/accounts/{created['account_id']}/balance"
            shown = client.get(path, headers={"Authorization": f"Bearer {created['api_key']}"}).json()
        assert shown["balance"] == "250.50"
    finally:
        application.container.close()


def test_the_generated_secret_is_private_and_survives_restarts(tmp_path: Path) -> None:
    from auctera.bootstrap import click_token_secret

    settings = Settings(data_dir=tmp_path)
    first = click_token_secret(settings)
    assert len(first) == 32
    assert (tmp_path / "click-token.secret").stat().st_mode & 0o777 == 0o600
    assert click_token_secret(settings) == first  # a restart, or another worker, signs alike
    configured = Settings(data_dir=tmp_path, click_token_secret="a-configured-secret-for-all-hosts")
    assert click_token_secret(configured) == b"a-configured-secret-for-all-hosts"
