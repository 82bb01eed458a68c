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

from collections.abc import Callable, Sequence
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
    Network,
    PartnerBidKey,
    Settled,
    SyncBatch,
    SyncItem,
    applied,
    failed_rollback,
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

    # --- claiming -------------------------------------------------------------------------------

    def claim(self, limit: int) -> list[Claim]:
        """Up to `limit` batches for this worker: open ones due for their next step (a retry, a
        rollback, or one a dead worker held), then new ones from pending operations; at most
        `concurrency` leased per network. Written (and leased) before any partner is called."""
        if limit <= 0:
            return []
        now = self._clock()
        lease_until = now + self.options.lease
        token = self._ids.next_id()
        claimed: list[int] = []
        with self._uow(read_only=True) as uow:  # idle most of the time: no write transaction then
            if not uow.bids.due_batches(now, 1) and not uow.bids.pending_networks():
                return []
        with self._uow() as uow:
            due = uow.bids.due_batches(now, limit)
            pending = uow.bids.pending_networks()
            # Networks locked in id order (PostgreSQL): two workers claiming never deadlock, and
            # never both fill a network's last slot.
            room: dict[int, int] = {}
            networks: dict[int, Network] = {}
            for network_id in sorted({n for _, n in due} | set(pending)):
                network = uow.bids.sync_network(network_id)
                if network is not None:
                    networks[network_id] = network
                    room[network_id] = network.settings.concurrency - uow.bids.leased_batches(network_id, now)
            for batch_id, network_id in due:
                if len(claimed) < limit and room.get(network_id, 0) > 0:
                    uow.bids.lease_batch(batch_id, lease_until, token)
                    room[network_id] -= 1
                    claimed.append(batch_id)
            for network_id in pending:
                while len(claimed) < limit and room.get(network_id, 0) > 0:
                    batch_id = self._ids.next_id()
                    if not uow.bids.create_batch(batch_id, networks[network_id], now, lease_until, token):
                        break
                    room[network_id] -= 1
                    claimed.append(batch_id)
            uow.commit()
        return [Claim(b, token) for b in claimed]

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
