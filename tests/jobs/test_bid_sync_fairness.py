"""The bid sync worker's threads are shared fairly (docs/decisions.md D58).

A tenant may point a network at a partner that holds every call until it times out, with
concurrency 64, 100 attempts and no backoff: the worker's 8 threads all went to its calls and
retries, and another tenant's bid (or the same tenant's bid on another network) stayed `pending`
until the slow one settled, up to half an hour later. Run against a real tarpit on loopback (an
HTTP server holding each request) and the simulated network, on both state backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from auctera.api.compat.bids import translate
from auctera.domain.accounts import Principal
from auctera.domain.bids import (
    BiddingSettings,
    BidFilter,
    BidRow,
    DueWork,
    Network,
    NetworkCampaign,
    OptimizationType,
    PartnerBidKey,
    PartnerKind,
    fair_share,
)
from auctera.domain.ids import IdGenerator
from auctera.jobs.bid_sync import BidSyncWorker, NetworkPartners, SyncWorkerOptions
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.accounts import AccountService
from auctera.services.bid_sync import BidSyncService, SyncOptions
from auctera.services.bids import BidService
from auctera.store.uow import SqlUnitOfWorkFactory

# 30 bids, one a country: the slow tenant's batches (batch size 1)
COUNTRIES = ("AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "NL", "NO", "PL", "PT",
             "SE", "US", "CA", "AU", "JP", "BR", "MX", "IN", "KR", "NZ", "ZA", "AR", "CL", "CZ",
             "HU")  # fmt: skip
# The audit's tarpit network: every limit a tenant may set, at its most demanding.
GREEDY = {"batch_size": 1, "concurrency": 64, "retry_max_attempts": 100, "retry_backoff_ms": 0}
PARTNER_TIMEOUT = 2.0  # seconds the worker waits for a call
SETTLED_WITHIN = 20.0  # a healthy partner's bid settles well within this; before the fix, never


class Tarpit:
    """A partner on loopback that holds every request until released (then answers 503)."""

    def __init__(self) -> None:
        self.holding = 0  # requests held right now
        self.received = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        tarpit = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with tarpit._lock:
                    tarpit.holding += 1
                    tarpit.received += 1
                tarpit._release.wait(120)
                with tarpit._lock:
                    tarpit.holding -= 1
                try:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the worker gave up on us long ago

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Tarpit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Tenant:
    principal: Principal
    bids: BidService

    def network(self, url: str, **settings: Any) -> tuple[Network, NetworkCampaign]:
        network = self.bids.create_network(
            self.principal,
            replace(
                translate.new_network(),
                name=f"Net {url}",
                kind=PartnerKind.SIMULATED,
                base_url=url,
                credentials={"token": "t0ken"},
                settings=BiddingSettings(enabled=True, decimal_precision=3, **settings),
            ),
            trusted=True,  # the operator's, so it may be on loopback
        )
        campaign = self.bids.create_campaign(
            self.principal,
            network.id,
            replace(
                translate.new_campaign(),
                name="Spring",
                countries=frozenset(COUNTRIES),
                optimization_type=OptimizationType.CPI,
                external_id="c1",
            ),
        )
        return network, campaign

    def upload(self, campaign: NetworkCampaign, countries: tuple[str, ...], value: str) -> None:
        rows = [BidRow(campaign.id, None, c, None, Decimal(value)) for c in countries]
        assert self.bids.upload(self.principal, rows).rejections == []

    def statuses(self, campaign: NetworkCampaign) -> dict[str, str]:
        found = self.bids.bids(self.principal, BidFilter(campaign_id=campaign.id), offset=0, limit=100)
        return {b.country: b.status.value for b in found}


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        self.uow = uow
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.ids = IdGenerator(1, lambda: int(time.time() * 1000))
        self.partners = NetworkPartners(uow, self.clock, timeout=PARTNER_TIMEOUT)
        sync = BidSyncService(
            uow, self.ids, self.clock, self.partners, SyncOptions(lease=timedelta(seconds=30))
        )
        self.worker = BidSyncWorker(sync, SyncWorkerOptions(threads=8))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), daemon=True)

    def tenant(self, name: str) -> Tenant:
        accounts = AccountService(self.uow, self.ids, self.clock, rotation_grace=timedelta(0))
        a = accounts.create_account(name, "advertiser").account
        return Tenant(
            Principal(a.id, a.kind, "UTC", "USD", None, "test"), BidService(self.uow, self.ids, self.clock)
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()  # the steps in flight end within the partner timeout
        self.partners.close()


def eventually(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> Iterator[World]:
    w = World(uow_factory)
    yield w
    w.stop()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    with Tarpit() as t:
        yield t


@pytest.fixture
def healthy() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as running:
        yield running


def test_a_tenants_hanging_partner_does_not_hold_back_another_tenants_bid(
    world: World, tarpit: Tarpit, healthy: RunningNetwork
) -> None:
    slow = world.tenant("Slow")
    _, slow_campaign = slow.network(tarpit.url, **GREEDY)
    slow.upload(slow_campaign, COUNTRIES, "0.1")
    world.start()
    assert eventually(lambda: tarpit.holding >= 4, 10), "the slow partner got no calls"

    other = world.tenant("Other")
    _, campaign = other.network(healthy.url)
    other.upload(campaign, ("DE",), "0.25")

    eventually(lambda: other.statuses(campaign) != {"DE": "pending"}, SETTLED_WITHIN)
    assert other.statuses(campaign) == {"DE": "success"}
    assert {k.country: v for k, v in healthy.network.bids.items()} == {"DE": 250_000}
    # ... while the slow tenant's calls still hang and its bids wait for their retries.
    assert tarpit.holding > 0
    assert set(slow.statuses(slow_campaign).values()) == {"pending"}


def test_a_hanging_partner_does_not_hold_back_the_same_tenants_other_network(
    world: World, tarpit: Tarpit, healthy: RunningNetwork
) -> None:
    tenant = world.tenant("Both")
    _, slow_campaign = tenant.network(tarpit.url, **GREEDY)
    tenant.upload(slow_campaign, COUNTRIES, "0.1")
    world.start()
    assert eventually(lambda: tarpit.holding >= 4, 10), "the slow partner got no calls"

    _, campaign = tenant.network(healthy.url)
    tenant.upload(campaign, ("FR",), "0.3")

    # Its first thread is the first one the slow network's timed-out calls give back.
    eventually(lambda: tenant.statuses(campaign) != {"FR": "pending"}, SETTLED_WITHIN)
    assert tenant.statuses(campaign) == {"FR": "success"}
    assert healthy.network.bids == {PartnerBidKey("c1", None, "FR", None): 300_000}
    assert tarpit.holding > 0
    assert set(tenant.statuses(slow_campaign).values()) == {"pending"}


# --- how the threads are handed out -----------------------------------------------------------


def work(network: int, account: int, *, room: int = 64, due: int = 0, retry: bool = False) -> DueWork:
    return DueWork(network, account, room, due, retry, pending=due == 0)


def test_a_lone_network_takes_all_threads_but_one_within_its_concurrency() -> None:
    assert fair_share(8, [work(1, 10)], [], {}) == [1] * 7  # one kept for an account holding none
    assert fair_share(8, [work(1, 10, room=3)], [], {}) == [1] * 3
    assert fair_share(1, [work(1, 10)], [], {}) == [1]  # a one-thread worker: nothing to keep


def test_the_last_free_thread_goes_to_an_account_holding_none() -> None:
    busy = [(10, 1)] * 7
    assert fair_share(1, [work(1, 10, due=20, retry=True)], busy, {}) == []
    assert fair_share(1, [work(1, 10, due=20, retry=True), work(2, 20)], busy, {}) == [2]
    # The same account's other network waits for a thread its slow one gives back, then goes first.
    assert fair_share(2, [work(1, 10, due=20, retry=True), work(3, 10)], [(10, 1)] * 6, {}) == [3]


def test_threads_freed_by_a_slow_network_go_to_those_holding_fewer() -> None:
    busy = [(10, 1)] * 5 + [(20, 2)]
    assert fair_share(3, [work(1, 10, due=9, retry=True), work(2, 20), work(3, 30)], busy, {}) == [3, 2]


def test_a_retry_goes_behind_other_networks_first_attempts() -> None:
    retrying, fresh = work(1, 10, due=5, retry=True), work(2, 20)
    assert fair_share(3, [retrying, fresh], [], {}) == [2, 1]
    assert fair_share(3, [retrying, fresh], [], {2: 9}) == [2, 1]  # however recently served


def test_networks_holding_as_many_take_turns() -> None:
    a, b = work(1, 10), work(2, 10)
    assert fair_share(5, [a, b], [], {1: 4, 2: 3}) == [2, 1, 2, 1]
