"""Report exports on the S3 backend, through the real app and a real S3 API server: the zip goes
to the bucket, our signed link streams it back (expiry 403, another tenant 404), retention
deletes the object, a store that refuses fails the job with a reason, and a runner killed
mid-upload leaves no completed job without its object."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from api.conftest import app_at, error
from api.test_report_exports import NOW, Advertiser, clicks, expected_row
from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.reports import ExportFormat, ExportType
from auctera.services.exports import LEASE
from auctera.services.ports import StorageUnavailable
from support.clock import FrozenClock
from support.s3 import S3Server

from .conftest import s3_options


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock, s3: S3Server, bucket: str) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, "http://trk.example.com", **s3_options(s3, bucket)) as application:
        yield application


@pytest.fixture
def acme(app: RootApp) -> Iterator[Advertiser]:
    with TestClient(app) as client:
        yield Advertiser(app, client)


def download(acme: Advertiser, url: str) -> tuple[str, bytes]:
    response = acme.client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert int(response.headers["content-length"]) == len(response.content)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        [name] = archive.namelist()
        return name, archive.read(name)


def object_key(acme: Advertiser, job_id: str) -> str:
    """The completed job's object: `<job id>-<attempt>.zip`, the name its runner stored it under."""
    with acme.app.container.uow(read_only=True) as uow:
        job = uow.exports.get(idfmt.parse("exp", job_id) or 0, account_id=acme.account.id)
    assert job is not None and job.file_name is not None and job.file_name.startswith(f"{job.id}-")
    return f"auctera/exports/{acme.account.id}/{job.file_name}"


def test_an_export_is_kept_in_the_bucket_and_streamed_through_our_link(
    acme: Advertiser, app: RootApp, s3: S3Server, bucket: str
) -> None:
    events = clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 7)
    parquet_job = acme.export(type="log_level_clicks", date="2026-10-01", format="parquet")
    csv_job = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    assert s3.keys(bucket) == sorted([object_key(acme, parquet_job), object_key(acme, csv_job)])
    assert not list(app.container.settings.exports_dir.rglob("*.zip"))  # nothing left locally

    status = acme.poll(parquet_job)
    assert status["status"] == "completed" and status["rows"] == 7
    assert status["size_bytes"] == len(s3.body(bucket, object_key(acme, parquet_job)))
    name, data = download(acme, status["download_url"])
    assert name == "log_level_clicks_2026-10-01_2026-10-01.parquet"
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    assert sorted(rows, key=lambda r: r["event_id"]) == [expected_row(e) for e in events]

    _, data = download(acme, acme.poll(csv_job)["download_url"])
    rows = sorted(csv.DictReader(io.StringIO(data.decode())), key=lambda r: int(r["event_id"]))
    assert [int(r["event_id"]) for r in rows] == [e.id for e in events]


def test_links_expire_and_are_bound_to_their_tenant(
    acme: Advertiser, app: RootApp, clock: FrozenClock
) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    url = acme.poll(job_id)["download_url"]
    other = Advertiser(app, acme.client, "Other")
    error(acme.client.get(url, headers=other.headers), 404, "job_id")
    error(acme.client.get(f"/v2/reports/export/{job_id}", headers=other.headers), 404, "job_id")
    error(acme.client.get(urlsplit(url).path), 403)  # no signature
    clock.now += timedelta(minutes=15)
    assert error(acme.client.get(url), 403)["code"] == "link_expired"
    download(acme, acme.poll(job_id)["download_url"])  # a fresh link works


def test_retention_deletes_the_object(
    acme: Advertiser, app: RootApp, clock: FrozenClock, s3: S3Server, bucket: str
) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    url = acme.poll(job_id)["download_url"]
    assert s3.keys(bucket) == [object_key(acme, job_id)]
    clock.now += timedelta(days=7, seconds=1)
    app.container.export_runner.sweep()
    assert s3.keys(bucket) == []
    assert acme.poll(job_id)["status"] == "expired"
    clock.now = NOW
    error(acme.client.get(url), 404, "job_id")


def test_retention_waits_for_a_store_that_cannot_be_reached(
    acme: Advertiser, tmp_path: Path, clock: FrozenClock, s3: S3Server, bucket: str
) -> None:
    """A runner whose store refuses (here: a second server configured with a wrong bucket) marks
    nothing expired: the object and the job stay until a round that can delete it."""
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    clock.now += timedelta(days=7, seconds=1)
    broken = s3_options(s3, "no-such-bucket")
    with (
        app_at(tmp_path, clock, "http://trk.example.com", **broken) as other,
        pytest.raises(StorageUnavailable),
    ):
        other.container.export_runner.sweep()
    assert acme.poll(job_id)["status"] == "completed" and s3.keys(bucket) == [object_key(acme, job_id)]
    acme.app.container.export_runner.sweep()
    assert acme.poll(job_id)["status"] == "expired" and s3.keys(bucket) == []


def test_a_store_that_refuses_fails_the_job_with_a_reason(
    tmp_path: Path, clock: FrozenClock, s3: S3Server
) -> None:
    options = s3_options(s3, "no-such-bucket")
    with app_at(tmp_path, clock, "http://trk.example.com", **options) as app, TestClient(app) as client:
        acme = Advertiser(app, client)
        clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
        status = acme.poll(acme.export(type="log_level_clicks", date="2026-10-01", format="csv"))
        assert status["status"] == "failed" and "download_url" not in status
        assert status["error"].startswith("StorageUnavailable: the object store could not store")
        assert "NoSuchBucket" in status["error"]
        assert not list(app.container.settings.exports_dir.rglob("*.zip"))


def test_a_runner_killed_mid_upload_leaves_no_completed_job_without_its_object(
    acme: Advertiser, app: RootApp, clock: FrozenClock, s3: S3Server, bucket: str
) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 3)
    service = app.container.exports
    caller = app.container.auth.authenticate(acme.headers["Authorization"].removeprefix("Bearer "))
    day = date(2026, 10, 1)
    job = service.request(caller, ExportType.LOG_LEVEL_CLICKS, ExportFormat.CSV, day, day)
    assert service.claim() is not None  # a runner takes it, starts its upload, and is killed:
    key = f"auctera/exports/{acme.account.id}/{job.id}-1.zip"
    upload = s3.client.create_multipart_upload(Bucket=bucket, Key=key)
    s3.client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 5 * 2**20
    )
    status = acme.poll(idfmt.render("exp", job.id))
    assert status["status"] == "processing" and "download_url" not in status
    assert s3.keys(bucket) == []  # parts of an unfinished upload are no object
    clock.now += LEASE + timedelta(seconds=1)  # the lease runs out: another runner takes the job
    assert app.container.export_runner.run_pending() == 1
    status = acme.poll(idfmt.render("exp", job.id))
    assert status["status"] == "completed" and s3.keys(bucket) == [object_key(acme, status["job_id"])]
    _, data = download(acme, status["download_url"])
    assert len(list(csv.DictReader(io.StringIO(data.decode())))) == 3
