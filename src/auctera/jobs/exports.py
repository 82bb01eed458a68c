"""The report export runner: writes each queued export's file, zips it, and removes old ones.

Log-level files are written by the event store (DuckDB COPY from the log: streamed, so memory
stays flat however many rows) into a local scratch directory, zipped in chunks, then handed to
the object store as `<account id>/<job id>-<attempt>.zip` (renamed into `<data dir>/exports/`, or
uploaded in parts to an S3-compatible bucket) and the scratch files removed. A job is completed
only once its object is stored. Several runners (server workers, `auctera exports work`, on one
machine or several sharing the database and the store) claim jobs by a compare-and-set on their
row (services/exports.py).

While a job runs, a thread beside the one doing the work renews its short lease (`RENEW_EVERY`),
so a runner killed mid-way leaves the job to be taken again within `LEASE`, and a live one keeps
it however long the COPY or the upload takes. A runner that finds its lease gone (it stalled
past it, and another runner took the job over) drops its work: it writes nothing to the job, and
deletes its own file if it stored one; each attempt's file has its own name, so it never
replaces the file of the runner that took over.
"""

from __future__ import annotations

import csv
import logging
import shutil
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from auctera.domain.money import from_micros
from auctera.domain.reports import ExportFormat, ExportJob, ExportStatus, ExportType
from auctera.services.exports import RENEW_EVERY, ExportService, event_types
from auctera.services.heartbeat import Heartbeat
from auctera.services.ports import EventReports, ObjectStore, StoredObject
from auctera.services.reports import DailyReport, net_conversions

log = logging.getLogger(__name__)

SWEEP_SECONDS: Final = 5.0

DAILY_COLUMNS: Final = (
    "date",
    "finalized",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "reversals",
    "revenue",
    "payout",
    "ivt_blocked",
    "restated_spend",
    "restated_conversions",
    "restated_revenue",
    "restated_payout",
)


class LeaseLost(Exception):
    """Another runner has taken the job over: this one's attempt is dropped."""


class _Lease:
    """A claimed job as this runner holds it, its lease renewed every `every` seconds by a
    heartbeat thread (the working thread spends minutes in one DuckDB COPY or upload). Every write
    of the job goes through `write`, under a lock, so a renewal and a write never race each other
    with the same lease."""

    def __init__(self, service: ExportService, job: ExportJob, every: float) -> None:
        self.job = job
        self._service = service
        self._lock = threading.Lock()
        self._lost = False
        self._heartbeat = Heartbeat(f"export-lease-{job.id}", every, self._renew)

    def __enter__(self) -> _Lease:
        self._heartbeat.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._heartbeat.__exit__(kind, exc, tb)

    def write(self, change: Callable[[ExportJob], ExportJob | None]) -> ExportJob:
        """`change` applied to the job as held (a service write); LeaseLost when it is not ours."""
        with self._lock:
            if self._lost:
                raise LeaseLost(f"export {self.job.id} was taken over by another runner")
            written = change(self.job)
            if written is None:
                self._lost = True
                raise LeaseLost(f"export {self.job.id} was taken over by another runner")
            self.job = written
            return written

    def _renew(self) -> bool:
        """One beat: False once there is no lease left to renew (the job ended, or was lost)."""
        try:
            # Checked under the write lock: a job finished meanwhile has no lease to renew.
            held = self.write(lambda j: self._service.renew(j) if j.status is ExportStatus.RUNNING else j)
        except LeaseLost:
            log.warning("export %s: lease lost, another runner has taken the job over", self.job.id)
            return False
        return held.status is ExportStatus.RUNNING


class ExportRunner:
    def __init__(
        self,
        service: ExportService,
        events: EventReports,
        store: ObjectStore,
        scratch: Path,
        *,
        renew_every: float = RENEW_EVERY.total_seconds(),
    ) -> None:
        """`store` keeps the finished files; `scratch`, a local directory, the ones being made;
        `renew_every`: seconds between renewals of a running job's lease."""
        self._service = service
        self._events = events
        self._store = store
        self._scratch = scratch
        self._renew_every = renew_every
        self._lock = threading.Lock()  # one job at a time per runner: exports are I/O and CPU heavy

    def file_of(self, job: ExportJob) -> StoredObject | None:
        """A completed job's zip, to stream; None when it is gone."""
        return self._store.read(_key(job))

    def run_pending(self) -> int:
        """Run queued jobs until none is left; returns how many ran. One loop at a time per
        runner: a caller arriving meanwhile waits, then takes what is left (usually nothing)."""
        ran = 0
        with self._lock:
            while (job := self._service.claim()) is not None:
                self._run(job)
                ran += 1
        return ran

    def sweep(self) -> None:
        """A background round: queued jobs, then retention."""
        self.run_pending()
        self._service.expire_old(self.remove)

    def _run(self, job: ExportJob) -> None:
        name = self._service.file_name(job)  # this attempt's own
        # Scratch left by a runner that died on this job (or lost it: its work is dropped anyway).
        for stale in [self._scratch / str(job.id), *self._scratch.glob(f"{job.id}-*")]:
            shutil.rmtree(stale, ignore_errors=True)
        work = self._scratch / name.removesuffix(".zip")
        work.mkdir(parents=True)
        stored = False
        with _Lease(self._service, job, self._renew_every) as lease:
            try:
                lease.write(lambda j: self._service.progress(j, 5))
                rows, archive = self._write(job, work, name)
                lease.write(lambda j: self._service.progress(j, 80))
                size = self._store.put_file(_key(job, name), archive)
                stored = True
                lease.write(lambda j: self._service.complete(j, name, rows, size))
            except LeaseLost:
                log.warning("export %s: taken over by another runner, this attempt dropped", job.id)
                if stored:  # never referenced by the job: the runner that took over has its own
                    self._drop(_key(job, name))
            except Exception as exc:
                log.exception("export %s failed", job.id)
                reason = f"{type(exc).__name__}: {exc}"
                try:
                    lease.write(lambda j: self._service.fail(j, reason))
                except LeaseLost:
                    log.warning("export %s: taken over by another runner, its failure not recorded", job.id)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _drop(self, key: str) -> None:
        try:
            self._store.delete(key)
        except Exception:  # left behind, referenced by no job: harmless, and the next job runs
            log.exception("export file %s could not be deleted", key)

    def _write(self, job: ExportJob, work: Path, name: str) -> tuple[int, Path]:
        """The job's file, zipped in `work` as `name`: (its rows, the zip)."""
        inner = f"{job.type.value}_{job.start.isoformat()}_{job.end.isoformat()}.{job.file_format.value}"
        written = work / inner
        if job.type is ExportType.DAILY:
            rows = _write_daily(self._service.daily(job), written, job.file_format)
        else:
            start, end = self._service.window(job)
            rows = self._events.export_events(
                job.account_id,
                event_types(job),
                start,
                end,
                written,
                job.file_format.value,
                campaign_id=job.campaign_id,
            )
        archive = work / name
        # Parquet is compressed already (zstd): stored as is; CSV deflated.
        method = zipfile.ZIP_STORED if job.file_format is ExportFormat.PARQUET else zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(archive, "w", compression=method, allowZip64=True) as out:
            out.write(written, arcname=inner)  # copied in chunks: flat memory
        return rows, archive

    def remove(self, job: ExportJob) -> None:
        """Delete a job's file (retention). A store that cannot be reached raises, so the job is
        not marked expired and the next round tries again."""
        if job.file_name is not None:
            self._store.delete(_key(job))


def _key(job: ExportJob, name: str | None = None) -> str:
    file_name = name or job.file_name
    assert file_name is not None
    return f"{job.account_id}/{file_name}"


def _write_daily(report: DailyReport, target: Path, file_format: ExportFormat) -> int:
    """The daily report's rows (a few hundred at most): money as exact decimals."""
    rows = []
    for r in report.rows:
        t = r.totals
        delta = r.restatement.delta if r.restatement is not None else None
        rows.append(
            {
                "date": r.day,
                "finalized": r.finalized,
                "spend": from_micros(t.cost_micros),
                "impressions": t.impressions,
                "clicks": t.clicks,
                "conversions": net_conversions(t),
                "reversals": t.reversals,
                "revenue": from_micros(t.revenue_micros),
                "payout": from_micros(t.payout_micros),
                "ivt_blocked": t.ivt_blocked,
                "restated_spend": None if delta is None else from_micros(delta.cost_micros),
                "restated_conversions": None if delta is None else net_conversions(delta),
                "restated_revenue": None if delta is None else from_micros(delta.revenue_micros),
                "restated_payout": None if delta is None else from_micros(delta.payout_micros),
            }
        )
    if file_format is ExportFormat.CSV:
        with open(target, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=DAILY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        money = pa.decimal128(38, 6)
        schema = pa.schema(
            [
                ("date", pa.date32()),
                ("finalized", pa.bool_()),
                ("spend", money),
                ("impressions", pa.int64()),
                ("clicks", pa.int64()),
                ("conversions", pa.int64()),
                ("reversals", pa.int64()),
                ("revenue", money),
                ("payout", money),
                ("ivt_blocked", pa.int64()),
                ("restated_spend", money),
                ("restated_conversions", pa.int64()),
                ("restated_revenue", money),
                ("restated_payout", money),
            ]
        )
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), target, compression="zstd")
    return len(rows)
