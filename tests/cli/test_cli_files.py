"""Files the `auctera` commands read, run as a user would (the installed command, a real data
directory): a bid sheet whose rows do not line up with its header, a file that is not UTF-8, user
text that looks like markup, and errors that are one line on stderr (docs/operations.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain import ids as idfmt

from .test_bids import hierarchy
from .test_cli import AUCTERA, run, run_json
from .test_feeds import retailer


def one_error_line(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The command failed with `code`, printed nothing on stdout and one `error:` line on stderr."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def stored_bids(tmp_path: Path, account: str, campaign_id: int) -> list[dict]:
    listed = run_json("bids", "list", "--account", account, "--campaign", str(campaign_id), data_dir=tmp_path)
    return list(listed["data"])


# --- bids upload: rows that do not line up with the header -----------------------------------


@pytest.mark.parametrize(
    ("header", "row", "cells", "columns"),
    [
        # A decimal comma: `1,25` is two cells, and the first alone was stored as a bid of 1.00.
        ("campaign.id,country,optimalBidUsd", "{c},DE,1,25", 4, 3),
        # A cell past the last column.
        ("campaignId,country,optimalBidUsd,delete", "{c},DE,0.5,false,oops", 5, 4),
        # A cell short: `delete` was taken as missing, so false.
        ("campaignId,country,optimalBidUsd,delete", "{c},DE,0.5", 3, 4),
    ],
)
def test_a_row_with_more_or_fewer_cells_than_the_header_refuses_the_upload(
    tmp_path: Path, header: str, row: str, cells: int, columns: int
) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    good = f"{campaign_id},US,0.2" + ("," if "delete" in header else "")
    sheet.write_text(f"{header}\n{good}\n{row.format(c=campaign_id)}\n")
    done = run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    line = one_error_line(done)
    assert f"line 3: {cells} cells for the header's {columns} columns" in line
    assert "a comma inside a value must be quoted" in line
    assert stored_bids(tmp_path, account, campaign_id) == []  # not even the good row on line 2


def test_lines_named_are_the_file_s_blank_ones_counted(tmp_path: Path) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    header = "campaignId,country,optimalBidUsd\n"
    sheet.write_text(f"{header}{campaign_id},DE,0.5\n\n{campaign_id},XX,0.5\n")
    assert "line 4, country: 'XX'" in one_error_line(
        run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    )
    # A rule's rejection (FR is not a country of the campaign) in the table, at its line too.
    sheet.write_text(f"{header}{campaign_id},DE,0.5\n\n{campaign_id},FR,0.5\n")
    done = run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    assert done.returncode == 1
    assert [row.split()[1] for row in done.stderr.splitlines() if "FR" in row] == ["4"]


def test_a_quoted_decimal_comma_is_not_a_number(tmp_path: Path) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    sheet.write_text(f'campaignId,country,optimalBidUsd\n{campaign_id},DE,"1,25"\n')
    line = one_error_line(run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path))
    assert "line 2, optimalBidUsd: not a number: '1,25'" in line
    assert stored_bids(tmp_path, account, campaign_id) == []


# --- files that are not UTF-8 ------------------------------------------------------------------


def test_an_ip_range_list_that_is_not_utf8_is_refused_and_nothing_written(tmp_path: Path) -> None:
    ranges = tmp_path / "lat2.txt"
    ranges.write_bytes(b"10.0.0.0/8\n# caf\xe9\n192.0.2.0/24\n")
    data = tmp_path / "data"
    done = run("fraud", "import-ranges", str(ranges), "--name", "latt", "--kind", "vpn", data_dir=data)
    line = one_error_line(done)
    assert "lat2.txt: line 2 is not UTF-8" in line
    assert not data.exists()  # nothing written, not even the data directory
    assert run_json("fraud", "list-ranges", "--json", data_dir=data)["data"] == []


def test_ip_ranges_on_standard_input_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [AUCTERA, "fraud", "import-ranges", "-", "--name", "x", "--kind", "vpn", "--data-dir", str(tmp_path)],
        input=b"10.0.0.0/8\n192.0.2.0/24 # Z\xfcrich\n",
        capture_output=True,
        timeout=120,
    )
    text = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())
    assert "standard input: line 2 is not UTF-8" in one_error_line(text)
    assert run_json("fraud", "list-ranges", "--json", data_dir=tmp_path)["data"] == []


def test_a_utf8_ip_range_list_with_a_byte_order_mark_is_imported(tmp_path: Path) -> None:
    ranges = tmp_path / "ranges.txt"
    ranges.write_bytes("\ufeff10.0.0.0/8\r\n# Zürich\r\n192.0.2.0/24\r\n".encode())
    out = run_json("fraud", "import-ranges", str(ranges), "--name", "ok", "--kind", "vpn", data_dir=tmp_path)
    assert (out["accepted"], out["bad_lines"]) == (2, [])


def test_a_bid_sheet_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    sheet.write_bytes(
        f"campaignId,country,sourceId,optimalBidUsd\n{campaign_id},DE,caf\xe9,0.5\n".encode("latin-1")
    )
    assert "bids.csv: line 2 is not UTF-8" in one_error_line(
        run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    )
    assert stored_bids(tmp_path, account, campaign_id) == []


def test_a_faults_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_bytes(b'[{"kind": "caf\xe9"}]')
    done = subprocess.run(
        [AUCTERA, "partners", "simulate", "--port", "1", "--faults", str(faults)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "faults.json: line 1 is not UTF-8" in one_error_line(done)


# --- feeds import: an import, recorded as over HTTP ---------------------------------------------


def test_a_feed_whose_header_is_not_utf8_is_a_failed_import_said_in_one_line(tmp_path: Path) -> None:
    shop = retailer(tmp_path)
    feed = tmp_path / "latin1.csv"
    feed.write_bytes(b"id,t\xeftle,price,link\n1,Kettle,29.90,https://shop.example.com/1\n")
    done = run("feeds", "import", shop, str(feed), data_dir=tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["status"] == "failed", done.stderr
    assert report["errors"] == [{"line": 1, "field": None, "reason": "the header is not valid UTF-8"}]
    lines = done.stderr.splitlines()  # no table, no blank line: the error that stopped it
    assert lines == [
        f"error: the import failed: line 1: the header is not valid UTF-8 ({report['import_id']}, "
        "its report on stdout)"
    ], done.stderr
    # Recorded, as an upload of the same file over HTTP is: its report can be read later.
    container = build(Settings(data_dir=tmp_path))
    try:
        stored = container.catalog.get_import(
            None, idfmt.parse("ret", shop) or 0, idfmt.parse("imp", report["import_id"]) or 0
        )
    finally:
        container.close()
    assert stored.status.value == "failed"


def test_a_failed_import_lists_the_rows_it_rejected_before_the_error_that_stopped_it(tmp_path: Path) -> None:
    shop = retailer(tmp_path)
    feed = tmp_path / "cut.jsonl"
    feed.write_text(
        '{"id": "1", "title": "Kettle", "price": "cheap", "link": "https://shop.example.com/1"}\n'
        '{"id": "2", "title": "Toaster", "pri'
    )
    done = run("feeds", "import", shop, str(feed), data_dir=tmp_path)
    assert done.returncode == 1
    assert "1 rows rejected" in done.stderr and "cheap" in done.stderr  # the table
    *_, last = done.stderr.splitlines()
    assert last.startswith("error: the import failed: line 2: "), done.stderr


# --- errors are one line ------------------------------------------------------------------------


def test_an_error_met_after_a_progress_bar_is_one_line(tmp_path: Path) -> None:
    """`bids upload` and `feeds import` draw a progress bar: to a pipe it wrote a blank line
    before the error of an unknown account or retailer."""
    sheet = tmp_path / "bids.csv"
    sheet.write_text("campaignId,country,optimalBidUsd\n1,DE,0.5\n")
    done = run("bids", "upload", "--account", "adv_2wuorene169s", str(sheet), data_dir=tmp_path)
    assert one_error_line(done) == "error: account not found (account_id)"
    feed = tmp_path / "feed.csv"
    feed.write_text("id,title,price,link\n1,Kettle,29.90,https://shop.example.com/1\n")
    done = run("feeds", "import", "ret_2wuorepeg8ao", str(feed), data_dir=tmp_path)
    assert one_error_line(done) == "error: retailer ret_2wuorepeg8ao not found (retailer_id)"


@pytest.mark.parametrize(
    "args",
    [
        ["fraud", "remove-ranges", "../" + "x" * 60],
        ["keys", "list", "--account", "adv_" + "z" * 100],
        ["keys", "revoke", "--account", "adv_2wuorene169s", "--key", "key_" + "z" * 100],
        ["accounts", "set-balance", "adv_2wuorene169s", "twelve euros and " + "x" * 80],
        ["fx", "set", "EUR" + "x" * 80, "USD", "1.1"],
    ],
)
def test_long_errors_are_not_wrapped(tmp_path: Path, args: list[str]) -> None:
    one_error_line(run(*args, data_dir=tmp_path))


def test_text_from_a_file_that_looks_like_markup_is_shown_as_it_is(tmp_path: Path) -> None:
    ranges = tmp_path / "ranges.txt"
    ranges.write_text("10.0.0.0/8\n[/x] not a range\n[bold]oops\n")
    out = run_json("fraud", "import-ranges", str(ranges), "--name", "m", "--kind", "vpn", data_dir=tmp_path)
    assert [b["line"] for b in out["bad_lines"]] == [2, 3]
    done = run("fraud", "import-ranges", str(ranges), "--name", "m", "--kind", "vpn", data_dir=tmp_path)
    assert "[/x]" in done.stderr and "[bold]" in done.stderr
