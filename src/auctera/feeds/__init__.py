"""Product feed readers (an adapter): CSV, TSV, JSON, JSON Lines and XML, streamed.

`read_feed(stream, format, rules)` yields `FeedBatch`es of raw rows with their line numbers (or,
CSV and TSV, products validated a column at a time) and the rows that could not be read; it
raises `FeedError` where the feed cannot be read further. Memory stays flat whatever the size of
the feed: each reader holds one block (CSV/TSV) or one batch of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePath
from typing import BinaryIO

from auctera.domain.catalog import FeedBatch, FeedFormat, RowRules
from auctera.feeds.jsonfeed import read_json
from auctera.feeds.tabular import read_tabular
from auctera.feeds.xmlfeed import read_xml

BATCH_ROWS = 5000

_BY_SUFFIX = {
    ".csv": FeedFormat.CSV,
    ".tsv": FeedFormat.TSV,
    ".tab": FeedFormat.TSV,
    ".txt": FeedFormat.TSV,  # Google Merchant's "text" feeds are tab-separated
    ".json": FeedFormat.JSON,
    ".jsonl": FeedFormat.JSONL,
    ".ndjson": FeedFormat.JSONL,
    ".xml": FeedFormat.XML,
    ".rss": FeedFormat.XML,
}
_BY_MEDIA_TYPE = {
    "text/csv": FeedFormat.CSV,
    "application/csv": FeedFormat.CSV,
    "text/tab-separated-values": FeedFormat.TSV,
    "application/json": FeedFormat.JSON,
    "application/x-ndjson": FeedFormat.JSONL,
    "application/jsonl": FeedFormat.JSONL,
    "application/json-lines": FeedFormat.JSONL,
    "application/xml": FeedFormat.XML,
    "text/xml": FeedFormat.XML,
    "application/rss+xml": FeedFormat.XML,
}


def detect_format(filename: str | None = None, content_type: str | None = None) -> FeedFormat | None:
    """The format a Content-Type or else a file name says; None when neither tells."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in _BY_MEDIA_TYPE:
            return _BY_MEDIA_TYPE[media]
    if filename:
        return _BY_SUFFIX.get(PurePath(filename).suffix.lower())
    return None


def read_feed(
    stream: BinaryIO, format: FeedFormat, rules: RowRules | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[FeedBatch]:
    """Given `rules`, CSV and TSV batches bring the rows they could check a column at a time
    as `products` (feeds/columnar.py); every other row comes raw, for validate_row."""
    if format is FeedFormat.CSV:
        return read_tabular(stream, ",", rules=rules)
    if format is FeedFormat.TSV:
        return read_tabular(stream, "\t", rules=rules)
    if format is FeedFormat.XML:
        return read_xml(stream, batch_rows=batch_rows)
    return read_json(stream, lines=format is FeedFormat.JSONL, batch_rows=batch_rows)
