"""The worker's claim of due postback deliveries takes publishers in turns, at most each one's share
less what the worker already holds of it, on both backends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from auctera.domain.webhooks import Delivery, DeliveryState
from auctera.store.uow import SqlUnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
LEASE = NOW + timedelta(minutes=1)
A, B, C = 101, 102, 103  # publishers (account ids)


def _delivery(id: int, account: int, due: datetime) -> Delivery:
    return Delivery(
        id=id,
        postback_id=account * 10,
        account_id=account,
        transaction_id=id,
        method="GET",
        url=f"https://tracker.example.com/{account}?t={id}",
        payload={},
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=due,
        created_at=T0,
    )


@pytest.fixture
def outbox(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    """A backlog of A's, due first, then B's and one of C's; one of A's not due yet."""
    rows = [_delivery(i, A, T0 + timedelta(seconds=i)) for i in range(1, 7)]
    rows += [_delivery(10 + i, B, T0 + timedelta(seconds=60 + i)) for i in range(1, 4)]
    rows += [_delivery(21, C, T0 + timedelta(seconds=120))]
    rows += [_delivery(30, A, NOW + timedelta(seconds=1))]
    with uow_factory() as uow:
        uow.webhooks.add_deliveries(rows)
        uow.commit()
    return uow_factory


def _claim(f: SqlUnitOfWorkFactory, limit: int, **kw: object) -> list[Delivery]:
    with f() as uow:
        got = uow.webhooks.claim(NOW, LEASE, limit, **kw)  # type: ignore[arg-type]
        uow.commit()
    return got


def test_publishers_are_claimed_in_turns_up_to_their_share(outbox: SqlUnitOfWorkFactory) -> None:
    # Every publisher's first due row before any publisher's second: A's backlog, due first, does
    # not fill a small claim.
    first = _claim(outbox, 3, share=2)
    assert sorted(d.id for d in first) == [1, 11, 21]
    # Then at most 2 per publisher, counting what the worker holds (one each of A and B, C's one).
    held = Counter(d.account_id for d in first)
    second = _claim(outbox, 100, share=2, held=held)
    assert sorted(d.id for d in second) == [2, 12]  # each publisher's next due, in due order
    # Full publishers are left out of the look before the claim; what is not due never counts.
    with outbox(read_only=True) as uow:
        assert not uow.webhooks.has_due(NOW, [A, B])  # C's one is leased; A's last is not due
        assert uow.webhooks.has_due(NOW, [B])
    # Once the worker holds fewer, the publisher's next rows come (still in due order).
    rest = _claim(outbox, 100, share=2, held={A: 1, B: 2})
    assert sorted(d.id for d in rest) == [3]


def test_without_a_share_the_claim_takes_the_longest_due(outbox: SqlUnitOfWorkFactory) -> None:
    assert [d.id for d in _claim(outbox, 3)] == [1, 2, 3]
    assert [d.id for d in _claim(outbox, 100)] == [4, 5, 6, 11, 12, 13, 21]  # leased ones skipped
    assert _claim(outbox, 100, share=5) == []
