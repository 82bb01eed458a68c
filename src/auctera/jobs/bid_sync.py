"""The bid sync worker: runs the saga of services/bid_sync.py.

It claims batches (written and leased before any partner is called), runs each one's next step
on a thread pool (partner calls block on the network), and claims again as threads free up. Runs
in the server's lifespan (a daemon thread) or as `auctera bids work`, its own process: a worker
killed with SIGKILL leaves its leased batches to be claimed again when their lease runs out, and
the resend carries the same batch id.

The threads are shared by every tenant, so they are handed out fairly (`fair_share`, D58): a
partner that holds each call until it times out would otherwise keep every thread, and another
tenant's bids would wait for its retries for up to the settle bound.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from auctera.config import Settings
from auctera.domain.bids import Network, PartnerKind
from auctera.partners.auctera import AucteraBidPartner
from auctera.partners.http import HttpBidPartner
from auctera.services.bid_sync import BidSyncService, Claim, StepResult, SyncOptions
from auctera.services.bids import PartnerTargets
from auctera.services.clock import Clock, Ids
from auctera.services.ports import BidPartner, UnitOfWork, UnitOfWorkFactory

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


@dataclass(frozen=True)
class DueWork:
    """A network with work due, as one claim round sees it."""

    network_id: int
    account_id: int
    room: int  # batches it may still lease: its concurrency less those leased by any worker
    due: int  # its open batches due for a step (a retry, a rollback, one a dead worker held)
    retry: bool  # every one of them is a retry of an unanswered call
    pending: bool  # operations waiting for a new batch


def fair_share(
    free: int,
    work: Sequence[DueWork],
    busy: Collection[tuple[int, int]],
    served: Mapping[int, int],
) -> list[int]:
    """The networks (ids, one per thread) the `free` threads go to, given the (account, network)
    of each step this worker has in flight and when each network was last served.

    One thread at a time, to the network whose account holds the fewest threads, then that holds
    the fewest itself, a first attempt before a retry, then the one served longest ago (round
    robin); never past its room. A call in flight cannot be taken back, so the last free thread is
    kept for an account holding none: however long one tenant's partner holds its calls, another
    tenant's work finds a thread at once, and the slow one's share shrinks to a fair one as its
    calls time out (their threads go to whoever holds fewer)."""
    accounts = Counter(a for a, _ in busy)
    networks = Counter(n for _, n in busy)
    last = dict(served)
    tick = max(last.values(), default=0)
    room = {w.network_id: w.room for w in work}
    due = {w.network_id: w.due for w in work}
    chosen: list[int] = []
    for left in range(free, 0, -1):
        options = [
            w
            for w in work
            if room[w.network_id] > 0
            and (due[w.network_id] > 0 or w.pending)
            and (left > 1 or accounts[w.account_id] == 0)
        ]
        if not options:
            break
        best = min(
            options,
            key=lambda w: (
                accounts[w.account_id],
                networks[w.network_id],
                w.retry and due[w.network_id] > 0,  # its due batches go before its new ones
                last.get(w.network_id, 0),
                w.network_id,
            ),
        )
        n = best.network_id
        chosen.append(n)
        room[n] -= 1
        due[n] = max(0, due[n] - 1)
        accounts[best.account_id] += 1
        networks[n] += 1
        tick += 1
        last[n] = tick
    return chosen


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    account_id: int
    network_id: int


class FairClaims:
    """Claims batches for the worker's free threads as `fair_share` hands them out: written and
    leased before any partner is called, at most `concurrency` leased per network over all workers
    (networks locked in id order on PostgreSQL, so two workers claiming never deadlock nor both
    fill a network's last slot). A network's open batches due for a step go before its new ones."""

    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, lease: timedelta) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._lease = lease
        self._served: dict[int, int] = {}  # network id -> when it was last given a thread
        self._tick = 0

    @classmethod
    def of(cls, service: BidSyncService) -> FairClaims:
        """Claims on the service's own database, ids, clock and lease (read from it, as the
        service has no claim that takes a plan: its `claim` is the unfair one, first due first)."""
        return cls(service._uow, service._ids, service._clock, service.options.lease)

    def claim(self, free: int, busy: Collection[tuple[int, int]]) -> list[Claimed]:
        if free <= 0:
            return []
        now = self._clock()
        # Idle, or every due network held back, most of the time: no write transaction then.
        with self._uow(read_only=True) as uow:
            work, _ = self._work(uow, now, lock=False)
            if not fair_share(free, work, busy, self._served):
                return []
        lease_until = now + self._lease
        token = self._ids.next_id()
        claimed: list[Claimed] = []
        with self._uow() as uow:
            work, found = self._work(uow, now, lock=True)
            due = {w.network_id: w.due for w in work}
            empty: set[int] = set()  # nothing left to claim there after all
            for network_id in fair_share(free, work, busy, self._served):
                if network_id in empty:
                    continue
                network = found[network_id]
                batch_id = uow.bids.next_due_batch(network_id, now) if due[network_id] > 0 else None
                if batch_id is not None:
                    due[network_id] -= 1
                    uow.bids.lease_batch(batch_id, lease_until, token)
                else:  # (another worker may have taken the due one first)
                    due[network_id] = 0
                    batch_id = self._ids.next_id()
                    if not uow.bids.create_batch(batch_id, network, now, lease_until, token):
                        empty.add(network_id)
                        continue
                claimed.append(Claimed(Claim(batch_id, token), network.account_id, network_id))
            uow.commit()
        for c in claimed:
            self._tick += 1
            self._served[c.network_id] = self._tick
        keep = found.keys() | {n for _, n in busy}
        self._served = {n: t for n, t in self._served.items() if n in keep}
        return claimed

    def _work(
        self, uow: UnitOfWork, now: datetime, *, lock: bool
    ) -> tuple[list[DueWork], dict[int, Network]]:
        due = uow.bids.due_networks(now)
        pending = set(uow.bids.pending_networks())
        ids = sorted(due.keys() | pending)
        if not ids:
            return [], {}
        if lock:  # one by one, in id order (see the class)
            networks = [n for i in ids if (n := uow.bids.sync_network(i)) is not None]
        else:
            networks = uow.bids.sync_networks(ids)
        leased = uow.bids.leased_by_network(now)  # read after the locks: what they guard
        work = [
            DueWork(
                n.id,
                n.account_id,
                n.settings.concurrency - leased.get(n.id, 0),
                due.get(n.id, (0, 0))[0],
                due.get(n.id, (0, 0))[1] > 0,
                n.id in pending,
            )
            for n in networks
        ]
        return work, {n.id: n for n in networks}


class BidSyncWorker:
    def __init__(
        self,
        service: BidSyncService,
        options: SyncWorkerOptions | None = None,
        claims: FairClaims | None = None,
    ) -> None:
        self._service = service
        self._options = options or SyncWorkerOptions()
        self._claims = claims or FairClaims.of(service)
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
                    inflight[pool.submit(self._service.step, c.claim)] = (c.account_id, c.network_id)
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

    def _claim(self, free: int, busy: Collection[tuple[int, int]]) -> list[Claimed]:
        try:
            return self._claims.claim(free, busy)
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
