"""The readers on their own: format detection, the shapes each format may take, bounded batches."""

from __future__ import annotations

import io

import pytest

from auctera.domain.catalog import FeedFormat
from auctera.feeds import detect_format, read_feed

from .conftest import row, write_csv, write_jsonl


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        (None, "text/csv; charset=utf-8", FeedFormat.CSV),
        (None, "Text/Tab-Separated-Values", FeedFormat.TSV),
        (None, "application/x-ndjson", FeedFormat.JSONL),
        (None, "application/rss+xml", FeedFormat.XML),
        ("feed.JSON", None, FeedFormat.JSON),
        ("google.txt", "application/octet-stream", FeedFormat.TSV),
        ("products.ndjson", None, FeedFormat.JSONL),
        ("products.dat", "application/octet-stream", None),
    ],
)
def test_format_from_content_type_else_file_name(
    filename: str | None, content_type: str | None, expected: FeedFormat | None
) -> None:
    assert detect_format(filename, content_type) == expected


def rows_of(data: bytes, fmt: FeedFormat, **kw: int) -> list[tuple[int, dict[str, str]]]:
    return [r for batch in read_feed(io.BytesIO(data), fmt, **kw) for r in batch.rows]


def test_a_plain_products_list_in_xml() -> None:
    data = (
        b"<?xml version='1.0'?>\n<products>\n"
        b"  <product>\n    <id>1</id><name>Kettle</name><price currency='EUR'>29.90</price>\n  </product>\n"
        b"  <product><id>2</id><name>Mug &amp; Saucer</name>"
        b"<shipping><country>SE</country></shipping></product>\n"
        b"</products>\n"
    )
    assert rows_of(data, FeedFormat.XML) == [
        (3, {"id": "1", "name": "Kettle", "price": "29.90"}),
        (6, {"id": "2", "name": "Mug & Saucer", "shipping": ""}),
    ]


def test_json_lines_sent_as_json_are_recognised() -> None:
    data, _ = write_jsonl([row(1), row(2)])
    assert [line for line, _ in rows_of(data, FeedFormat.JSON)] == [1, 2]


def test_json_numbers_keep_their_text() -> None:
    data = b'[{"id": 7, "price": 129.50, "minBid": 1e-2, "inStock": false, "brand": null}]'
    [(_, raw)] = rows_of(data, FeedFormat.JSON)
    assert raw == {"id": "7", "price": "129.50", "minBid": "0.01", "inStock": "false", "brand": ""}


def test_batches_stay_bounded_however_long_the_feed() -> None:
    data, _ = write_csv([row(n, description="x" * 200) for n in range(20_000)])
    sizes = [len(batch.rows) for batch in read_feed(io.BytesIO(data), FeedFormat.CSV)]
    assert sum(sizes) == 20_000
    assert len(sizes) > 1
    assert max(sizes) < 10_000  # a block of about a megabyte at a time
    jsonl, _ = write_jsonl([row(n) for n in range(2_500)])
    assert [len(b.rows) for b in read_feed(io.BytesIO(jsonl), FeedFormat.JSONL, batch_rows=1000)] == [
        1000,
        1000,
        500,
    ]
