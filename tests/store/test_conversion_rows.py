"""The conversion repository reads back exactly what it stored, on both backends.

On SQLite `add` binds the row with the driver itself, encoding SQLAlchemy's storage formats (the
postback's hot write); reads go through Core. The two must agree.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from auctera.domain.accounts import Account, AccountKind
from auctera.domain.conversions import Conversion, ConversionStatus, ReversalReason
from auctera.store.repositories.conversions import SQLITE_COLUMNS
from auctera.store.tables import conversions
from auctera.store.uow import SqlUnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

FULL = Conversion(
    id=5001,
    account_id=7,
    campaign_id=1001,
    publisher_id=8,
    click_id=9_000_000_001,
    event_type="purchase",
    order_id="Ünïcode-order \u2013 1",
    idempotency_key="key-1",
    currency="EUR",
    revenue_micros=49_990_000,
    original_revenue_micros=54_000_001,
    original_currency="USD",
    payout_micros=4_500_000,
    cost_micros=4_500_000,
    fraud_score=0.4321,
    status=ConversionStatus.REVERSED,
    # Another zone on the way in: stored as UTC, read back as the same instant.
    occurred_at=datetime(2026, 3, 1, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    created_at=T0,
    fraud_reason="click_injection",
    fraud_signals=({"reason": "click_injection", "confidence": 0.4321, "telemetry": {"seconds": 3}},),
    reversed_at=datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC),  # no microseconds
    reversal_reason=ReversalReason.CHARGEBACK,
    logged=True,
    attrs={"sub_id1": "source_a", "country": "DE", "creative_id": 12, "email_sha256": "ab" * 32},
)

BARE = Conversion(
    id=5002,
    account_id=7,
    campaign_id=1001,
    publisher_id=None,
    click_id=9_000_000_002,
    event_type="lead",
    order_id=None,
    idempotency_key=None,
    currency="EUR",
    revenue_micros=0,
    original_revenue_micros=0,
    original_currency="EUR",
    payout_micros=0,
    cost_micros=0,
    fraud_score=0.0,
    status=ConversionStatus.APPROVED,
    occurred_at=T0,
    created_at=T0,
)


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    account = Account(7, "Acme", AccountKind.ADVERTISER, "UTC", "EUR", "auc_ss_x", None, T0)
    with uow_factory() as u:
        u.accounts.add(account)
        u.commit()
    return uow_factory


def test_the_sqlite_insert_names_every_column() -> None:
    assert sorted(SQLITE_COLUMNS) == sorted(c.name for c in conversions.columns)


@pytest.mark.parametrize("conversion", [FULL, BARE], ids=["every-field", "bare"])
def test_add_reads_back_what_was_stored(uow: SqlUnitOfWorkFactory, conversion: Conversion) -> None:
    with uow() as u:
        assert u.conversions.add(conversion, f"{conversion.click_id}:{conversion.event_type}:")
        u.commit()
    expected = replace(conversion, occurred_at=conversion.occurred_at.astimezone(UTC))
    with uow(read_only=True) as u:
        assert u.conversions.get(conversion.id) == expected
        assert u.conversions.get(conversion.id, account_id=8) is None
        assert u.conversions.by_keys(7, f"{conversion.click_id}:{conversion.event_type}:", None) == expected


def test_a_second_copy_is_not_added(uow: SqlUnitOfWorkFactory) -> None:
    """The same dedup key, or the same idempotency key, in the account: nothing is written."""
    with uow() as u:
        assert u.conversions.add(FULL, "k1")
        assert not u.conversions.add(replace(FULL, id=5003, idempotency_key=None), "k1")
        assert not u.conversions.add(replace(FULL, id=5004), "k2")
        u.commit()
    with uow(read_only=True) as u:
        assert u.conversions.get(5003) is None and u.conversions.get(5004) is None
        assert u.conversions.by_keys(7, "k2", "key-1") == replace(
            FULL, occurred_at=FULL.occurred_at.astimezone(UTC)
        )


def test_a_conversion_recorded_without_a_key_adopts_one_nobody_holds(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        assert u.conversions.add(FULL, "k1")  # holds key-1
        assert u.conversions.add(BARE, "k2")  # no key
        u.conversions.adopt_idempotency_key(BARE, "key-1")  # FULL's: stays FULL's, nothing fails
        u.conversions.adopt_idempotency_key(BARE, "key-2")
        u.conversions.adopt_idempotency_key(replace(BARE, idempotency_key=None), "key-3")  # keeps key-2
        u.commit()
    with uow(read_only=True) as u:
        held = u.conversions.get(BARE.id)
        assert held is not None and held.idempotency_key == "key-2"
        assert u.conversions.by_keys(7, "other", "key-2") == held
        assert u.conversions.by_keys(7, "other", "key-1") == replace(
            FULL, occurred_at=FULL.occurred_at.astimezone(UTC)
        )
