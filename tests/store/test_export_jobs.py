"""The export job table (store/repositories/exports.py) on both backends: runners racing for
jobs each take a job once (a compare-and-set on the row), a dead runner's lease runs out, and a
runner whose job was taken over can no longer write it."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from auctera.domain.ids import IdGenerator
from auctera.domain.reports import ExportFormat, ExportJob, ExportStatus, ExportType
from auctera.services.accounts import AccountService
from auctera.store.uow import SqlUnitOfWorkFactory

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _jobs(uow_factory: SqlUnitOfWorkFactory, count: int) -> list[ExportJob]:
    ids = IdGenerator(7, lambda: int(NOW.timestamp() * 1000))
    account = (
        AccountService(uow_factory, ids, lambda: NOW, rotation_grace=timedelta(0))
        .create_account("Acme", "advertiser")
        .account
    )
    jobs = [
        ExportJob(ids.next_id(), account.id, ExportType.DAILY, ExportFormat.CSV, date(2026, 10, 1),
                  date(2026, 10, 7), None, ExportStatus.QUEUED, 0, 7, NOW + timedelta(seconds=i), NOW)
        for i in range(count)
    ]  # fmt: skip
    with uow_factory() as uow:
        for job in jobs:
            uow.exports.add(job)
        uow.commit()
    return jobs


def _claim(uow_factory: SqlUnitOfWorkFactory, now: datetime) -> ExportJob | None:
    with uow_factory() as uow:
        job = uow.exports.claim(now, now + timedelta(minutes=30))
        uow.commit()
    return job


def test_jobs_are_claimed_oldest_first_and_leases_run_out(uow_factory: SqlUnitOfWorkFactory) -> None:
    first, second = _jobs(uow_factory, 2)
    taken = _claim(uow_factory, NOW)
    assert taken is not None and taken.id == first.id and taken.status is ExportStatus.RUNNING
    assert taken.locked_until == NOW + timedelta(minutes=30)
    again = _claim(uow_factory, NOW)
    assert again is not None and again.id == second.id
    assert _claim(uow_factory, NOW) is None
    later = _claim(uow_factory, NOW + timedelta(minutes=31))  # the first runner died
    assert later is not None and later.id == first.id
    with uow_factory(read_only=True) as uow:
        assert uow.exports.get(first.id, account_id=first.account_id + 1) is None  # another tenant


def test_only_the_lease_holder_writes_a_running_job(uow_factory: SqlUnitOfWorkFactory) -> None:
    [job] = _jobs(uow_factory, 1)
    first = _claim(uow_factory, NOW)
    assert first is not None and first.locked_until is not None
    renewed = replace(first, locked_until=NOW + timedelta(minutes=1))
    with uow_factory() as uow:
        assert uow.exports.update_held(renewed, first.locked_until)  # the holder renews
        uow.commit()
    second = _claim(uow_factory, NOW + timedelta(minutes=2))  # the first runner stalled past it
    assert second is not None and second.id == job.id and second.locked_until is not None
    done = replace(first, status=ExportStatus.COMPLETED, rows=3, file_name="stale.zip", locked_until=None)
    with uow_factory() as uow:
        assert not uow.exports.update_held(done, first.locked_until)  # neither of its leases
        assert not uow.exports.update_held(done, NOW + timedelta(minutes=1))
        assert uow.exports.update_held(replace(second, progress=80), second.locked_until)
        uow.commit()
    with uow_factory(read_only=True) as uow:
        assert uow.exports.get(job.id) == replace(second, progress=80)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_racing_runners_take_each_job_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    jobs = _jobs(uow_factory, 6)
    taken: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def runner() -> None:
        try:
            start.wait()
            while (job := _claim(uow_factory, NOW)) is not None:
                taken.append(job.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(taken) == sorted(j.id for j in jobs)  # every job once, none twice
