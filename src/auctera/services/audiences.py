"""Audiences: create and list, CRM syncs as resumable jobs, pixel-event refreshes, overlap,
lookalikes, GDPR/CCPA deletion, and the audience targeting of campaigns and line items.

A tenant sees only its own audiences (anything else is "not found"). Identifiers are hashed
the moment they are read (`domain.audiences.member_key`, or `email_digests` / `hash_digests` for a
whole run of one type at once): a sync call stages them as member-key records in a file named
by its job (`AudienceStaging`), flushed to disk before the job commits; the worker
(`jobs/audiences.py`) applies one chunk of records per transaction together with the job's
progress, so a worker killed at any point leaves the job to be taken over when its lease runs
out, from the first chunk not applied. The file goes when the job is done or its audience is
deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from auctera.domain import ids as idfmt
from auctera.domain import lookalike
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.audiences import (
    MAX_IDENTIFIERS,
    MAX_OVERLAP_IDS,
    MAX_PERCENT_BP,
    MAX_TARGETED,
    MIN_PERCENT_BP,
    RECORD,
    Audience,
    AudienceSource,
    AudienceStatus,
    JobState,
    Lookalike,
    Overlap,
    PixelRule,
    SyncAction,
    SyncJob,
    Targets,
    email_digests,
    email_keys,
    hash_digests,
    is_hash_key,
    member_key,
    name_problem,
    overlap,
    pack_digests,
    pack_keys,
    sketch_of,
    uid_key,
    unpack_keys,
)
from auctera.domain.campaigns import AUDIENCE_PAUSE, CampaignStatus, set_status
from auctera.domain.identifiers import IdentifierType, InvalidIdentifier
from auctera.domain.line_items import LineItemStatus
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.campaigns import COUNTRIES
from auctera.services.clock import Clock, Ids
from auctera.services.ports import (
    AudienceGraph,
    AudienceStaging,
    StagingWriter,
    UnitOfWork,
    UnitOfWorkFactory,
)

PREFIX = "aud"
JOB_PREFIX = "job"
CHUNK = 20_000  # member keys per staged chunk: one worker transaction each
MALFORMED_SAMPLES = 100  # malformed identifiers described in the job (index, type, reason)
EMAIL_BATCH = 1_000  # raw emails normalised and hashed together (list comprehensions)
KEY_BATCH = 10_000  # member keys packed into records and written together
# A staged file without a job is a call still being staged, or one a crash cut short; after this
# long it is the latter, and swept.
STAGING_GRACE = timedelta(hours=1)
MAX_PAGE = 100
LEASE = timedelta(seconds=60)
FEATURE_DAYS = 90  # the event-log history a lookalike learns from


_TYPES = frozenset(t.value for t in IdentifierType)


def render_id(audience_id: int) -> str:
    return idfmt.render(PREFIX, audience_id)


def parse_id(text: str, field: str = "audience_id") -> int:
    value = idfmt.parse(PREFIX, text.strip())
    if value is None:
        raise NotFound(f"audience {text} not found", field=field)
    return value


# One identifier as sent, (type, value): the value is read once, by `member_key`, and dropped.
Identifier = tuple[str, str]


# The bulk path per type sent, (digests of a run's values and the indexes of the values it left
# to `member_key`), and the kind of record the digests make.
_BULK: dict[str, tuple[Callable[[bytes, int], tuple[bytes, list[int]]], str]] = {
    IdentifierType.EMAIL.value: (email_digests, "e"),
    IdentifierType.EMAIL_SHA256.value: (hash_digests, "e"),
    IdentifierType.PHONE_SHA256.value: (hash_digests, "p"),
}


@dataclass(frozen=True, slots=True)
class Staged:
    """A sync call's identifiers, staged as `records` (member keys) for the job it would become,
    `job_id`, applied in `chunks` of at most the chunk size; malformed ones counted and described."""

    job_id: int
    records: int
    chunks: int
    received: int
    malformed: int
    samples: list[dict[str, object]]


class _Stager:
    """One call's identifiers on their way into its staging file."""

    def __init__(self, writer: StagingWriter, default_region: str | None) -> None:
        self._writer = writer
        self._region = default_region
        self._keys: list[str] = []
        self.received = self.malformed = self.records = 0
        self.samples: list[dict[str, object]] = []

    def receive(self, count: int) -> int:
        """Counts `count` more identifiers; returns the index of the first."""
        first = self.received
        self.received += count
        if self.received > MAX_IDENTIFIERS:
            raise ValidationFailed(
                f"at most {MAX_IDENTIFIERS:,} identifiers per call; split the list", field="identifiers"
            )
        return first

    def bad(self, index: int, kind: str, reason: str) -> None:
        self.malformed += 1
        if len(self.samples) < MALFORMED_SAMPLES:
            # The type only when it is one: a value sent in its place must not come back.
            shown = kind if kind in _TYPES else "unknown"
            self.samples.append({"index": index, "type": shown, "reason": reason})

    def one(self, index: int, kind: str, value: str) -> None:
        try:
            self.key(member_key(kind, value, self._region))
        except InvalidIdentifier as exc:
            self.bad(index, kind, exc.reason)

    def key(self, key: str) -> None:
        self._keys.append(key)
        if len(self._keys) >= KEY_BATCH:
            self.flush()

    def emails(self, first: int, emails: Sequence[str]) -> None:
        """Raw emails at indexes `first`... hashed together, the odd ones by the full path."""
        for index, (value, key) in enumerate(zip(emails, email_keys(emails), strict=True), first):
            if key is None:
                self.one(index, "email", value)  # the full path decides (and explains)
            else:
                self.key(key)

    def digests(self, kind: str, digests: bytes) -> None:
        self.records += len(digests) // 32
        self._writer.write(pack_digests(kind, digests))

    def flush(self) -> None:
        if self._keys:
            self.records += len(self._keys)
            self._writer.write(pack_keys(self._keys))
            self._keys.clear()


@dataclass(frozen=True, slots=True)
class OverlapAnswer:
    audiences: list[Audience]
    overlap: Overlap


@dataclass(frozen=True, slots=True)
class Purge:
    audience_id: int
    paused_campaigns: list[int]


class AudienceService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        graph: AudienceGraph,
        staging: AudienceStaging,
        *,
        on_targeting_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._graph = graph
        self._staging = staging
        self._targeting_changed = on_targeting_changed
        self._build_lock = threading.Lock()  # one lookalike or pixel refresh at a time per process

    # --- audiences -------------------------------------------------------------------------

    def create(
        self, principal: Principal, name: str, source: AudienceSource, rule: PixelRule | None = None
    ) -> Audience:
        if principal.kind is not AccountKind.ADVERTISER:  # only an advertiser's campaigns target them
            raise Forbidden("audiences belong to advertisers: use the advertiser's API key")
        problem = name_problem(name)
        if problem:
            raise ValidationFailed(problem, field="name")
        if source is AudienceSource.LOOKALIKE_ML:
            raise ValidationFailed(
                "lookalike audiences are built from a seed: POST /v2/audiences/lookalike", field="source"
            )
        if source is AudienceSource.PIXEL_EVENT:
            if rule is None:
                raise ValidationFailed("a Pixel Event audience needs a rule", field="rule")
            for message in rule.problems():
                raise ValidationFailed(message, field=message.split(" ")[0])
        elif rule is not None:
            raise ValidationFailed("only Pixel Event audiences take a rule", field="rule")
        now = self._clock()
        audience = Audience(
            id=self._ids.next_id(),
            account_id=principal.account_id,
            name=name.strip(),
            source=source,
            status=AudienceStatus.BUILDING if rule else AudienceStatus.READY,
            size=0,
            matched=0,
            created_at=now,
            updated_at=now,
            rule=rule,
        )
        with self._uow() as uow:
            if rule and rule.campaign_ids:
                for campaign_id in rule.campaign_ids:
                    if uow.campaigns.get(campaign_id, account_id=principal.account_id) is None:
                        raise NotFound(
                            f"campaign {idfmt.render('cmp', campaign_id)} not found",
                            field="rule.campaign_ids",
                        )
            uow.audiences.add(audience)
            uow.commit()
        return audience

    def get(self, principal: Principal, audience_id: int) -> Audience:
        with self._uow(read_only=True) as uow:
            return self._visible(uow, principal, audience_id)

    def list_audiences(
        self, principal: Principal, before_id: int | None, limit: int
    ) -> tuple[list[Audience], bool]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        with self._uow(read_only=True) as uow:
            rows = uow.audiences.page(principal.account_id, before_id, limit + 1)
        return rows[:limit], len(rows) > limit

    # --- CRM sync --------------------------------------------------------------------------

    def sync(
        self,
        principal: Principal,
        audience_id: int,
        action: SyncAction,
        staged: Staged,
        *,
        job_key: str | None = None,
        key_field: str = "job_key",
    ) -> tuple[SyncJob, bool]:
        """Queue the staged identifiers as a job; (job, created). A job key used before returns
        that job (the same call retried, or racing this one), and nothing is queued: the staged
        file goes; used for another audience or action, a Conflict naming `key_field` (where
        the key came from: the `job_key` field or the `Idempotency-Key` header)."""
        created = False
        try:
            job, created = self._queue(principal, audience_id, action, staged, job_key, key_field)
        finally:
            if not created:
                self.discard(staged)
        return job, created

    def _queue(
        self,
        principal: Principal,
        audience_id: int,
        action: SyncAction,
        staged: Staged,
        job_key: str | None,
        key_field: str,
    ) -> tuple[SyncJob, bool]:
        with self._uow(read_only=True) as uow:
            audience = self._visible(uow, principal, audience_id)
            if job_key is not None:
                seen = uow.audiences.job_by_key(principal.account_id, job_key)
                if seen is not None:
                    return self._retried(seen, audience_id, action, key_field), False
        if audience.source is not AudienceSource.CRM_SYNC:
            raise Conflict(
                f"identifiers are synced into CRM Sync audiences; this one is {audience.source.label}",
                field="audience_id",
            )
        now = self._clock()
        job_id = staged.job_id
        job = SyncJob(
            id=job_id,
            account_id=principal.account_id,
            audience_id=audience_id,
            job_key=job_key or f"auto:{job_id}",
            action=action,
            state=JobState.QUEUED,
            received=staged.received,
            malformed=staged.malformed,
            malformed_samples=tuple(staged.samples),
            chunks=staged.chunks,
            applied=0,
            processed=0,
            matched=0,
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            if uow.audiences.get(audience_id, principal.account_id) is None:  # deleted meanwhile
                raise NotFound(f"audience {render_id(audience_id)} not found", field="audience_id")
            if not uow.audiences.add_job(job, []):
                # A call with the same key committed its job since the read above (PostgreSQL:
                # the insert waited for it, then did nothing); read committed, this sees it.
                assert job_key is not None, "only a job key can conflict"
                seen = uow.audiences.job_by_key(principal.account_id, job_key)
                assert seen is not None, "the job that took the key must be readable"
                return self._retried(seen, audience_id, action, key_field), False
            uow.commit()
        return job, True

    @staticmethod
    def _retried(seen: SyncJob, audience_id: int, action: SyncAction, key_field: str) -> SyncJob:
        """The job a key made, answered to a call reusing the key: the same call retried, or,
        naming another audience or action, a conflict."""
        if seen.audience_id != audience_id or seen.action is not action:
            what = "Idempotency-Key" if key_field == "Idempotency-Key" else "job key"
            raise Conflict(f"this {what} was used for another audience or action", field=key_field)
        return seen

    def discard(self, staged: Staged) -> None:
        """Staged identifiers of a call that will not become a job."""
        self._staging.remove(staged.job_id)

    def job_for_key(self, principal: Principal, job_key: str) -> SyncJob | None:
        with self._uow(read_only=True) as uow:
            return uow.audiences.job_by_key(principal.account_id, job_key)

    def stage(
        self, identifiers: Iterable[Identifier], default_region: str | None = None, chunk: int = CHUNK
    ) -> Staged:
        """Each identifier hashed into its member key as it is read (the raw value goes no
        further), raw emails in batches; malformed ones counted, the first few described."""

        def fill(stager: _Stager) -> None:
            emails: list[str] = []  # raw emails waiting to be hashed together
            first = 0  # the index of the first of them
            for kind, value in identifiers:
                index = stager.receive(1)
                if kind == "email" and value:
                    if not emails:
                        first = index
                    emails.append(value)
                    if len(emails) >= EMAIL_BATCH:
                        stager.emails(first, emails)
                        emails.clear()
                else:
                    if emails:
                        stager.emails(first, emails)
                        emails.clear()
                    stager.one(index, kind, value)
            stager.emails(first, emails)

        return self._stage(fill, default_region, chunk)

    def stage_runs(
        self,
        kind: str,
        runs: Iterable[tuple[bytes, int]],
        default_region: str | None = None,
        chunk: int = CHUNK,
    ) -> Staged:
        """Like `stage`, for identifiers all of one `kind`, their values (UTF-8) in runs of
        (values joined by newlines, how many; no value holds a newline): emails and hashes that
        pass the bulk checks are hashed a run at once, the others (and phones, MAIDs) one by one."""
        bulk, record_kind = _BULK.get(kind, (None, ""))

        def fill(stager: _Stager) -> None:
            for joined, count in runs:
                first = stager.receive(count)
                odd: Sequence[int] = range(count)
                if bulk is not None:
                    digests, odd = bulk(joined, count)
                    stager.digests(record_kind, digests)
                if odd:
                    values = joined.split(b"\n")
                    for index in odd:
                        stager.one(first + index, kind, values[index].decode())

        return self._stage(fill, default_region, chunk)

    def _stage(self, fill: Callable[[_Stager], None], default_region: str | None, chunk: int) -> Staged:
        if default_region is not None and default_region.upper() not in COUNTRIES:
            # A typo would otherwise make every national phone number of the list malformed.
            raise ValidationFailed(
                f"default_region {default_region!r} is not an ISO 3166-1 alpha-2 country code",
                field="default_region",
            )
        job_id = self._ids.next_id()  # the job's id, should the call become one
        writer = self._staging.create(job_id)
        stager = _Stager(writer, default_region)
        try:
            fill(stager)
            stager.flush()
        except BaseException:
            writer.close()
            self._staging.remove(job_id)
            raise
        writer.close()
        samples = sorted(stager.samples, key=lambda sample: int(str(sample["index"])))
        return Staged(
            job_id, stager.records, -(-stager.records // chunk), stager.received, stager.malformed, samples
        )

    def job(self, principal: Principal, job_id: int) -> SyncJob:
        with self._uow(read_only=True) as uow:
            job = uow.audiences.job(job_id, principal.account_id)
        if job is None:
            raise NotFound(f"job {idfmt.render(JOB_PREFIX, job_id)} not found", field="job_id")
        return job

    def work_once(self, lease: timedelta = LEASE) -> SyncJob | None:
        """Claim one due job and apply its chunks; the job as left (None: nothing to do)."""
        now = self._clock()
        # A read first: an idle worker (most of the time) takes no write lock from the postbacks.
        with self._uow(read_only=True) as uow:
            if not uow.audiences.has_due_job(now):
                return None
        token = self._ids.next_id()
        with self._uow() as uow:
            job = uow.audiences.claim_job(now, lease, token)
            uow.commit()
        if job is None:
            return None
        while job.applied < job.chunks:
            applied = self._apply_chunk(job, token, lease)
            if applied is None:
                return None  # the lease was lost: another worker has the job now
            if applied.state is JobState.FAILED:
                return applied
            job = applied
        return self._finish(job, token)

    def _staged_keys(self, job: SyncJob) -> list[str] | None:
        """The member keys of the job's next chunk; None when its staged file is gone."""
        records = job.received - job.malformed
        per = -(-records // job.chunks)
        start = job.applied * per
        size = max(0, min(per, records - start)) * RECORD
        try:
            data = self._staging.read(job.id, start * RECORD, size)
        except FileNotFoundError:
            with self._uow(read_only=True) as uow:  # a job staged before staging files
                return uow.audiences.chunk(job.id, job.applied) or None
        return unpack_keys(data) if len(data) == size else None

    def _apply_chunk(self, job: SyncJob, token: int, lease: timedelta) -> SyncJob | None:
        keys = self._staged_keys(job)
        if keys is None:
            return self._fail(job, token, "the job's staged identifiers are missing; sync them again")
        hashes = [k[2:] for k in keys if is_hash_key(k)]
        links: list[tuple[str, str]] = []
        if job.action is not SyncAction.REMOVE and hashes:
            by_hash = {k[2:]: k for k in keys if is_hash_key(k)}
            links = [(by_hash[h], uid) for h, uid in self._graph.visitors_of(job.account_id, hashes)]
        matched = len({k for k, _ in links})
        now = self._clock()
        after = replace(
            job,
            state=JobState.RUNNING,
            applied=job.applied + 1,
            processed=job.processed + len(keys),
            matched=job.matched + matched,
            updated_at=now,
        )
        with self._uow() as uow:
            repo = uow.audiences
            if job.action is SyncAction.REPLACE and job.applied == 0:
                repo.clear_members(job.audience_id)
            if job.action is SyncAction.REMOVE:
                repo.remove_members(job.audience_id, keys)
            else:
                repo.add_members(job.audience_id, keys)
                repo.add_links(job.audience_id, links)
            if not repo.update_job(after, token, now + lease):
                return None
            uow.commit()
        return after

    def _finish(self, job: SyncJob, token: int) -> SyncJob | None:
        now = self._clock()
        done = replace(job, state=JobState.DONE, updated_at=now, finished_at=now)
        if job.action is SyncAction.REPLACE and job.chunks == 0:  # replace with nothing: empty it
            with self._uow() as uow:
                uow.audiences.clear_members(job.audience_id)
                uow.commit()
        with self._uow() as uow:
            if not uow.audiences.update_job(done, token, None):
                return None
            self._recount(uow, job.audience_id, now)
            uow.commit()
        self._staging.remove(job.id)
        return done

    def _fail(self, job: SyncJob, token: int, error: str) -> SyncJob | None:
        now = self._clock()
        failed = replace(job, state=JobState.FAILED, error=error, updated_at=now, finished_at=now)
        with self._uow() as uow:
            if not uow.audiences.update_job(failed, token, None):
                return None
            uow.commit()
        self._staging.remove(job.id)
        return failed

    def sweep_staging(self, grace: timedelta = STAGING_GRACE) -> int:
        """Remove the staged files no open job needs: a finished job's whose removal a crash
        cut short, and, after `grace`, those of calls that never became a job. Returns how many."""
        swept = 0
        for job_id, age in self._staging.staged().items():
            with self._uow(read_only=True) as uow:
                job = uow.audiences.job(job_id)
            if (job is None and age > grace.total_seconds()) or (
                job is not None and job.state in (JobState.DONE, JobState.FAILED)
            ):
                self._staging.remove(job_id)
                swept += 1
        return swept

    @staticmethod
    def _recount(
        uow: UnitOfWork, audience_id: int, now: datetime, *, rebuilt: Lookalike | None = None
    ) -> None:
        """Exact counts and a fresh sketch (theta sketches cannot forget a removed member). A pixel
        or lookalike audience just `rebuilt` (its lookalike figures, if any) is ready, as of now."""
        audience = uow.audiences.get(audience_id)
        if audience is None:
            return
        size, matched = uow.audiences.counts(audience_id)
        sketch = sketch_of(uow.audiences.users(audience_id))
        after = replace(audience, size=size, matched=matched, sketch=sketch, updated_at=now)
        if audience.source is not AudienceSource.CRM_SYNC:
            lookalike = rebuilt if rebuilt is not None else audience.lookalike
            after = replace(after, status=AudienceStatus.READY, refreshed_at=now, lookalike=lookalike)
        uow.audiences.update(after)

    def pending_jobs(self) -> int:
        with self._uow(read_only=True) as uow:
            return uow.audiences.open_jobs()

    # --- pixel-event audiences -------------------------------------------------------------

    def refresh_pixel_audiences(self, *, new_only: bool = False) -> int:
        """Rebuild every pixel-event audience (`new_only`: those never built yet) from the event
        log; returns how many."""
        with self._uow(read_only=True) as uow:
            audiences = uow.audiences.pixel_audiences(new_only=new_only)
        with self._build_lock:
            for audience in audiences:
                assert audience.rule is not None
                now = self._clock()
                uids = self._graph.pixel_visitors(audience.account_id, audience.rule, now)
                with self._uow() as uow:
                    if uow.audiences.get(audience.id, for_update=True) is None:
                        continue  # deleted meanwhile
                    uow.audiences.clear_members(audience.id)
                    uow.audiences.add_members(audience.id, [uid_key(u) for u in uids])
                    self._recount(uow, audience.id, now)
                    uow.commit()
        return len(audiences)

    # --- overlap ---------------------------------------------------------------------------

    def overlap(self, principal: Principal, audience_ids: Sequence[int]) -> OverlapAnswer:
        unique = list(dict.fromkeys(audience_ids))
        if not 2 <= len(unique) <= MAX_OVERLAP_IDS:
            raise ValidationFailed(f"ids must name 2-{MAX_OVERLAP_IDS} different audiences", field="ids")
        with self._uow(read_only=True) as uow:
            found = {a.id: a for a in uow.audiences.of_account(principal.account_id, unique)}
        missing = [i for i in unique if i not in found]
        if missing:
            raise NotFound(f"audience {render_id(missing[0])} not found", field="ids")
        audiences = [found[i] for i in unique]
        empty = sketch_of(())
        return OverlapAnswer(audiences, overlap([a.sketch or empty for a in audiences]))

    # --- lookalikes ------------------------------------------------------------------------

    def request_lookalike(
        self, principal: Principal, seed_id: int, percentage: Decimal, geo: Sequence[str]
    ) -> Audience:
        bp = percentage * 100
        if bp != bp.to_integral_value() or not MIN_PERCENT_BP <= bp <= MAX_PERCENT_BP:
            raise ValidationFailed(
                "similarity_percentage must be 1 to 10, in steps of 0.01", field="similarity_percentage"
            )
        countries = tuple(dict.fromkeys(g.strip().upper() for g in geo))
        unknown = [g for g in countries if g not in COUNTRIES]
        if unknown:
            raise ValidationFailed(f"not ISO 3166-1 alpha-2 country codes: {', '.join(unknown)}", field="geo")
        now = self._clock()
        with self._uow() as uow:
            seed = self._visible(uow, principal, seed_id, field="seed_audience_id")
            shown = f"{percentage.normalize():f}"
            where = ", ".join(countries) or "all countries"
            audience = Audience(
                id=self._ids.next_id(),
                account_id=principal.account_id,
                name=f"Lookalike {shown}% of {seed.name} ({where})"[:255],
                source=AudienceSource.LOOKALIKE_ML,
                status=AudienceStatus.BUILDING,
                size=0,
                matched=0,
                created_at=now,
                updated_at=now,
                lookalike=Lookalike(seed.id, int(bp), countries),
            )
            uow.audiences.add(audience)
            uow.commit()
        return audience

    def build_lookalikes(self) -> int:
        """Build every lookalike waiting to be built; returns how many were tried."""
        with self._uow(read_only=True) as uow:
            waiting = uow.audiences.building_lookalikes()
        with self._build_lock:
            for audience in waiting:
                self._build_lookalike(audience)
        return len(waiting)

    def _build_lookalike(self, audience: Audience) -> None:
        spec = audience.lookalike
        assert spec is not None
        now = self._clock()
        with self._uow(read_only=True) as uow:
            seed = uow.audiences.get(spec.seed_id, audience.account_id)
            seed_users = (
                {u[2:] for u in uow.audiences.users(spec.seed_id) if u.startswith("u:")} if seed else set()
            )
        try:
            if seed is None:
                raise lookalike.LookalikeFailed("the seed audience was deleted")
            rows = self._graph.visitor_features(audience.account_id, now - timedelta(days=FEATURE_DAYS))
            result = lookalike.build(rows, seed_users, spec.geo, spec.percent_bp)
        except lookalike.LookalikeFailed as exc:
            with self._uow() as uow:
                if uow.audiences.get(audience.id, for_update=True) is not None:
                    uow.audiences.update(
                        replace(audience, status=AudienceStatus.FAILED, error=str(exc), updated_at=now)
                    )
                    uow.commit()
            return
        with self._uow() as uow:
            if uow.audiences.get(audience.id, for_update=True) is None:
                return  # deleted while it was being built
            uow.audiences.clear_members(audience.id)
            uow.audiences.add_members(audience.id, [uid_key(u) for u in result.members])
            self._recount(uow, audience.id, now, rebuilt=replace(spec, auc=result.auc))
            uow.commit()

    # --- deletion --------------------------------------------------------------------------

    def delete(self, principal: Principal, audience_id: int) -> Purge:
        """Purge members, identity links, pending jobs and their staged identifiers, and the
        targeting rows; pause the live campaigns that targeted it (included or excluded), with
        the reason on the campaign; keep a record without personal data. Idempotent."""
        now = self._clock()
        with self._uow() as uow:
            audience = uow.audiences.get(audience_id, principal.account_id, for_update=True)
            if audience is None:
                if uow.audiences.purged(principal.account_id, audience_id):
                    return Purge(audience_id, [])
                raise NotFound(f"audience {render_id(audience_id)} not found", field="audience_id")
            reason = f"{AUDIENCE_PAUSE}{render_id(audience_id)} it targeted was deleted"
            paused: list[int] = []
            seen: set[int] = set()
            for subject in uow.audiences.subjects_targeting(audience_id):
                campaign_id = self._campaign_of(uow, subject, audience.account_id)
                if campaign_id is None or campaign_id in seen:
                    continue
                seen.add(campaign_id)
                campaign = uow.campaigns.get(campaign_id, account_id=audience.account_id, for_update=True)
                if campaign is not None and campaign.status is CampaignStatus.ACTIVE:
                    campaign = set_status(campaign, CampaignStatus.PAUSED, now)
                    review = replace(campaign.review, reasons=(reason,))
                    uow.campaigns.update(replace(campaign, review=review))
                    paused.append(campaign_id)
                elif campaign is not None and campaign.status is CampaignStatus.PAUSED:
                    # Already paused: it stays so, but whoever resumes it must see that its
                    # targeting changed (the targeting row goes with the audience).
                    reasons = tuple(dict.fromkeys((*campaign.review.reasons, reason)))
                    uow.campaigns.update(
                        replace(campaign, review=replace(campaign.review, reasons=reasons), updated_at=now)
                    )
            pending = [
                job_id
                for job_id in self._staging.staged()
                if (job := uow.audiences.job(job_id)) is not None and job.audience_id == audience_id
            ]
            counts = uow.audiences.delete(audience_id)
            uow.audiences.add_purge(audience, counts, paused, now)
            uow.commit()
        for job_id in pending:  # their staged hashes go too
            self._staging.remove(job_id)
        self._targeting_changed()
        return Purge(audience_id, paused)

    @staticmethod
    def _campaign_of(uow: UnitOfWork, subject_id: int, account_id: int) -> int | None:
        if uow.campaigns.get(subject_id, account_id=account_id) is not None:
            return subject_id
        item = uow.line_items.get(subject_id, account_id=account_id)
        return item.campaign_id if item is not None else None

    # --- targeting -------------------------------------------------------------------------

    def targets(self, principal: Principal, subject_id: int, *, line_item: bool) -> Targets:
        with self._uow(read_only=True) as uow:
            self._subject(uow, principal, subject_id, line_item=line_item)
            return uow.audiences.targets([subject_id]).get(subject_id, Targets())

    def set_targets(
        self, principal: Principal, subject_id: int, targets: Targets, *, line_item: bool
    ) -> Targets:
        include = tuple(dict.fromkeys(targets.include))
        exclude = tuple(dict.fromkeys(targets.exclude))
        if len(include) + len(exclude) > MAX_TARGETED:
            raise ValidationFailed(f"at most {MAX_TARGETED} audiences in all", field="audiences")
        both = set(include) & set(exclude)
        if both:
            shown = render_id(min(both))
            raise ValidationFailed(
                f"audience {shown} is both included and excluded", field="audiences.exclude"
            )
        with self._uow() as uow:
            account_id = self._subject(uow, principal, subject_id, line_item=line_item)
            known = {a.id for a in uow.audiences.of_account(account_id, [*include, *exclude])}
            for name, ids in (("include", include), ("exclude", exclude)):
                missing = [i for i in ids if i not in known]
                if missing:
                    raise NotFound(f"audience {render_id(missing[0])} not found", field=f"audiences.{name}")
            result = Targets(include, exclude)
            uow.audiences.set_targets(subject_id, account_id, result)
            self._targeting_seen(uow, subject_id, account_id)
            uow.commit()
        self._targeting_changed()
        return result

    def _targeting_seen(self, uow: UnitOfWork, subject_id: int, account_id: int) -> None:
        """Targeting saved again since an audience it had was deleted: the advertiser has seen
        what it targets now, and the campaign may resume (compliance.resume_problems)."""
        campaign_id = self._campaign_of(uow, subject_id, account_id)
        campaign = uow.campaigns.get(campaign_id, account_id=account_id) if campaign_id is not None else None
        if campaign is not None and any(r.startswith(AUDIENCE_PAUSE) for r in campaign.review.reasons):
            kept = tuple(r for r in campaign.review.reasons if not r.startswith(AUDIENCE_PAUSE))
            uow.campaigns.update(
                replace(campaign, review=replace(campaign.review, reasons=kept), updated_at=self._clock())
            )

    @staticmethod
    def _subject(uow: UnitOfWork, principal: Principal, subject_id: int, *, line_item: bool) -> int:
        """The account owning the campaign or line item (the caller's), or NotFound."""
        if line_item:
            item = uow.line_items.get(subject_id, account_id=principal.account_id)
            if item is None or item.user_status is LineItemStatus.ARCHIVED:
                raise NotFound(f"line item {subject_id} not found", field="line_item_id")
            return item.account_id
        campaign = uow.campaigns.get(subject_id, account_id=principal.account_id)
        if campaign is None:
            raise NotFound(f"campaign {idfmt.render('cmp', subject_id)} not found", field="campaign_id")
        return campaign.account_id

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _visible(
        uow: UnitOfWork, principal: Principal, audience_id: int, field: str = "audience_id"
    ) -> Audience:
        audience = uow.audiences.get(audience_id, principal.account_id)
        if audience is None:
            raise NotFound(f"audience {render_id(audience_id)} not found", field=field)
        return audience
