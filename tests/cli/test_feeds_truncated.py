"""`auctera feeds import` of a file cut short: exit 1, and nothing taken out of stock."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import run
from .test_feeds import retailer

CSV = (
    b"id,title,price,link,description\n"
    b"j0,Json Zero,99.00,https://scratch.example.com/j0,Plain\n"
    b'j1,Json One,129.50,https://scratch.example.com/j1,"Great.\nReally good."\n'
    b"j2,Json Two,19.00,https://scratch.example.com/j2,Last\n"
)


def test_importing_a_csv_cut_inside_a_quoted_value_fails(tmp_path: Path) -> None:
    shop = retailer(tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_bytes(CSV)
    assert run("feeds", "import", shop, str(feed), data_dir=tmp_path).returncode == 0
    feed.write_bytes(CSV[: CSV.index(b'"Great.\n') + 8])
    done = run("feeds", "import", shop, str(feed), data_dir=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["rows_valid"], report["marked_out_of_stock"]) == ("failed", 1, 0)
    assert report["errors"][-1]["line"] == 3
    assert "ends inside a quoted value" in report["errors"][-1]["reason"]
