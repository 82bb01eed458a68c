"""The bid sync saga against the simulated network, served for real on loopback, on both state
backends: the status flow of seed 001 for each failure mode, read back from the network."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from auctera.api.compat.bids import translate
from auctera.domain.accounts import Principal
from auctera.domain.bids import (
    BatchPhase,
    BiddingSettings,
    BidFilter,
    BidRow,
    BidStatus,
    OptimizationType,
    PartnerBidKey,
    PartnerKind,
)
from auctera.domain.ids import IdGenerator
from auctera.errors import AucteraError
from auctera.jobs.bid_sync import BidSyncWorker, NetworkPartners
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.accounts import AccountService
from auctera.services.bid_sync import BidSyncService, SyncOptions
from auctera.services.bids import BidService, PartnerTargets
from auctera.store.uow import SqlUnitOfWorkFactory

COUNTRIES = ("DE", "FR", "US")
FAST_RETRIES = {"retry_backoff_ms": 20, "retry_max_attempts": 4}


class Clock:
    """The wall clock, moved forward by hand where a test needs time to pass (a Retry-After)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, url: str, **settings: Any) -> None:
        self.uow = uow
        self.clock = Clock()
        ids = IdGenerator(1, lambda: int(time.time() * 1000))
        account = AccountService(uow, ids, self.clock, rotation_grace=timedelta(0)).create_account(
            "A", "advertiser"
        )
        a = account.account
        self.principal = Principal(a.id, a.kind, "UTC", "USD", None, "test")
        # Simulated partners on loopback: the operator allows private networks here.
        targets = PartnerTargets(allow_private=True)
        self.bids = BidService(uow, ids, self.clock, targets)
        self.network = self.bids.create_network(
            self.principal,
            replace(
                translate.new_network(),
                name="Sim",
                kind=PartnerKind.SIMULATED,
                base_url=url,
                credentials={"token": "t0ken"},
                settings=BiddingSettings(
                    enabled=True, ad_set_bidding=True, decimal_precision=3, **{**FAST_RETRIES, **settings}
                ),
            ),
        )
        self.campaign = self.bids.create_campaign(
            self.principal,
            self.network.id,
            replace(
                translate.new_campaign(),
                name="Spring",
                countries=frozenset(COUNTRIES),
                optimization_type=OptimizationType.CPI,
                external_id="c1",
            ),
        )
        self.partners = NetworkPartners(uow, self.clock, timeout=0.5)
        self.sync = BidSyncService(
            uow, ids, self.clock, self.partners, SyncOptions(lease=timedelta(seconds=5)), targets
        )

    def upload(self, **values: str | None) -> None:
        rows = [
            BidRow(self.campaign.id, None, country, None, None if v is None else Decimal(v), delete=v is None)
            for country, v in values.items()
        ]
        result = self.bids.upload(self.principal, rows)
        assert result.rejections == [], result.rejections

    def run(self) -> BidSyncWorker:
        worker = BidSyncWorker(self.sync)
        worker.run(threading.Event(), until_idle=True)
        return worker

    def stored(self) -> dict[str, tuple[str, int | None]]:
        """Status and value of each bid, as the listing shows them (None: not known)."""
        found = self.bids.bids(self.principal, BidFilter(campaign_id=self.campaign.id), offset=0, limit=100)
        return {b.country: (b.status.value, b.shown_micros) for b in found}

    def rejected(self, **values: str) -> list[str]:
        """The messages an upload of these campaign bids is rejected with (none: it was stored)."""
        rows = [BidRow(self.campaign.id, None, c, None, Decimal(v)) for c, v in values.items()]
        return [r.message for r in self.bids.upload(self.principal, rows).rejections]

    def operations(self) -> list[tuple[str, str, str | None]]:
        """(kind, status, error) of every operation, oldest first."""
        from auctera.store.tables import bid_operations

        with self.uow(read_only=True) as uow:
            rows = uow.bids._conn.execute(  # type: ignore[attr-defined]
                bid_operations.select().order_by(bid_operations.c.id)
            ).all()
        return [(r.kind, r.status, r.error) for r in rows]


def key(country: str) -> PartnerBidKey:
    return PartnerBidKey("c1", None, country, None)


@pytest.fixture
def served() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as running:
        yield running


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork) -> Iterator[World]:
    w = World(uow_factory, served.url)
    yield w
    w.partners.close()


def faults(served: RunningNetwork, *items: dict[str, object]) -> None:
    assert httpx.put(f"{served.url}/_faults", json=list(items)).status_code == 200


def partner_values(served: RunningNetwork) -> dict[str, int]:
    return {k.country: v for k, v in served.network.bids.items()}


def test_success(world: World, served: RunningNetwork) -> None:
    world.upload(DE="0.1", FR="0.25", US="1.5")
    worker = world.run()
    assert world.stored() == {
        "DE": ("success", 100_000),
        "FR": ("success", 250_000),
        "US": ("success", 1_500_000),
    }
    assert partner_values(served) == {"DE": 100_000, "FR": 250_000, "US": 1_500_000}
    assert worker.settled == 3
    assert world.sync.counts() == {"success": 3, "stuck": 0}


def test_a_failing_item_rolls_back_alone_to_the_networks_value(world: World, served: RunningNetwork) -> None:
    world.upload(DE="0.1", FR="0.1", US="0.1")
    world.run()
    faults(served, {"kind": "fail-items", "match": [{"country": "FR"}]})
    world.upload(DE="0.2", FR="0.2", US="0.2")
    world.run()
    assert world.stored() == {
        "DE": ("success", 200_000),
        "FR": ("rollback-error", 100_000),  # the network's value, read back
        "US": ("success", 200_000),
    }
    assert partner_values(served) == {"DE": 200_000, "FR": 100_000, "US": 200_000}
    assert ("update", "rollback-error", "rejected by the network") in world.operations()


def test_a_failing_batch_rolls_back_whole(world: World, served: RunningNetwork) -> None:
    world.upload(DE="0.1", FR="0.1", US="0.1")
    world.run()
    faults(served, {"kind": "fail-batch", "times": 1})
    world.upload(DE="0.2", FR="0.3", US="0.4")
    world.run()
    assert world.stored() == {c: ("rollback-error", 100_000) for c in COUNTRIES}
    assert partner_values(served) == dict.fromkeys(COUNTRIES, 100_000)


def test_a_timeout_is_retried_with_the_same_batch_id_and_applies_once(
    world: World, served: RunningNetwork
) -> None:
    faults(served, {"kind": "timeout", "seconds": 1.5, "times": 1})
    world.upload(DE="0.1", FR="0.2")
    world.run()
    assert world.stored() == {"DE": ("success", 100_000), "FR": ("success", 200_000)}
    assert served.network.calls["apply"] == 2  # the resend got the first answer
    assert len(served.network.answers) == 1  # one batch id, seen once-effective


def test_5xx_is_retried_per_the_networks_policy(world: World, served: RunningNetwork) -> None:
    faults(served, {"kind": "5xx", "status": 502, "times": 2})
    world.upload(DE="0.1")
    world.run()
    assert world.stored() == {"DE": ("success", 100_000)}
    assert served.network.calls["apply"] == 3


def test_429_waits_for_retry_after(world: World, served: RunningNetwork) -> None:
    faults(served, {"kind": "429", "retryAfter": 120, "times": 1})
    world.upload(DE="0.1")
    [claim] = world.sync.claim(10)
    world.sync.step(claim)
    world.clock.offset = timedelta(seconds=119)  # the backoff (20 ms) has long passed; Retry-After not
    assert world.sync.claim(10) == []
    assert world.stored() == {"DE": ("pending", 100_000)}
    world.clock.offset = timedelta(seconds=121)
    world.run()
    assert world.stored() == {"DE": ("success", 100_000)}
    assert served.network.calls["apply"] == 2


def test_a_failing_rollback_ends_in_error(world: World, served: RunningNetwork) -> None:
    world.upload(DE="0.1", FR="0.1")
    world.run()
    faults(served, {"kind": "fail-items", "match": [{"country": "FR"}]}, {"kind": "5xx", "on": "read"})
    world.upload(DE="0.2", FR="0.2")
    world.run()
    # The network refused FR outright, so it still runs the value before: that is what we show.
    assert world.stored() == {"DE": ("success", 200_000), "FR": ("error", 100_000)}
    assert partner_values(served) == {"DE": 200_000, "FR": 100_000}
    [(_, status, error)] = [op for op in world.operations()[-2:] if op[1] != "success"]
    assert status == "error" and error is not None and "rollback failed" in error


def test_a_new_bid_that_fails_is_deleted_on_both_sides(world: World, served: RunningNetwork) -> None:
    faults(served, {"kind": "fail-items", "match": [{"country": "FR"}]})
    world.upload(DE="0.1", FR="0.1")
    world.run()
    assert world.stored() == {"DE": ("success", 100_000)}
    assert partner_values(served) == {"DE": 100_000}
    assert ("create", "rollback-error", "rejected by the network") in world.operations()


def test_a_new_bid_the_network_applied_after_we_gave_up_is_deleted_there(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, retry_max_attempts=1)
    faults(served, {"kind": "timeout", "seconds": 1.0, "times": 1})
    w.upload(DE="0.1")
    w.run()
    # No answer, no retry left: the read found the bid there, the rollback deleted it there.
    assert w.stored() == {}
    assert partner_values(served) == {}
    assert served.network.calls["delete"] == 1
    assert [(k, s) for k, s, _ in w.operations()] == [("create", "rollback-error")]
    w.partners.close()


def test_a_failing_undo_of_a_new_bid_keeps_the_networks_value_as_error(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, retry_max_attempts=1)
    faults(
        served,
        {"kind": "timeout", "seconds": 1.0, "times": 1},
        {"kind": "fail-batch", "on": "delete", "batchPrefix": "rollback-"},
    )
    w.upload(DE="0.1")
    w.run()
    assert w.stored() == {"DE": ("error", 100_000)}  # what the network holds: no divergence
    assert partner_values(served) == {"DE": 100_000}
    w.partners.close()


def test_deletes_and_a_change_replaced_before_it_was_sent(world: World, served: RunningNetwork) -> None:
    ad_set = world.bids.create_ad_set(
        world.principal, world.campaign.id, replace(translate.new_ad_set(), name="A")
    )
    rows = [BidRow(world.campaign.id, ad_set.id, "DE", None, Decimal("0.5"))]
    world.bids.upload(world.principal, rows)
    world.run()
    world.bids.upload(world.principal, [rows[0]._replace(value=Decimal("0.6"))])
    world.bids.upload(world.principal, [rows[0]._replace(value=None, delete=True)])
    world.run()
    assert world.stored() == {}
    assert served.network.bids == {}
    assert [s for _, s, _ in world.operations()] == ["success", "superseded", "success"]


def test_a_networks_concurrency_bounds_its_leased_batches(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, batch_size=1, concurrency=2)
    w.upload(DE="0.1", FR="0.1", US="0.1")
    first = w.sync.claim(10)
    assert len(first) == 2 and w.sync.claim(10) == []  # both slots held
    w.sync.step(first[0])
    [third] = w.sync.claim(10)  # a slot freed
    assert third.batch_id not in {c.batch_id for c in first}
    w.run()
    assert {s for s, _ in w.stored().values()} == {"success"}
    w.partners.close()


def test_a_batch_whose_lease_ran_out_is_resumed_and_the_old_holder_is_shut_out(
    world: World, served: RunningNetwork
) -> None:
    world.upload(DE="0.1")
    [stale] = world.sync.claim(10)
    world.clock.offset = timedelta(seconds=6)  # past the 5 s lease: as if the worker died
    [resumed] = world.sync.claim(10)
    assert resumed.batch_id == stale.batch_id and resumed.token != stale.token
    assert world.sync.step(stale).phase is None  # its lease is gone: no call, nothing written
    with world.uow() as uow:  # nor could it write an outcome it got before the takeover
        now = world.clock()
        assert not uow.bids.record_step(
            stale.batch_id,
            stale.token,
            now,
            phase=BatchPhase.DONE,
            attempts=0,
            next_attempt_at=now,
            error=None,
        )
    world.sync.step(resumed)
    assert world.stored() == {"DE": ("success", 100_000)}
    assert served.network.calls["apply"] == 1


def test_operations_pending_past_the_settle_bound_are_stuck(world: World) -> None:
    world.upload(DE="0.1")
    assert world.sync.counts()["stuck"] == 0
    world.clock.offset = timedelta(minutes=31)
    assert world.sync.counts() == {"pending": 1, "stuck": 1}
    [(operation, batch)] = world.sync.stuck(world.principal)
    assert operation.status is BidStatus.PENDING and batch is None  # never claimed: no worker ran


def test_workers_side_by_side_never_send_a_batch_twice(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, batch_size=7, concurrency=3, source_id_bidding=True)
    ad_set = w.bids.create_ad_set(w.principal, w.campaign.id, replace(translate.new_ad_set(), name="A"))
    rows = [
        BidRow(w.campaign.id, ad_set.id, c, f"app{i}", Decimal("0.5")) for c in COUNTRIES for i in range(70)
    ]
    assert w.bids.upload(w.principal, rows).accepted == 210
    workers = [BidSyncWorker(w.sync) for _ in range(3)]
    threads = [
        threading.Thread(target=x.run, args=(threading.Event(),), kwargs={"until_idle": True})
        for x in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(x.settled for x in workers) == 210
    assert served.network.calls["apply"] == 30 == len(served.network.answers)  # each batch sent once
    assert len(served.network.bids) == 210
    w.partners.close()


# --- what a bid in error shows, and what the maximum change is measured from -------------------

MAX_CHANGE_50 = "bid change of 80.00% exceeds the network's maximum change of 50% per upload"


def test_a_change_refused_outright_shows_the_networks_value_and_guards_from_it(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, max_change_percent=50)
    w.upload(DE="0.25")
    w.run()
    faults(served, {"kind": "fail-batch", "on": "apply"}, {"kind": "5xx", "on": "read"})
    w.upload(DE="0.3")
    w.run()
    # Refused whole (nothing of it applied) and the read failed: the network still runs 0.25.
    assert partner_values(served) == {"DE": 250_000}
    assert w.stored() == {"DE": ("error", 250_000)}
    faults(served)
    # 0.45 is +50% from the refused 0.3 but +80% from what the network runs: refused.
    assert w.rejected(DE="0.45") == [MAX_CHANGE_50]
    assert w.rejected(DE="0.35") == []
    w.run()
    assert w.stored() == {"DE": ("success", 350_000)} and partner_values(served) == {"DE": 350_000}
    w.partners.close()


def test_an_unanswered_change_whose_read_fails_shows_no_value(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, max_change_percent=50, retry_max_attempts=1)
    w.upload(DE="0.25")
    w.run()
    faults(served, {"kind": "5xx", "on": "apply"}, {"kind": "5xx", "on": "read"})
    w.upload(DE="0.3")
    w.run()
    # No answer: the network may run 0.25 or 0.3. The listing says it does not know.
    assert w.stored() == {"DE": ("error", None)}
    [listed] = w.bids.bids(w.principal, BidFilter(campaign_id=w.campaign.id), offset=0, limit=1)
    assert translate.bid_json(listed)["value"] is None
    faults(served)
    assert w.rejected(DE="0.45") == [MAX_CHANGE_50]  # measured from 0.25, the last known value
    assert w.rejected(DE="0.3") == []
    w.run()
    assert w.stored() == {"DE": ("success", 300_000)} and partner_values(served) == {"DE": 300_000}
    w.partners.close()


def test_a_new_bid_refused_outright_whose_read_fails_shows_no_value(
    world: World, served: RunningNetwork
) -> None:
    faults(served, {"kind": "fail-batch", "on": "apply"}, {"kind": "5xx", "on": "read"})
    world.upload(DE="0.41")
    world.run()
    # Nothing of it applied, but what the network held before (a bid set elsewhere?) was never
    # read: unknown, not the refused 0.41.
    assert partner_values(served) == {}
    assert world.stored() == {"DE": ("error", None)}


def test_a_pending_change_is_no_base_for_the_next(
    uow_factory: SqlUnitOfWorkFactory, served: RunningNetwork
) -> None:
    w = World(uow_factory, served.url, max_change_percent=50)
    w.upload(DE="0.25")
    w.run()
    w.upload(DE="0.37")  # +48%, not sent yet
    # +48% again would reach the network as 0.25 -> 0.55 in one go (the first is superseded)
    assert w.rejected(DE="0.55") == [
        "bid change of 120.00% exceeds the network's maximum change of 50% per upload"
    ]
    w.partners.close()


def test_a_network_whose_partner_cannot_be_set_up_settles_its_bids(
    world: World, served: RunningNetwork
) -> None:
    """A token no HTTP header can carry (stored before networks were checked for it) made every
    step fail before the partner call, outside the retries: the bids stayed pending forever. Now
    it is no answer like any other: retried, then settled."""
    from auctera.store.tables import networks

    with world.uow() as uow:
        uow.bids._conn.execute(  # type: ignore[attr-defined]
            networks.update().where(networks.c.id == world.network.id).values(credentials={"token": "…"})
        )
        uow.commit()
    world.partners.close()  # its cached client holds the old token
    world.upload(DE="0.1")
    world.run()
    assert world.stored() == {"DE": ("error", None)}  # never answered: its value is not known
    assert partner_values(served) == {}
    with pytest.raises(AucteraError, match=r"credentials\.token must be printable ASCII"):
        world.bids.update_network(
            world.principal, world.network.id, lambda n: replace(n, credentials={"token": "…"})
        )
