"""A PostgreSQL engine's time limits (store/database.py, docs/operations.md "PostgreSQL time
limits"): the serving engine's statements are cancelled at the statement limit, the migrations'
engine has none, and a statement in flight when the server stops answering fails at the limit
plus the connect timeout instead of waiting forever; the engine then serves again by itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from auctera.store.database import PostgresLimits, make_engine
from support.postgres import PostgresServer
from support.stopping import own_cluster, stopped

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def stoppable(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    yield from own_cluster(request)


@pytest.fixture
def url(postgres_server: PostgresServer) -> Iterator[str]:
    created = postgres_server.create_database()
    yield created
    postgres_server.drop_database(created.rsplit("/", 1)[1])


def test_the_serving_engine_cancels_a_long_statement_and_migrations_are_not_limited(url: str) -> None:
    serving = make_engine(url, limits=PostgresLimits(statement_seconds=0.5))
    migrations = make_engine(url)  # as store/migrate.py and `auctera serve` make it
    try:
        with serving.connect() as conn, pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(2)"))
        with serving.connect() as conn:  # the connection is fine afterwards
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        with migrations.connect() as conn:
            conn.execute(text("SELECT pg_sleep(1)"))
    finally:
        serving.dispose()
        migrations.dispose()


def test_connections_have_tcp_keepalives_and_the_url_wins(url: str) -> None:
    limits = PostgresLimits(keepalives_idle=17, keepalives_interval=4, keepalives_count=2)
    for target, idle in ((url, "17"), (f"{url}?keepalives_idle=45", "45")):
        engine = make_engine(target, limits=limits)
        try:
            with engine.connect() as conn:
                dbapi = conn.connection.driver_connection
                assert dbapi is not None
                parameters = dbapi.info.get_parameters()
                assert parameters["keepalives"] == "1"
                assert (parameters["keepalives_idle"], parameters["keepalives_count"]) == (idle, "2")
                assert parameters["connect_timeout"] == "5"
        finally:
            engine.dispose()


def test_a_statement_in_flight_when_the_server_stops_fails_and_the_engine_recovers(
    stoppable: PostgresServer,
) -> None:
    # Answers within statement 1 s + connect 2 s; without the limits psycopg waits forever here.
    engine = make_engine(
        stoppable.create_database(), limits=PostgresLimits(connect_seconds=2, statement_seconds=1)
    )
    failed: list[BaseException] = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            with stopped(stoppable):
                try:
                    conn.execute(text("SELECT 1"))
                except OperationalError as exc:
                    failed.append(exc)  # raised while the server is still stopped
        assert failed and "did not answer within 3 s" in str(failed[0])
        # The broken connection was dropped, not pooled: the next one works once the server does.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_checking_out_a_pooled_connection_of_a_stopped_server_fails(stoppable: PostgresServer) -> None:
    engine = make_engine(stoppable.create_database(), limits=PostgresLimits(connect_seconds=2))
    failed: list[BaseException] = []
    try:
        with engine.connect() as conn:  # pooled, idle, when the server stops
            conn.execute(text("SELECT 1"))
        with stopped(stoppable):
            try:
                # The pool's pre-ping gets no answer (2 s), and connecting again neither (2 s).
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except OperationalError as exc:
                failed.append(exc)
        assert failed, "the checkout should have failed while the server was stopped"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
