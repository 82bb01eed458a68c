"""Report export jobs (services/exports.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from auctera.domain.reports import ExportFormat, ExportJob, ExportStatus, ExportType
from auctera.store.tables import export_jobs


def _job(row: Any) -> ExportJob:
    return ExportJob(
        id=row.id,
        account_id=row.account_id,
        type=ExportType(row.type),
        file_format=ExportFormat(row.file_format),
        start=row.start_date,
        end=row.end_date,
        campaign_id=row.campaign_id,
        status=ExportStatus(row.status),
        progress=row.progress,
        estimated_rows=row.estimated_rows,
        created_at=row.created_at,
        updated_at=row.updated_at,
        rows=row.rows,
        file_name=row.file_name,
        size_bytes=row.size_bytes,
        error=row.error,
        locked_until=row.locked_until,
        completed_at=row.completed_at,
    )


def _values(job: ExportJob) -> dict[str, Any]:
    return {
        "account_id": job.account_id,
        "type": job.type.value,
        "file_format": job.file_format.value,
        "start_date": job.start,
        "end_date": job.end,
        "campaign_id": job.campaign_id,
        "status": job.status.value,
        "progress": job.progress,
        "estimated_rows": job.estimated_rows,
        "rows": job.rows,
        "file_name": job.file_name,
        "size_bytes": job.size_bytes,
        "error": job.error,
        "locked_until": job.locked_until,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "completed_at": job.completed_at,
    }


class SqlExportRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, job: ExportJob) -> None:
        self._conn.execute(insert(export_jobs).values(id=job.id, **_values(job)))

    def get(self, job_id: int, *, account_id: int | None = None) -> ExportJob | None:
        stmt = select(export_jobs).where(export_jobs.c.id == job_id)
        if account_id is not None:
            stmt = stmt.where(export_jobs.c.account_id == account_id)
        row = self._conn.execute(stmt).first()
        return _job(row) if row else None

    def update(self, job: ExportJob) -> None:
        self._conn.execute(update(export_jobs).where(export_jobs.c.id == job.id).values(**_values(job)))

    def update_held(self, job: ExportJob, held_until: datetime) -> bool:
        """A compare-and-set on the lease: a runner taking a job over writes a later
        `locked_until`, so the one that lost it matches no row."""
        held = and_(
            export_jobs.c.id == job.id,
            export_jobs.c.status == ExportStatus.RUNNING.value,
            export_jobs.c.locked_until == held_until,
        )
        result = self._conn.execute(update(export_jobs).where(held).values(**_values(job)))
        return result.rowcount == 1

    def claim(self, now: datetime, lease_until: datetime) -> ExportJob | None:
        """Take the oldest queued job, or a running one whose runner's lease ran out (it died),
        for this runner until `lease_until`. A compare-and-set on the row: two runners never
        both take one job."""
        takeable = or_(
            export_jobs.c.status == ExportStatus.QUEUED.value,
            and_(export_jobs.c.status == ExportStatus.RUNNING.value, export_jobs.c.locked_until < now),
        )
        for row in self._conn.execute(
            select(export_jobs).where(takeable).order_by(export_jobs.c.created_at, export_jobs.c.id).limit(8)
        ):
            taken = self._conn.execute(
                update(export_jobs)
                .where(
                    export_jobs.c.id == row.id,
                    export_jobs.c.status == row.status,
                    or_(export_jobs.c.locked_until.is_(None), export_jobs.c.locked_until == row.locked_until),
                )
                .values(status=ExportStatus.RUNNING.value, locked_until=lease_until, updated_at=now)
            )
            if taken.rowcount == 1:
                return self.get(row.id)
        return None

    def completed_before(self, before: datetime, limit: int) -> list[ExportJob]:
        stmt = (
            select(export_jobs)
            .where(export_jobs.c.status == ExportStatus.COMPLETED.value, export_jobs.c.completed_at < before)
            .order_by(export_jobs.c.completed_at)
            .limit(limit)
        )
        return [_job(row) for row in self._conn.execute(stmt)]

    def delete_finished_before(self, before: datetime) -> int:
        """Drop the rows of expired and failed jobs last touched before `before`."""
        finished = export_jobs.c.status.in_([ExportStatus.EXPIRED.value, ExportStatus.FAILED.value])
        result = self._conn.execute(delete(export_jobs).where(finished, export_jobs.c.updated_at < before))
        return int(result.rowcount)
