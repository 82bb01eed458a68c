"""Units of work: one transaction each, whatever the previous one on the same connection did.

With SQLite the factory keeps connections open between units of work and hands them out again;
nothing of one unit of work (its transaction, its read-only mode) may leak into the next.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from auctera.domain.accounts import Account, AccountKind
from auctera.store.uow import MAX_IDLE, SqlUnitOfWorkFactory

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def account(n: int) -> Account:
    return Account(n, f"A{n}", AccountKind.ADVERTISER, "UTC", "USD", "auc_ss_x", None, T0)


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    return uow_factory


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    return migrated_engine


def test_a_failed_unit_of_work_leaves_nothing_behind(uow: SqlUnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError), uow() as u:
        u.accounts.add(account(1))
        raise RuntimeError("midway")
    with uow() as u:
        assert u.accounts.get(1) is None
        u.accounts.add(account(2))
        u.commit()
    with uow(read_only=True) as u:
        assert [a.id for a in u.accounts.list()] == [2]


def test_uncommitted_work_is_rolled_back(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.accounts.add(account(1))
    with uow(read_only=True) as u:
        assert u.accounts.get(1) is None


def test_a_writer_after_readers_still_writes(uow: SqlUnitOfWorkFactory) -> None:
    for _ in range(3):  # the same connections, read-only first, then for a write
        with uow(read_only=True) as u:
            assert u.accounts.list() == []
    with uow() as u:
        u.accounts.add(account(1))
        u.commit()
    with uow(read_only=True) as u:
        assert u.accounts.get(1) is not None


def test_a_database_error_does_not_poison_the_next_unit_of_work(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.accounts.add(account(1))
        u.commit()
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), uow() as u:
        u.accounts.add(account(1))
        u.commit()
    with uow() as u:
        u.accounts.add(account(2))
        u.commit()
    with uow(read_only=True) as u:
        assert sorted(a.id for a in u.accounts.list()) == [1, 2]


def test_kept_connections_are_bounded_and_closed(engine: Engine) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    nested = [factory(read_only=True) for _ in range(MAX_IDLE + 3)]
    for u in nested:
        u.__enter__()
    for u in nested:
        u.__exit__(None, None, None)
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    if engine.dialect.name == "sqlite":
        assert checked_out == MAX_IDLE  # kept for the next units of work
    else:
        assert checked_out == 0  # PostgreSQL: always back to the pool
    factory.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
