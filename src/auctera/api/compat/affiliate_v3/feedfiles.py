"""The product feed bodies, rendered into feed files once per catalog import (see
services/feed_files.py) and served from them: the JSON array of POST /partner/products/feed, and
the XML and CSV files served at the signed feed URLs. A catalog's file holds its products only;
what surrounds them (`[`…`]`, the XML document, the CSV header row) and what goes between two
catalogs' files is each format's `Format`. Rendering yields one chunk per batch of products
read, so memory stays flat whatever the catalog's size."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import orjson

from auctera.services.partner_programs import FeedItem, RenderItems
from auctera.services.ports import ListedProgram

from . import translate
from .envelope import JSON as JSON_MEDIA_TYPE

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
        chunk = orjson.dumps([translate.product(item, listed) for item in batch])[1:-1]
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
            row = translate.product(item, listed)
            fields = "".join(
                f"<{name}>{_xml_text(row[name])}</{name}>" for name in FILE_FIELDS if row[name] is not None
            )
            parts.append(f"<product>{fields}</product>\n")
        yield "".join(parts).encode()


def _csv_rows(batches: Iterator[list[FeedItem]], listed: ListedProgram) -> Iterator[bytes]:
    """RFC 4180 rows; null fields are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for batch in batches:
        for item in batch:
            row = translate.product(item, listed)
            writer.writerow(["" if row[name] is None else _text(row[name]) for name in FILE_FIELDS])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def _csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(FILE_FIELDS)
    return buffer.getvalue().encode()


JSON = Format("json", JSON_MEDIA_TYPE, _json_items, b"[", b",", b"]")
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
