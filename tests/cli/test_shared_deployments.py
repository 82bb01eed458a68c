"""Deployments on one database: the click-token key pinned as the file's hex
(AUCTERA_CLICK_TOKEN_SECRET=hex:…), AUCTERA_NODE_ID refused with --workers N, another data dir
refused (one event log per database, D56), and `auctera demo` run again once its credentials
file is gone saying so."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auctera.bootstrap import CLICK_TOKEN_SECRET_FILE, build, click_token_secret
from auctera.cli.demo import load_demo
from auctera.cli.main import app
from auctera.config import Settings
from auctera.domain import click_tokens
from auctera.domain.click_tokens import ClickToken, ForgedToken, Placement
from auctera.services.sponsored import SponsoredLinks
from auctera.store.deployment import OtherEventLog

runner = CliRunner()
SCRIPT = Path(sys.executable).with_name("auctera")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TOKEN = ClickToken(1, 2, 3, 4, 5, 120_000, Placement.RETAIL, NOW)


def _link_token(settings: Settings) -> str:
    """What `t=` the sponsored click URL issued on a machine with these settings carries."""
    return SponsoredLinks("https://trk.example.com", click_token_secret(settings)).token(TOKEN)


def test_the_files_key_as_hex_is_the_same_key_on_another_machine(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "m1")
    first.data_dir.mkdir()
    issued = _link_token(first)  # the key made once into m1/click-token.secret
    hex_digits = (first.data_dir / CLICK_TOKEN_SECRET_FILE).read_text().strip()
    second = Settings(data_dir=tmp_path / "m2", click_token_secret=f"hex:{hex_digits}")
    # m2's /sp/click reads m1's URL as authentic (a forged one would answer 404).
    assert click_tokens.decode(issued, click_token_secret(second), NOW) == TOKEN
    assert not (second.data_dir / CLICK_TOKEN_SECRET_FILE).exists()
    upper = Settings(data_dir=tmp_path / "m3", click_token_secret=f"hex:{hex_digits.upper()}")
    assert _link_token(upper) == issued


def test_a_raw_text_secret_keeps_meaning_its_text(tmp_path: Path) -> None:
    """What deployments already run with: its URLs must keep working."""
    raw = "correct horse battery staple"
    settings = Settings(data_dir=tmp_path, click_token_secret=raw)
    assert click_token_secret(settings) == raw.encode()
    hex_of_raw = Settings(data_dir=tmp_path, click_token_secret="a" * 64)  # no prefix: text
    assert click_token_secret(hex_of_raw) == b"a" * 64
    with pytest.raises(ForgedToken):
        click_tokens.decode(_link_token(settings), bytes.fromhex("a" * 64), NOW)


BAD_HEX = ["hex:", "hex:abc", "hex:" + "0" * 63, "hex:" + "g" * 64, "hex:" + "0" * 66]


@pytest.mark.parametrize("value", BAD_HEX)
def test_a_malformed_hex_secret_is_refused_before_starting(tmp_path: Path, value: str) -> None:
    data = tmp_path / "data"
    env = {"AUCTERA_DATA_DIR": str(data), "AUCTERA_TRACKING_URL": None, "AUCTERA_CLICK_TOKEN_SECRET": value}
    for command in (["db", "upgrade"], ["fx", "list"]):  # serve checks as they do (load_settings)
        done = runner.invoke(app, command, env=env)
        assert done.exit_code == 2, (done.exit_code, done.stderr, done.exception)
        (line,) = done.stderr.splitlines()
        assert line.startswith("error: AUCTERA_CLICK_TOKEN_SECRET: ") and "64 hex digits" in line, line
        assert value.removeprefix("hex:") not in line or value == "hex:"  # never echoed
        assert "Auctera listening" not in done.stderr and not data.exists()


def test_a_node_id_with_several_workers_is_refused_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "40", "AUCTERA_NODE_ID": "7"}
    env |= {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
    # The console script, as an operator runs it (before the fix it served, one worker failing).
    server = subprocess.Popen(
        [str(SCRIPT), "serve", "--data-dir", str(data), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, errors = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the supervisor and its workers
        out, errors = server.communicate()
        pytest.fail(f"serve started: {errors!r}")
    assert server.returncode == 2, (server.returncode, errors)
    assert out == ""
    (line,) = errors.splitlines()
    assert line.startswith("error: AUCTERA_NODE_ID=7 with --workers 2: "), line
    assert "unset AUCTERA_NODE_ID" in line
    assert "Auctera listening" not in errors and not data.exists()


def test_another_data_dir_on_the_database_is_refused_and_demo_says_when_its_file_is_gone(
    tmp_path: Path,
) -> None:
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    m1.mkdir()
    m2.mkdir()
    shared = f"sqlite+pysqlite:///{m1 / 'auctera.db'}"  # one database, as PostgreSQL would be
    first = build(Settings(data_dir=m1, database_url=shared))
    try:
        loaded = load_demo(first, days=1)
        again = load_demo(first, days=1)
    finally:
        first.close()
    assert loaded["status"] == "loaded" and Path(loaded["credentials"]).is_file()
    assert again == {"status": "already loaded", "credentials": str(m1 / "demo-credentials.json")}

    # Another data dir on the same database: refused before anything runs (its own event log).
    with pytest.raises(OtherEventLog):
        build(Settings(data_dir=m2, database_url=shared))
    env = {**os.environ, "AUCTERA_DATABASE_URL": shared}
    refused = subprocess.run(
        [str(SCRIPT), "demo", "--no-partner", "--data-dir", str(m2)], capture_output=True, text=True, env=env
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: this database's events are written to another data directory")
    assert not (m2 / "demo-credentials.json").exists()
    served = subprocess.run(  # `serve` checks before any worker starts, and starts none
        [str(SCRIPT), "serve", "--data-dir", str(m2), "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert served.returncode == 2 and "Auctera listening" not in served.stderr, served.stderr
    assert "every process of a deployment must use the same data directory" in served.stderr

    (m1 / "demo-credentials.json").unlink()  # lost: the keys cannot be shown again
    first = build(Settings(data_dir=m1, database_url=shared))
    try:
        gone = load_demo(first, days=1)
    finally:
        first.close()
    assert gone["status"] == "already loaded" and gone["credentials"] is None
    assert "not in" in gone["note"] and "shown only once" in gone["note"]
