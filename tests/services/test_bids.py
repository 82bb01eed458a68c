"""BidService on both state backends: uploads stored whole with their operations and times,
re-uploads updating in place, and concurrent uploads to one campaign never colliding."""

from __future__ import annotations

import gc
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from auctera.api.compat.bids import translate
from auctera.domain.accounts import Principal
from auctera.domain.bids import BiddingSettings, BidFilter, BidRow, BidStatus, OptimizationType, PartnerKind
from auctera.domain.ids import IdGenerator
from auctera.services.accounts import AccountService
from auctera.services.bids import BidService, PartnerTargets, paused_collector
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


def _world(uow: SqlUnitOfWorkFactory) -> tuple[BidService, Principal, int, FrozenClock]:
    clock = FrozenClock()
    ids = IdGenerator(1, lambda: int(clock().timestamp() * 1000))
    account = AccountService(uow, ids, clock, rotation_grace=timedelta(0)).create_account("A", "advertiser")
    a = account.account
    principal = Principal(a.id, a.kind, "UTC", "USD", None, "test")
    # A simulated partner on loopback: the operator allows private networks here.
    service = BidService(uow, ids, clock, PartnerTargets(allow_private=True))
    network = service.create_network(
        principal,
        replace(
            translate.new_network(),
            name="Unity",
            kind=PartnerKind.SIMULATED,
            base_url="http://127.0.0.1:9",
            credentials={"token": "t"},
            settings=BiddingSettings(enabled=True, decimal_precision=3),
        ),
    )
    campaign = service.create_campaign(
        principal,
        network.id,
        replace(
            translate.new_campaign(),
            name="Spring",
            countries=frozenset({"DE", "FR", "US"}),
            optimization_type=OptimizationType.CPA,
        ),
    )
    return service, principal, campaign.id, clock


def test_an_upload_is_stored_pending_and_a_second_updates_in_place(uow_factory: SqlUnitOfWorkFactory) -> None:
    service, principal, campaign_id, clock = _world(uow_factory)
    first = service.upload(
        principal, [BidRow(campaign_id, None, c, None, Decimal("0.1")) for c in ("DE", "FR")]
    )
    assert (first.accepted, first.rejections) == (2, [])
    clock.now += timedelta(seconds=60)
    second = service.upload(principal, [BidRow(campaign_id, None, "DE", None, Decimal("0.125"))])
    found = service.bids(principal, BidFilter(campaign_id=campaign_id), offset=0, limit=10)
    assert [(b.country, b.value_micros, b.previous_value_micros, b.status) for b in found] == [
        ("DE", 125_000, 100_000, BidStatus.PENDING),
        ("FR", 100_000, None, BidStatus.PENDING),
    ]
    de = found[0]
    assert de.created_at < de.updated_at == clock()
    assert de.created_at.tzinfo is not None
    with uow_factory(read_only=True) as uow:
        assert first.upload_id is not None and second.upload_id is not None
        [operation] = uow.bids.operations(upload_id=second.upload_id)
        assert len(uow.bids.operations(upload_id=first.upload_id)) == 2
    assert (operation.bid_id, operation.old_value_micros, operation.new_value_micros) == (
        de.id,
        100_000,
        125_000,
    )
    assert operation.id == de.operation_id and operation.created_at == clock()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_uploads_to_one_campaign_do_not_collide(uow_factory: SqlUnitOfWorkFactory) -> None:
    service, principal, campaign_id, _ = _world(uow_factory)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def upload(value: str) -> None:
        try:
            start.wait()
            rows = [BidRow(campaign_id, None, c, None, Decimal(value)) for c in ("DE", "FR", "US")]
            assert service.upload(principal, rows).accepted == 3
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(f"0.{i + 1}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = service.bids(principal, BidFilter(campaign_id=campaign_id), offset=0, limit=10)
    assert len(found) == 3 and len({b.value_micros for b in found}) == 1  # one upload was last for all


def test_the_garbage_collector_runs_again_once_the_last_upload_ends() -> None:
    assert gc.isenabled()
    first, second = paused_collector(), paused_collector()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # uploads end in any order
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # an application that turned it off keeps it off
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
