"""JSON feeds: an array of products, `{"products": [...]}`, or JSON Lines (one per line).

Arrays and the wrapping object are streamed with ijson (its C backend): memory holds one product
at a time. ijson reports no positions, so a product of an array is located by its ordinal in the
array ("line" 3 is the third product). JSON Lines are read line by line and located exactly.
Numbers keep their text (a price of 129.50 stays "129.50"): never a binary float.

ijson's C backend is shielded from what it does not survive (`_Guard`, C-level scans of each
chunk): an integer of thousands of digits (Python's int digit limit; the backend crashes the
process), nesting thousands of levels deep (it keeps the path to every level: memory grows with
the square of the depth), and an escaped lone surrogate (read as "?", or an exception).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import ijson
import numpy as np

from auctera.domain.catalog import FeedBatch, FeedError, RowError, canonical_column
from auctera.feeds.streams import UNSTORABLE, UNSTORABLE_REASON, Replay

_HEAD = 1 << 16
MAX_DEPTH = 64  # levels of arrays and objects, the products' array included; a product needs 2
MAX_DIGITS = 1000  # in a number (a price has at most 18); Python's int limit is 4300


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
            if canonical_column(key) is not None and UNSTORABLE.search(text):
                errors.append(RowError(line, key, UNSTORABLE_REASON))
                return None
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
        yield from _items(_Guard(replay), "item", batch_rows)
    elif body[:1] == b"{":
        first = body.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
        except (ValueError, RecursionError):
            obj = None  # a pretty-printed object: not JSON Lines
        if isinstance(obj, dict) and not isinstance(obj.get("products"), list):
            yield from _json_lines(replay, batch_rows)
        else:
            yield from _items(_Guard(replay), "products.item", batch_rows)
    else:
        raise FeedError(1, 'must be an array of products, {"products": [...]}, or JSON Lines')


def _items(stream: _Guard, prefix: str, batch_rows: int) -> Iterator[FeedBatch]:
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
    except _Refused as exc:
        if batch.rows or batch.errors:
            yield batch
        raise FeedError(ordinal + 1, exc.reason) from None
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
        except ValueError as exc:  # UnicodeDecodeError included
            reason = (
                "is not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else f"is not valid JSON ({exc})"
            )
            if not raw.endswith((b"\n", b"\r")):
                # The last line, unreadable and without its line ending: the feed was cut short
                # there, and what follows is missing, not a bad row.
                if batch.rows or batch.errors:
                    yield batch
                raise FeedError(
                    line, f"the feed ends in the middle of a line (it {reason}): truncated?"
                ) from None
            batch.errors.append(RowError(line, None, reason))
            continue
        except RecursionError:
            batch.errors.append(RowError(line, None, "is not valid JSON (nested too deep)"))
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


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


_DIGIT = bytes.maketrans(b"0123456789", b"\x01" * 10)
_LONG_NUMBER = b"\x01" * MAX_DIGITS
_DIGITS = re.compile(rb"[0-9]+")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
# An escaped backslash, a surrogate pair, or (group 1) a lone surrogate, left to right.
_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# Quotes (1), openings (2) and closings (3): the bytes the nesting depends on, as small numbers.
_STRUCTURE = bytes(1 if b == ord('"') else 2 if b in b"[{" else 3 if b in b"]}" else 0 for b in range(256))
_MAX_HELD = 1 << 20


class _Guard:
    """The bytes for ijson, scanned a chunk at a time (numpy and C-level bytes methods, no
    per-byte Python): where a number grows past MAX_DIGITS digits or the nesting past MAX_DEPTH,
    the bytes before it are read and the next read raises `_Refused` (the import fails at that
    product). A lone surrogate's escape is read as `\\u0000`, so the row is refused naming its
    field. A chunk's trailing digits and escape are held back for the next one, so none is cut."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._held = b""
        self._depth = 0
        self._in_string = False
        self._refused: str | None = None

    def read(self, size: int = -1) -> bytes:
        if self._refused:
            raise _Refused(self._refused)
        if size == 0:  # ijson's look at the type the stream reads
            return b""
        data = self._held
        while True:
            more = self._stream.read(size if size > 0 else _HEAD)
            data += more
            if not more:
                self._held = b""
                break
            keep = len(data.rstrip(b"0123456789"))
            escape = data.find(b"\\", len(data) - 12)
            if escape != -1:
                if _HIGH_SURROGATE.fullmatch(data, escape - 6, escape):  # its pair's low half follows
                    escape -= 6
                keep = min(keep, len(data[:escape].rstrip(b"\\")))
            if keep and data.translate(_DIGIT).find(_LONG_NUMBER, keep) == -1:
                data, self._held = data[:keep], data[keep:]
                break
            if keep or len(data) > _MAX_HELD:
                break
        if _SURROGATE.search(data):
            data = _ESCAPES.sub(lambda m: b"\\u0000" if m[1] else m[0], data)
        data = self._scanned(data)
        if not data and self._refused:  # an empty read would be the end of the feed
            raise _Refused(self._refused)
        return data

    def _scanned(self, data: bytes) -> bytes:
        """`data` up to where it is refused; the nesting and string state carried on."""
        if not data:
            return data
        plain = _ESCAPE.sub(b"__", data) if b"\\" in data else data  # escapes out, positions kept
        codes = np.frombuffer(plain.translate(_STRUCTURE), dtype=np.uint8)
        where = np.flatnonzero(codes)  # the quotes and brackets: a few bytes in ten
        code = codes[where]
        quote = code == 1
        in_string = (np.cumsum(quote) + self._in_string) % 2 == 1  # a closing quote is not
        steps = np.where(quote | in_string, 0, np.where(code == 2, 1, -1))
        depth = self._depth + np.cumsum(steps)
        cut = len(data)
        if len(depth) and depth.max() > MAX_DEPTH:
            cut = int(where[np.argmax(depth > MAX_DEPTH)])
            self._refused = f"the JSON is nested more than {MAX_DEPTH} levels deep"
        digits = data.translate(_DIGIT)
        start = digits.find(_LONG_NUMBER, 0, cut)
        while start != -1:
            end = _DIGITS.match(data, start).end()  # type: ignore[union-attr]
            before = np.searchsorted(where, start)  # the quotes and brackets before the number
            if not (in_string[before - 1] if before else self._in_string):
                cut = start
                self._refused = f"a number has more than {MAX_DIGITS} digits"
                break
            start = digits.find(_LONG_NUMBER, end, cut)
        if cut < len(data):
            return data[:cut]
        if len(depth):
            self._depth, self._in_string = int(depth[-1]), bool(in_string[-1])
        return data
