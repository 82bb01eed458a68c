"""CSV and TSV feeds, streamed through pyarrow's CSV reader in blocks of about a megabyte.

Every column is read as bytes (no type inference: a price column of numbers with one "abc" must
not fail the whole block) and decoded per block, so a badly encoded value costs only its row.

Line numbers stay exact although pyarrow reports none for the rows it returns: it numbers the
rows it rejects (wrong column count) by record, with the header as record 1, when it parses on
one thread. Walking the records in order, a row's line is one past the previous record's last
line, and a record spans one line plus the newlines inside its quoted values, which are counted
per block from the bytes of its values. Blank lines are kept as empty records (so they
count) and then skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from auctera.domain.catalog import FeedBatch, FeedError, RowError, RowRules, canonical_column, header_problems
from auctera.feeds.columnar import array_bytes, validate_columns
from auctera.feeds.streams import UNSTORABLE_REASON, Replay

BLOCK_SIZE = 1 << 20
_HEAD_CHUNK = 1 << 16
_MAX_HEADER = 1 << 20


def _read_header(stream: BinaryIO, quoting: bool) -> tuple[bytes, bytes]:
    """(the header record, everything read after it so far)."""
    buf = b""
    searched = 0
    while True:
        end = buf.find(b"\n", searched)
        while end != -1 and quoting and buf[:end].count(b'"') % 2:  # a newline inside quotes
            end = buf.find(b"\n", end + 1)
        if end != -1:
            return buf[:end], buf[end + 1 :]
        cr = buf.find(b"\r")
        if -1 < cr < len(buf) - 1 and buf[cr + 1] != 0x0A and not (quoting and buf[:cr].count(b'"') % 2):
            # No LF yet, and a CR alone ends the header: lines end the classic Mac OS way (Excel's
            # "CSV (Macintosh)"), which would read as one line holding the whole file.
            raise FeedError(1, "the lines end with a CR alone: save the feed with LF or CRLF line endings")
        searched = len(buf)
        chunk = stream.read(_HEAD_CHUNK)
        if not chunk:
            return buf, b""
        buf += chunk
        if len(buf) > _MAX_HEADER:
            raise FeedError(1, "the header line is longer than 1 MiB")


def read_tabular(
    stream: BinaryIO, delimiter: str, *, block_size: int = BLOCK_SIZE, rules: RowRules | None = None
) -> Iterator[FeedBatch]:
    """The feed's rows; given `rules`, those a batch can check column-wise come as products
    (feeds/columnar.py), the others as raw rows for validate_row."""
    quoting = delimiter == ","  # TSV (IANA text/tab-separated-values) has no quoting
    header, rest = _read_header(stream, quoting)
    if not header.strip() and not rest.strip():
        raise FeedError(1, "the feed is empty")
    try:
        text = header.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise FeedError(1, "the header is not valid UTF-8") from None
    dialect: dict[str, Any] = {"quotechar": '"'} if quoting else {"quoting": csv.QUOTE_NONE}
    # As pyarrow names the columns (unstripped): the column types below are given by name.
    names = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, **dialect), [])
    problems = header_problems(names)
    if problems:
        raise FeedError(1, "; ".join(f"{p.field}: {p.reason}" for p in problems), field=problems[0].field)
    if not rest.strip(b"\r\n"):
        peek = stream.read(_HEAD_CHUNK)
        if not peek.strip():
            raise FeedError(2, "the feed has a header but no products")
        rest += peek

    walker = _Records(first_line=2 + text.count("\n"), columns=len(names))
    unique = list(dict.fromkeys(names))
    # A record fits in a block (pyarrow fails on a longer one): two blocks hold the last one.
    source = Replay(header + b"\n" + rest, stream, tail=2 * block_size if quoting else 0)
    try:
        reader = _open(source, walker, delimiter, quoting, block_size, unique)
    except pa.ArrowInvalid as exc:  # opening parses the first block
        raise _unreadable(exc, walker.line, block_size) from None
    # Each batch is handed on once the next is read: the last one may hold a row the end of the
    # feed cut short, which must not be stored.
    held: FeedBatch | None = None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            if held is not None:
                yield held
            raise _unreadable(exc, walker.line, block_size) from None
        if held is not None:
            yield held
        held = walker.batch(batch, quoting, rules)
    errors: list[RowError] = []
    walker.take_rejected(errors, everything=True)
    cut = walker.last_line
    reason = None
    if quoting and _ends_in_quotes(source, walker):
        # pyarrow closes a quoted value at the end of the file: the rest of it was cut off.
        reason = "the feed ends inside a quoted value (its closing quote is missing): truncated?"
    elif walker.last_rejected == walker.record - 1 and source.last_byte not in (b"\n", b"\r"):
        # A last row short of values, with no line ending: the feed was truncated, not a bad row.
        reason = f"the feed ends in the middle of a row ({errors[-1].reason}): truncated?"
    if reason is not None:
        errors = [e for e in errors if e.line != cut]
        held = _without_line(held, cut) if held is not None else None
    if held is not None:
        yield held
    if errors:
        yield FeedBatch([], errors)
    if reason is not None:
        raise FeedError(cut, reason)


def _without_line(batch: FeedBatch, line: int) -> FeedBatch:
    """The batch without what it holds of the record starting on `line`."""
    products = batch.products
    if products is not None:
        products = products.without({i for i, at in enumerate(products.lines) if at == line})
    rows = [(at, raw) for at, raw in batch.rows if at != line]
    return FeedBatch(rows, [e for e in batch.errors if e.line != line], products)


_FIELD_END = re.compile(rb"[,\r\n]")


def _ends_in_quotes(source: Replay, last: _Records) -> bool:
    """Whether the feed ends inside a quoted value (pyarrow closes one at the end of the file)."""
    if last.last_text is not None:  # a rejected record: pyarrow gave its text
        return _read_record(last.last_text.encode("utf-8", "surrogatepass"), 0)[0]
    # A returned one. Had it ended inside quotes, its values would hold every LF after its start
    # (it spans `last_span` lines): it would start after the LF before those.
    tail = source.tail()
    at = len(tail)
    for _ in range(last.last_span):
        at = tail.rfind(b"\n", 0, at)
        if at == -1:
            return False
    at += 1
    while True:
        quoted, first, at = _read_record(tail, at)
        if at >= len(tail):
            break
    # Read from there, it must be that record: the one pyarrow read last, open at the end.
    return quoted and first == last.last_first


def _read_record(data: bytes, at: int) -> tuple[bool, bytes, int]:
    """Reads the record starting at `at` as pyarrow does (a quote opens a value only as its first
    character, `""` in it is a quote, after the closing quote the value runs on unquoted to a
    comma or line break): (whether the data ends inside its quoted value, its first value, where
    the next record starts)."""
    first: bytes | None = None
    while True:
        value = b""
        if data[at : at + 1] == b'"':
            at += 1
            while True:
                quote = data.find(b'"', at)
                if quote == -1:
                    return True, value + data[at:] if first is None else first, len(data)
                value += data[at:quote]
                at = quote + 1
                if data[at : at + 1] != b'"':  # not an escaped quote: the closing one
                    break
                value += b'"'
                at += 1
        end = _FIELD_END.search(data, at)
        stop = end.start() if end else len(data)
        if first is None:
            first = value + data[at:stop]
        if end is None:
            return False, first, len(data)
        if end[0] != b",":  # a line break: CRLF, LF or a lone CR
            return False, first, stop + (2 if data[stop : stop + 2] == b"\r\n" else 1)
        at = end.end()


def _open(
    source: Replay, walker: _Records, delimiter: str, quoting: bool, block_size: int, names: list[str]
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=block_size),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"' if quoting else False,
            newlines_in_values=quoting,
            ignore_empty_lines=False,
            invalid_row_handler=walker.reject,
        ),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.binary() for n in names}),
    )


def _unreadable(exc: pa.ArrowInvalid, line: int, block_size: int) -> FeedError:
    if "straddl" in str(exc):  # pyarrow's words for a row larger than a block
        return FeedError(line, f"a row is longer than {block_size >> 10:,} KiB")
    return FeedError(line, f"cannot be parsed: {exc}")


class _Records:
    """Walks the records in file order, rows pyarrow returned and rows it rejected, keeping the
    line each starts on."""

    def __init__(self, first_line: int, columns: int) -> None:
        self.line = first_line
        self.record = 2  # pyarrow's record number of the next record (the header is 1)
        self._columns = columns
        self._rejected: deque[tuple[int | None, int, str]] = deque()
        self.last_rejected: int | None = None  # record number
        # The last record walked: its line, and its text (rejected) or first value (returned).
        self.last_line = first_line
        self.last_text: str | None = None
        self.last_first: bytes | None = None
        self.last_span = 1  # the lines a returned one spans

    def reject(self, row: pacsv.InvalidRow) -> str:
        self._rejected.append((row.number, row.actual_columns, row.text))
        return "skip"

    def take_rejected(self, errors: list[RowError], *, everything: bool = False) -> None:
        """The rejected records due before the next returned one (all that are left at the end)."""
        while self._rejected:
            number, columns, text = self._rejected[0]
            if not everything and number is not None and number > self.record:
                return
            self._rejected.popleft()
            self.last_rejected = self.record
            self.last_line, self.last_text = self.line, text
            errors.append(RowError(self.line, None, f"has {columns} columns, the header has {self._columns}"))
            self.line += 1 + text.count("\n")
            self.record += 1

    def batch(self, batch: pa.RecordBatch, quoting: bool, rules: RowRules | None) -> FeedBatch:
        n = batch.num_rows
        errors: list[RowError] = []
        steps = np.ones(n, dtype=np.int64)  # the lines each record spans
        if quoting:  # newlines inside quoted values
            for column in batch.columns:
                offsets, data = array_bytes(column)
                where = np.flatnonzero(data == ord("\n"))
                if len(where):
                    steps += np.bincount(np.searchsorted(offsets, where, side="right") - 1, minlength=n)
        lines = self._lines(steps, errors)
        if n:  # the last record walked, until rejected ones follow
            self.last_line, self.last_text, self.last_span = int(lines[-1]), None, int(steps[-1])
            self.last_first = batch.column(0)[n - 1].as_py()
        undecodable: dict[int, str] = {}  # row -> the first column that is not UTF-8
        columns = [
            self._decoded(name, column, undecodable)
            for name, column in zip(batch.schema.names, batch.columns, strict=True)
        ]
        unstorable: dict[int, str] = {}  # row -> the first field holding a NUL
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            offsets, data = array_bytes(column)
            where = np.flatnonzero(data == 0)
            if len(where) and canonical_column(name) is not None:
                for i in np.searchsorted(offsets, where, side="right") - 1:
                    unstorable.setdefault(int(i), name)
        filled = np.zeros(n, dtype=bool)  # blank lines are empty records: counted, not products
        for column in batch.columns:
            filled |= pc.binary_length(column).to_numpy(zero_copy_only=False) > 0
        candidates = filled.copy()
        candidates[list(undecodable) + list(unstorable)] = False
        products = None
        if rules is not None:
            products, valid = validate_columns(batch.schema.names, columns, lines, rules, candidates)
            candidates &= ~valid
        names = batch.schema.names
        rest = np.flatnonzero(candidates)
        values = [column.take(pa.array(rest)).to_pylist() for column in columns]
        rows = [
            (line, dict(zip(names, row, strict=True)))
            for line, row in zip(lines[rest].tolist(), zip(*values, strict=True), strict=True)
        ]
        for i, name in undecodable.items():
            errors.append(RowError(int(lines[i]), name, "is not valid UTF-8"))
        for i, name in unstorable.items():
            if i not in undecodable:
                errors.append(RowError(int(lines[i]), name, UNSTORABLE_REASON))
        return FeedBatch(rows, errors, products)

    def _lines(self, steps: np.ndarray, errors: list[RowError]) -> np.ndarray:
        """The line each returned record starts on, the rejected records due between them
        reported on the way."""
        n = len(steps)
        lines = np.empty(n, dtype=np.int64)
        i = 0
        while i < n:
            self.take_rejected(errors)
            due = self._rejected[0][0] if self._rejected else None
            count = n - i if due is None else min(n - i, due - self.record)
            span = steps[i : i + count]
            lines[i : i + count] = self.line + np.cumsum(span) - span
            self.line += int(span.sum())
            self.record += count
            i += count
        return lines

    @staticmethod
    def _decoded(name: str, column: pa.Array, undecodable: dict[int, str]) -> pa.Array:
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, UnicodeDecodeError):
            values = []
            for i, raw in enumerate(column.to_pylist()):
                try:
                    values.append(raw.decode())
                except UnicodeDecodeError:
                    values.append("")
                    undecodable.setdefault(i, name)
            return pa.array(values, pa.string())
