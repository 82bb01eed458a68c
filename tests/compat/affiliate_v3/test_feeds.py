"""Product feeds: POST /v3/partner/products/feed streamed with setEpi, gt and feedId, feedinfo,
and the XML and CSV files at the signed feed URLs."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from auctera.domain import ids as idfmt
from auctera.domain.catalog import Product
from auctera.domain.programs import ApprovalStatus
from auctera.domain.tracking import click_url, parse_link
from auctera.services.partner_programs import product_link

from .conftest import BROWSER, TRACKING, Network, World, product_row


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def feed(world: World, **body: Any) -> Any:
    return world.publisher.post(
        "/v3/partner/products/feed", {"programId": world.program_id, "channelId": world.channel_id, **body}
    )


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_tracking_links_name_the_program_publisher_channel_and_product(world: World) -> None:
    products = feed(world).json()
    assert [p["productName"] for p in products] == ["PlayStation 5", "Xbox"]
    link = parse_link(urlsplit(products[0]["trackingUrl"]).query)
    assert (link.campaign_id, link.publisher_id, link.channel_id) == (
        world.program_id,
        world.publisher.id,
        world.channel_id,
    )
    assert link.product_id is not None and link.epi is None and link.deep_url is None


def test_set_epi_puts_the_product_name_in_the_link(world: World) -> None:
    [first, _] = feed(world, setEpi=True).json()
    assert parse_link(urlsplit(first["trackingUrl"]).query).epi == "PlayStation 5"


def test_gt_links_carry_the_landing_page_itself(world: World) -> None:
    """Google Ads' transparent click tracker: the final URL readable in the link."""
    [first, _] = feed(world, gt=True).json()
    link = parse_link(urlsplit(first["trackingUrl"]).query)
    assert link.deep_url == first["productUrl"] and link.product_id is None


def test_product_link_is_click_url_with_the_product(world: World) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    product = Product(
        123456789, 1, 1, "x", "Kettle & Co / 2", 1, "EUR", "https://s.example/p?a=1&b=2", True,
        None, None, None, None, None, None, None, None, None, now, now,
    )  # fmt: skip
    prefix = click_url(TRACKING, 1, 2, 3)
    for set_epi in (False, True):
        epi = "Kettle & Co / 2" if set_epi else None
        by_id = click_url(TRACKING, 1, 2, 3, epi=epi, product_id=product.id)
        assert product_link(prefix, product, set_epi=set_epi, gt=False) == by_id
        gt = product_link(prefix, product, set_epi=set_epi, gt=True, sites=("s.example",))
        assert gt == click_url(TRACKING, 1, 2, 3, epi=epi, deep_url=product.url)
        # A page off the advertiser's sites keeps pr= (the click would refuse its url=).
        assert product_link(prefix, product, set_epi=set_epi, gt=True, sites=("shop.example",)) == by_id


def test_feed_id_picks_one_of_the_programs_feeds(world: World) -> None:
    second = world.net.retailer(
        world.advertiser, "Outlet", "outlet.site.com", [product_row("o1", "Outlet TV")]
    )
    world.net.set_feeds(world.program_id, (world.feed_id, second))
    everything = feed(world)
    assert everything.headers["count"] == "3" and len(everything.json()) == 3
    outlet = feed(world, feedId=second)
    assert outlet.headers["count"] == "1" and [p["productName"] for p in outlet.json()] == ["Outlet TV"]
    elsewhere = world.net.retailer(world.advertiser, "Unlisted", "other.site.com", [product_row("u", "U")])
    missing = feed(world, feedId=elsewhere)
    assert missing.status_code == 404 and missing.json()["field"] == "feedId"


def test_a_retailer_of_another_account_is_never_served(world: World) -> None:
    stranger = world.net.account("Stranger", "advertiser")
    theirs = world.net.retailer(stranger, "Theirs", "theirs.example.com", [product_row("t", "Their TV")])
    world.net.set_feeds(world.program_id, (world.feed_id, theirs))
    assert [p["productName"] for p in feed(world).json()] == ["PlayStation 5", "Xbox"]
    [info] = world.publisher.get(
        f"/v3/partner/products/feedinfo/{world.program_id}/{world.channel_id}"
    ).json()
    assert info["feedId"] == world.feed_id


def test_only_an_approved_channel_gets_a_feed(world: World) -> None:
    pending = world.net.channel(world.publisher, "Pending blog")
    world.net.apply(world.program_id, world.publisher, pending, ApprovalStatus.PENDING)
    refused = feed(world, channelId=pending)
    assert refused.status_code == 403 and refused.json()["field"] == "channelId"
    [info] = world.publisher.get(f"/v3/partner/products/feedinfo/{world.program_id}/{pending}").json()
    assert info["approvalStatus"] == 2 and info["feedUrl"] is None


def test_a_big_feed_streams_in_batches_with_every_product_once(world: World) -> None:
    rows = [product_row(f"p{i:05d}", f"Product {i}") for i in range(2500)]
    big = world.net.retailer(world.advertiser, "Big", "big.site.com", rows)
    world.net.set_feeds(world.program_id, (big,))
    response = world.net.client.post(  # without Accept-Encoding: gzip, the file as rendered
        "/v3/partner/products/feed",
        json={"programId": world.program_id, "channelId": world.channel_id},
        headers={"X-Token": world.publisher.token, "Accept-Encoding": "identity"},
    )
    assert response.headers["count"] == "2500"
    assert "content-length" not in response.headers  # streamed, chunked
    names = [p["productName"] for p in response.json()]
    assert sorted(names) == sorted(r["title"] for r in rows)


def _feed_url(world: World) -> str:
    [info] = world.publisher.get(
        f"/v3/partner/products/feedinfo/{world.program_id}/{world.channel_id}"
    ).json()
    return str(info["feedUrl"])


def _download(world: World, url: str, **changes: str) -> Any:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return world.net.client.get(f"{parts.path}?{urlencode(params)}")  # no token: the URL is signed


def test_the_feed_url_serves_xml(world: World) -> None:
    response = _download(world, _feed_url(world))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert response.headers["count"] == "2"
    root = ET.fromstring(response.content)
    products = root.findall("product")
    assert [p.findtext("productName") for p in products] == ["PlayStation 5", "Xbox"]
    assert products[0].findtext("productPrice") == "129.5" and products[0].findtext("inStock") == "true"
    link = products[0].findtext("trackingUrl") or ""
    assert parse_link(urlsplit(link).query).channel_id == world.channel_id


def test_the_feed_url_serves_csv_and_epi_is_signed(world: World) -> None:
    url = _feed_url(world)
    response = _download(world, url, format="CSV")
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["productName"] for r in rows] == ["PlayStation 5", "Xbox"]
    assert rows[0]["oldPrice"] == "" and rows[0]["manufacturer"] == "Sony"
    # epi=1 is another URL: its signature is not this one's.
    assert _download(world, url, epi="1").status_code == 403


def test_a_bad_signature_or_a_revoked_channel_is_refused(world: World) -> None:
    url = _feed_url(world)
    forged = _download(world, url, sig="0" * 32)
    assert forged.status_code == 403 and forged.json()["field"] == "sig"
    other_program = _download(world, url, apid=str(world.program_id + 1))
    assert other_program.status_code == 403
    reject = {"channelId": world.channel_id, "approvalStatus": 0, "rejectReason": 1}
    assert world.advertiser.put("/v3/client/channels", reject).status_code == 200
    assert _download(world, url).status_code == 403
    assert query(url)["format"] == ["XML"]


def test_counts_follow_every_import(world: World) -> None:
    """Counts are kept between imports: a new import (even a failed one) is counted again."""
    path = f"/v3/partner/products/feedinfo/{world.program_id}/{world.channel_id}"
    assert world.publisher.get(path).json()[0]["numberOfProducts"] == 2
    rows = [product_row("product_acb", "PlayStation 5"), product_row("new", "Switch")]
    world.advertiser.v2(
        "POST", f"/v2/retailers/ret_{idfmt.to_base36(world.feed_id)}/feeds", {"products": rows}
    )
    assert world.publisher.get(path).json()[0]["numberOfProducts"] == 3  # Xbox stays, out of stock
    assert feed(world).headers["count"] == "3"


def test_feed_links_land_on_the_product_page(world: World) -> None:
    """Clicked, a feed link lands on its product: looked up (pr=) or written out (gt: url=)."""
    kettle = product_row("k1", "Kettle", link="https://www.kitchentime.se/kettle")
    shop = world.net.retailer(world.advertiser, "Kitchentime", "www.kitchentime.se", [kettle])
    world.net.set_feeds(world.program_id, (shop,))
    for gt in (False, True):
        [item] = feed(world, gt=gt).json()
        click = world.net.client.get(
            item["trackingUrl"].removeprefix(TRACKING), headers=BROWSER, follow_redirects=False
        )
        assert click.status_code == 302, click.text
        assert click.headers["location"].startswith("https://www.kitchentime.se/kettle?"), click.headers


def test_gt_links_land_on_a_feed_on_another_domain_but_never_off_the_advertisers_sites(world: World) -> None:
    """A `gt` link writes the product page out (url=): a catalog the program offers on its own
    domain is one of the advertiser's sites; a page anywhere else is refused."""
    pan = product_row("p1", "Pan", link="https://outlet.example.org/pan")
    outlet = world.net.retailer(world.advertiser, "Outlet", "outlet.example.org", [pan])
    world.net.set_feeds(world.program_id, (outlet,))
    [item] = feed(world, gt=True).json()
    link = item["trackingUrl"].removeprefix(TRACKING)
    click = world.net.client.get(link, headers=BROWSER, follow_redirects=False)
    assert click.status_code == 302, click.text
    assert click.headers["location"].startswith("https://outlet.example.org/pan?click_id=auc_")
    forged = link.replace("outlet.example.org", "evil.example.net")
    assert world.net.client.get(forged, headers=BROWSER, follow_redirects=False).status_code == 400


def test_gt_feeds_never_hold_a_link_the_click_refuses(world: World) -> None:
    """A catalog may list product pages on any domain: a `gt` link writes out (url=) those on
    the advertiser's sites and names the others (pr=), so every link in the feed lands."""
    chair = product_row("c1", "Chair", link="https://shop.nordichome.example.se/chair")
    sofa = product_row("s1", "Sofa", link="https://outlet.nordic-home-store.com/sofa")
    shop = world.net.retailer(world.advertiser, "Nordic Home", "nordichome.example.se", [chair, sofa])
    world.net.set_feeds(world.program_id, (shop,))
    for set_epi in (False, True):
        items = {i["productName"]: i for i in feed(world, gt=True, setEpi=set_epi).json()}
        links = {name: parse_link(urlsplit(i["trackingUrl"]).query) for name, i in items.items()}
        assert links["Chair"].deep_url == "https://shop.nordichome.example.se/chair"
        assert links["Sofa"].deep_url is None and links["Sofa"].product_id is not None
        for name, item in items.items():
            click = world.net.client.get(
                item["trackingUrl"].removeprefix(TRACKING), headers=BROWSER, follow_redirects=False
            )
            assert click.status_code == 302, (name, click.text)
            assert click.headers["location"].startswith(item["productUrl"] + "?click_id=auc_")
