"""SmartLinks on /v2 and their auction (seed 002): GET /api/v1/auction/ and GET /s/<auction id>,
on the real app, with merchants' catalogs and SmartLink CPC campaigns made the way users make them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.accounts import parse_account_id
from auctera.domain.events import EventType
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_sponsored_products import TRACKING, Market

GOLDEN = Path(__file__).parent / "golden" / "smartlink" / "run_auction.json"
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Accept-Language": "en-US,en;q=0.9",
}
PAGE = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
GTIN = "4006381333931"  # EAN-13 with a valid check digit
OTHER_GTIN = "5901234123457"


def handbag(
    external_id: str,
    domain: str,
    *,
    gtin: str = GTIN,
    price: str = "299.99",
    currency: str = "USD",
    stock: str = "in stock",
    name: str = "Designer Handbag",
    brand: str = "Maison",
) -> str:
    return (
        f"{external_id},{name},{price},{currency},https://{domain}/p/{external_id},{stock},"
        f"Bags,{brand},{gtin},0.05\n"
    )


class Merchants(Market):
    def merchant(
        self, name: str, domain: str, rows: str, bid: str | None, currency: str = "USD"
    ) -> tuple[int, int | None]:
        """A merchant account (in `currency`) with a catalog and, when `bid` is given, a SmartLink
        CPC campaign bidding it in that currency: (the retailer id, the campaign id)."""
        owner = self.account(name=name, currency=currency)
        retailer = self.retailer(owner, domain, rows, name)
        if bid is None:
            return retailer, None
        bidding = {"strategy": "manual_cpc", "target_amount": bid}
        return retailer, self.campaign(owner, "smartlink_cpc", bidding=bidding)

    def smartlink(self, publisher: Api, **body: Any) -> dict[str, Any]:
        response = publisher.call("POST", "/v2/smartlinks", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def sl_app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(
        tmp_path,
        clock,
        TRACKING,
        auction_cache_seconds=0,
        auction_inventory_seconds=0,
        smartlink_rate_limit_per_minute=5,
        client_ip_header="X-Forwarded-For",
    ) as app:
        yield app


@pytest.fixture
def world(sl_app: RootApp) -> Iterator[dict[str, Any]]:
    with TestClient(sl_app) as client:
        m = Merchants(sl_app, client)
        bags, amazon = m.merchant(
            "Amazon", "amazon.example.com", handbag("hb-1", "amazon.example.com"), "0.60"
        )
        m.merchant(
            "Boutique", "boutique.example.com", handbag("b-7", "boutique.example.com", price="289.00"), "0.40"
        )
        m.merchant(
            "Gone", "gone.example.com", handbag("g-1", "gone.example.com", stock="out of stock"), "2.00"
        )
        publisher = m.account("publisher", "Blog")
        link = m.smartlink(publisher, ean=GTIN, name="Handbag review")
        yield {"m": m, "client": client, "publisher": publisher, "link": link, "bags": bags, "amazon": amazon}


def auction(client: TestClient, auction_id: str, uuid: str | None = PAGE, **headers: str) -> Any:
    params = {"a": auction_id, "t": "8274619"}
    if uuid:
        params["uuid"] = uuid
    return client.get("/api/v1/auction/", params=params, headers={**BROWSER, **headers})


def auction_events(m: Market) -> int:
    # Auctions, not the listings of candidates they refer to (see AuctionService._link_explained).
    sql = (
        f"SELECT count(*) FROM events WHERE type = '{EventType.AUCTION.value}'"
        " AND json_extract_string(attrs, '$.placement.kind') <> 'candidates'"
    )
    ((count,),) = m.c.events.query(sql)
    return int(count)


def check_shape(ours: Any, example: Any, path: str = "") -> None:
    """Every key the seed's example shows, with the same JSON type; lists hold the same kind."""
    where = path or "the response"
    assert type(ours) is type(example), f"{where}: {ours!r} is not like {example!r}"
    if isinstance(example, dict):
        for key, value in example.items():
            if key == "bamx_product_category_id":  # the vendor's own taxonomy id: see the docs
                continue
            assert key in ours, f"{where}: missing {key!r} (got {sorted(ours)})"
            check_shape(ours[key], value, f"{path}.{key}" if path else key)
    elif isinstance(example, list):
        for item in ours:
            check_shape(item, example[0] if example else "", path)


def test_golden_run_auction_shape_and_types_field_by_field(world: dict[str, Any]) -> None:
    golden = json.loads(GOLDEN.read_text())
    link = world["link"]
    response = auction(world["client"], link["auction_id"])
    assert response.status_code == golden["status"]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    check_shape(body, golden["response"])
    assert body["info"] == golden["response"]["info"]
    [item] = body["data"]
    result = item["auction_result"]
    assert re.fullmatch(r"\d{1,19}", result["id"]) and result["auction_id"] == link["auction_id"]
    product = result["product"]
    # Amazon bids 0.60, the Boutique 0.40; the out-of-stock merchant's 2.00 does not take part.
    assert product["name"] == "Designer Handbag" and product["price"] == "299.99"
    assert product["is_in_stock"] is True and isinstance(product["id"], int)
    assert product["url"] == "https://amazon.example.com/p/hb-1"
    assert product["merchant"] == {
        "url": "https://amazon.example.com/",
        "canonical_host": "amazon.example.com",
        "id": world["bags"],
        "name": "Amazon",
    }
    redirect = urlsplit(result["redirect_url"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == f"{TRACKING}/sp/click"
    assert item["impression_pixel_url"].startswith(f"{TRACKING}/sp/imp?t=")
    assert item["impression_pixel_url"].endswith("&r={RAND}")
    assert result["tracker_urls"]["impression"] == []
    [viewable] = result["tracker_urls"]["viewable_impression"]
    assert viewable.startswith(f"{TRACKING}/sp/viewable?t=") and viewable.endswith("&r={RAND}")


def test_unknown_auction_id_answers_404_in_the_envelope(world: dict[str, Any]) -> None:
    response = auction(world["client"], "1522995078114976993")
    assert response.status_code == 404
    body = response.json()
    assert body["info"]["error"] is True and body["info"]["status"] == 404 and body["info"]["message"]
    assert body["data"] == []


@pytest.mark.parametrize(
    "query",
    ["t=1", "a=abc", "a=%C2%B2", "a=1&t=x", "a=1&t=--5", "a=1&uuid=not-a-uuid", "a=99999999999999999999"],
)
def test_bad_parameters_answer_400_in_the_envelope(world: dict[str, Any], query: str) -> None:
    response = world["client"].get(f"/api/v1/auction/?{query}", headers=BROWSER)
    assert response.status_code == 400
    assert response.json()["info"] == {
        "error": True,
        "status": 400,
        "message": response.json()["info"]["message"],
    }


def test_rate_limited_per_client_address_with_429_in_the_envelope(world: dict[str, Any]) -> None:
    client, link = world["client"], world["link"]["auction_id"]
    visitor = {"X-Forwarded-For": "203.0.113.7", "Origin": "https://blog.example.com"}
    for _ in range(5):
        assert auction(client, link, **visitor).status_code == 200
    # Another Origin header from the same address does not escape the limit...
    refused = auction(client, link, **{**visitor, "Origin": "https://other.example.com"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["info"]["error"] is True and refused.json()["info"]["status"] == 429
    assert refused.json()["data"] == []
    # ...and the other visitors of the same publisher's page are not held back by this one.
    other = {"X-Forwarded-For": "198.51.100.9", "Origin": "https://blog.example.com"}
    assert auction(client, link, **other).status_code == 200


def test_a_publishers_page_script_can_call_the_auction_api_cross_origin(world: dict[str, Any]) -> None:
    """A custom tag runs on the publisher's site: the browser lets its script read the answers
    (success and errors alike) only with CORS headers, and asks first with a preflight."""
    client, link = world["client"], world["link"]["auction_id"]
    page_origin = {"Origin": "https://blog.example.com"}
    won = auction(client, link, **page_origin)
    assert won.status_code == 200 and won.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in won.headers  # no cookies: the API has no auth
    for query in ("a=abc", "a=1522995078114976993"):  # 400, 404: the script can read why
        refused = client.get(f"/api/v1/auction/?{query}", headers={**BROWSER, **page_origin})
        assert refused.status_code in (400, 404)
        assert refused.headers["access-control-allow-origin"] == "*"
    preflight = client.options(
        "/api/v1/auction/",
        headers={
            **page_origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-requested-with, accept",
        },
    )
    assert preflight.status_code == 204 and preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "x-requested-with, accept"
    assert int(preflight.headers["access-control-max-age"]) > 0
    # A header list that is not one is not echoed back.
    odd = client.options("/api/v1/auction", headers={"Access-Control-Request-Headers": "a b\x7f"})
    assert odd.status_code == 204 and "access-control-allow-headers" not in odd.headers
    posted = client.post(f"/api/v1/auction/?a={link}", headers=page_origin)
    assert posted.status_code == 405 and posted.headers["access-control-allow-origin"] == "*"


def test_a_rate_limited_page_script_can_read_when_to_retry(world: dict[str, Any]) -> None:
    client, link = world["client"], world["link"]["auction_id"]
    visitor = {"X-Forwarded-For": "203.0.113.8", "Origin": "https://blog.example.com"}
    for _ in range(5):
        auction(client, link, **visitor)
    refused = auction(client, link, **visitor)
    assert refused.status_code == 429 and refused.headers["access-control-allow-origin"] == "*"
    assert refused.headers["access-control-expose-headers"].lower() == "retry-after"


def test_one_page_session_gets_one_auction(world: dict[str, Any]) -> None:
    client, link, m = world["client"], world["link"]["auction_id"], world["m"]
    before = auction_events(m)
    first = auction(client, link).json()["data"][0]
    again = auction(client, link).json()["data"][0]
    assert again == first  # same result id, same tokens: its impression counts once
    assert auction_events(m) == before + 1
    other = auction(client, link, uuid="9f1c0c52-8d2e-4f11-a2b0-6f2f1f7d2c11").json()["data"][0]
    assert other["auction_result"]["id"] != first["auction_result"]["id"]
    assert auction_events(m) == before + 2


def test_gtin_match_else_match_key_and_out_of_stock_excluded(world: dict[str, Any]) -> None:
    m, client, publisher = world["m"], world["client"], world["publisher"]
    # No GTIN in its feed, same brand and name: found by the match key.
    m.merchant("NoGtin", "nogtin.example.com", handbag("n-1", "nogtin.example.com", gtin=""), "0.30")
    # Another GTIN, same brand and name: another product (another size, colour...).
    m.merchant("Other", "other.example.com", handbag("o-1", "other.example.com", gtin=OTHER_GTIN), "5.00")
    answer = auction(client, world["link"]["auction_id"]).json()
    log = publisher.call("GET", f"/v2/auctions/{answer['data'][0]['auction_result']['id']}").json()
    merchants = {c["account_id"] for c in log["candidates"]}
    names = {m.c.accounts.get_account(account(a)).name for a in merchants}
    assert names == {"Amazon", "Boutique", "NoGtin"}


def test_prices_are_shown_in_usd(world: dict[str, Any]) -> None:
    m, client = world["m"], world["client"]
    with m.c.uow() as uow:
        uow.fx_rates.set("EUR", "USD", Decimal("1.10"), m.c.clock())
        uow.commit()
    m.merchant(
        "Euro", "euro.example.com", handbag("e-1", "euro.example.com", price="250.00", currency="EUR"), "9.00"
    )
    product = auction(client, world["link"]["auction_id"]).json()["data"][0]["auction_result"]["product"]
    assert product["merchant"]["name"] == "Euro" and product["price"] == "275.00"


def test_no_bidder_answers_no_data_and_the_link_goes_to_its_fallback(world: dict[str, Any]) -> None:
    m, client, publisher = world["m"], world["client"], world["publisher"]
    m.merchant("Lonely", "lonely.example.com", handbag("l-1", "lonely.example.com", gtin=OTHER_GTIN), None)
    link = m.smartlink(publisher, gtin=OTHER_GTIN, fallback_url="https://blog.example.com/where-to-buy")
    body = auction(client, link["auction_id"]).json()
    assert body == {"info": {"error": False, "status": 200}, "data": []}
    response = client.get(urlsplit(link["smartlink"]).path, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://blog.example.com/where-to-buy"


def test_the_smartlink_redirects_through_click_tracking_and_charges_the_winner(world: dict[str, Any]) -> None:
    m, client, link = world["m"], world["client"], world["link"]
    assert link["smartlink"] == f"{TRACKING}/s/{link['auction_id']}"
    hop = client.get(urlsplit(link["smartlink"]).path, headers=BROWSER, follow_redirects=False)
    assert hop.status_code == 302 and hop.headers["location"].startswith(f"{TRACKING}/sp/click?t=")
    click = urlsplit(hop.headers["location"])
    landed = client.get(f"{click.path}?{click.query}", headers=BROWSER, follow_redirects=False)
    assert landed.status_code == 302 and landed.headers["location"].startswith(
        "https://amazon.example.com/p/hb-1"
    )
    amazon = world["amazon"]
    spent = m.c.spend.spend_of([amazon], date(2026, 11, 23))[amazon]
    assert spent.lifetime_micros == 410_000  # the Boutique's 0.40 (same click rates) + 0.01


def test_smartlinks_crud_and_resolution(world: dict[str, Any]) -> None:
    m, publisher = world["m"], world["publisher"]
    by_url = m.smartlink(publisher, product_url="https://boutique.example.com/p/b-7")
    assert by_url["gtin"] == "0" + GTIN and by_url["fallback_url"] == "https://boutique.example.com/p/b-7"
    assert by_url["match_key"] and by_url["status"] == "active"
    products = publisher.call("POST", "/v2/smartlinks", {"product_id": "prd_zzzz"})
    assert products.status_code == 422 and products.json()["error"]["field"] == "product_id"
    assert products.json()["error"]["message"] == "product prd_zzzz not found"  # as the caller named it
    unknown_url = publisher.call("POST", "/v2/smartlinks", {"product_url": "https://nowhere.example.com/p/1"})
    assert unknown_url.status_code == 422 and unknown_url.json()["error"]["field"] == "product_url"
    for field, body in (
        ("product_url", {"product_url": "http://[shop.example.com/p/1"}),
        ("fallback_url", {"gtin": GTIN, "fallback_url": "https://[::1/x"}),
    ):
        malformed = publisher.call("POST", "/v2/smartlinks", body)
        assert malformed.status_code == 422 and malformed.json()["error"]["field"] == field
    bad_ean = publisher.call("POST", "/v2/smartlinks", {"ean": "4006381333932"})
    assert bad_ean.status_code == 422 and bad_ean.json()["error"]["field"] == "ean"
    unlisted = publisher.call("POST", "/v2/smartlinks", {"gtin": "96385074"})
    assert unlisted.status_code == 422 and unlisted.json()["error"]["field"] == "gtin"
    neither = publisher.call("POST", "/v2/smartlinks", {"name": "x"})
    assert neither.status_code == 422 and neither.json()["error"]["field"] == "product_id"
    advertiser = m.account(name="Advertiser")
    assert advertiser.call("POST", "/v2/smartlinks", {"ean": GTIN}).status_code == 403

    listed = publisher.call("GET", "/v2/smartlinks").json()
    assert [s["auction_id"] for s in listed["data"]] == [by_url["auction_id"], world["link"]["auction_id"]]
    path = f"/v2/smartlinks/{by_url['auction_id']}"
    assert publisher.call("GET", path).json() == by_url
    other = m.account("publisher", "Other blog")
    assert other.call("GET", path).status_code == 404
    assert other.call("DELETE", path).status_code == 404
    assert other.call("GET", "/v2/smartlinks").json()["data"] == []

    archived = publisher.call("DELETE", path).json()
    assert archived["status"] == "archived" and archived["archived_at"]
    assert publisher.call("DELETE", path).json() == archived  # idempotent
    assert [s["auction_id"] for s in publisher.call("GET", "/v2/smartlinks").json()["data"]] == [
        world["link"]["auction_id"]
    ]
    assert auction(world["client"], by_url["auction_id"]).json()["data"] == []
    hop = world["client"].get(f"/s/{by_url['auction_id']}", follow_redirects=False)
    assert hop.status_code == 302 and hop.headers["location"] == by_url["fallback_url"]
    assert world["client"].get("/s/123", follow_redirects=False).status_code == 404
    posted = world["client"].post(f"/s/{by_url['auction_id']}")
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")  # RFC 9110: MUST


def account(rendered: str) -> int:
    found = parse_account_id(rendered)
    assert found is not None and rendered.startswith("adv_"), rendered
    return found


def candidates_of(world: dict[str, Any], result_id: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The auction log as its publisher reads it, and its candidates by merchant account name."""
    m = world["m"]
    log = world["publisher"].call("GET", f"/v2/auctions/{result_id}").json()
    named = {m.c.accounts.get_account(account(c["account_id"])).name: c for c in log["candidates"]}
    return log, named


def test_merchants_in_other_currencies_compete_on_converted_bids(world: dict[str, Any]) -> None:
    """A SEK merchant among USD ones: its bid is ranked in USD (SEK 0.095 USD) and, when it wins,
    it is charged the second price converted back into SEK."""
    m, client = world["m"], world["client"]
    m.fx("SEK", "USD", "0.095")
    sek_rows = handbag("s-1", "stockholm.example.com", price="3150.00", currency="SEK")
    _, small = m.merchant("Stockholm", "stockholm.example.com", sek_rows, "5.00", currency="SEK")
    # 5.00 SEK = 0.475 USD: under Amazon's 0.60, over the Boutique's 0.40. Amazon pays against it:
    # 475,000 + 10,000 (equal click rates).
    body = auction(client, world["link"]["auction_id"], uuid=None).json()
    result = body["data"][0]["auction_result"]
    assert result["product"]["merchant"]["name"] == "Amazon"
    log, named = candidates_of(world, result["id"])
    assert log["placement"]["currency"] == "USD"
    stockholm = named["Stockholm"]
    assert (stockholm["bid_micros"], stockholm["currency"], stockholm["own_bid_micros"]) == (
        475_000,
        "SEK",
        5_000_000,
    )
    assert stockholm["reason"] == "outranked"
    assert (named["Amazon"]["price_micros"], named["Amazon"]["own_price_micros"]) == (485_000, None)
    assert named["Boutique"]["reason"] == "outranked"

    # A second SEK merchant bidding 10.00 SEK = 0.95 USD wins and pays Amazon's 0.60 + 0.01 =
    # 610,000 USD micros; in SEK, 610,000 / 0.095 = 6,421,052.6 -> 6,421,052 (rounded down).
    big_rows = handbag("g-2", "goteborg.example.com", price="3000.00", currency="SEK")
    _, big = m.merchant("Goteborg", "goteborg.example.com", big_rows, "10.00", currency="SEK")
    body = auction(client, world["link"]["auction_id"], uuid=None).json()
    result = body["data"][0]["auction_result"]
    assert result["product"]["merchant"]["name"] == "Goteborg"
    assert result["product"]["price"] == "285.00"  # 3,000.00 SEK x 0.095, shown in USD
    log, named = candidates_of(world, result["id"])
    won = named["Goteborg"]
    assert (won["bid_micros"], won["own_bid_micros"]) == (950_000, 10_000_000)
    assert (won["price_micros"], won["own_price_micros"], won["outcome"]) == (610_000, 6_421_052, "won")
    assert log["winners"][0]["currency"] == "SEK" and log["winners"][0]["own_price_micros"] == 6_421_052
    # The click is charged in SEK, the campaign's currency.
    redirect = urlsplit(result["redirect_url"])
    landed = client.get(f"{redirect.path}?{redirect.query}", headers=BROWSER, follow_redirects=False)
    assert landed.status_code == 302 and landed.headers["location"].startswith(
        "https://goteborg.example.com/"
    )
    assert big is not None and small is not None
    assert m.c.spend.spend_of([big], date(2026, 11, 23))[big].lifetime_micros == 6_421_052


def test_a_merchant_without_an_exchange_rate_does_not_win_and_the_log_says_why(
    world: dict[str, Any],
) -> None:
    m, client = world["m"], world["client"]
    # NOK has no rate to USD: neither its 50.00 bid nor its product (priced in USD) can take part.
    m.merchant("Oslo", "oslo.example.com", handbag("o-1", "oslo.example.com"), "50.00", currency="NOK")
    body = auction(client, world["link"]["auction_id"], uuid=None).json()
    result = body["data"][0]["auction_result"]
    assert result["product"]["merchant"]["name"] == "Amazon"
    _, named = candidates_of(world, result["id"])
    oslo = named["Oslo"]
    assert (oslo["outcome"], oslo["reason"], oslo["currency"]) == ("lost", "no_exchange_rate", "NOK")
    assert (oslo["bid_micros"], oslo["own_bid_micros"], oslo["score"]) == (None, 50_000_000, None)
    assert named["Amazon"]["price_micros"] == 410_000  # against the Boutique, as without Oslo
