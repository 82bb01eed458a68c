"""The bid sync checks a network's address again before every call: a host that resolved to a
public address when the network was saved but resolves to an internal one now (DNS rebinding, a
changed record) is sent nothing, and its bids fail saying why; the operator's switch, or a network
the operator registered itself (the demo's), lets them through."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from auctera.api.compat.bids import translate
from auctera.domain.accounts import Principal
from auctera.domain.bids import BiddingSettings, BidFilter, BidRow, OptimizationType, PartnerKind
from auctera.domain.ids import IdGenerator
from auctera.errors import AucteraError
from auctera.jobs.bid_sync import BidSyncWorker, NetworkPartners
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.accounts import AccountService
from auctera.services.bid_sync import BidSyncService, SyncOptions
from auctera.services.bids import BidService, PartnerTargets
from auctera.services.clock import utcnow
from auctera.store.tables import bid_operations
from auctera.store.uow import SqlUnitOfWorkFactory

PUBLIC = ["93.184.215.14"]
LOOPBACK = ["127.0.0.1"]


class Dns:
    """A resolver whose answers the test changes."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    def __call__(self, host: str) -> list[str]:
        assert host == "localhost"
        return list(self.answers)


class Counting:
    """A real HTTP server that counts every request it gets (and answers 500)."""

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Counting:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, base_url: str, dns: Dns, *, trusted: bool = False) -> None:
        self.uow = uow
        ids = IdGenerator(1, lambda: int(utcnow().timestamp() * 1000))
        account = AccountService(uow, ids, utcnow, rotation_grace=timedelta(0)).create_account(
            "A", "advertiser"
        )
        a = account.account
        self.principal = Principal(a.id, a.kind, "UTC", "USD", None, "test")
        self.ids = ids
        self.dns = dns
        self.bids = BidService(uow, ids, utcnow, PartnerTargets(dns))
        self.network = self.bids.create_network(
            self.principal,
            replace(
                translate.new_network(),
                name="Net",
                kind=PartnerKind.HTTP,
                base_url=base_url,
                credentials={"token": "t0ken"},
                settings=BiddingSettings(enabled=True, retry_backoff_ms=10, retry_max_attempts=2),
            ),
            trusted=trusted,
        )
        self.campaign = self.bids.create_campaign(
            self.principal,
            self.network.id,
            replace(
                translate.new_campaign(),
                name="Spring",
                countries=frozenset({"DE"}),
                optimization_type=OptimizationType.CPI,
                external_id="c1",
            ),
        )
        result = self.bids.upload(
            self.principal, [BidRow(self.campaign.id, None, "DE", None, Decimal("0.1"))]
        )
        assert result.rejections == []

    def sync(self, *, allow_private: bool = False) -> None:
        partners = NetworkPartners(self.uow, utcnow, timeout=2.0)
        service = BidSyncService(
            self.uow,
            self.ids,
            utcnow,
            partners,
            SyncOptions(lease=timedelta(seconds=5)),
            PartnerTargets(self.dns, allow_private=allow_private),
        )
        try:
            BidSyncWorker(service).run(threading.Event(), until_idle=True)
        finally:
            partners.close()

    def status(self) -> str:
        found = self.bids.bids(self.principal, BidFilter(campaign_id=self.campaign.id), offset=0, limit=10)
        return found[0].status.value

    def errors(self) -> list[str | None]:
        with self.uow(read_only=True) as uow:
            rows = uow.bids._conn.execute(bid_operations.select()).all()  # type: ignore[attr-defined]
        return [r.error for r in rows]


@pytest.fixture
def counting() -> Iterator[Counting]:
    with Counting() as server:
        yield server


def test_a_host_that_resolves_internal_at_call_time_is_sent_nothing(
    uow_factory: SqlUnitOfWorkFactory, counting: Counting
) -> None:
    dns = Dns(PUBLIC)  # public when the network is saved: accepted
    world = World(uow_factory, f"http://localhost:{counting.port}", dns)
    dns.answers = LOOPBACK  # ...and loopback when the bid sync calls it
    world.sync()
    assert counting.requests == 0  # neither the apply nor the rollback's read went out
    assert world.status() == "error"
    [error] = world.errors()
    assert error is not None and "refused: baseUrl: the host 'localhost' resolves to a private" in error


def test_the_operator_switch_lets_the_bid_sync_call_an_internal_partner(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    dns = Dns(PUBLIC)
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as served:
        port = served.url.rsplit(":", 1)[1]
        world = World(uow_factory, f"http://localhost:{port}", dns)
        dns.answers = LOOPBACK
        world.sync(allow_private=True)
        assert world.status() == "success"
        assert [(k.country, v) for k, v in served.network.bids.items()] == [("DE", 100_000)]


def test_a_network_the_operator_registered_may_be_internal(uow_factory: SqlUnitOfWorkFactory) -> None:
    """The demo's path: `auctera demo` registers its simulated partner on loopback itself."""
    dns = Dns(LOOPBACK)
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as served:
        port = served.url.rsplit(":", 1)[1]
        world = World(uow_factory, f"http://localhost:{port}", dns, trusted=True)
        world.sync()
        assert world.status() == "success"
        assert [(k.country, v) for k, v in served.network.bids.items()] == [("DE", 100_000)]


def test_a_tenant_moving_a_trusted_network_loses_the_trust(uow_factory: SqlUnitOfWorkFactory) -> None:
    dns = Dns(LOOPBACK)
    world = World(uow_factory, "http://localhost:9100", dns, trusted=True)
    renamed = world.bids.update_network(world.principal, world.network.id, lambda n: replace(n, name="Sim"))
    assert renamed.trusted  # the operator's address is kept: still trusted
    with pytest.raises(
        AucteraError, match=r"^baseUrl: the host 'localhost' resolves to a private"
    ) as refused:
        world.bids.update_network(
            world.principal, world.network.id, lambda n: replace(n, base_url="http://localhost:8741")
        )
    assert refused.value.field == "baseUrl"
    assert world.bids.network(world.principal, world.network.id).base_url == "http://localhost:9100"
