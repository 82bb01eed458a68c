"""JSON feeds: an array of products, `{"products": [...]}`, or JSON Lines (one per line).

Arrays and the wrapping object are streamed with ijson (its C backend): memory holds one product
at a time. ijson reports no positions, so a product of an array is located by its ordinal in the
array ("line" 3 is the third product). JSON Lines are read line by line and located exactly.
Numbers keep their text (a price of 129.50 stays "129.50"): never a binary float.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import ijson

from auctera.domain.catalog import FeedBatch, FeedError, RowError, canonical_column
from auctera.feeds.streams import Replay

_HEAD = 1 << 16


def _text(value: Any) -> str | None:
    """The raw text of a scalar JSON value; None for objects and arrays."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if value is None:
        return ""
    return None


def _row(item: Any, line: int, errors: list[RowError]) -> dict[str, str] | None:
    if not isinstance(item, dict):
        errors.append(RowError(line, None, "is not a JSON object"))
        return None
    row: dict[str, str] = {}
    for key, value in item.items():
        text = _text(value)
        if text is not None:
            row[key] = text
        elif canonical_column(key) is not None:
            errors.append(RowError(line, key, "must be a string, number or boolean"))
            return None
    return row


def read_json(stream: BinaryIO, *, lines: bool = False, batch_rows: int = 5000) -> Iterator[FeedBatch]:
    head = stream.read(_HEAD).removeprefix(b"\xef\xbb\xbf")  # a byte-order mark: the parser would choke
    body = head.lstrip(b" \t\r\n")
    if not body:
        raise FeedError(1, "the feed is empty")
    replay = io.BufferedReader(Replay(head, stream))
    if lines:
        yield from _json_lines(replay, batch_rows)
    elif body[:1] == b"[":
        yield from _items(replay, "item", batch_rows)
    elif body[:1] == b"{":
        first = body.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None  # a pretty-printed object: not JSON Lines
        if isinstance(obj, dict) and not isinstance(obj.get("products"), list):
            yield from _json_lines(replay, batch_rows)
        else:
            yield from _items(replay, "products.item", batch_rows)
    else:
        raise FeedError(1, 'must be an array of products, {"products": [...]}, or JSON Lines')


def _items(stream: BinaryIO, prefix: str, batch_rows: int) -> Iterator[FeedBatch]:
    batch = FeedBatch([], [])
    ordinal = 0
    try:
        for ordinal, item in enumerate(ijson.items(stream, prefix), start=1):
            row = _row(item, ordinal, batch.errors)
            if row is not None:
                batch.rows.append((ordinal, row))
            if len(batch.rows) >= batch_rows:
                yield batch
                batch = FeedBatch([], [])
    except ijson.JSONError as exc:
        if batch.rows or batch.errors:
            yield batch
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = f"after product {ordinal}" if ordinal else "before the first product"
        raise FeedError(ordinal + 1, f"the JSON is malformed or ends early {where}: {reason}") from None
    if ordinal == 0:
        where = "in its products array" if prefix.startswith("products") else "in the array"
        raise FeedError(1, f'no products {where} (expected [...] or {{"products": [...]}})')
    if batch.rows or batch.errors:
        yield batch


def _json_lines(stream: BinaryIO, batch_rows: int) -> Iterator[FeedBatch]:
    batch = FeedBatch([], [])
    seen = 0
    for line, raw in enumerate(stream, start=1):
        text = raw.strip()
        if line == 1:
            text = text.removeprefix(b"\xef\xbb\xbf")
        if not text:
            continue
        seen += 1
        try:
            item = json.loads(text, parse_float=str, parse_int=str)
        except UnicodeDecodeError:
            batch.errors.append(RowError(line, None, "is not valid UTF-8"))
            continue
        except ValueError as exc:
            batch.errors.append(RowError(line, None, f"is not valid JSON ({exc})"))
            continue
        row = _row(item, line, batch.errors)
        if row is not None:
            batch.rows.append((line, row))
        if len(batch.rows) >= batch_rows:
            yield batch
            batch = FeedBatch([], [])
    if not seen:
        raise FeedError(1, "the feed is empty")
    if batch.rows or batch.errors:
        yield batch
