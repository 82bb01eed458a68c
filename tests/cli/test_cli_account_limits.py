"""`auctera accounts create` refuses what the API refuses: a rate limit past a billion a minute
(it broke every request of the account) and a time zone name too long to be a file."""

from __future__ import annotations

from pathlib import Path

from .test_cli import run, run_json


def test_a_rate_limit_past_a_billion_a_minute_is_a_clear_error(tmp_path: Path) -> None:
    done = run(
        "accounts",
        "create",
        "--name",
        "A",
        "--kind",
        "advertiser",
        "--rate-limit",
        "60000000001",
        data_dir=tmp_path,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "rate_limit_per_minute" in done.stderr
    made = run_json(
        "accounts",
        "create",
        "--name",
        "B",
        "--kind",
        "advertiser",
        "--rate-limit",
        "1000000000",
        data_dir=tmp_path,
    )
    assert made["account_id"].startswith("adv_")


def test_a_time_zone_too_long_for_a_file_name_is_unknown(tmp_path: Path) -> None:
    done = run(
        "accounts",
        "create",
        "--name",
        "A",
        "--kind",
        "advertiser",
        "--timezone",
        "a" * 300,
        data_dir=tmp_path,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "unknown time zone" in done.stderr
