"""Bad input on the command line: one clear line naming what is wrong and exit status 2, never a
traceback, and nothing written. Run through the real `auctera` app (typer's CliRunner)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from auctera.cli.main import app
from auctera.config import Settings

runner = CliRunner()


def run(*args: str, data_dir: Path) -> tuple[int, str, str]:
    done = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, done.stdout, done.stderr


def run_json(*args: str, data_dir: Path) -> dict:
    code, out, errors = run(*args, data_dir=data_dir)
    assert code == 0, errors
    return json.loads(out)


def refused(*args: str, data_dir: Path, naming: str) -> str:
    code, out, errors = run(*args, data_dir=data_dir)
    assert code == 2, (code, out, errors)
    assert "Traceback" not in errors and out == ""
    assert naming in errors, errors
    return errors


@pytest.fixture
def advertiser(tmp_path: Path) -> str:
    return run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)[
        "account_id"
    ]


# --- exchange rates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate", ["1e999999", "1e20", "1e10", "0.0000000001", "-1", "0", "nan", "inf", "1.0000000000001"]
)
def test_absurd_exchange_rates_are_refused(tmp_path: Path, rate: str) -> None:
    refused("fx", "set", "EUR", "USD", rate, data_dir=tmp_path, naming="rate")
    assert run_json("fx", "list", data_dir=tmp_path)["rates"] == []


def test_exchange_rates_at_the_bounds_are_stored_plainly(tmp_path: Path) -> None:
    assert run_json("fx", "set", "EUR", "USD", "1e9", data_dir=tmp_path)["rate"] == "1000000000"
    assert run_json("fx", "set", "JPY", "USD", "1E-9", data_dir=tmp_path)["rate"] == "0.000000001"
    assert run_json("fx", "set", "GBP", "USD", "1.26000", data_dir=tmp_path)["rate"] == "1.26"


# --- blocklist -------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["com", "co.uk"])
def test_a_public_suffix_cannot_be_blocked(tmp_path: Path, domain: str) -> None:
    refused("blocklist", "add", domain, data_dir=tmp_path, naming="public suffix")
    assert run_json("blocklist", "list", data_dir=tmp_path)["data"] == []


# --- ports -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["serve"], ["partners", "simulate"]])
@pytest.mark.parametrize("port", ["0", "99999", "-1"])
def test_ports_out_of_range_are_refused(tmp_path: Path, command: list[str], port: str) -> None:
    args = [*command, "--port", port]
    done = runner.invoke(
        app, args if command == ["partners", "simulate"] else [*args, "--data-dir", str(tmp_path)]
    )
    assert done.exit_code == 2 and "--port" in done.stderr, done.stderr


# --- files and the data directory ------------------------------------------------------------


def test_a_binary_bids_file_is_refused(tmp_path: Path, advertiser: str) -> None:
    upload = tmp_path / "rand.bin"
    upload.write_bytes(bytes(range(256)) * 8)
    refused("bids", "upload", str(upload), "--account", advertiser, data_dir=tmp_path, naming="rand.bin")


def test_a_directory_of_ip_ranges_is_refused(tmp_path: Path) -> None:
    refused(
        "fraud", "import-ranges", str(tmp_path), "--name", "x", "--kind", "datacenter",
        data_dir=tmp_path, naming="cannot read",
    )  # fmt: skip


@pytest.mark.parametrize("command", [["db", "upgrade"], ["accounts", "list"], ["fraud", "list-ranges"]])
def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path, command: list[str]) -> None:
    not_a_dir = tmp_path / "hostname"
    not_a_dir.write_text("host\n")
    refused(*command, data_dir=not_a_dir, naming="not a directory")


# --- numeric options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["webhooks", "work", "--until-idle", "--lease-seconds", "-5"],
        ["webhooks", "work", "--until-idle", "--lease-seconds", "nan"],
        ["audiences", "work", "--until-idle", "--lease-seconds", "0"],
        ["bids", "sync", "--lease-seconds", "-1"],
    ],
)
def test_lease_seconds_must_be_sane(tmp_path: Path, args: list[str]) -> None:
    refused(*args, data_dir=tmp_path, naming="--lease-seconds")


@pytest.mark.parametrize("value", ["0", "-3", "4097", "100000"])
def test_webhook_concurrency_is_bounded_as_the_setting(tmp_path: Path, value: str) -> None:
    args = ["webhooks", "work", "--until-idle", "--concurrency", value]
    refused(*args, data_dir=tmp_path, naming="--concurrency")


def test_bid_sync_threads_are_bounded_as_the_setting(tmp_path: Path) -> None:
    refused("bids", "sync", "--threads", "0", data_dir=tmp_path, naming="--threads")


# --- keys and secrets, as the API checks them -----------------------------------------------


@pytest.mark.parametrize("name", ["", "k" * 256])
def test_key_names_are_1_to_255_characters(tmp_path: Path, advertiser: str, name: str) -> None:
    refused("keys", "create", "--account", advertiser, "--name", name, data_dir=tmp_path, naming="--name")
    assert len(run_json("keys", "list", "--account", advertiser, data_dir=tmp_path)["data"]) == 1


def test_grace_periods_cannot_be_negative(tmp_path: Path, advertiser: str) -> None:
    key = run_json("keys", "list", "--account", advertiser, data_dir=tmp_path)["data"][0]["key_id"]
    refused(
        "keys", "rotate", "--account", advertiser, "--key", key, "--grace-seconds", "-100",
        data_dir=tmp_path, naming="--grace-seconds",
    )  # fmt: skip
    refused(
        "accounts", "rotate-secret", "--account", advertiser, "--grace-seconds", "-10",
        data_dir=tmp_path, naming="--grace-seconds",
    )  # fmt: skip
    assert len(run_json("keys", "list", "--account", advertiser, data_dir=tmp_path)["data"]) == 1


def test_listing_the_keys_of_an_unknown_account_is_an_error(tmp_path: Path, advertiser: str) -> None:
    refused("keys", "list", "--account", "adv_zzzzzzzzzzzz", data_dir=tmp_path, naming="account not found")


# --- file permissions ------------------------------------------------------------------------


def test_the_database_and_a_new_data_dir_are_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "auctera.db").exists()
    for name in ("auctera.db", "auctera.db-wal", "auctera.db-shm"):
        if (data_dir / name).exists():
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name


def test_an_existing_database_is_narrowed_to_owner_only(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path)[0] == 0
    (tmp_path / "auctera.db").chmod(0o644)
    tmp_path.chmod(0o755)
    run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)
    assert stat.S_IMODE((tmp_path / "auctera.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # the operator's directory is left alone


@pytest.mark.parametrize("zone", ["Nowhere/Land", "a" * 300])  # too long a name: OSError from zoneinfo
def test_the_network_time_zone_setting_must_be_known(tmp_path: Path, zone: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(data_dir=tmp_path, network_timezone=zone)
