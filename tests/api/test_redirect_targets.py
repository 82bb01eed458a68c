"""What a redirect may send a visitor to, through a real server (uvicorn on loopback): a deep
link (`url=` on /click) and a SmartLink's fallback are read as a browser reads them (the WHATWG
URL standard), not as urlsplit does. A backslash in the host, a CR/LF or a host that does not
survive NFKC/IDNA is the 400 page before anything is logged (docs/api-v2-channels.md), and a
fallback_url so made is 422 `fallback_url` at create (docs/api-v2-sponsored-products.md).

The security audit's URLs, as it sent them: with the old check a browser went to evil.com, or
the server dropped the connection after logging (and on a CPC offer charging) the click.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.store.tables import smartlinks
from support.clock import FrozenClock
from support.ports import free_port

from .conftest import Api, app_at, error
from .test_offers import make_offer
from .test_smartlink_auction import GTIN, Merchants, handbag
from .test_tracking import BROWSER

TRACKING = "https://trk.auctera.io"


@pytest.fixture
def served(tmp_path: Path, clock: FrozenClock) -> Iterator[Served]:
    """The real app behind uvicorn in a thread: clicks and SmartLinks go to it over HTTP. The
    API calls that set the scene go through a TestClient (not entered: the server runs the
    lifespan), which returns once a new campaign's review has run."""
    settings = {"tracking_cache_seconds": 0, "auction_cache_seconds": 0, "auction_inventory_seconds": 0}
    with app_at(tmp_path, clock, TRACKING, **settings) as application:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                yield Served(application, TestClient(application), client)
        finally:
            server.should_exit = True
            thread.join(30)


@dataclass
class Served:
    app: RootApp
    api: TestClient
    http: httpx.Client


def clicks_logged(app: RootApp) -> int:
    [(count,)] = app.container.events.query("SELECT count(*) FROM events WHERE type = 'click'")
    return int(count)


def click(client: httpx.Client, offer_id: str, publisher: Api, url_param: str) -> httpx.Response:
    """A hand-made click with `url=` exactly as given (already percent-encoded)."""
    query = f"o={offer_id.removeprefix('off_')}&p={idfmt.to_base36(publisher.account.id)}&url={url_param}"
    return client.get(f"/click?{query}", headers=BROWSER, follow_redirects=False)


@pytest.mark.parametrize(
    "url_param",
    [
        "https://evil.com%5C.fintech.example.com/",  # browsers: host evil.com, path /.fintech...
        "https://evil.com%5C@fintech.example.com/",  # urlsplit: host fintech...; browsers: evil.com
        "https://fintech.example.com/%0d%0aSet-Cookie:%20x=1",  # a header injected into the Location
        "https://evil.com%ef%bc%8ffintech.example.com/",  # a fullwidth solidus, "/" under NFKC
        "https://fintech.example.com/%09x",  # a tab, which browsers drop
        "https://fintech.example.com%252fevil.com/",  # a percent-encoded host (%2f)
    ],
)
def test_a_deep_link_a_browser_would_read_otherwise_is_the_400_page_and_no_click(
    served: Served, url_param: str
) -> None:
    app, client = served.app, served.http
    fintech = Api(app, served.api, "advertiser", "FintechCorp")
    pub = Api(app, served.api, "publisher", "Pub")
    offer_id = make_offer(fintech)  # lands on https://fintech.example.com/apply?cid={click_id}

    refused = click(client, offer_id, pub, url_param)

    assert refused.status_code == 400, (refused.status_code, refused.headers)
    assert refused.headers["content-type"].startswith("text/html")
    assert "location" not in refused.headers and "x=1" not in refused.headers.get("set-cookie", "")
    assert "This tracking link is malformed (url: " in refused.text
    assert clicks_logged(app) == 0


def test_a_deep_link_to_the_advertisers_subdomain_still_lands(served: Served) -> None:
    app, client = served.app, served.http
    fintech = Api(app, served.api, "advertiser", "FintechCorp")
    pub = Api(app, served.api, "publisher", "Pub")
    offer_id = make_offer(fintech)

    landed = click(client, offer_id, pub, "https://shop.fintech.example.com/cards%3Fref%3Dx")
    assert landed.status_code == 302, landed.text
    assert landed.headers["location"].startswith("https://shop.fintech.example.com/cards?ref=x&click_id=auc_")
    # The host as a browser resolves it: case, a trailing dot and the ideographic full stop.
    assert click(client, offer_id, pub, "https://Shop.FINTECH.example.com./x").status_code == 302
    assert click(client, offer_id, pub, "https://shop.fintech%E3%80%82example.com/x").status_code == 302
    assert clicks_logged(app) == 3
    off_site = click(client, offer_id, pub, "https://fintech.example.com.evil.net/")
    assert off_site.status_code == 400 and "leads off the advertiser" in off_site.text
    assert clicks_logged(app) == 3


@pytest.fixture
def market(served: Served) -> Merchants:
    m = Merchants(served.app, served.api)
    m.merchant("Amazon", "amazon.example.com", handbag("hb-1", "amazon.example.com"), None)  # no bids
    return m


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("fallback_url", "https://blog.example.com/x\r\nSet-Cookie: pwn=1"),
        ("fallback_url", "https://blog.example.com/x\ty"),
        ("fallback_url", "https://evil.com\\.blog.example.com/"),
        ("fallback_url", "https://evil.com\uff0fblog.example.com/"),
        ("product_url", "https://amazon.example.com/p/hb-1\r\nSet-Cookie: pwn=1"),  # a fallback too
    ],
)
def test_a_smartlink_url_no_redirect_may_carry_is_422_naming_the_field(
    market: Merchants, field: str, url: str
) -> None:
    blog = market.account("publisher", "Blog")
    body = {"ean": GTIN, "fallback_url": url} if field == "fallback_url" else {"product_url": url}
    error(blog.call("POST", "/v2/smartlinks", body), 422, field)
    assert blog.call("GET", "/v2/smartlinks").json()["data"] == []  # nothing stored


def test_a_smartlink_goes_to_its_fallback_and_a_bad_stored_one_is_a_page(
    served: Served, market: Merchants
) -> None:
    app, client = served.app, served.http
    blog = market.account("publisher", "Blog")
    made = blog.call("POST", "/v2/smartlinks", {"ean": GTIN, "fallback_url": "https://blog.example.com/bags"})
    assert made.status_code == 201, made.text
    path = f"/s/{made.json()['auction_id']}"
    answer: Any = client.get(path, headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "https://blog.example.com/bags"

    # One stored before the create refused it: a clear page, not a dropped connection.
    with app.container.engine.begin() as conn:
        conn.execute(
            update(smartlinks).values(fallback_url="https://blog.example.com/x\r\nSet-Cookie: pwn=1")
        )
    answer = client.get(path, headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "no valid page" in answer.text and "pwn" not in answer.headers.get("set-cookie", "")
