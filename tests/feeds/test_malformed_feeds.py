"""Importing broken feeds in every format: each bad row is reported with its line and reason, the
good rows land, and a feed that cannot be read to its end takes nothing out of stock."""

from __future__ import annotations

import pytest

from auctera.domain.catalog import FeedFormat, ImportStatus

from .conftest import WRITERS, Catalog, row, write_csv, write_jsonl

FORMATS = list(WRITERS)


def errors_of(report: object) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.field, e.reason) for e in report.errors]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", FORMATS)
def test_bad_values_are_reported_by_line_and_the_rest_lands(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    rows = [
        row(1),
        row(2, price="twelve"),
        row(3, gtin="4006381333932"),  # check digit should be 1
        row(4, link="shop.example.com/p/4"),
        row(5, gtin="4006381333931", brand="Faber"),
        row(1, title="The same id again"),
    ]
    data, line = write(rows)
    report = catalog.load(data, fmt)
    assert report.status is ImportStatus.SUCCEEDED
    assert (report.rows_read, report.rows_valid, report.rows_invalid) == (6, 2, 4)
    assert errors_of(report) == [
        (line(1), "price", "not a price: 'twelve' (write 12.99 or 12.99 USD)"),
        (line(2), "gtin", "check digit is 2, should be 1"),
        (line(3), "url", "must be an absolute http:// or https:// URL"),
        (line(5), "id", f"'sku-1' is listed twice (first on line {line(0)})"),
    ]
    stored = catalog.by_external_id()
    assert set(stored) == {"sku-1", "sku-5"}
    assert stored["sku-1"].name == "Product 1"  # the first listing wins
    assert stored["sku-5"].gtin == "04006381333931"


@pytest.mark.parametrize("name", FORMATS)
def test_an_empty_feed_fails_and_changes_nothing(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    catalog.load(write([row(1)])[0], fmt)
    report = catalog.load(b"", fmt)
    assert report.status is ImportStatus.FAILED
    assert errors_of(report) == [(1, None, "the feed is empty")]
    assert report.marked_out_of_stock == 0
    assert catalog.by_external_id()["sku-1"].in_stock


@pytest.mark.parametrize("name", ["csv", "tsv"])
def test_a_missing_required_column_fails_the_feed(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    data, _ = write([{"id": "1", "title": "No price"}])
    report = catalog.load(data, fmt)
    assert report.status is ImportStatus.FAILED
    [(line, field, reason)] = errors_of(report)
    assert (line, field) == (1, "price")
    assert "price: required column missing (one of: price, productPrice)" in reason
    assert "url: required column missing" in reason
    assert catalog.products() == []


@pytest.mark.parametrize("name", ["json", "json-wrapped", "jsonl", "xml"])
def test_a_missing_required_field_costs_its_row(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    no_price = row(2)
    del no_price["price"]
    data, line = write([row(1), no_price])
    report = catalog.load(data, fmt)
    assert report.status is ImportStatus.SUCCEEDED
    assert errors_of(report) == [(line(1), "price", "is required")]
    assert set(catalog.by_external_id()) == {"sku-1"}


@pytest.mark.parametrize(("name", "cut"), [("json", -40), ("json-wrapped", -40), ("xml", -40)])
def test_a_truncated_document_keeps_the_rows_before_and_takes_nothing_out_of_stock(
    catalog: Catalog, name: str, cut: int
) -> None:
    fmt, write = WRITERS[name]
    catalog.load(write([row(n) for n in range(1, 6)])[0], fmt)
    data, _ = write([row(n, title=f"Renamed {n}") for n in range(1, 4)])
    report = catalog.load(data[:cut], fmt)
    assert report.status is ImportStatus.FAILED
    assert report.marked_out_of_stock == 0
    last = report.errors[-1]
    assert "malformed" in last.reason or "ends early" in last.reason
    stored = catalog.by_external_id()
    assert stored["sku-1"].name == "Renamed 1"
    assert all(p.in_stock for p in stored.values())


def test_a_truncated_csv_keeps_the_complete_rows(catalog: Catalog) -> None:
    data, _ = write_csv([row(1), row(2), row(3, title="Cut\nin the middle")])
    report = catalog.load(data[: data.index(b"Cut") + 3], FeedFormat.CSV)
    assert report.status is ImportStatus.FAILED
    assert set(catalog.by_external_id()) == {"sku-1", "sku-2"}
    assert report.errors[-1].line == 4


@pytest.mark.parametrize("name", ["csv", "tsv", "jsonl"])
def test_bad_encoding_costs_only_its_row(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    data, line = write([row(1), row(2, title="Caf\u00e9"), row(3)])
    broken = data.replace("Caf\u00e9".encode(), "Caf\u00e9".encode("latin-1"))
    report = catalog.load(broken, fmt)
    assert report.rows_valid == 2
    [(where, _field, reason)] = errors_of(report)
    assert where == line(1)
    assert "UTF-8" in reason


@pytest.mark.parametrize("name", ["json", "xml"])
def test_bad_encoding_in_a_document_stops_it_there(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    data, _ = write([row(1), row(2, title="Caf\u00e9"), row(3)])
    report = catalog.load(data.replace("Caf\u00e9".encode(), b"Caf\xe9"), fmt)
    assert report.status is ImportStatus.FAILED
    assert report.marked_out_of_stock == 0


def test_csv_line_numbers_count_quoted_newlines_blank_lines_and_rejected_rows(catalog: Catalog) -> None:
    data = (
        b"\xef\xbb\xbfid,title,price,link\n"  # 1 (with a byte-order mark)
        b'1,"Two\nlines",1,https://shop.example.com/1\n'  # 2-3
        b"\n"  # 4
        b"2,Too,many,columns,here\n"  # 5
        b'3,"Three\r\nmore\nlines",x,https://shop.example.com/3\r\n'  # 6-8
        b"4,Four,4,https://shop.example.com/4\n"  # 9
        b"5,Bad link,5,nope\n"  # 10
    )
    report = catalog.load(data, FeedFormat.CSV)
    assert errors_of(report) == [
        (5, None, "has 5 columns, the header has 4"),
        (6, "price", "not a price: 'x' (write 12.99 or 12.99 USD)"),
        (10, "url", "must be an absolute http:// or https:// URL"),
    ]
    assert catalog.by_external_id()["1"].name == "Two\nlines"
    assert (report.rows_read, report.rows_valid, report.rows_invalid) == (5, 2, 3)


def test_csv_line_numbers_stay_right_across_blocks(catalog: Catalog) -> None:
    rows = [row(n, title=f"Line\nbreak {n}" if n % 7 == 0 else f"P {n}") for n in range(1, 3001)]
    rows[2500]["price"] = "bad"
    data, _ = write_csv(rows)
    lines = data.split(b"\n")
    expected = next(i + 1 for i, text in enumerate(lines) if text.startswith(b'"sku-2501"'))
    report = catalog.load(data, FeedFormat.CSV)
    assert errors_of(report) == [(expected, "price", "not a price: 'bad' (write 12.99 or 12.99 USD)")]
    assert report.rows_valid == 2999


def test_json_lines_report_the_physical_line(catalog: Catalog) -> None:
    data, _ = write_jsonl([row(1), row(2)])
    data = data + b"\n{not json}\n[1, 2]\n" + write_jsonl([row(3)])[0]
    report = catalog.load(data, FeedFormat.JSONL)
    assert [(e.line, e.reason[:20]) for e in report.errors] == [
        (4, "is not valid JSON (E"),
        (5, "is not a JSON object"),
    ]
    assert report.rows_valid == 3


def test_a_nested_value_in_a_known_field_is_refused(catalog: Catalog) -> None:
    report = catalog.load(
        b'[{"id": "1", "title": {"en": "x"}, "price": 1, "link": "https://a.example.com"}]', FeedFormat.JSON
    )
    assert errors_of(report)[0] == (1, "title", "must be a string, number or boolean")


def test_xml_entity_declarations_are_refused(catalog: Catalog) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaa">]>'
        b"<products><product><id>&a;</id></product></products>"
    )
    report = catalog.load(bomb, FeedFormat.XML)
    assert report.status is ImportStatus.FAILED
    assert "entity declarations are not allowed" in report.errors[-1].reason


def test_a_feed_without_one_valid_product_takes_nothing_out_of_stock(catalog: Catalog) -> None:
    catalog.load(write_csv([row(1)])[0], FeedFormat.CSV)
    report = catalog.load(write_csv([row(2, price="free")])[0], FeedFormat.CSV)
    assert report.status is ImportStatus.FAILED
    assert report.marked_out_of_stock == 0
    assert catalog.by_external_id()["sku-1"].in_stock


@pytest.mark.parametrize("name", FORMATS)
def test_an_amount_past_what_any_column_holds_costs_its_row(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    data, line = write([row(1), row(2, price="10000000000000"), row(3, min_bid="99999999999999"), row(4)])
    report = catalog.load(data, fmt)
    assert report.status is ImportStatus.SUCCEEDED
    assert [(e.line, e.field) for e in report.errors] == [(line(1), "price"), (line(2), "min_bid")]
    assert set(catalog.by_external_id()) == {"sku-1", "sku-4"}


@pytest.mark.parametrize("name", ["json", "json-wrapped", "jsonl", "csv", "xml"])
def test_a_byte_order_mark_is_fine(catalog: Catalog, name: str) -> None:
    fmt, write = WRITERS[name]
    report = catalog.load(b"\xef\xbb\xbf" + write([row(1), row(2)])[0], fmt)
    assert (report.status, report.rows_valid) == (ImportStatus.SUCCEEDED, 2)


def test_csv_lines_ending_in_a_cr_alone_fail_saying_so(catalog: Catalog) -> None:
    data = write_csv([row(1), row(2)])[0].replace(b"\n", b"\r")
    report = catalog.load(data, FeedFormat.CSV)
    assert report.status is ImportStatus.FAILED
    assert "CR alone" in errors_of(report)[0][2]
    crlf = catalog.load(write_csv([row(1), row(2)])[0].replace(b"\n", b"\r\n"), FeedFormat.CSV)
    assert (crlf.status, crlf.rows_valid) == (ImportStatus.SUCCEEDED, 2)


def test_a_row_larger_than_a_block_fails_saying_so(catalog: Catalog) -> None:
    data = write_csv([row(1), row(2, description="x" * (2 << 20)), row(3)])[0]
    report = catalog.load(data, FeedFormat.CSV)
    assert report.status is ImportStatus.FAILED
    assert errors_of(report)[-1][2] == "a row is longer than 1,024 KiB"
