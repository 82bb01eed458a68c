"""The bid sync (seed 001's distributed transaction): stored `pending` operations go to their
network in batches; success gives `success`; a refused change is rolled back to the network's
current value (`rollback-error`), or ends in `error` when even that fails; a refused new bid is
deleted on both sides.

Every step is durable. A batch is written, with its operations, before the partner is called, and
a worker holds it by a lease (`locked_until` + a token it writes with). A worker killed at any
point leaves the batch to be claimed again when the lease runs out, and the same batch id is
re-sent: partners are idempotent per batch id, so the resend has the effect the first send had.

    apply     partner.apply(b-<id>)   -> applied: success; refused: on to rollback;
                                         no answer: retry (network's policy) or give up: rollback
    rollback  partner.read(refused)   -> their value is ours now (rollback-error; none: deleted);
              partner.delete(rollback-<id>) for refused new bids the network holds anyway;
                                         read/delete failing past the retry policy: error
    done

A network's `concurrency` bounds its batches in flight (leased), `batchSize` their size, and its
retry policy (attempts, doubling backoff, a 429's Retry-After first) the calls. Nothing retries
past the settle bound (`settle`, 30 minutes by default, counted from the batch's creation):
an operation still pending after it is reported `stuck`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from auctera.domain.accounts import Principal
from auctera.domain.bids import (
    NO_ANSWER,
    BatchPhase,
    BatchResult,
    BidChange,
    BidOperation,
    BidStatus,
    DueWork,
    Network,
    PartnerBidKey,
    Settled,
    SyncBatch,
    SyncItem,
    applied,
    failed_rollback,
    fair_share,
    rolled_back,
    split_result,
)
from auctera.services.bids import PartnerTargets
from auctera.services.clock import Clock, Ids
from auctera.services.ports import (
    BidPartner,
    BidPartners,
    PartnerUnavailable,
    SyncBatchInfo,
    UnitOfWork,
    UnitOfWorkFactory,
)

MAX_ERROR = 500  # characters of a partner's failure kept


@dataclass(frozen=True)
class SyncOptions:
    lease: timedelta = timedelta(seconds=60)  # longer than one step: three partner calls' timeouts
    settle: timedelta = timedelta(minutes=30)  # no retry after this; pending beyond it: stuck


@dataclass(frozen=True)
class Claim:
    batch_id: int
    token: int
    account_id: int  # the batch's network's: what the worker's fair share counts
    network_id: int


@dataclass(frozen=True)
class StepResult:
    settled: int  # operations that took their final status in this step
    phase: BatchPhase | None  # the batch's phase after it; None: the lease was lost


class BidSyncService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        partners: BidPartners,
        options: SyncOptions | None = None,
        targets: PartnerTargets | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._partners = partners
        self.options = options or SyncOptions()
        self._targets = targets or PartnerTargets()
        self._served: dict[int, int] = {}  # network id -> when `claim` last gave it a thread
        self._tick = 0

    # --- claiming -------------------------------------------------------------------------------

    def claim(self, free: int, busy: Collection[tuple[int, int]] = ()) -> list[Claim]:
        """Batches for `free` threads of a worker whose steps in flight are of `busy` (account,
        network) pairs, handed out fairly (`fair_share`, D58): open ones due for their next step
        (a retry, a rollback, one a dead worker held) before new ones from pending operations, at
        most `concurrency` leased per network over all workers. Written (and leased) before any
        partner is called."""
        if free <= 0:
            return []
        now = self._clock()
        # Idle, or every due network held back, most of the time: no write transaction then.
        with self._uow(read_only=True) as uow:
            work, _ = _due_work(uow, now, lock=False)
            if not fair_share(free, work, busy, self._served):
                return []
        lease_until = now + self.options.lease
        token = self._ids.next_id()
        claimed: list[Claim] = []
        with self._uow() as uow:
            work, found = _due_work(uow, now, lock=True)
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
                claimed.append(Claim(batch_id, token, network.account_id, network_id))
            uow.commit()
        for c in claimed:
            self._tick += 1
            self._served[c.network_id] = self._tick
        keep = found.keys() | {n for _, n in busy}
        self._served = {n: t for n, t in self._served.items() if n in keep}
        return claimed

    # --- one step of a batch ------------------------------------------------------------------

    def step(self, claim: Claim) -> StepResult:
        """The claimed batch's next step: one apply, or one rollback (read, maybe delete)."""
        with self._uow(read_only=True) as uow:
            batch = uow.bids.sync_batch(claim.batch_id, claim.token)
            found = uow.bids.networks([batch.network_id], account_id=batch.account_id) if batch else []
        if batch is None or not found:
            return StepResult(0, None)
        network = found[0]
        if not batch.items:  # nothing left unsettled (a crash after the last write)
            return self._record(batch, claim, BatchPhase.DONE, 0, None)
        # Checked before every step, not only when the network was saved: its host may resolve
        # elsewhere now. A refused target is called not at all: a failed attempt saying why.
        refused = self._targets.refused(network, must_resolve=True)
        try:  # a partner that cannot even be set up (a header its client refuses) answers nothing
            if refused is not None:
                raise PartnerUnavailable(f"refused: {refused}")
            partner: BidPartner = _call(lambda: self._partners.partner(network))
        except PartnerUnavailable as exc:
            partner = _Unreachable(exc)
        if batch.phase is BatchPhase.APPLY:
            return self._apply(batch, claim, network, partner)
        return self._rollback(batch, claim, network, partner)

    def _apply(self, batch: SyncBatch, claim: Claim, network: Network, partner: BidPartner) -> StepResult:
        changes = [BidChange(i.key, i.value_micros) for i in batch.items]
        try:
            result = _call(lambda: partner.apply(batch.partner_id, changes))
        except PartnerUnavailable as exc:

            def give_up(why: str) -> tuple[list[SyncItem], list[Settled]]:
                # Unknown whether it applied: the rollback's read tells.
                return [replace(i, failed=f"{NO_ANSWER}{why}") for i in batch.items], []

            return self._unanswered(batch, claim, network, exc, give_up)
        done, refused = split_result(batch.items, result)
        phase = BatchPhase.ROLLBACK if refused else BatchPhase.DONE
        return self._record(batch, claim, phase, 0, result.error, refused=refused, settled=applied(done))

    def _rollback(self, batch: SyncBatch, claim: Claim, network: Network, partner: BidPartner) -> StepResult:
        items = batch.items
        try:
            current = _call(lambda: partner.read([i.key for i in items]))
        except PartnerUnavailable as exc:
            return self._unanswered(
                batch, claim, network, exc, lambda why: ([], failed_rollback(items, why, {}))
            )
        settled, undo = rolled_back(items, current)
        if not undo:
            return self._record(batch, claim, BatchPhase.DONE, 0, None, settled=settled)
        try:
            result = _call(lambda: partner.delete(batch.rollback_id, [i.key for i in undo]))
        except PartnerUnavailable as exc:
            return self._unanswered(
                batch, claim, network, exc, lambda why: ([], settled + failed_rollback(undo, why, current))
            )
        deleted, kept = split_result(undo, result)
        by_id = {i.operation_id: i for i in undo}
        settled += [
            Settled(by_id[i.operation_id], BidStatus.ROLLBACK_ERROR, True, None, by_id[i.operation_id].failed)
            for i in deleted
        ]
        settled += [
            s
            for i in kept
            for s in failed_rollback(
                [by_id[i.operation_id]], f"the network did not delete it ({i.failed})", current
            )
        ]
        return self._record(batch, claim, BatchPhase.DONE, 0, None, settled=settled)

    def _unanswered(
        self,
        batch: SyncBatch,
        claim: Claim,
        network: Network,
        exc: PartnerUnavailable,
        give_up: Callable[[str], tuple[list[SyncItem], list[Settled]]],
    ) -> StepResult:
        """No answer: the same call again after the backoff (a Retry-After wins), unless the retry
        policy is spent or the retry would fall past the settle bound: then `give_up`."""
        s = network.settings
        attempts = batch.attempts + 1
        why = str(exc)[:MAX_ERROR]
        delay = exc.retry_after
        if delay is None:
            delay = s.retry_backoff_ms / 1000 * 2 ** (attempts - 1)
        retry_at = self._clock() + timedelta(seconds=delay)
        if attempts < s.retry_max_attempts and retry_at <= batch.created_at + self.options.settle:
            return self._record(batch, claim, batch.phase, attempts, why, retry_at=retry_at)
        refused, settled = give_up(f"{why} (after {attempts} attempts)")
        if refused:
            return self._record(batch, claim, BatchPhase.ROLLBACK, 0, why, refused=refused)
        return self._record(batch, claim, BatchPhase.DONE, attempts, why, settled=settled)

    def _record(
        self,
        batch: SyncBatch,
        claim: Claim,
        phase: BatchPhase,
        attempts: int,
        error: str | None,
        *,
        refused: Sequence[SyncItem] = (),
        settled: Sequence[Settled] = (),
        retry_at: datetime | None = None,
    ) -> StepResult:
        now = self._clock()
        with self._uow() as uow:
            held = uow.bids.record_step(
                batch.id,
                claim.token,
                now,
                phase=phase,
                attempts=attempts,
                next_attempt_at=retry_at or now,
                error=None if error is None else error[:MAX_ERROR],
                refused=refused,
                settled=settled,
            )
            if not held:  # another worker took the batch over after our lease ran out
                return StepResult(0, None)
            uow.commit()
        return StepResult(len(settled), phase)

    # --- what is going on ---------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return BidSyncStatus(self._uow, self._clock, self.options.settle).counts()

    def busy(self) -> bool:
        return self.counts().get("pending", 0) > 0

    def stuck(
        self, principal: Principal | None, *, limit: int = 100
    ) -> list[tuple[BidOperation, SyncBatchInfo | None]]:
        account_id = None if principal is None else principal.account_id
        return BidSyncStatus(self._uow, self._clock, self.options.settle).stuck(account_id, limit=limit)


class BidSyncStatus:
    """What the bid sync is doing, for the API, the CLI and the worker (no partner needed)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, settle: timedelta) -> None:
        self._uow = uow
        self._clock = clock
        self._settle = settle

    def counts(self, account_id: int | None = None) -> dict[str, int]:
        """Operations per status, plus `stuck`: pending past the settle bound; one account's, or
        every account's (None)."""
        now = self._clock()
        with self._uow(read_only=True) as uow:
            return uow.bids.sync_counts(now, now - self._settle, account_id=account_id)

    def stuck(
        self, account_id: int | None, *, limit: int = 100
    ) -> list[tuple[BidOperation, SyncBatchInfo | None]]:
        """Operations still pending past the settle bound (one account's, or every account's for
        the operator), oldest first, with where their batch is (None: never batched)."""
        with self._uow(read_only=True) as uow:
            return uow.bids.stuck_operations(self._clock() - self._settle, account_id=account_id, limit=limit)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Unreachable:
    """The partner of a network whose adapter could not be made: every call is no answer, so its
    batches are retried, then rolled back, like those of a partner that does not answer."""

    why: PartnerUnavailable

    def apply(self, batch_id: str, changes: Sequence[BidChange]) -> BatchResult:
        raise self.why

    def read(self, keys: Sequence[PartnerBidKey]) -> dict[PartnerBidKey, int | None]:
        raise self.why

    def delete(self, batch_id: str, keys: Sequence[PartnerBidKey]) -> BatchResult:
        raise self.why


def _call(call: Callable[[], T]) -> T:
    """A partner call. An adapter's unexpected failure (a malformed answer, a bug) counts as no
    answer: retried, then rolled back; it never leaves a batch pending forever."""
    try:
        return call()
    except PartnerUnavailable:
        raise
    except Exception as exc:
        raise PartnerUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _due_work(uow: UnitOfWork, now: datetime, *, lock: bool) -> tuple[list[DueWork], dict[int, Network]]:
    """The networks with work due, as one claim round sees them. `lock`: locked one by one in id
    order (PostgreSQL), so two workers claiming never deadlock, nor both fill a network's last slot."""
    due = uow.bids.due_networks(now)
    pending = set(uow.bids.pending_networks())
    ids = sorted(due.keys() | pending)
    if not ids:
        return [], {}
    if lock:
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
