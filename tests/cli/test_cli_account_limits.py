"""`auctera accounts create` refuses what the API refuses: a rate limit past a billion a minute
(it broke every request of the account) and a time zone name too long to be a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_cli import run, run_json

CREATE = ("accounts", "create", "--kind", "advertiser", "--name")


def refused(tmp_path: Path, *args: str) -> str:
    done: Any = run(*CREATE, "A", *args, data_dir=tmp_path)
    assert done.returncode != 0 and done.stdout == ""
    return str(done.stderr)


def test_a_rate_limit_past_a_billion_a_minute_is_a_clear_error(tmp_path: Path) -> None:
    assert "rate_limit_per_minute" in refused(tmp_path, "--rate-limit", "60000000001")
    made = run_json(*CREATE, "B", "--rate-limit", "1000000000", data_dir=tmp_path)
    assert made["account_id"].startswith("adv_")


def test_a_time_zone_too_long_for_a_file_name_is_unknown(tmp_path: Path) -> None:
    assert "unknown time zone" in refused(tmp_path, "--timezone", "a" * 300)
