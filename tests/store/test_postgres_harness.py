"""The test database harness itself: both backends reachable, isolated per test, PostgreSQL on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, inspect, select, text

from support.postgres import PostgresServer

metadata = MetaData()
probe = Table("harness_probe", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


def test_roundtrip(engine: Engine, database_url: str) -> None:
    expected_dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert engine.dialect.name == expected_dialect
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(probe.insert(), [{"name": "alpha"}, {"name": "ünïcode"}])
    with engine.connect() as conn:
        assert conn.execute(select(probe.c.name).order_by(probe.c.id)).scalars().all() == ["alpha", "ünïcode"]


# Two tests leave and look for state: whichever runs second must still see an empty database.
@pytest.mark.parametrize("marker", ["first", "second"])
def test_databases_are_isolated(engine: Engine, marker: str) -> None:
    assert inspect(engine).get_table_names() == []
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(probe.insert().values(name=marker))


@pytest.mark.postgres
def test_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SELECT host(inet_server_addr())").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


@pytest.mark.postgres
def test_database_url_is_fresh_postgres_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == name
    finally:
        eng.dispose()
    # Dropping works even while a connection is still open (WITH FORCE).
    lingering = create_engine(url)
    lingering.connect()
    postgres_server.drop_database(name)
    with postgres_server.connect() as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
    lingering.dispose()
