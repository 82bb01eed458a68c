"""What a SmartLink may name (seed 002, D19): a merchant's product (a catalog of an advertiser
account, whose pages win publishers' links), or one of the caller's own. A publisher's retail
site (where sponsored products serve) keeps its catalog to itself. And a product page is one page
however its host is spelled: case, a trailing dot and the Unicode form of a name do not make
another site.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.domain import ids as idfmt
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_smartlink_auction import GTIN, OTHER_GTIN, Merchants, handbag
from .test_sponsored_products import FEED_HEADER, TRACKING


@pytest.fixture
def m(tmp_path: Path, clock: FrozenClock) -> Iterator[Merchants]:
    with app_at(tmp_path, clock, TRACKING) as app, TestClient(app) as client:
        yield Merchants(app, client)


def create(publisher: Api, **body: Any) -> Any:
    return publisher.call("POST", "/v2/smartlinks", body)


def refused(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    return str(error["message"])


def product_id(m: Merchants, retailer_id: int) -> str:
    """The prd_ id of the retailer's (only) product, as its owner reads it on /v2."""
    with m.c.uow(read_only=True) as uow:
        [product] = uow.products.page(
            retailer_id=retailer_id, in_stock=None, gtin=None, before_id=None, limit=2
        )
    return idfmt.render("prd", product.id)


def test_a_retail_sites_catalog_cannot_be_named_by_another_publisher(m: Merchants) -> None:
    """Kitchen is a publisher's retail site: its products are not merchants' pages, and to another
    publisher they answer exactly as products nobody lists (nothing of the catalog shows)."""
    site_owner = m.account("publisher", "Kitchen")
    site = m.retailer(
        site_owner, "kitchen.example.com", handbag("k-1", "kitchen.example.com", gtin=OTHER_GTIN)
    )
    blog = m.account("publisher", "Blog")
    kitchen_product = product_id(m, site)

    # The same answer as for an id nobody has: the catalog shows nothing of itself. Either is
    # named in the /v2 form (a decimal id is taken too).
    assert (
        refused(create(blog, product_id=kitchen_product), "product_id")
        == f"product {kitchen_product} not found"
    )
    assert (
        refused(create(blog, product_id="123"), "product_id")
        == f"product {idfmt.render('prd', 123)} not found"
    )
    by_url = refused(create(blog, product_url="https://kitchen.example.com/p/k-1"), "product_url")
    assert by_url == "no merchant's catalog lists this product page"
    by_gtin = refused(create(blog, gtin=OTHER_GTIN), "gtin")
    assert by_gtin == f"no merchant's catalog lists gtin {OTHER_GTIN}"
    assert blog.call("GET", "/v2/smartlinks").json()["data"] == []  # nothing half-made

    # Its owner reads its catalog anyway: it may name its own products.
    own = create(site_owner, product_id=kitchen_product)
    assert own.status_code == 201 and own.json()["fallback_url"] == "https://kitchen.example.com/p/k-1"
    assert create(site_owner, gtin=OTHER_GTIN).status_code == 201


def test_a_gtin_both_a_retail_site_and_a_merchant_list_resolves_to_the_merchants_page(m: Merchants) -> None:
    site_owner = m.account("publisher", "Kitchen")
    m.retailer(site_owner, "kitchen.example.com", handbag("k-1", "kitchen.example.com"))  # listed first
    m.merchant("Amazon", "amazon.example.com", handbag("hb-1", "amazon.example.com"), "0.60")
    blog = m.account("publisher", "Blog")
    link = create(blog, ean=GTIN)
    assert link.status_code == 201, link.text
    assert link.json()["fallback_url"] == "https://amazon.example.com/p/hb-1"
    refused(create(blog, ean=int(GTIN)), "ean")  # a code, not a number: its leading zeros count


def test_one_company_as_retail_site_and_merchant_on_one_domain(m: Merchants) -> None:
    """The same page in a retail site's catalog and in a merchant's (two accounts of one company,
    D19): naming the page names the merchant's product."""
    site_owner = m.account("publisher", "Shop (retail media)")
    m.retailer(site_owner, "shop.example.com", handbag("hb-1", "shop.example.com"))
    m.merchant("Shop (merchant)", "shop.example.com", handbag("hb-1", "shop.example.com"), "0.50")
    blog = m.account("publisher", "Blog")
    link = create(blog, product_url="https://shop.example.com/p/hb-1")
    assert link.status_code == 201, link.text
    assert link.json()["gtin"] == "0" + GTIN


@pytest.mark.parametrize(
    "url",
    [
        "https://Amazon.Example.COM/p/hb-1",
        "HTTPS://amazon.example.com/p/hb-1",
        "https://amazon.example.com./p/hb-1",
        "https://amazon.example.com:443/p/hb-1",
    ],
)
def test_a_product_page_is_found_however_its_host_is_spelled(m: Merchants, url: str) -> None:
    m.merchant("Amazon", "amazon.example.com", handbag("hb-1", "amazon.example.com"), "0.60")
    link = create(m.account("publisher", "Blog"), product_url=url)
    assert link.status_code == 201, link.text
    assert link.json()["gtin"] == "0" + GTIN
    # The path is not the host: a page's path keeps its case.
    refused(
        create(m.account("publisher", "Blog 2"), product_url="https://amazon.example.com/P/HB-1"),
        "product_url",
    )


@pytest.mark.parametrize("content_type", ["text/csv", "application/json"])
def test_a_feed_spelling_hosts_oddly_stores_its_pages_canonical(m: Merchants, content_type: str) -> None:
    """A merchant's feed writes its host in capitals, with a trailing dot, or in Unicode; the
    retailer's domain is stored lower-case IDNA: the pages are stored the same way, so a
    SmartLink finds them by the plain spelling."""
    merchant = m.account(name="Bücher")
    created = merchant.call("POST", "/v2/retailers", {"name": "Bücher", "domain": "Bücher.Example"})
    assert created.status_code == 201, created.text
    assert created.json()["domain"] == "xn--bcher-kva.example"
    retailer = created.json()["retailer_id"]
    urls = {
        "b-1": "https://Bücher.Example/p/b-1",
        "b-2": "https://BUCHER.example.com./p/B-2?Ref=Feed",
    }
    if content_type == "text/csv":
        body = FEED_HEADER + "".join(
            f"{pid},Book {pid},9.99,USD,{url},in stock,Books,Press,,\n" for pid, url in urls.items()
        )
    else:
        body = json.dumps(
            [{"id": pid, "title": f"Book {pid}", "price": "9.99", "link": url} for pid, url in urls.items()]
        )
    report = merchant.client.post(
        f"/v2/retailers/{retailer}/feeds",
        content=body.encode(),
        headers={**merchant.headers, "Content-Type": content_type},
    )
    assert report.status_code == 201 and report.json()["rows_invalid"] == 0, report.text
    listed = merchant.call("GET", f"/v2/retailers/{retailer}/products").json()["data"]
    assert sorted(p["url"] for p in listed) == [
        "https://bucher.example.com/p/B-2?Ref=Feed",
        "https://xn--bcher-kva.example/p/b-1",
    ]
    blog = m.account("publisher", "Blog")
    for url in ("https://bücher.example/p/b-1", "https://xn--bcher-kva.example/p/b-1"):
        response = create(blog, product_url=url)
        assert response.status_code == 201, response.text
