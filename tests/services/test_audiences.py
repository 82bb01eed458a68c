"""The audience service on each backend (SQLite, PostgreSQL): syncs applied by the worker, the
identity graph from a real event log, membership, targeting, deletion; and on PostgreSQL, workers
racing for the same jobs."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.audiences import AudienceSource, JobState, SyncAction, SyncJob, Targets
from auctera.domain.events import Event, EventType
from auctera.domain.identifiers import sha256_hex
from auctera.domain.ids import IdGenerator
from auctera.errors import NotFound
from auctera.events import DuckDBEventStore
from auctera.events.audience_staging import AudienceStagingFiles
from auctera.events.audiences import EventAudienceGraph
from auctera.services.accounts import AccountService
from auctera.services.audiences import AudienceService
from auctera.services.ports import UnitOfWork
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


def _world(
    uow: SqlUnitOfWorkFactory, events: DuckDBEventStore, staging: Path
) -> tuple[AudienceService, Principal]:
    clock = FrozenClock()
    ids = IdGenerator(1, lambda: int(clock().timestamp() * 1000))
    a = AccountService(uow, ids, clock, rotation_grace=timedelta(0)).create_account("A", "advertiser").account
    events.append(
        Event(
            id=ids.next_id(),
            type=EventType.CLICK,
            at=clock() - timedelta(hours=1),
            account_id=a.id,
            attrs={"uid": "visitor-1", "email_sha256": sha256_hex("ann@example.com")},
        )
    )
    events.sync()
    return AudienceService(
        uow, ids, clock, EventAudienceGraph(events), AudienceStagingFiles(staging)
    ), Principal(a.id, a.kind, "UTC", "USD", None, "test")


def _emails(*names: str) -> list[tuple[str, str]]:
    return [("email", f"{n}@example.com") for n in names]


def test_sync_membership_targeting_and_deletion(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    with DuckDBEventStore(tmp_path / "events") as events:
        service, me = _world(uow_factory, events, tmp_path / "staging")
        audience = service.create(me, "CRM", AudienceSource.CRM_SYNC)
        service.sync(me, audience.id, SyncAction.ADD, service.stage(_emails("ann", "bob", "cid"), chunk=2))
        service.sync(me, audience.id, SyncAction.REMOVE, service.stage(_emails("cid")))
        while service.work_once() is not None:
            pass
        shown = service.get(me, audience.id)
        assert (shown.size, shown.matched, shown.match_rate) == (2, 1, 0.5)
        with uow_factory(read_only=True) as uow:
            assert uow.audiences.memberships([], "visitor-1") == {audience.id}
            bob = "e:" + sha256_hex("bob@example.com")
            assert uow.audiences.memberships([bob], None) == {audience.id}
            assert uow.audiences.memberships(["e:" + sha256_hex("cid@example.com")], "nobody") == frozenset()
        service.sync(me, audience.id, SyncAction.REPLACE, service.stage(_emails("dan")))
        while service.work_once() is not None:
            pass
        assert service.get(me, audience.id).size == 1
        with uow_factory() as uow:
            uow.audiences.set_targets(123, me.account_id, Targets(include=(audience.id,)))
            uow.commit()
        pending, _ = service.sync(me, audience.id, SyncAction.ADD, service.stage(_emails("eve")))
        purge = service.delete(me, audience.id)
        assert purge.paused_campaigns == []
        with uow_factory(read_only=True) as uow:
            assert uow.audiences.targets([123]) == {}
            assert uow.audiences.job(pending.id) is None
            assert uow.audiences.memberships([], "visitor-1") == frozenset()
            assert uow.audiences.purged(me.account_id, audience.id)
        with pytest.raises(NotFound):
            service.get(me, audience.id)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_racing_workers_apply_each_job_once(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    with DuckDBEventStore(tmp_path / "events") as events:
        service, me = _world(uow_factory, events, tmp_path / "staging")
        audiences = [service.create(me, f"CRM {i}", AudienceSource.CRM_SYNC) for i in range(6)]
        jobs = [
            service.sync(
                me, a.id, SyncAction.ADD, service.stage(_emails(*(f"p{j}" for j in range(300))), chunk=50)
            )[0]
            for a in audiences
        ]
        errors: list[BaseException] = []
        start = threading.Barrier(3)

        def work() -> None:
            try:
                start.wait()
                while service.work_once() is not None:
                    pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for job in jobs:
            done = service.job(me, job.id)
            assert done.state is JobState.DONE and done.processed == 300 and done.applied == done.chunks
        assert all(service.get(me, a.id).size == 300 for a in audiences)


def test_a_job_staged_in_the_database_before_staging_files_still_applies(
    uow_factory: SqlUnitOfWorkFactory, tmp_path: Path
) -> None:
    with DuckDBEventStore(tmp_path / "events") as events:
        service, me = _world(uow_factory, events, tmp_path / "staging")
        audience = service.create(me, "CRM", AudienceSource.CRM_SYNC)
        keys = ["e:" + sha256_hex(f"{n}@example.com") for n in ("ann", "bob", "cid")]
        now = audience.created_at
        job = SyncJob(
            id=audience.id + 1,
            account_id=me.account_id,
            audience_id=audience.id,
            job_key="old",
            action=SyncAction.ADD,
            state=JobState.QUEUED,
            received=3,
            malformed=0,
            malformed_samples=(),
            chunks=2,
            applied=0,
            processed=0,
            matched=0,
            created_at=now,
            updated_at=now,
        )
        with uow_factory() as uow:  # as it was staged before: keys, one a line, in chunk rows
            uow.audiences.add_job(job, ["\n".join(keys[:2]), keys[2]])
            uow.commit()
        while service.work_once() is not None:
            pass
        done = service.job(me, job.id)
        assert (done.state, done.processed) == (JobState.DONE, 3)
        assert service.get(me, audience.id).size == 3


def test_an_idle_worker_takes_no_write_lock(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    # It looks every 0.2 s: on SQLite a write transaction would queue the postbacks behind it.
    writes: list[bool] = []

    def recording(read_only: bool = False) -> UnitOfWork:
        writes.append(not read_only)
        return uow_factory(read_only=read_only)

    with DuckDBEventStore(tmp_path / "events") as events:
        service, me = _world(uow_factory, events, tmp_path / "staging")
        clock = FrozenClock()
        ids = IdGenerator(2, lambda: int(clock().timestamp() * 1000))
        staging = AudienceStagingFiles(tmp_path / "staging")
        worker = AudienceService(recording, ids, clock, EventAudienceGraph(events), staging)
        assert worker.work_once() is None
        assert writes and not any(writes)
        audience = service.create(me, "CRM", AudienceSource.CRM_SYNC)
        service.sync(me, audience.id, SyncAction.ADD, service.stage(_emails("ann")))
        assert worker.work_once() is not None  # a job due: claimed in a write transaction
        assert any(writes)
