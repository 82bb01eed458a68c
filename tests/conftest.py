"""Root fixtures: a database URL per test on both supported backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from auctera.store.database import make_engine
from auctera.store.migrate import upgrade
from auctera.store.uow import SqlUnitOfWorkFactory
from support.postgres import PostgresServer, find_postgres_bin, postgres_version


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_NOT_INSTALLED = (
    "PostgreSQL is not installed on this machine: no initdb/postgres on PATH or under "
    "/usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private cluster per session (per xdist worker), on 127.0.0.1 and a free port."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        # CI must exercise PostgreSQL: a missing install there is a broken pipeline, not a skip.
        if _in_ci():
            pytest.fail(f"{_NOT_INSTALLED}; CI is set, so this is an error", pytrace=False)
        pytest.skip(_NOT_INSTALLED)
    with PostgresServer(bin_dir) as server:
        yield server


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test; tests requesting it run once per backend."""
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'auctera.db'}"
        return
    # Looked up lazily so SQLite-only runs (`-m "not postgres"`) never start a server.
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database of each backend, migrated to the latest schema."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uow_factory(migrated_engine: Engine) -> Iterator[SqlUnitOfWorkFactory]:
    factory = SqlUnitOfWorkFactory(migrated_engine)
    yield factory
    factory.close()  # the SQLite connections it keeps between units of work


def pytest_report_header(config: pytest.Config) -> str:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        return f"postgresql: NOT INSTALLED, postgres tests will {'FAIL (CI)' if _in_ci() else 'be skipped'}"
    return f"postgresql: {postgres_version(bin_dir)} from {bin_dir}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Counted from reports (not fixture state) so the line is also right under xdist.
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    reasons: set[str] = set()
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "postgres" not in getattr(report, "keywords", {}):
                continue
            if outcome == "skipped" and isinstance(report.longrepr, tuple):
                reasons.add(str(report.longrepr[2]).removeprefix("Skipped: "))
            counts[outcome] += 1
    ran = counts["passed"] + counts["failed"] + counts["error"]
    if not ran and not counts["skipped"]:
        return
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    if counts["skipped"] and not ran:
        line, markup = f"PostgreSQL tests SKIPPED ({summary}): {'; '.join(sorted(reasons))}", "yellow"
    elif not counts["passed"] + counts["failed"]:
        line, markup = f"PostgreSQL tests DID NOT RUN ({summary}), see errors above", "red"
    else:
        line, markup = f"PostgreSQL tests ran: {summary}", "green" if ran == counts["passed"] else "red"
    terminalreporter.write_sep("-", line, **{markup: True, "bold": True})
