"""The formats of the /v3 product feed files (services/feed_files.py): how one catalog's
products, with their links, are written as the JSON array's items, XML `<product>` elements or
CSV rows. A catalog's file holds its products only; what surrounds them (`[`…`]`, the XML
document, the CSV header row) and what goes between two catalogs' files is each `Format`'s.
Rendering yields one chunk per batch of products read, so memory stays flat whatever the
catalog's size.

Pure (no I/O): the service renders files with it after an import and on a request, the API
streams them with the same `Format`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import orjson

from auctera.domain.catalog import Product
from auctera.domain.money import plain
from auctera.domain.reports import spreadsheet_text
from auctera.services.ports import ListedProgram

MICROS = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class FeedItem:
    product: Product
    tracking_url: str


# Renders one catalog's products (with their links) as a format's file body.
RenderItems = Callable[[Iterator[list[FeedItem]], ListedProgram], Iterator[bytes]]


def decimal_text(micros: int) -> str:
    """12_500_000 -> "12.5", 100_000_000 -> "100": no exponent, no trailing zeros."""
    return plain(Decimal(micros) / MICROS)


def ean(gtin: str | None) -> str | None:
    """Our GTIN-14 as the EAN-13 feeds use, when it is one (a leading zero)."""
    if gtin is None:
        return None
    return gtin[1:] if len(gtin) == 14 and gtin.startswith("0") else gtin


def product_row(item: FeedItem, listed: ListedProgram) -> dict[str, Any]:
    """A product of a feed; fields our catalog does not hold are null (see docs/api-v3.md)."""
    p = item.product
    return {
        "productName": p.name,
        "productPrice": decimal_text(p.price_micros),
        "productUrl": p.url,
        "trackingUrl": item.tracking_url,
        "currency": p.currency,
        "programId": listed.program.id,
        "approvalStatus": 1,  # only an approved channel gets a feed
        "ean": ean(p.gtin),
        "sku": p.sku,
        "extraInfo": [],
        "imageUrl": p.image_url,
        "inStock": p.in_stock,
        "manufacturer": p.brand,
        "manufacturerArticleNumber": None,
        "market": listed.program.market,
        "oldPrice": None,
        "productCategory": p.category,
        "productDescription": p.description,
        "shipping": None,
    }


# The flat fields of the XML and CSV files, in the JSON's order (extraInfo, a list, is left out).
FILE_FIELDS = [
    "productName",
    "productPrice",
    "productUrl",
    "trackingUrl",
    "currency",
    "programId",
    "approvalStatus",
    "ean",
    "sku",
    "imageUrl",
    "inStock",
    "manufacturer",
    "manufacturerArticleNumber",
    "market",
    "oldPrice",
    "productCategory",
    "productDescription",
    "shipping",
]


@dataclass(frozen=True, slots=True)
class Format:
    suffix: str  # of its files
    media_type: str
    render: RenderItems  # a catalog's products
    head: bytes
    separator: bytes  # between two catalogs' products
    tail: bytes
    text: Callable[[str], str] = str  # how a link's text is written in it (escaped)

    def channel_links(self, value: str) -> bytes:
        """`p=…&ch=…` as it stands in this format's links."""
        return self.text(value).encode()


def _json_items(batches: Iterator[list[FeedItem]], listed: ListedProgram) -> Iterator[bytes]:
    first = True
    for batch in batches:
        # One dumps per batch: its products without the list's brackets.
        chunk = orjson.dumps([product_row(item, listed) for item in batch])[1:-1]
        if chunk:
            yield chunk if first else b"," + chunk
            first = False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Characters XML 1.0 cannot carry at all, even escaped: dropped from element text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str:
    return escape(_NOT_XML.sub("", _text(value)))


def _xml_items(batches: Iterator[list[FeedItem]], listed: ListedProgram) -> Iterator[bytes]:
    """`<product><productName>…</productName>…</product>` per product; null fields are left
    out."""
    for batch in batches:
        parts = []
        for item in batch:
            row = product_row(item, listed)
            fields = "".join(
                f"<{name}>{_xml_text(row[name])}</{name}>" for name in FILE_FIELDS if row[name] is not None
            )
            parts.append(f"<product>{fields}</product>\n")
        yield "".join(parts).encode()


def _csv_rows(batches: Iterator[list[FeedItem]], listed: ListedProgram) -> Iterator[bytes]:
    """RFC 4180 rows; null fields are empty. The merchant's text is its publishers' to open in a
    spreadsheet: a text cell that would be a formula there is defused (`spreadsheet_text`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for batch in batches:
        for item in batch:
            row = product_row(item, listed)
            writer.writerow([_csv_cell(row[name]) for name in FILE_FIELDS])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return spreadsheet_text(value) if isinstance(value, str) else _text(value)


def _csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(FILE_FIELDS)
    return buffer.getvalue().encode()


JSON = Format("json", "application/json;charset=UTF-8", _json_items, b"[", b",", b"]")
XML = Format(
    "xml",
    "application/xml; charset=utf-8",
    _xml_items,
    b'<?xml version="1.0" encoding="UTF-8"?>\n<products>\n',
    b"",
    b"</products>\n",
    _xml_text,
)
CSV = Format("csv", "text/csv; charset=utf-8", _csv_rows, _csv_header(), b"", b"")

# What an import renders ahead of the first request; the other variants (setEpi, gt) stay lazy.
DEFAULT_FORMATS = (JSON, XML, CSV)
