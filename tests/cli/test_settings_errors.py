"""A bad AUCTERA_* setting is refused by every command in one line naming the variable and what it
may be, exit status 2, before anything is started or written (docs/operations.md); and `serve
--workers N`'s supervisor logs as its workers do, one JSON line per event on stdout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auctera.cli.main import app
from auctera.config import Settings

runner = CliRunner()
SCRIPT = Path(sys.executable).with_name("auctera")

BAD = [
    ("AUCTERA_NODE_ID", "300", "255"),
    ("AUCTERA_NODE_ID", "abc", "integer"),
    ("AUCTERA_LOG_JSON", "nah", "true or false"),
    ("AUCTERA_REQUIRE_HTTPS", "maybe", "true or false"),
    ("AUCTERA_DEFAULT_RATE_LIMIT_PER_MINUTE", "0", "greater than or equal to 1"),
    ("AUCTERA_CLIENT_IP_HOPS", "0", "greater than or equal to 1"),
    ("AUCTERA_FSYNC_INTERVAL", "-1", "greater than or equal to 0"),
    ("AUCTERA_STORAGE_BACKEND", "s4", "'directory' or 's3'"),
    ("AUCTERA_EXPORT_WORKER", "perhaps", "true or false"),
    ("AUCTERA_LOG_LEVEL", "bogus", "debug, info, warning, error, critical"),
    ("AUCTERA_TRACKING_URL", "trk.example.com/", "absolute http:// or https:// URL"),
    ("AUCTERA_TRACKING_URL", "notaurl", "absolute http:// or https:// URL"),
    ("AUCTERA_TRACKING_URL", "https://", "absolute http:// or https:// URL"),
    ("AUCTERA_CDN_URL", "cdn.example.com", "absolute http:// or https:// URL"),
    ("AUCTERA_S3_ENDPOINT_URL", "minio:9000", "absolute http:// or https:// URL"),
]


@pytest.mark.parametrize("command", [["serve", "--port", "8222"], ["fx", "list"], ["db", "upgrade"]])
@pytest.mark.parametrize(("variable", "value", "allowed"), BAD)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, command: list[str], variable: str, value: str, allowed: str
) -> None:
    data = tmp_path / "data"
    # AUCTERA_DATA_DIR through env (not --data-dir), so that CliRunner restores what serve sets.
    env = {"AUCTERA_DATA_DIR": str(data), "AUCTERA_TRACKING_URL": None, variable: value}
    done = runner.invoke(app, command, env=env)
    assert done.exit_code == 2, (done.exit_code, done.stderr, done.exception)
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {variable}: ") and allowed in line and repr(value) in line, line
    assert "Auctera listening" not in done.stderr
    assert not data.exists()  # nothing created, nothing migrated


def test_a_bad_secret_is_not_echoed(tmp_path: Path) -> None:
    env = {"AUCTERA_DATA_DIR": str(tmp_path / "data"), "AUCTERA_CLICK_TOKEN_SECRET": "hunter2"}
    done = runner.invoke(app, ["fx", "list"], env=env)
    assert done.exit_code == 2 and done.stdout == ""
    assert done.stderr == "error: AUCTERA_CLICK_TOKEN_SECRET: String should have at least 16 characters\n"


def test_the_console_script_refuses_a_bad_setting_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [str(SCRIPT), "serve", "--data-dir", str(data), "--port", "8222"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "40", "AUCTERA_NODE_ID": "300"},
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: AUCTERA_NODE_ID: should be less than or equal to 255, got '300'\n"
    assert not data.exists()


def test_a_good_log_level_and_urls_are_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        log_level="WARNING",
        tracking_url="https://trk.example.com/",
        cdn_url="http://[::1]:8080",
        s3_endpoint_url="http://minio.internal:9000",
    )
    assert settings.log_level == "warning"
    assert settings.tracking_url == "https://trk.example.com/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_workers_logs_the_supervisor_as_json_on_stdout(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUCTERA_", "PROMETHEUS_"))}
    env |= {"AUCTERA_LOG_JSON": "true", "AUCTERA_LOG_LEVEL": "info"}
    server = subprocess.Popen(
        [str(SCRIPT), "serve", "--data-dir", str(tmp_path), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # up once a worker answers
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        out, errors = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    lines = [json.loads(line) for line in out.splitlines()]  # every line is JSON
    events = [(line["logger"], line["event"]) for line in lines]
    assert all({"timestamp", "level", "logger", "event"} <= line.keys() for line in lines)
    lifecycle = ("Uvicorn running on", "Started parent process", "Received SIGTERM")
    for first_words in (*lifecycle, "Terminated child process", "Stopping parent process"):
        assert any(event.startswith(first_words) for _, event in events), (first_words, events)
    # stderr: only the line for the person who started it, no uvicorn plain-text log lines.
    listening = f"Auctera listening on http://127.0.0.1:{port} (data in {tmp_path})"
    assert errors.splitlines() == [listening], errors
