"""Async report exports: the job's life (queued -> running -> completed | failed -> expired) and
its download links. The file itself is written by `jobs/exports.py`.

A download link is `/v2/reports/export/<job id>/download?expires=<unix s>&signature=<hex>`:
an HMAC-SHA256 of `<job id>.<account id>.<expires>` under a key of this installation, valid
for `LINK_TTL`. It works without credentials (like an S3 pre-signed URL, so BI tools can fetch
it), is bound to the tenant (the account id is signed, and credentials of another account
presented with it answer 404), and cannot be stretched (the expiry is signed).

A runner holds a running job by a short lease (`locked_until`, `LEASE` ahead) that it renews
every `RENEW_EVERY` while it works, so a live export of any length keeps its job and a crashed
runner's job is taken again once the lease runs out, about a minute later. The lease's expiry is
also its holder's token: every write of a running job is conditioned on it (`update_held`), and a
runner taking the job over writes a later one, so a runner whose lease ran out can no longer
change the job: its writes answer None, and it drops its work.
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
# A runner holds a job this long past its last renewal: a crashed runner's job is taken again
# this long after the crash. Renewed every quarter of it, so a renewal or two may fail (a busy
# database) without losing the job.
LEASE = timedelta(seconds=60)
RENEW_EVERY = LEASE / 4
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

    def file_name(self, job: ExportJob) -> str:
        """The name one attempt at the job stores its file under: its own, so a runner that lost
        the job (and does not know yet) cannot replace the file of the one that took it over."""
        return f"{job.id}-{self._ids.next_id()}.zip"

    # Each write below is of a job the caller holds (`claim`, then each write's result): it
    # answers the job as written, or None when the lease is no longer the caller's (another
    # runner took the job over), and then changes nothing.

    def renew(self, job: ExportJob) -> ExportJob | None:
        return self._write_held(job, replace(job, locked_until=self._clock() + LEASE))

    def progress(self, job: ExportJob, percent: int) -> ExportJob | None:
        return self._write_held(job, replace(job, progress=percent, updated_at=self._clock()))

    def complete(self, job: ExportJob, file_name: str, rows: int, size_bytes: int) -> ExportJob | None:
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
        return self._write_held(job, done)

    def fail(self, job: ExportJob, reason: str) -> ExportJob | None:
        failed = replace(
            job,
            status=ExportStatus.FAILED,
            error=reason[:MAX_ERROR],
            locked_until=None,
            updated_at=self._clock(),
        )
        return self._write_held(job, failed)

    def _write_held(self, held: ExportJob, job: ExportJob) -> ExportJob | None:
        if held.status is not ExportStatus.RUNNING or held.locked_until is None:
            return None  # not a claimed job (or one already finished): nothing to hold
        with self._uow() as uow:
            written = uow.exports.update_held(job, held.locked_until)
            uow.commit()
        return job if written else None

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
