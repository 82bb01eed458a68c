"""The column-wise check of CSV and TSV batches (feeds/columnar.py) makes of every row exactly
what validate_row makes of it: the same product, or (through validate_row) the same errors."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import pytest

from auctera.domain.catalog import FeedFormat, ProductFields, RowError, RowRules, validate_row
from auctera.feeds import read_feed

RULES = RowRules(frozenset({"USD", "EUR", "SEK", "JPY"}), "SEK")

VALUES: dict[str, list[str]] = {
    "id": ["sku-1", " sku-2 ", "\xa0sku-3", "sku\u00e9", "x" * 255, "y" * 256, "", "\x1csku-4\x1f", "漢字"],
    "title": [
        "Sony PlayStation 5",
        "  PS5 128GB  ",
        "Caf\u00e9 cr\u00e8me",
        "\u212aettle",  # Kelvin sign: casefolds to k
        "The new and the old",
        "a",
        "",
        "n" * 500,
        "n" * 501,
        "USB-C 3.1 hub, 4x",
        "\u2003wide space",
        "Stra\u00dfe",
        "MAX-2000x pro\tedition",
    ],
    "description": ["", "Fine.", " multi\nline ", "\u00a0nbsp"],
    "price": [
        "12.99",
        "12.99 USD",
        "12.99USD",
        "USD 12.99",
        "1,299.00",
        ".5",
        "12.",
        "12.9999999",
        "12.9900000",
        "-1",
        "abc",
        "0",
        "000012.5",
        "12.99 usd",
        "12.99 XXX",
        "12.99 EUR",
        "",
        "999999999999.999999",
        "1234567890123",
        " 7.5 ",
        "7.5 SEK",
        "12.99  USD",
    ],
    "currency": ["", "USD", "usd", "XYZ", "EUR", "sek", " SEK "],
    "link": [
        "https://shop.example.com/p/1",
        "HTTP://Shop.Example.COM/p?q=1#x",
        "https://shop.example.com",
        "https://localhost/p",
        "ftp://shop.example.com/p",
        "https://shop.example.com/p q",
        "https://shop.example.com/caf\u00e9",
        "https://user@shop.example.com/",
        "https://xn--caf-dma.example/",
        "https://shop.example.com/" + "a" * 2100,
        "",
        "https://shop.example.com:8080/p",
        "https://-bad.example.com/",
        "https://shop.example.c0m/",
    ],
    "image_link": ["", "https://cdn.example.com/1.jpg", "not a url", "https://cdn.example.com/a b.jpg"],
    "availability": ["", "in stock", "In_Stock", "out of stock", "preorder", "maybe", "SOLD OUT", "yes"],
    "in_stock": ["", "yes", "0", "TRUE", "nope", " f "],
    "brand": ["", "Sony", "LEGO", "Br\u00fcder", "b" * 256, "The"],
    "gtin": [
        "",
        "4006381333931",
        "400 638 133 3931",
        "4006381333932",
        "00000000",
        "96385074",
        "036000291452",
        "12345678901231",
        "abc",
        "0000000000000",
        "40063813339310",
    ],
    "mpn": ["", "M-1", "m" * 256],
    "google_product_category": ["", "Electronics > Gadgets"],
    "min_bid": ["", "0.25", "0.25 SEK", "0.25 EUR", "x", "1,000.50"],
}


# Values valid on their own (of every kind the column-wise check takes or leaves), so that many
# rows are all valid: each value comes from here four times out of five.
GOOD: dict[str, list[str]] = {
    "id": ["sku-1", " sku-2 ", "\xa0sku-3", "sku\u00e9", "\x1csku-4\x1f"],
    "title": [
        "Sony PlayStation 5",
        "  PS5 128GB  ",
        "Caf\u00e9 cr\u00e8me",
        "\u212aettle",
        "The new and the old",
    ],
    "price": ["12.99", "12.99 SEK", "12.99SEK", "SEK 12.99", "1,299.00", ".5", "12.9900000", "0", " 7.5 "],
    "currency": ["", "SEK", "sek", " SEK "],
    "link": [
        "https://shop.example.com/p/1",
        "HTTP://Shop.Example.COM/p?q=1#x",
        "https://shop.example.com/caf\u00e9",
    ],
    "image_link": ["", "https://cdn.example.com/1.jpg"],
    "gtin": ["", "4006381333931", "400 638 133 3931", "96385074", "036000291452", "12345678901231"],
    "min_bid": ["", "0.25", "0.25 SEK", "1,000.50"],
}


def _feed(rows: int, seed: int, columns: list[str], delimiter: str) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for n in range(rows):
        if n % 97 == 5:
            writer.writerow([""] * len(columns))  # a blank record
            continue
        row = [rng.choice(GOOD.get(c, VALUES[c]) if rng.random() < 0.8 else VALUES[c]) for c in columns]
        if delimiter == "\t":
            row = [v.replace("\t", " ").replace("\n", " ") for v in row]
        writer.writerow(row)
    return out.getvalue().encode()


def _outcomes(data: bytes, fmt: FeedFormat, rules: RowRules | None) -> tuple[dict[int, Any], int]:
    """Line -> the product or the errors; and how many products came column-wise."""
    found: dict[int, Any] = {}
    columnar = 0
    for batch in read_feed(io.BytesIO(data), fmt, rules):
        for error in batch.errors:
            found[error.line] = [error]
        for line, raw in batch.rows:
            found[line] = validate_row(raw, line, RULES)
        if batch.products is not None:
            columnar += len(batch.products)
            for line, item in _items(batch.products):
                found[line] = item
    return found, columnar


def _items(products: Any) -> list[tuple[int, ProductFields]]:
    fields = [getattr(products, name) for name in ProductFields.__slots__]
    return [(line, ProductFields(*values)) for line, *values in zip(products.lines, *fields, strict=True)]


@pytest.mark.parametrize(
    ("columns", "delimiter", "seed"),
    [
        (list(VALUES), ",", 1),
        (list(VALUES), "\t", 2),
        (["id", "title", "price", "link", "currency", "gtin", "brand"], ",", 3),
        (["link", "price", "title", "id", "in_stock"], ",", 4),
    ],
)
def test_every_row_is_what_validate_row_makes_of_it(columns: list[str], delimiter: str, seed: int) -> None:
    fmt = FeedFormat.CSV if delimiter == "," else FeedFormat.TSV
    data = _feed(3000, seed, columns, delimiter)
    fast, columnar = _outcomes(data, fmt, RULES)
    slow, none = _outcomes(data, fmt, None)
    assert none == 0 and fast.keys() == slow.keys()
    different = [(line, fast[line], slow[line]) for line in fast if fast[line] != slow[line]]
    assert different == []
    valid = sum(isinstance(v, ProductFields) for v in slow.values())
    assert valid > 400 and columnar > 50  # both paths had their share
    errors = [v for v in slow.values() if not isinstance(v, ProductFields)]
    assert errors and all(isinstance(e, RowError) for found in errors for e in found)
