"""A feed cut short, uploaded through the real app: the import fails at the cut line and the
catalog keeps every product in stock (docs/api-v2-retailers.md)."""

from __future__ import annotations

import pytest

from .conftest import Api
from .test_retailers import retailer, upload

CSV = (
    b"id,title,price,link,description\n"
    b"j0,Json Zero,99.00,https://scratch.example.com/j0,Plain\n"
    b'j1,Json One,129.50,https://scratch.example.com/j1,"Great.\nReally good."\n'
    b"j2,Json Two,19.00,https://scratch.example.com/j2,Last\n"
)
JSONL = (
    b'{"id": "j0", "title": "Json Zero", "price": 99, "link": "https://scratch.example.com/j0"}\n'
    b'{"id": "j1", "title": "Json One", "link": "https://scratch.example.com/j1", "price": 129.50}\n'
    b'{"id": "j2", "title": "Json Two", "price": 19, "link": "https://scratch.example.com/j2"}\n'
)


@pytest.mark.parametrize(
    ("content_type", "whole", "cut"),
    [
        ("text/csv", CSV, CSV[: CSV.index(b'"Great.\n') + 8]),  # the audit's file
        ("application/x-ndjson", JSONL, JSONL[: JSONL.index(b'"price": 12') + 11]),
    ],
    ids=["csv", "jsonl"],
)
def test_a_cut_upload_fails_and_takes_nothing_out_of_stock(
    acme: Api, content_type: str, whole: bytes, cut: bytes
) -> None:
    shop = retailer(acme)
    assert upload(acme, shop, whole, content_type).json()["rows_valid"] == 3
    response = upload(acme, shop, cut, content_type)
    assert response.status_code == 201
    report = response.json()
    assert (report["status"], report["rows_valid"], report["marked_out_of_stock"]) == ("failed", 1, 0)
    assert report["errors"][-1]["line"] in (2, 3)
    assert "truncated?" in report["errors"][-1]["reason"]
    assert acme.call("GET", f"/v2/retailers/{shop}/products", in_stock="false").json()["data"] == []
    products = {
        p["external_id"]: p for p in acme.call("GET", f"/v2/retailers/{shop}/products").json()["data"]
    }
    assert products["j1"]["price"] == 129.5
    if content_type == "text/csv":
        assert products["j1"]["description"] == "Great.\nReally good."
