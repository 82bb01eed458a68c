"""Report export leases (jobs/exports.py, services/exports.py) with real runners on a real database,
event store and object store: a live export renews its short lease however long it runs, so a
second runner never takes it; a runner that stalled past its lease while another took the job
over changes nothing when it wakes (not the job, not its file)."""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain.accounts import Principal
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.domain.reports import ExportFormat, ExportJob, ExportStatus, ExportType
from auctera.jobs.exports import ExportRunner
from auctera.services.exports import LEASE
from auctera.services.ports import EventReports, ObjectStore
from auctera.storage import object_store
from support.clock import FrozenClock

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = date(2026, 10, 1)


class Gate:
    """Where a runner stops until the test lets it go (a long COPY, a stalled process)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        assert self.opened.wait(30), "the test never opened the gate"


class GatedEvents:
    """The event store, its export stopping at the gate first."""

    def __init__(self, events: EventReports, gate: Gate) -> None:
        self._events, self._gate = events, gate

    def export_events(self, *args: Any, **kwargs: Any) -> int:
        self._gate.wait()
        return self._events.export_events(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)


class GatedStore:
    """The object store, stopping at the gate once an upload is stored (before the job is marked)."""

    def __init__(self, store: ObjectStore, gate: Gate) -> None:
        self._store, self._gate = store, gate

    def put_file(self, key: str, source: Path) -> int:
        size = self._store.put_file(key, source)
        self._gate.wait()
        return size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def c(tmp_path: Path, clock: FrozenClock) -> Iterator[Container]:
    container = build(Settings(data_dir=tmp_path / "data", export_worker=False), clock=clock)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def acme(c: Container) -> Principal:
    return c.auth.authenticate(c.accounts.create_account("Acme", "advertiser").api_key)


def runner(c: Container, *, events: Any = None, store: Any = None, renew_every: float = 0.02) -> ExportRunner:
    """A runner of its own (as a second server worker or `auctera exports work` would be),
    sharing the database, the event log, the object store and the scratch directory."""
    exports_store = object_store(c.settings, "exports", c.settings.exports_dir)
    return ExportRunner(
        c.exports,
        events or c.events,
        store or exports_store,
        c.settings.exports_dir / ".tmp",
        renew_every=renew_every,
    )


def log_clicks(c: Container, acme: Principal, n: int, at: datetime) -> None:
    ids = IdGenerator(3, lambda: int(at.timestamp() * 1000))
    c.events.append_many(
        [Event(ids.next_id(), EventType.CLICK, at + timedelta(seconds=i), acme.account_id, None,
               cost_micros=100_000) for i in range(n)]
    )  # fmt: skip


def request(c: Container, acme: Principal) -> ExportJob:
    return c.exports.request(acme, ExportType.LOG_LEVEL_CLICKS, ExportFormat.CSV, DAY, DAY)  # no nudge


def rows_in_file(r: ExportRunner, job: ExportJob) -> int:
    found = r.file_of(job)
    assert found is not None
    with zipfile.ZipFile(io.BytesIO(b"".join(found.chunks))) as archive:
        [name] = archive.namelist()
        return len(list(csv.DictReader(io.StringIO(archive.read(name).decode()))))


def stored_files(c: Container) -> list[Path]:
    return sorted(c.settings.exports_dir.glob("*/*.zip"))


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_long_export_keeps_its_lease(c: Container, acme: Principal, clock: FrozenClock) -> None:
    log_clicks(c, acme, 3, datetime(2026, 10, 1, 10, tzinfo=UTC))
    job = request(c, acme)
    gate = Gate()
    first = runner(c, events=GatedEvents(c.events, gate))
    second = runner(c)
    working = threading.Thread(target=first.run_pending)
    working.start()
    try:
        assert gate.reached.wait(10)  # the first runner is inside its (long) COPY
        for _ in range(5):  # 225 s: the 60 s lease would have run out three times over
            clock.now += timedelta(seconds=45)
            eventually(
                lambda: c.exports.get(acme, job.id).locked_until == clock.now + LEASE,
                "the working runner did not renew its lease",
            )
            assert second.run_pending() == 0  # held: not taken from a live runner
            assert c.exports.get(acme, job.id).status is ExportStatus.RUNNING
    finally:
        gate.opened.set()
        working.join(30)
    done = c.exports.get(acme, job.id)
    assert done.status is ExportStatus.COMPLETED and done.rows == 3 and done.locked_until is None
    assert rows_in_file(first, done) == 3 and len(stored_files(c)) == 1
    assert second.run_pending() == 0  # exported once


@pytest.mark.parametrize("stalls", ["writing", "after_upload"])
def test_a_runner_that_lost_its_job_changes_nothing(
    c: Container, acme: Principal, clock: FrozenClock, stalls: str
) -> None:
    """The first runner stalls (its renewals do not get through) past its lease, in its COPY or
    between its upload and marking the job; the second takes the job over and finishes it with
    a click logged meanwhile. The first then wakes: the job and its file stay the second's."""
    log_clicks(c, acme, 3, datetime(2026, 10, 1, 10, tzinfo=UTC))
    job = request(c, acme)
    gate = Gate()
    store = object_store(c.settings, "exports", c.settings.exports_dir)
    stalled = runner(
        c,
        events=GatedEvents(c.events, gate) if stalls == "writing" else None,
        store=GatedStore(store, gate) if stalls == "after_upload" else None,
        renew_every=3600,
    )
    second = runner(c)
    working = threading.Thread(target=stalled.run_pending)
    working.start()
    try:
        assert gate.reached.wait(10)
        log_clicks(c, acme, 1, datetime(2026, 10, 1, 11, tzinfo=UTC))
        clock.now += LEASE - timedelta(seconds=1)
        assert second.run_pending() == 0  # the lease still holds
        clock.now += timedelta(seconds=2)
        assert second.run_pending() == 1  # ran out: taken over
        done = c.exports.get(acme, job.id)
        assert done.status is ExportStatus.COMPLETED and done.rows == 4
    finally:
        gate.opened.set()
        working.join(30)
    assert not working.is_alive()
    assert c.exports.get(acme, job.id) == done  # not overwritten: neither completed nor failed
    assert rows_in_file(second, done) == 4
    assert stored_files(c) == [c.settings.exports_dir / str(acme.account_id) / str(done.file_name)]
    assert list((c.settings.exports_dir / ".tmp").iterdir()) == []  # no scratch left behind
