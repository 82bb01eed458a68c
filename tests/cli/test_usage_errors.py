"""A usage error (a value of the wrong type or out of range, a missing option, an unknown
command) is one line on stderr naming what is wrong, exit status 2, nothing on stdout: not
click's `Usage:` / `Try ... --help` lines and a boxed message (docs/operations.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auctera.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "naming"),
    [
        (["serve", "--port", "0"], "--port"),
        (["serve", "--port", "http"], "--port"),
        (["keys", "rotate", "--account", "X", "--key", "Y", "--grace-seconds", "abc"], "--grace-seconds"),
        (["keys", "rotate", "--account", "X", "--key", "Y", "--grace-seconds", "-1"], "--grace-seconds"),
        (["keys", "rotate", "--key", "Y"], "--account"),
        (["fx", "set", "EUR"], "quote"),
        (["serve", "--no-such-flag"], "--no-such-flag"),
        (["no-such-command"], "no-such-command"),
        (["keys", "spin"], "spin"),
    ],
)
def test_a_usage_error_is_one_line_naming_it(tmp_path: Path, args: list[str], naming: str) -> None:
    done = runner.invoke(app, args, env={"AUCTERA_DATA_DIR": str(tmp_path)})
    assert done.exit_code == 2, (done.exit_code, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert naming in lines[0] and "Usage:" not in lines[0] and "╭" not in lines[0], lines[0]


def test_the_console_script_answers_in_one_line(tmp_path: Path) -> None:
    # The real entry point, as an operator runs it (no TTY: rich must not wrap the line either).
    script = Path(sys.executable).with_name("auctera")
    done = subprocess.run(
        [str(script), "keys", "rotate", "--account", "adv_x", "--key", "key_y", "--grace-seconds", "abc"],
        capture_output=True,
        text=True,
        env={"AUCTERA_DATA_DIR": str(tmp_path), "COLUMNS": "40", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert done.stderr.startswith("error: auctera keys rotate: ") and "--grace-seconds" in done.stderr


def test_help_is_still_help() -> None:
    done = runner.invoke(app, ["serve", "--help"])
    assert done.exit_code == 0 and "Usage:" in done.stdout and "--port" in done.stdout
    bare = runner.invoke(app, ["keys"])  # a group without a command shows its help, as before
    assert "rotate" in bare.stdout + bare.stderr
