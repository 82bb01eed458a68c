"""The bid sync worker: runs the saga of services/bid_sync.py.

It claims batches (written and leased before any partner is called), runs each one's next step
on a thread pool (partner calls block on the network), and claims again as threads free up. Runs
in the server's lifespan (a daemon thread) or as `auctera bids work`, its own process: a worker
killed with SIGKILL leaves its leased batches to be claimed again when their lease runs out, and
the resend carries the same batch id.

The threads are shared by every tenant, so `BidSyncService.claim` hands them out fairly (D58): a
partner that holds each call until it times out would otherwise keep every thread, and another
tenant's bids would wait for its retries for up to the settle bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from auctera.config import Settings
from auctera.domain.bids import Network, PartnerKind
from auctera.partners.auctera import AucteraBidPartner
from auctera.partners.http import HttpBidPartner
from auctera.services.bid_sync import BidSyncService, Claim, StepResult, SyncOptions
from auctera.services.bids import PartnerTargets
from auctera.services.clock import Clock, Ids
from auctera.services.ports import BidPartner, UnitOfWorkFactory

log = logging.getLogger(__name__)


class NetworkPartners:
    """`BidPartners`: one adapter per network (an HTTP client kept while its settings stay)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, timeout: float) -> None:
        self._uow = uow
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._http: dict[int, tuple[Network, HttpBidPartner]] = {}

    def partner(self, network: Network) -> BidPartner:
        if network.kind is PartnerKind.AUCTERA:
            return AucteraBidPartner(self._uow, self._clock, network)
        with self._lock:
            cached = self._http.get(network.id)
            if cached is not None and cached[0] == network:
                return cached[1]
            assert network.base_url is not None  # checked when the network was saved
            adapter = HttpBidPartner(
                network.base_url, token=network.credentials.get("token"), timeout=self._timeout
            )
            self._http[network.id] = (network, adapter)
            if cached is not None:
                cached[1].close()
            return adapter

    def close(self) -> None:
        with self._lock:
            for _, adapter in self._http.values():
                adapter.close()
            self._http.clear()


@dataclass(frozen=True)
class SyncWorkerOptions:
    threads: int = 8  # batch steps in flight, over all networks, shared fairly (fair_share)
    idle: float = 0.2  # seconds between looks when nothing is due


class BidSyncWorker:
    def __init__(self, service: BidSyncService, options: SyncWorkerOptions | None = None) -> None:
        self._service = service
        self._options = options or SyncWorkerOptions()
        self.settled = 0
        self.steps = 0

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Work until `stop` is set (or, with `until_idle`, until no operation is pending)."""
        opts = self._options
        with ThreadPoolExecutor(opts.threads, thread_name_prefix="bid-sync") as pool:
            inflight: dict[Future[StepResult], tuple[int, int]] = {}  # -> (account, network)
            while not stop.is_set():
                claimed = self._claim(opts.threads - len(inflight), inflight.values())
                for c in claimed:
                    inflight[pool.submit(self._service.step, c)] = (c.account_id, c.network_id)
                if inflight:
                    # A freed thread claims again at once; with none free (or only the one kept
                    # for an account holding none), the wait bounds the look for new work.
                    done, _ = wait(inflight, timeout=opts.idle, return_when=FIRST_COMPLETED)
                    for future in done:
                        del inflight[future]
                    self._count(done)
                elif not claimed:
                    if until_idle and not self._service.busy():
                        break
                    stop.wait(opts.idle)
            done, _ = wait(inflight)  # stopping: finish the steps in flight
            self._count(done)

    def _claim(self, free: int, busy: Collection[tuple[int, int]]) -> list[Claim]:
        try:
            return self._service.claim(free, busy)
        except Exception:  # the database is away: look again later
            log.exception("claiming bid batches failed")
            return []

    def _count(self, done: set[Future[StepResult]]) -> None:
        for future in done:
            self.steps += 1
            try:
                self.settled += future.result().settled
            except Exception:  # the batch's lease runs out and it is claimed again
                log.exception("a bid batch step failed")


class SyncThread:
    """The worker on a daemon thread (the server's lifespan)."""

    def __init__(self, worker: BidSyncWorker, partners: NetworkPartners) -> None:
        self._stop = threading.Event()
        self._partners = partners
        self._thread = threading.Thread(target=self._run, args=(worker,), name="bid-sync", daemon=True)
        self._thread.start()

    def _run(self, worker: BidSyncWorker) -> None:
        while not self._stop.is_set():
            try:
                worker.run(self._stop)
            except Exception:
                log.exception("bid sync worker failed; restarting")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._partners.close()


def sync_worker(
    uow: UnitOfWorkFactory,
    ids: Ids,
    clock: Clock,
    settings: Settings,
    *,
    lease_seconds: float | None = None,
    threads: int | None = None,
) -> tuple[BidSyncWorker, NetworkPartners]:
    """The worker as the settings describe it (the lease outlasts a step's two partner calls)."""
    timeout = settings.bid_partner_timeout_seconds
    lease = lease_seconds if lease_seconds is not None else max(60.0, 4 * timeout)
    partners = NetworkPartners(uow, clock, timeout=min(timeout, lease / 4))
    options = SyncOptions(
        lease=timedelta(seconds=lease), settle=timedelta(seconds=settings.bid_settle_seconds)
    )
    # Where networks may be called, as the server's own services see it (AUCTERA_PARTNER_ALLOW_PRIVATE)
    targets = PartnerTargets(allow_private=settings.partner_allow_private)
    service = BidSyncService(uow, ids, clock, partners, options, targets)
    return BidSyncWorker(service, SyncWorkerOptions(threads=threads or settings.bid_sync_threads)), partners
