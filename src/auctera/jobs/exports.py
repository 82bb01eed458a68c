"""The report export runner: writes each queued export's file, zips it, and removes old ones.

Log-level files are written by the event store (DuckDB COPY from the log: streamed, so memory
stays flat however many rows) into a local scratch directory, zipped in chunks, then handed to
the object store as `<account id>/<job id>.zip` (renamed into `<data dir>/exports/`, or uploaded
in parts to an S3-compatible bucket) and the scratch files removed. A job is completed only once
its object is stored: a runner killed mid-way leaves it running under its lease, to be taken
again. Several runners (server workers, `auctera exports work`, on one machine or several
sharing the database and the store) claim jobs by a compare-and-set on their row
(services/exports.py).
"""

from __future__ import annotations

import csv
import logging
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from auctera.domain.money import from_micros
from auctera.domain.reports import ExportFormat, ExportJob, ExportType
from auctera.services.exports import ExportService, event_types
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


class ExportRunner:
    def __init__(
        self, service: ExportService, events: EventReports, store: ObjectStore, scratch: Path
    ) -> None:
        """`store` keeps the finished files; `scratch`, a local directory, the ones being made."""
        self._service = service
        self._events = events
        self._store = store
        self._scratch = scratch
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
        work = self._scratch / str(job.id)
        shutil.rmtree(work, ignore_errors=True)  # left by a runner that died on this job
        work.mkdir(parents=True)
        try:
            job = self._service.progress(job, 5)
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
            job = self._service.progress(job, 80)
            archive = work / f"{job.id}.zip"
            # Parquet is compressed already (zstd): stored as is; CSV deflated.
            method = zipfile.ZIP_STORED if job.file_format is ExportFormat.PARQUET else zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(archive, "w", compression=method, allowZip64=True) as out:
                out.write(written, arcname=inner)  # copied in chunks: flat memory
            name = f"{job.id}.zip"
            size = self._store.put_file(_key(job, name), archive)
            self._service.complete(job, name, rows, size)
        except Exception as exc:
            log.exception("export %s failed", job.id)
            self._service.fail(job, f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

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
