"""Feeds cut short, in every format: a file whose end is evidently cut fails the import at the cut
line and takes nothing out of stock; it never imports as a smaller catalog.

The exhaustive tests cut a feed at every byte. The only cuts that may import are those leaving a
file that is complete as it stands (all rows whole, the last one with or without its line
ending), and the few a reader cannot tell from a complete file: an unquoted last value cut
short on a last line without a line ending (CSV, TSV), which reads as a shorter value.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from auctera.domain.catalog import FeedError, FeedFormat, ImportStatus, RowRules
from auctera.feeds import read_feed

from .conftest import (
    Catalog,
    Rows,
    row,
    write_csv,
    write_json,
    write_jsonl,
    write_tsv,
    write_wrapped_json,
    write_xml,
)

RULES = RowRules(frozenset({"USD", "EUR"}), "USD")


def read_ids(data: bytes, fmt: FeedFormat) -> tuple[list[str], FeedError | None]:
    """The ids of the rows a reader gives (validated or raw), and the error that stopped it."""
    ids: list[str] = []
    try:
        for batch in read_feed(io.BytesIO(data), fmt, RULES):
            if batch.products is not None:
                ids += batch.products.external_id
            ids += [raw["id"] for _, raw in batch.rows]
    except FeedError as exc:
        return ids, exc
    return ids, None


def feed_rows(newlines: bool) -> Rows:
    text = 'Great.\nReally "good", cheap' if newlines else 'Great, really "good"'
    return [
        row(1, description=text),
        row(2, title="Two\nlines" if newlines else "Two", description="Plain"),
        row(3, description=""),
        row(4, description=text),
    ]


def crlf(write: Callable[[Rows], tuple[bytes, Callable[[int], int]]]) -> Callable[[Rows], bytes]:
    return lambda rows: write(rows)[0].replace(b"\n", b"\r\n")


def lf(write: Callable[[Rows], tuple[bytes, Callable[[int], int]]]) -> Callable[[Rows], bytes]:
    return lambda rows: write(rows)[0]


# name: (format, writer, rows, the cuts that leave a complete file: ends of the last line kept
# with and without its line ending (True) or only the whole document (False))
EXHAUSTIVE = {
    "csv": (FeedFormat.CSV, lf(write_csv), feed_rows(True), True),
    "csv-crlf": (FeedFormat.CSV, crlf(write_csv), feed_rows(True), True),
    "tsv": (FeedFormat.TSV, lf(write_tsv), feed_rows(False), True),
    "tsv-crlf": (FeedFormat.TSV, crlf(write_tsv), feed_rows(False), True),
    "jsonl": (FeedFormat.JSONL, lf(write_jsonl), feed_rows(True), True),
    "jsonl-crlf": (FeedFormat.JSONL, crlf(write_jsonl), feed_rows(True), True),
    "jsonl-as-json": (FeedFormat.JSON, lf(write_jsonl), feed_rows(True), True),
    "json": (FeedFormat.JSON, lf(write_json), feed_rows(True), False),
    "json-wrapped": (FeedFormat.JSON, lf(write_wrapped_json), feed_rows(True), False),
    "xml": (FeedFormat.XML, lf(write_xml), feed_rows(True), False),
}


def _unknowable(fmt: FeedFormat, write: Callable[[Rows], bytes], rows: Rows) -> set[int]:
    """Cuts in the last value of a line that leave a whole row with a shorter last value, which
    no reader can tell from one: inside an unquoted value (TSV), or right after the last
    delimiter or a quote that closes the quoted value (CSV, quoted throughout by the writer:
    the cut `"Really "` of `"Really ""good"" one"`).
    """
    if fmt not in (FeedFormat.CSV, FeedFormat.TSV):
        return set()
    cuts: set[int] = set()
    for count in range(1, len(rows) + 1):
        last = rows[count - 1]
        emptied = write([*rows[: count - 1], {**last, list(last)[-1]: ""}]).rstrip(b"\r\n")
        data = write(rows[:count]).rstrip(b"\r\n")
        start = len(emptied) - 2 if fmt is FeedFormat.CSV else len(emptied)  # after the delimiter
        for cut in range(start, len(data)):
            value = data[start:cut]
            if fmt is FeedFormat.TSV or not value or (value.endswith(b'"') and value.count(b'"') % 2 == 0):
                cuts.add(cut)
    return cuts


@pytest.mark.parametrize("name", list(EXHAUSTIVE))
def test_every_cut_fails_unless_the_file_left_is_complete(name: str) -> None:
    fmt, write, rows, by_line = EXHAUSTIVE[name]
    data = write(rows)
    ids = [r["id"] for r in rows]
    complete: dict[int, list[str]] = {len(data): ids}  # a cut -> the ids read from it
    if by_line:
        for count in range(1, len(rows) + 1):
            whole = write(rows[:count])
            assert data.startswith(whole)
            for end in (whole, whole.removesuffix(b"\n"), whole.removesuffix(b"\r\n")):
                complete[len(end)] = ids[:count]
    elif fmt is FeedFormat.XML:
        complete[len(data.rstrip())] = ids
    unknowable = _unknowable(fmt, write, rows)
    wrongly_imported = []
    for cut in range(1, len(data) + 1):
        read, error = read_ids(data[:cut], fmt)
        if cut in complete:
            assert (read, error) == (complete[cut], None), data[:cut][-30:]
        elif error is None and cut not in unknowable:
            wrongly_imported.append(data[:cut][-30:])
    assert wrongly_imported == []


CSV_FULL = (
    b"id,title,price,link,description\n"
    b"j0,Json Zero,99.00,https://shop.example.com/j0,Plain\n"
    b'j1,"Json\nOne",129.50,https://shop.example.com/j1,"Great.\nReally ""good"", cheap"\n'
    b"j2,Json Two,19.00,https://shop.example.com/j2,Last\n"
)


def _upto(data: bytes, marker: bytes) -> bytes:
    return data[: data.index(marker) + len(marker)]


@pytest.mark.parametrize(
    "cut",
    [
        _upto(CSV_FULL, b'"Great.\n'),  # the audit's case: a line break inside a quoted value, then the end
        _upto(CSV_FULL, b'"Gre'),
        _upto(CSV_FULL, b'/j1,"'),  # only the opening quote
        _upto(CSV_FULL, b'Really ""'),  # an escaped quote, then the end
        _upto(CSV_FULL, b'j1,"Json\n'),  # a quoted value that is not the last column
        _upto(CSV_FULL.replace(b"\n", b"\r\n"), b'"Great.\r\n'),
        _upto(CSV_FULL.replace(b"\n", b"\r\n"), b'"Great.\r'),
    ],
    ids=["after-a-line-break", "mid-value", "opening-quote", "escaped-quote", "middle-column", "crlf", "cr"],
)
def test_a_csv_cut_inside_a_quoted_value_fails_at_its_line_and_keeps_the_catalog(
    catalog: Catalog, cut: bytes
) -> None:
    assert catalog.load(CSV_FULL, FeedFormat.CSV).rows_valid == 3
    report = catalog.load(cut, FeedFormat.CSV)
    assert report.status is ImportStatus.FAILED
    assert (report.rows_read, report.rows_valid, report.marked_out_of_stock) == (1, 1, 0)
    last = report.errors[-1]
    assert (last.line, last.field) == (3, None)
    assert "ends inside a quoted value" in last.reason
    stored = catalog.by_external_id()
    assert all(p.in_stock for p in stored.values())
    # The cut row is not stored: j1 keeps what the whole feed said.
    assert (stored["j1"].name, stored["j1"].description) == ("Json\nOne", 'Great.\nReally "good", cheap')


def test_a_csv_whose_last_row_has_no_line_ending_imports(catalog: Catalog) -> None:
    catalog.load(CSV_FULL, FeedFormat.CSV)
    report = catalog.load(CSV_FULL.removesuffix(b"\n"), FeedFormat.CSV)
    assert (report.status, report.rows_valid, report.marked_out_of_stock) == (ImportStatus.SUCCEEDED, 3, 0)
    ending_quoted = CSV_FULL.replace(b",Last\n", b',"Last"')
    report = catalog.load(ending_quoted, FeedFormat.CSV)
    assert (report.status, report.rows_valid, report.marked_out_of_stock) == (ImportStatus.SUCCEEDED, 3, 0)


JSONL_FULL = (
    b'{"id": "x0", "title": "Zero", "link": "https://shop.example.com/x0", "price": 99}\n'
    b'{"id": "x", "title": "Ex", "link": "https://shop.example.com/x", "price": 129.50}\n'
    b'{"id": "x2", "title": "Two", "link": "https://shop.example.com/x2", "price": 19}\n'
)


@pytest.mark.parametrize("fmt", [FeedFormat.JSONL, FeedFormat.JSON])
@pytest.mark.parametrize(
    "end", [b'"price": 12', b'"price": 1', b'"price": 129.50', b'"link": "https://shop.exa', b'{"id": "x"']
)
def test_a_json_lines_feed_cut_in_its_last_line_fails_at_that_line(
    catalog: Catalog, fmt: FeedFormat, end: bytes
) -> None:
    assert catalog.load(JSONL_FULL, FeedFormat.JSONL).rows_valid == 3
    cut = JSONL_FULL[: JSONL_FULL.index(end, JSONL_FULL.index(b"\n")) + len(end)]
    report = catalog.load(cut, fmt)
    assert report.status is ImportStatus.FAILED
    assert (report.rows_read, report.rows_valid, report.marked_out_of_stock) == (1, 1, 0)
    last = report.errors[-1]
    assert (last.line, last.field) == (2, None)
    assert "ends in the middle of a line" in last.reason
    assert "not valid JSON" in last.reason
    stored = catalog.by_external_id()
    assert all(p.in_stock for p in stored.values())
    assert stored["x"].price_micros == 129_500_000


def test_a_bad_json_line_that_has_its_line_ending_costs_only_its_row(catalog: Catalog) -> None:
    bad = JSONL_FULL.replace(b'"price": 129.50}', b'"price": 129.50')
    report = catalog.load(bad, FeedFormat.JSONL)
    assert (report.status, report.rows_valid, report.rows_invalid) == (ImportStatus.SUCCEEDED, 2, 1)
    assert [e.line for e in report.errors] == [2]


@pytest.mark.parametrize("fmt", [FeedFormat.JSON, FeedFormat.XML])
def test_a_document_cut_anywhere_keeps_the_catalog(catalog: Catalog, fmt: FeedFormat) -> None:
    rows = [row(n) for n in range(1, 4)]
    data = write_json(rows)[0] if fmt is FeedFormat.JSON else write_xml(rows)[0]
    catalog.load(data, fmt)
    for cut in (len(data) // 2, len(data.rstrip()) - 1):
        report = catalog.load(data[:cut], fmt)
        assert (report.status, report.marked_out_of_stock) == (ImportStatus.FAILED, 0)
        assert report.errors[-1].line > 0
    assert all(p.in_stock for p in catalog.products())
