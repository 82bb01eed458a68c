"""/v2/retailers through the real app: retailers, feed uploads in every format, products."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api, error

CSV = (
    b"id,title,price,link,gtin,brand,availability,minBid\n"
    b"ps5,PlayStation 5,499.99 USD,https://shop.example.com/ps5,0711719437215,Sony,in stock,0.35\n"
    b"bad,Broken,twelve,https://shop.example.com/bad,,,,\n"
    b"mug,Mug,9,https://shop.example.com/mug,,,out of stock,\n"
)
XML = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>ps5</g:id><title>PlayStation 5</title><g:price>479.00 USD</g:price>
<link>https://shop.example.com/ps5</link></item>
</channel></rss>
"""


def retailer(api: Api, domain: str = "shop.example.com") -> str:
    response = api.call("POST", "/v2/retailers", {"name": "Shop", "domain": domain})
    assert response.status_code == 201, response.text
    return str(response.json()["retailer_id"])


def upload(api: Api, retailer_id: str, body: Any, content_type: str, **params: str) -> Any:
    return api.client.post(
        f"/v2/retailers/{retailer_id}/feeds",
        content=body,
        params=params or None,
        headers={**api.headers, "Content-Type": content_type},
    )


def test_create_read_and_list_retailers(acme: Api) -> None:
    response = acme.call("POST", "/v2/retailers", {"name": "Acme Shop", "domain": "Shop.Example.COM"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"retailer_id", "account_id", "name", "domain", "created_at"}
    assert body["retailer_id"].startswith("ret_")
    assert (body["name"], body["domain"], body["account_id"]) == ("Acme Shop", "shop.example.com", acme.id)
    assert acme.call("GET", f"/v2/retailers/{body['retailer_id']}").json() == body
    second = retailer(acme, "outlet.example.com")
    page = acme.call("GET", "/v2/retailers", limit=1).json()
    assert [r["retailer_id"] for r in page["data"]] == [second]
    rest = acme.call("GET", "/v2/retailers", limit=1, cursor=page["pagination"]["next_cursor"]).json()
    assert [r["retailer_id"] for r in rest["data"]] == [body["retailer_id"]]
    assert rest["pagination"]["next_cursor"] is None


def test_retailer_input_errors(acme: Api) -> None:
    retailer(acme)
    error(acme.call("POST", "/v2/retailers", {"name": "Again", "domain": "shop.example.com"}), 409, "domain")
    error(acme.call("POST", "/v2/retailers", {"name": "Shop", "domain": "not a host"}), 422, "domain")
    error(acme.call("POST", "/v2/retailers", {"name": "", "domain": "a.example.com"}), 422, "name")
    error(acme.call("POST", "/v2/retailers", {"name": "Shop"}), 422, "domain")
    bad = error(
        acme.call("POST", "/v2/retailers", {"name": "S", "domain": "b.example.com", "x": 1}), 422, "x"
    )
    assert bad["code"] == "unknown_field"


def test_a_network_key_creates_retailers_for_an_account(acme: Api, network: Api) -> None:
    error(network.call("POST", "/v2/retailers", {"name": "S", "domain": "s.example.com"}), 422, "account_id")
    made = network.call(
        "POST", "/v2/retailers", {"name": "S", "domain": "s.example.com", "account_id": acme.id}
    )
    assert made.status_code == 201
    assert made.json()["account_id"] == acme.id
    assert acme.call("GET", f"/v2/retailers/{made.json()['retailer_id']}").status_code == 200


def test_csv_upload_reports_bad_rows_and_lands_the_rest(acme: Api) -> None:
    shop = retailer(acme)
    response = upload(acme, shop, CSV, "text/csv; charset=utf-8")
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["import_id"].startswith("imp_")
    assert {k: report[k] for k in ("status", "format", "rows_read", "rows_valid", "rows_invalid")} == {
        "status": "succeeded",
        "format": "csv",
        "rows_read": 3,
        "rows_valid": 2,
        "rows_invalid": 1,
    }
    assert report["marked_out_of_stock"] == 0
    assert report["errors"] == [
        {"line": 3, "field": "price", "reason": "not a price: 'twelve' (write 12.99 or 12.99 USD)"}
    ]
    assert acme.call("GET", f"/v2/retailers/{shop}/feeds/{report['import_id']}").json() == report

    products = acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"]
    ps5 = next(p for p in products if p["external_id"] == "ps5")
    assert {k: ps5[k] for k in ("price", "currency", "min_bid", "gtin", "in_stock", "brand")} == {
        "price": 499.99,
        "currency": "USD",
        "min_bid": 0.35,
        "gtin": "00711719437215",
        "in_stock": True,
        "brand": "Sony",
    }
    assert acme.call("GET", f"/v2/retailers/{shop}/products/{ps5['product_id']}").json() == ps5
    sold_out = acme.call("GET", f"/v2/retailers/{shop}/products", in_stock="false").json()["data"]
    assert [p["external_id"] for p in sold_out] == ["mug"]
    by_gtin = acme.call("GET", f"/v2/retailers/{shop}/products", gtin="711719437215").json()["data"]
    assert [p["external_id"] for p in by_gtin] == ["ps5"]


def test_reimport_in_another_format_keeps_ids_and_takes_the_rest_out_of_stock(acme: Api) -> None:
    shop = retailer(acme)
    upload(acme, shop, CSV, "text/csv")
    before = {p["external_id"]: p for p in acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"]}
    report = upload(acme, shop, XML, "application/xml").json()
    assert (report["status"], report["rows_valid"], report["marked_out_of_stock"]) == ("succeeded", 1, 0)
    after = {p["external_id"]: p for p in acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"]}
    assert after["ps5"]["product_id"] == before["ps5"]["product_id"]
    assert after["ps5"]["price"] == 479
    assert after["mug"]["in_stock"] is False  # out of stock before, still


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/json",
            b'{"products": [{"id": "1", "title": "A", "price": 1.5, "link": "https://a.example.com/1"}]}',
        ),
        (
            "application/x-ndjson",
            b'{"id": "1", "title": "A", "price": "1.50", "link": "https://a.example.com/1"}\n',
        ),
        ("text/tab-separated-values", b"id\ttitle\tprice\tlink\n1\tA\t1.50\thttps://a.example.com/1\n"),
    ],
)
def test_every_format_by_content_type(acme: Api, content_type: str, body: bytes) -> None:
    shop = retailer(acme)
    report = upload(acme, shop, body, content_type).json()
    assert (report["status"], report["rows_valid"]) == ("succeeded", 1)
    [product] = acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"]
    assert product["price"] == 1.5


def test_a_streamed_upload_in_chunks(acme: Api) -> None:
    shop = retailer(acme)

    def chunks() -> Iterator[bytes]:
        yield b"id,title,price,link\n"
        for n in range(2000):
            yield f"sku-{n},Product {n},{n}.25,https://shop.example.com/{n}\n".encode()

    report = upload(acme, shop, chunks(), "text/csv").json()
    assert (report["rows_read"], report["rows_valid"]) == (2000, 2000)


def test_multipart_upload_and_format_override(acme: Api) -> None:
    shop = retailer(acme)
    response = acme.client.post(
        f"/v2/retailers/{shop}/feeds", files={"file": ("feed.csv", CSV, "text/csv")}, headers=acme.headers
    )
    assert response.status_code == 201
    assert (response.json()["source"], response.json()["rows_valid"]) == ("feed.csv", 2)
    named = acme.client.post(
        f"/v2/retailers/{shop}/feeds",
        files={"file": ("export.dat", CSV, "application/octet-stream")},
        params={"format": "csv"},
        headers=acme.headers,
    )
    assert named.json()["rows_valid"] == 2
    error(upload(acme, shop, CSV, "application/octet-stream"), 422, "format")
    error(upload(acme, shop, CSV, "text/csv", format="yaml"), 422, "format")
    empty_form = acme.client.post(
        f"/v2/retailers/{shop}/feeds", data={"x": "1"}, files={"other": ("a", b"")}, headers=acme.headers
    )
    error(empty_form, 422, "file")


def test_a_failed_import_is_a_report_not_an_error(acme: Api) -> None:
    shop = retailer(acme)
    report = upload(acme, shop, b"", "text/csv").json()
    assert report["status"] == "failed"
    assert report["errors"] == [{"line": 1, "field": None, "reason": "the feed is empty"}]


def test_other_tenants_see_nothing(app: RootApp, client: TestClient, acme: Api) -> None:
    shop = retailer(acme)
    report = upload(acme, shop, CSV, "text/csv").json()
    product = acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"][0]["product_id"]
    other = Api(app, client, name="Other")
    for path in (
        f"/v2/retailers/{shop}",
        f"/v2/retailers/{shop}/products",
        f"/v2/retailers/{shop}/products/{product}",
        f"/v2/retailers/{shop}/feeds/{report['import_id']}",
        "/v2/retailers/nonsense",
        f"/v2/retailers/{shop}/products/nonsense",
    ):
        error(other.call("GET", path), 404)
    error(upload(other, shop, CSV, "text/csv"), 404, "retailer_id")
    assert other.call("GET", "/v2/retailers").json()["data"] == []
    error(acme.call("GET", f"/v2/retailers/{retailer(other)}/products"), 404, "retailer_id")
    outlet = retailer(acme, "outlet.example.com")  # a product is found under its own retailer only
    error(acme.call("GET", f"/v2/retailers/{outlet}/products/{product}"), 404, "product_id")
    assert client.get("/v2/retailers").status_code == 401
