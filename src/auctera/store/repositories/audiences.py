"""Audiences, their members and identity links, sync jobs, targeting, purge records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Select,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auctera.domain.audiences import (
    Audience,
    AudienceSource,
    AudienceStatus,
    JobState,
    Lookalike,
    PixelRule,
    SyncAction,
    SyncJob,
    Targets,
)
from auctera.services.ports import PurgeCounts
from auctera.store.tables import (
    audience_links,
    audience_members,
    audience_purges,
    audience_sync_chunks,
    audience_sync_jobs,
    audience_targets,
    audiences,
)

BATCH = 5_000  # rows per statement: far below SQLite's and psycopg's parameter limits
_OPEN = (JobState.QUEUED.value, JobState.RUNNING.value)
# Built once: every GET of a campaign or line item asks for its audiences, and building the
# statement cost more than running it.
_TARGETS = (
    select(audience_targets.c.subject_id, audience_targets.c.audience_id, audience_targets.c.exclude)
    .where(audience_targets.c.subject_id.in_(bindparam("ids", expanding=True)))
    .order_by(audience_targets.c.subject_id, audience_targets.c.audience_id)
)


def _due_jobs(now: datetime) -> Select[tuple[int]]:
    """Ids of the jobs to work on: queued, or running under a lease that ran out."""
    t = audience_sync_jobs
    return select(t.c.id).where(
        t.c.state.in_(_OPEN), or_(t.c.locked_until.is_(None), t.c.locked_until <= now)
    )


def _audience(row: Any) -> Audience:
    lookalike = None
    if row.lookalike_seed_id is not None:
        lookalike = Lookalike(
            row.lookalike_seed_id, row.lookalike_percent_bp, tuple(row.lookalike_geo or ()), row.lookalike_auc
        )
    return Audience(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        source=AudienceSource(row.source),
        status=AudienceStatus(row.status),
        size=row.size,
        matched=row.matched,
        created_at=row.created_at,
        updated_at=row.updated_at,
        rule=PixelRule.from_json(row.rule) if row.rule else None,
        lookalike=lookalike,
        sketch=bytes(row.sketch) if row.sketch is not None else None,
        error=row.error,
        refreshed_at=row.refreshed_at,
    )


def _values(a: Audience) -> dict[str, Any]:
    la = a.lookalike
    return {
        "id": a.id,
        "account_id": a.account_id,
        "name": a.name,
        "source": a.source.value,
        "status": a.status.value,
        "rule": a.rule.as_json() if a.rule else None,
        "lookalike_seed_id": la.seed_id if la else None,
        "lookalike_percent_bp": la.percent_bp if la else None,
        "lookalike_geo": list(la.geo) if la else None,
        "lookalike_auc": la.auc if la else None,
        "size": a.size,
        "matched": a.matched,
        "sketch": a.sketch,
        "error": a.error,
        "refreshed_at": a.refreshed_at,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def _job(row: Any) -> SyncJob:
    return SyncJob(
        id=row.id,
        account_id=row.account_id,
        audience_id=row.audience_id,
        job_key=row.job_key,
        action=SyncAction(row.action),
        state=JobState(row.state),
        received=row.received,
        malformed=row.malformed,
        malformed_samples=tuple(row.malformed_samples),
        chunks=row.chunks,
        applied=row.applied,
        processed=row.processed,
        matched=row.matched,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        error=row.error,
    )


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


class SqlAudienceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert

    # --- audiences -------------------------------------------------------------------------

    def add(self, audience: Audience) -> None:
        self._conn.execute(insert(audiences).values(**_values(audience)))

    def get(
        self, audience_id: int, account_id: int | None = None, *, for_update: bool = False
    ) -> Audience | None:
        q = select(audiences).where(audiences.c.id == audience_id)
        if account_id is not None:
            q = q.where(audiences.c.account_id == account_id)
        if for_update and self._conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self._conn.execute(q).first()
        return _audience(row) if row else None

    def page(self, account_id: int, before_id: int | None, limit: int) -> list[Audience]:
        q = select(audiences).where(audiences.c.account_id == account_id)
        if before_id is not None:
            q = q.where(audiences.c.id < before_id)
        q = q.order_by(audiences.c.id.desc()).limit(limit)
        return [_audience(r) for r in self._conn.execute(q)]

    def of_account(self, account_id: int, ids: Sequence[int]) -> list[Audience]:
        q = select(audiences).where(audiences.c.account_id == account_id, audiences.c.id.in_(list(ids)))
        return [_audience(r) for r in self._conn.execute(q)]

    def update(self, audience: Audience) -> None:
        values = _values(audience)
        del values["id"], values["account_id"], values["created_at"]
        self._conn.execute(update(audiences).where(audiences.c.id == audience.id).values(**values))

    def delete(self, audience_id: int) -> PurgeCounts:
        c = self._conn
        members = c.execute(delete(audience_members).where(audience_members.c.audience_id == audience_id))
        links = c.execute(delete(audience_links).where(audience_links.c.audience_id == audience_id))
        job_ids = select(audience_sync_jobs.c.id).where(audience_sync_jobs.c.audience_id == audience_id)
        c.execute(delete(audience_sync_chunks).where(audience_sync_chunks.c.job_id.in_(job_ids)))
        jobs = c.execute(delete(audience_sync_jobs).where(audience_sync_jobs.c.audience_id == audience_id))
        c.execute(delete(audience_targets).where(audience_targets.c.audience_id == audience_id))
        c.execute(delete(audiences).where(audiences.c.id == audience_id))
        return PurgeCounts(members.rowcount, links.rowcount, jobs.rowcount)

    def add_purge(self, audience: Audience, counts: PurgeCounts, paused: Sequence[int], at: datetime) -> None:
        self._conn.execute(
            insert(audience_purges).values(
                audience_id=audience.id,
                account_id=audience.account_id,
                source=audience.source.value,
                members_purged=counts.members,
                links_purged=counts.links,
                jobs_purged=counts.jobs,
                paused_campaigns=[str(i) for i in paused],
                purged_at=at,
            )
        )

    def purged(self, account_id: int, audience_id: int) -> bool:
        q = select(literal(1)).where(
            audience_purges.c.audience_id == audience_id, audience_purges.c.account_id == account_id
        )
        return self._conn.execute(q).first() is not None

    def pixel_audiences(self, *, new_only: bool = False) -> list[Audience]:
        q = select(audiences).where(audiences.c.source == AudienceSource.PIXEL_EVENT.value)
        if new_only:
            q = q.where(audiences.c.refreshed_at.is_(None))
        return [_audience(r) for r in self._conn.execute(q.order_by(audiences.c.id))]

    def building_lookalikes(self) -> list[Audience]:
        q = select(audiences).where(
            audiences.c.source == AudienceSource.LOOKALIKE_ML.value,
            audiences.c.status == AudienceStatus.BUILDING.value,
        )
        return [_audience(r) for r in self._conn.execute(q.order_by(audiences.c.id))]

    # --- members and links -----------------------------------------------------------------

    def add_members(self, audience_id: int, keys: Sequence[str]) -> None:
        # Sorted, so the two indexes grow in key order; one array parameter per statement, so
        # no per-row binding: both are several times faster than an executemany of random keys.
        for part in _batches(sorted(keys)):
            self._conn.execute(self._add_members, {"audience_id": audience_id, "keys": self._array(part)})

    def remove_members(self, audience_id: int, keys: Sequence[str]) -> None:
        for part in _batches(sorted(keys)):
            params = {"audience_id": audience_id, "keys": self._array(part)}
            for table in ("audience_members", "audience_links"):
                self._conn.execute(
                    text(f"DELETE FROM {table} WHERE audience_id = :audience_id AND key IN {self._unnest}"),
                    params,
                )

    @property
    def _unnest(self) -> str:
        if self._conn.dialect.name == "postgresql":
            return "(SELECT unnest(CAST(:keys AS text[])))"
        return "(SELECT value FROM json_each(:keys))"

    @property
    def _add_members(self) -> TextClause:
        # `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
        source = (
            "SELECT :audience_id, unnest(CAST(:keys AS text[]))"
            if self._conn.dialect.name == "postgresql"
            else "SELECT :audience_id, value FROM json_each(:keys) WHERE true"
        )
        return text(f"INSERT INTO audience_members (audience_id, key) {source} ON CONFLICT DO NOTHING")

    def _array(self, keys: Sequence[str]) -> Any:
        return list(keys) if self._conn.dialect.name == "postgresql" else orjson.dumps(list(keys)).decode()

    def clear_members(self, audience_id: int) -> None:
        for table in (audience_members, audience_links):
            self._conn.execute(delete(table).where(table.c.audience_id == audience_id))

    def add_links(self, audience_id: int, links: Sequence[tuple[str, str]]) -> None:
        for part in _batches(links):
            rows = [{"audience_id": audience_id, "key": k, "uid": u} for k, u in part]
            self._conn.execute(self._insert(audience_links).on_conflict_do_nothing(), rows)

    def users(self, audience_id: int) -> Iterable[str]:
        m, link = audience_members, audience_links
        q = (
            select(m.c.key, link.c.uid)
            .select_from(
                m.outerjoin(link, and_(link.c.audience_id == m.c.audience_id, link.c.key == m.c.key))
            )
            .where(m.c.audience_id == audience_id)
        )
        for key, uid in self._conn.execute(q):
            yield key if uid is None else "u:" + uid

    def counts(self, audience_id: int) -> tuple[int, int]:
        m, link = audience_members, audience_links
        size = self._conn.execute(select(func.count()).where(m.c.audience_id == audience_id)).scalar_one()
        linked = self._conn.execute(
            select(func.count(func.distinct(link.c.key))).where(link.c.audience_id == audience_id)
        ).scalar_one()
        visitors = self._conn.execute(
            select(func.count()).where(m.c.audience_id == audience_id, m.c.key.like("u:%"))
        ).scalar_one()
        return int(size), int(linked) + int(visitors)

    def memberships(self, keys: Sequence[str], uid: str | None) -> frozenset[int]:
        found: set[int] = set()
        if keys:
            q = select(audience_members.c.audience_id).where(audience_members.c.key.in_(list(keys)))
            found.update(self._conn.execute(q).scalars())
        if uid:
            q = select(audience_links.c.audience_id).where(audience_links.c.uid == uid)
            found.update(self._conn.execute(q).scalars())
        return frozenset(found)

    # --- sync jobs -------------------------------------------------------------------------

    def add_job(self, job: SyncJob, chunks: Iterable[str]) -> bool:
        # ON CONFLICT DO NOTHING: a concurrent call with the same job key that committed first
        # makes this insert a no-op (PostgreSQL waits for it, then skips), not a UniqueViolation
        # aborting the transaction; the caller reads that call's job instead.
        added = self._conn.execute(
            self._insert(audience_sync_jobs)
            .values(
                id=job.id,
                account_id=job.account_id,
                audience_id=job.audience_id,
                job_key=job.job_key,
                action=job.action.value,
                state=job.state.value,
                received=job.received,
                malformed=job.malformed,
                malformed_samples=list(job.malformed_samples),
                chunks=job.chunks,
                applied=job.applied,
                processed=job.processed,
                matched=job.matched,
                created_at=job.created_at,
                updated_at=job.updated_at,
            )
            .on_conflict_do_nothing()
            .returning(audience_sync_jobs.c.id)
        ).first()
        if added is None:
            return False
        for seq, keys in enumerate(chunks):
            self._conn.execute(insert(audience_sync_chunks).values(job_id=job.id, seq=seq, member_keys=keys))
        return True

    def job(self, job_id: int, account_id: int | None = None) -> SyncJob | None:
        q = select(audience_sync_jobs).where(audience_sync_jobs.c.id == job_id)
        if account_id is not None:
            q = q.where(audience_sync_jobs.c.account_id == account_id)
        row = self._conn.execute(q).first()
        return _job(row) if row else None

    def job_by_key(self, account_id: int, job_key: str) -> SyncJob | None:
        t = audience_sync_jobs
        row = self._conn.execute(
            select(t).where(t.c.account_id == account_id, t.c.job_key == job_key)
        ).first()
        return _job(row) if row else None

    def has_due_job(self, now: datetime) -> bool:
        return self._conn.execute(_due_jobs(now).limit(1)).first() is not None

    def claim_job(self, now: datetime, lease: timedelta, token: int) -> SyncJob | None:
        t = audience_sync_jobs
        q = _due_jobs(now).order_by(t.c.id).limit(1)
        if self._conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        job_id = self._conn.execute(q).scalar()
        if job_id is None:
            return None
        self._conn.execute(
            update(t)
            .where(t.c.id == job_id)
            .values(state=JobState.RUNNING.value, locked_until=now + lease, lease_token=token)
        )
        return self.job(job_id)

    def chunk(self, job_id: int, seq: int) -> list[str]:
        t = audience_sync_chunks
        keys = self._conn.execute(
            select(t.c.member_keys).where(t.c.job_id == job_id, t.c.seq == seq)
        ).scalar()
        return keys.split("\n") if keys else []

    def update_job(self, job: SyncJob, token: int, lease_until: datetime | None) -> bool:
        t = audience_sync_jobs
        done = job.state in (JobState.DONE, JobState.FAILED)
        result = self._conn.execute(
            update(t)
            .where(t.c.id == job.id, t.c.lease_token == token)
            .values(
                state=job.state.value,
                applied=job.applied,
                processed=job.processed,
                matched=job.matched,
                error=job.error,
                updated_at=job.updated_at,
                finished_at=job.finished_at,
                locked_until=None if done else lease_until,
                lease_token=None if done else token,
            )
        )
        if result.rowcount and done:  # staged identifiers are not kept past their job
            self._conn.execute(delete(audience_sync_chunks).where(audience_sync_chunks.c.job_id == job.id))
        return bool(result.rowcount)

    def open_jobs(self) -> int:
        t = audience_sync_jobs
        return int(self._conn.execute(select(func.count()).where(t.c.state.in_(_OPEN))).scalar_one())

    # --- targeting -------------------------------------------------------------------------

    def set_targets(self, subject_id: int, account_id: int, targets: Targets) -> None:
        t = audience_targets
        self._conn.execute(delete(t).where(t.c.subject_id == subject_id))
        rows = [
            {"subject_id": subject_id, "audience_id": a, "account_id": account_id, "exclude": exclude}
            for ids, exclude in ((targets.include, False), (targets.exclude, True))
            for a in ids
        ]
        if rows:
            self._conn.execute(insert(t), rows)

    def targets(self, subject_ids: Sequence[int]) -> dict[int, Targets]:
        if not subject_ids:
            return {}
        found: dict[int, tuple[list[int], list[int]]] = {}
        for subject, audience, exclude in self._conn.execute(_TARGETS, {"ids": list(subject_ids)}):
            found.setdefault(subject, ([], []))[1 if exclude else 0].append(audience)
        return {s: Targets(tuple(inc), tuple(exc)) for s, (inc, exc) in found.items()}

    def subjects_targeting(self, audience_id: int) -> list[int]:
        t = audience_targets
        # Included or excluded: losing an exclusion widens the reach as much as losing an inclusion.
        q = select(t.c.subject_id).where(t.c.audience_id == audience_id).distinct()
        return list(self._conn.execute(q.order_by(t.c.subject_id)).scalars())
