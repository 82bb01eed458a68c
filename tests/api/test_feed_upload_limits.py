"""Feed uploads a fuzzer found harmful: each is a row error or a failed import in the report (or
a 422 naming `file`), never a crashed or bloated server, a 500, or text no database can hold."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from .conftest import Api, error
from .test_openapi_errors import documented
from .test_retailers import retailer, upload

LINK = "https://shop.example.com"
GOOD = {"id": "ok", "title": "Kept", "price": "5", "link": f"{LINK}/ok"}


def imported(api: Api, shop: str, body: bytes, content_type: str) -> dict[str, Any]:
    response = upload(api, shop, body, content_type)
    assert response.status_code == 201, response.text
    return dict(response.json())


def errors(report: dict[str, Any]) -> list[tuple[int, str | None]]:
    return [(e["line"], e["field"]) for e in report["errors"]]


def product(api: Api, shop: str, external_id: str) -> dict[str, Any]:
    listed = api.call("GET", f"/v2/retailers/{shop}/products", limit=100).json()["data"]
    return next(p for p in listed if p["external_id"] == external_id)


def test_a_number_of_thousands_of_digits_fails_the_import_at_its_product(acme: Api) -> None:
    # ijson's C backend crashed the server converting it (Python's int digit limit is 4300).
    shop = retailer(acme)
    imported(acme, shop, json.dumps([GOOD]).encode(), "application/json")
    body = b'[{"id":"ok","title":"a","price":1,"link":"%s/1"},' % LINK.encode()
    body += b'{"id":"p1","title":"a","price":' + b"9" * 4301 + b',"link":"%s/1"}]' % LINK.encode()
    report = imported(acme, shop, body, "application/json")
    assert report["status"] == "failed"
    assert report["errors"][-1]["line"] == 2
    assert "digits" in report["errors"][-1]["reason"]
    assert product(acme, shop, "ok")["in_stock"] is True  # a failed import takes nothing out of stock
    # The same digits in a string are text: the price is refused, the import goes on.
    quoted = json.dumps([GOOD, {**GOOD, "id": "p2", "price": "9" * 4301}]).encode()
    report = imported(acme, shop, quoted, "application/json")
    assert (report["status"], errors(report)) == ("succeeded", [(2, "price")])


def test_deep_nesting_in_a_product_fails_the_import_cheaply(acme: Api) -> None:
    # ijson keeps the path to every level: memory grew with the square of the depth.
    shop = retailer(acme)
    deep = b"[" * 5000 + b"]" * 5000
    body = b'[{"id":"ok","title":"a","price":1,"link":"%s/1"},' % LINK.encode()
    body += b'{"id":"p1","x":' + deep + b',"title":"a","price":1,"link":"%s/2"}]' % LINK.encode()
    report = imported(acme, shop, body, "application/json")
    assert report["status"] == "failed"
    assert report["errors"][-1]["line"] == 2
    assert "nested" in report["errors"][-1]["reason"]
    # Brackets in strings, escaped quotes included, are text.
    text = json.dumps([{**GOOD, "description": '"[' * 5000}]).encode()
    assert imported(acme, shop, text, "application/json")["rows_valid"] == 1


def test_a_deeply_nested_json_line_is_refused_alone(acme: Api) -> None:
    shop = retailer(acme)
    body = b'{"id":"p1","x":' + b"[" * 5000 + b"]" * 5000 + b"}\n" + json.dumps(GOOD).encode() + b"\n"
    report = imported(acme, shop, body, "application/x-ndjson")
    assert (report["status"], report["rows_valid"], errors(report)) == ("succeeded", 1, [(1, None)])


def test_a_first_csv_row_over_a_block_fails_the_import_at_its_line(acme: Api) -> None:
    shop = retailer(acme)
    body = b"id,title,price,link\np1," + b"a" * (1 << 21) + b",1,%s/1\n" % LINK.encode()
    report = imported(acme, shop, body, "text/csv")
    assert (report["status"], errors(report)) == ("failed", [(2, None)])


def test_nul_and_lone_surrogates_are_row_errors_naming_the_field(acme: Api) -> None:
    shop = retailer(acme)
    good = json.dumps(GOOD)
    # JSON Lines: json.loads reads both; a stored product updated with a surrogate was a 500.
    imported(acme, shop, json.dumps({**GOOD, "id": "s"}).encode() + b"\n", "application/x-ndjson")
    lines = f'{{"id":"s","title":"x\\udc00","price":"1","link":"{LINK}/s"}}\n{good}\n'.encode()
    assert errors(imported(acme, shop, lines, "application/x-ndjson")) == [(1, "title")]
    # JSON arrays: ijson read a lone high surrogate as "?" and a lone low one raised.
    array = (
        f'[{{"id":"a","title":"x\\ud800y","price":1,"link":"{LINK}/a"}},'
        f'{{"id":"b","title":"\\udc00","price":1,"link":"{LINK}/b"}},'
        f'{{"id":"c\\u0000","title":"t","price":1,"link":"{LINK}/c"}},'
        f'{{"id":"d","title":"\\\\ud800 \\ud83d\\ude00","price":1,"link":"{LINK}/d"}}]'
    ).encode()
    report = imported(acme, shop, array, "application/json")
    assert (report["rows_valid"], errors(report)) == (1, [(1, "title"), (2, "title"), (3, "id")])
    assert product(acme, shop, "d")["name"] == "\\ud800 \U0001f600"  # an escaped backslash, a pair
    # CSV: a NUL in an id was stored, and the same upload again was a 500.
    csv = b"id,title,price,link\nn\x00ul,t,1,%s/n\nok,t,1,%s/ok\n" % (LINK.encode(), LINK.encode())
    for _ in range(2):
        report = imported(acme, shop, csv, "text/csv")
        assert (report["status"], errors(report)) == ("succeeded", [(2, "id")])


def test_an_xml_feed_in_an_unknown_encoding_fails_the_import(acme: Api) -> None:
    shop = retailer(acme)
    body = b'<?xml version="1.0" encoding="bogus-9"?><products><product><id>1</id></product></products>'
    report = imported(acme, shop, body, "application/xml")
    assert (report["status"], errors(report)) == ("failed", [(1, None)])


def test_unreadable_multipart_forms_are_422_naming_file(client: TestClient, acme: Api) -> None:
    shop = retailer(acme)
    path = f"/v2/retailers/{shop}/feeds"
    doc = client.get("/openapi.json").json()
    csv = f"id,title,price,link\np1,t,1,{LINK}/1\n".encode()
    answers = [
        upload(acme, shop, b"--x\r\n", "multipart/form-data"),  # no boundary
        acme.client.post(
            path,
            files=[("file", ("a.csv", csv, "text/csv")), ("file", ("b.csv", csv, "text/csv"))],
            headers=acme.headers,
        ),
        acme.client.post(path, files={"file": ("a" * 5000 + ".csv", csv, "text/csv")}, headers=acme.headers),
    ]
    for answer in answers:
        error(answer, 422, "file")
        documented(doc, "POST", "/v2/retailers/{retailer_id}/feeds", answer)
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.csv"\r\n\r\n'
        + csv
        + b"\r\n--b--\r\n"
    )
    named = upload(acme, shop, form, "multipart/form-data; boundary=b")
    assert named.status_code == 201, named.text
    assert named.json()["source"] == "a.csv"
