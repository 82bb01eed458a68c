"""The `auctera` console script stays light: `serve --workers N` spawns workers that re-run it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_the_console_script_is_the_light_entry() -> None:
    (script,) = entry_points(group="console_scripts", name="auctera")
    assert script.value == "auctera.cli.entry:main"


def test_importing_the_entry_loads_nothing_heavy() -> None:
    # What each spawned worker runs before it can answer uvicorn's health check.
    probe = (
        "import sys, auctera.cli.entry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'auctera', 'sqlalchemy', 'alembic', 'duckdb', 'typer', 'fastapi'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "['auctera', 'auctera.cli', 'auctera.cli.entry']"
