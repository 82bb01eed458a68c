"""`auctera retailers create` and `auctera feeds import`, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import run, run_json

CSV = "id,title,price,link\n1,Kettle,29.90,https://shop.example.com/1\n2,Toaster,cheap,https://shop.example.com/2\n"


def retailer(tmp_path: Path) -> str:
    account = run_json("accounts", "create", "--name", "Shop", "--kind", "advertiser", data_dir=tmp_path)
    made = run_json(
        "retailers", "create", "--account", account["account_id"],
        "--name", "Shop", "--domain", "shop.example.com", data_dir=tmp_path,
    )  # fmt: skip
    assert made["retailer_id"].startswith("ret_")
    assert made["domain"] == "shop.example.com"
    return str(made["retailer_id"])


def test_import_prints_the_report_and_a_table_of_rejected_rows(tmp_path: Path) -> None:
    shop = retailer(tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text(CSV)
    done = run("feeds", "import", shop, str(feed), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["rows_valid"], report["rows_invalid"]) == ("succeeded", 1, 1)
    assert report["source"] == "feed.csv"
    assert report["errors"] == [
        {"line": 3, "field": "price", "reason": "not a price: 'cheap' (write 12.99 or 12.99 USD)"}
    ]
    assert "cheap" in done.stderr  # the table of rejected rows

    again = tmp_path / "feed.data"
    again.write_text('[{"id": "2", "title": "Toaster", "price": 19, "link": "https://shop.example.com/2"}]')
    second = run_json("feeds", "import", shop, str(again), "--format", "json", data_dir=tmp_path)
    assert (second["rows_valid"], second["marked_out_of_stock"]) == (1, 1)


def test_a_failed_import_exits_1_and_bad_arguments_exit_2(tmp_path: Path) -> None:
    shop = retailer(tmp_path)
    empty = tmp_path / "empty.xml"
    empty.write_text("")
    failed = run("feeds", "import", shop, str(empty), data_dir=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"

    unknown = tmp_path / "feed.bin"
    unknown.write_text(CSV)
    done = run("feeds", "import", shop, str(unknown), data_dir=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert "--format" in done.stderr

    missing = run("feeds", "import", "ret_zzzz", str(tmp_path / "feed.csv"), data_dir=tmp_path)
    assert missing.returncode == 2
    nowhere = tmp_path / "feed.csv"
    nowhere.write_text(CSV)
    not_found = run("feeds", "import", "ret_zzzz", str(nowhere), data_dir=tmp_path)
    assert not_found.returncode == 2
    assert "not found" in not_found.stderr
