"""The `auctera` console script. Kept light on purpose: `auctera serve --workers N` starts its
workers with multiprocessing's spawn, which first re-runs this script's module in each of them,
and uvicorn starts answering its health check only once that is done. Importing the whole CLI
there (SQLAlchemy, Alembic, DuckDB: 1.5 s on an idle machine, 15-20 s on a starved one) let the
check's 5 s pass, and uvicorn killed and restarted the workers in a loop."""

from __future__ import annotations


def main() -> None:
    from auctera.cli.main import app

    app()
