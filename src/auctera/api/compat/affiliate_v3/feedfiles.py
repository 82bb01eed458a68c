"""Streamed product feed bodies: the JSON array of POST /partner/products/feed, and the XML and
CSV files served at the signed feed URLs. Each yields one chunk per batch of products read, so
memory stays flat whatever the catalog's size."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import orjson

from auctera.services.partner_programs import ProductFeed

from . import translate

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


def json_array(feed: ProductFeed) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in feed.batches:
        chunk = b",".join(orjson.dumps(translate.product(item, feed.listed)) for item in batch)
        if chunk:
            yield chunk if first else b"," + chunk
            first = False
    yield b"]"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Characters XML 1.0 cannot carry at all, even escaped: dropped from element text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str:
    return escape(_NOT_XML.sub("", _text(value)))


def xml_document(feed: ProductFeed) -> Iterator[bytes]:
    """`<products><product><productName>…</productName>…</product></products>`; null fields are
    left out."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<products>\n'
    for batch in feed.batches:
        parts = []
        for item in batch:
            row = translate.product(item, feed.listed)
            fields = "".join(
                f"<{name}>{escape(_text(row[name]))}</{name}>"
                for name in FILE_FIELDS
                if row[name] is not None
            )
            parts.append(f"<product>{fields}</product>\n")
        yield "".join(parts).encode()
    yield b"</products>\n"


def csv_document(feed: ProductFeed) -> Iterator[bytes]:
    """RFC 4180 CSV with a header row; null fields are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FILE_FIELDS)
    for batch in feed.batches:
        for item in batch:
            row = translate.product(item, feed.listed)
            writer.writerow(["" if row[name] is None else _text(row[name]) for name in FILE_FIELDS])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
