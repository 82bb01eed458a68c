"""Async report exports: the job's life (queued -> running -> completed | failed -> expired) and
its download links. The file itself is written by `jobs/exports.py`.

A download link is `/v2/reports/export/<job id>/download?expires=<unix s>&signature=<hex>`:
an HMAC-SHA256 of `<job id>.<account id>.<expires>` under a key of this installation, valid
for `LINK_TTL`. It works without credentials (like an S3 pre-signed URL, so BI tools can fetch
it), is bound to the tenant (the account id is signed, and credentials of another account
presented with it answer 404), and cannot be stretched (the expiry is signed).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.dates import DateSpan
from auctera.domain.ids import render
from auctera.domain.reports import (
    EXPORT_EVENT_TYPES,
    ExportFormat,
    ExportJob,
    ExportStatus,
    ExportType,
)
from auctera.errors import AucteraError, Forbidden, NotFound, ValidationFailed
from auctera.services.clock import Clock, Ids
from auctera.services.ports import EventReports, UnitOfWorkFactory
from auctera.services.reports import DailyReport, ReportService, check_dates

log = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=15)
MAX_EXPORT_DAYS = 93
# A runner holds a job this long; one that dies mid-way leaves it to be taken again after.
LEASE = timedelta(minutes=30)
MAX_ERROR = 500


class LinkExpired(AucteraError):
    status_code = 403
    code = "link_expired"


class LinkInvalid(AucteraError):
    status_code = 403
    code = "invalid_signature"


class ExportService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        events: EventReports,
        reports: ReportService,
        secret: bytes,
        *,
        retention: timedelta = timedelta(days=7),
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._events = events
        self._reports = reports
        self._key = hashlib.sha256(b"auctera report export links\0" + secret).digest()
        self.retention = retention
        self._wake = wake

    def set_wake(self, wake: Callable[[], None]) -> None:
        """What to call once a job is queued (the in-process runner's nudge)."""
        self._wake = wake

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        principal: Principal,
        type: ExportType,
        file_format: ExportFormat,
        start: date,
        end: date,
        *,
        campaign_id: int | None = None,
    ) -> ExportJob:
        if principal.kind is not AccountKind.ADVERTISER:
            raise Forbidden("exports are of an advertiser account's events")
        check_dates(start_date=start, end_date=end)
        if end < start:
            raise ValidationFailed("end_date must not be before start_date", field="end_date")
        if (end - start).days >= MAX_EXPORT_DAYS:
            raise ValidationFailed(f"an export covers at most {MAX_EXPORT_DAYS} days", field="end_date")
        if campaign_id is not None:
            with self._uow(read_only=True) as uow:
                if uow.campaigns.get(campaign_id, account_id=principal.account_id) is None:
                    raise NotFound(f"campaign {render('cmp', campaign_id)} not found", field="campaign_id")
        now = self._clock()
        job = ExportJob(
            id=self._ids.next_id(),
            account_id=principal.account_id,
            type=type,
            file_format=file_format,
            start=start,
            end=end,
            campaign_id=campaign_id,
            status=ExportStatus.QUEUED,
            progress=0,
            estimated_rows=self._estimate(
                principal.account_id, principal.timezone, type, start, end, campaign_id
            ),
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            uow.exports.add(job)
            uow.commit()
        if self._wake is not None:
            self._wake()
        return job

    def _estimate(
        self, account_id: int, tz: str, type: ExportType, start: date, end: date, campaign_id: int | None
    ) -> int:
        """Rows the export will hold, from the report rollups (cheap), for the time estimate."""
        if type is ExportType.DAILY:
            return (end - start).days + 1
        lo, hi = DateSpan(start, end).utc_bounds(tz)
        rows = self._events.report_totals(
            account_id, (), filters={"campaign_id": campaign_id}, start=lo, end=hi
        )
        if not rows:
            return 0
        t = rows[0].totals
        if type is ExportType.LOG_LEVEL_IMPRESSIONS:
            return t.impressions + t.ivt_blocked
        if type is ExportType.LOG_LEVEL_CLICKS:
            return t.clicks + t.ivt_blocked
        return t.conversions + t.reversals

    def get(self, principal: Principal, job_id: int) -> ExportJob:
        with self._uow(read_only=True) as uow:
            job = uow.exports.get(job_id, account_id=principal.account_id)
        if job is None:
            raise NotFound(f"export {render('exp', job_id)} not found", field="job_id")
        return job

    # --- links ---------------------------------------------------------------------------------

    def link(self, job: ExportJob) -> tuple[int, str]:
        """(expires, signature) of a fresh download link: valid for `LINK_TTL` from now."""
        expires = int((self._clock() + LINK_TTL).timestamp())
        return expires, self._sign(job.id, job.account_id, expires)

    def _sign(self, job_id: int, account_id: int, expires: int) -> str:
        message = f"{job_id}.{account_id}.{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def download(
        self, job_id: int, expires: int | None, signature: str | None, caller: Principal | None
    ) -> ExportJob:
        """The completed job a link points at. Tampered or expired links answer 403; another
        tenant's credentials, or a job gone (expired by retention), 404."""
        with self._uow(read_only=True) as uow:
            job = uow.exports.get(job_id)
        if job is None or (caller is not None and caller.account_id != job.account_id):
            raise NotFound(f"export {render('exp', job_id)} not found", field="job_id")
        if expires is None or signature is None:
            raise LinkInvalid("a download link needs its expires and signature parameters")
        expected = self._sign(job.id, job.account_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkInvalid("this download link is not valid: request a new one by polling the export")
        if self._clock().timestamp() >= expires:
            raise LinkExpired("this download link has expired: poll the export for a new one")
        if job.status is not ExportStatus.COMPLETED or job.file_name is None:
            raise NotFound(f"export {render('exp', job_id)} is no longer available", field="job_id")
        return job

    # --- the runner's side ------------------------------------------------------------------------

    def claim(self) -> ExportJob | None:
        now = self._clock()
        with self._uow() as uow:
            job = uow.exports.claim(now, now + LEASE)
            uow.commit()
        return job

    def window(self, job: ExportJob) -> tuple[datetime, datetime]:
        """The job's UTC bounds: its local days in the account's time zone."""
        return DateSpan(job.start, job.end).utc_bounds(self._timezone(job.account_id))

    def daily(self, job: ExportJob) -> DailyReport:
        return self._reports.daily_of_account(
            job.account_id, self._timezone(job.account_id), job.start, job.end, campaign_id=job.campaign_id
        )

    def _timezone(self, account_id: int) -> str:
        with self._uow(read_only=True) as uow:
            account = uow.accounts.get(account_id)
        return "UTC" if account is None else account.timezone

    def progress(self, job: ExportJob, percent: int) -> ExportJob:
        return self._save(replace(job, progress=percent, updated_at=self._clock()))

    def complete(self, job: ExportJob, file_name: str, rows: int, size_bytes: int) -> ExportJob:
        now = self._clock()
        done = replace(
            job,
            status=ExportStatus.COMPLETED,
            progress=100,
            rows=rows,
            file_name=file_name,
            size_bytes=size_bytes,
            locked_until=None,
            updated_at=now,
            completed_at=now,
        )
        return self._save(done)

    def fail(self, job: ExportJob, reason: str) -> ExportJob:
        failed = replace(
            job,
            status=ExportStatus.FAILED,
            error=reason[:MAX_ERROR],
            locked_until=None,
            updated_at=self._clock(),
        )
        return self._save(failed)

    def expire_old(self, remove: Callable[[ExportJob], None], limit: int = 500) -> int:
        """Remove the files of exports completed more than `retention` ago (`remove` deletes one)
        and mark them expired. Returns how many."""
        now = self._clock()
        with self._uow(read_only=True) as uow:
            old = uow.exports.completed_before(now - self.retention, limit)
        for job in old:
            remove(job)
            self._save(replace(job, status=ExportStatus.EXPIRED, updated_at=now))
        return len(old)

    def _save(self, job: ExportJob) -> ExportJob:
        with self._uow() as uow:
            uow.exports.update(job)
            uow.commit()
        return job


def event_types(job: ExportJob) -> tuple[str, ...]:
    return EXPORT_EVENT_TYPES[job.type]
