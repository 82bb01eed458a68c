"""POST /v2/audiences/sync raced under one Idempotency-Key, on each backend (SQLite, PostgreSQL):
every racer gets the one job, or the documented 409 when it names another action; and a failed
job says why."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.accounts import Principal
from auctera.domain.audiences import AudienceSource, SyncAction, SyncJob
from auctera.errors import Conflict
from auctera.store.repositories.audiences import SqlAudienceRepository
from auctera.store.tables import audience_sync_jobs
from support.clock import FrozenClock

from .conftest import Api, app_at

RACERS = 24


@pytest.fixture
def world(tmp_path: Path, clock: FrozenClock, database_url: str) -> Iterator[tuple[RootApp, TestClient]]:
    with (
        app_at(
            tmp_path, clock, "https://trk.example.com", audience_worker=False, database_url=database_url
        ) as application,
        TestClient(application) as client,
    ):
        yield application, client


@pytest.fixture
def adv(world: tuple[RootApp, TestClient]) -> Api:
    return Api(*world)


def _audience(adv: Api) -> str:
    made = adv.call("POST", "/v2/audiences", {"name": "Past Purchasers"})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _jobs(app: RootApp) -> int:
    with app.container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audience_sync_jobs)).scalar_one())


def _staged(app: RootApp) -> list[Path]:
    return sorted((app.container.settings.data_dir / "audience-staging").glob("*"))


def _race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` from `n` threads let go at once."""
    start = threading.Barrier(n)

    def one(i: int) -> Any:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_racing_retries_of_one_call_all_get_its_job(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    audience_id = _audience(adv)
    body = {
        "audience_id": audience_id,
        "action": "add",
        "identifiers": [{"type": "email", "value": f"p{i}@example.com"} for i in range(50)],
    }
    headers = {**adv.headers, "Idempotency-Key": "crm-2026-11-23"}
    answers = _race(RACERS, lambda _: adv.client.post("/v2/audiences/sync", json=body, headers=headers))
    failed = [a.text for a in answers if a.status_code != 202]
    assert not failed, failed
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert all(a.json()["records_received"] == 50 for a in answers)
    assert _jobs(app) == 1
    assert len(_staged(app)) == 1  # the job's; the other racers' staged hashes are gone


def test_racing_calls_naming_another_action_get_a_conflict(
    world: tuple[RootApp, TestClient], adv: Api
) -> None:
    app = world[0]
    audience_id = _audience(adv)
    headers = {**adv.headers, "Idempotency-Key": "crm-2026-11-24"}
    actions = ["add", "remove"] * (RACERS // 2)

    def call(i: int) -> tuple[str, Any]:
        identifiers = [{"type": "maid", "value": "x"}]
        body = {"audience_id": audience_id, "action": actions[i], "identifiers": identifiers}
        return actions[i], adv.client.post("/v2/audiences/sync", json=body, headers=headers)

    answers = _race(RACERS, call)
    made = [(action, a) for action, a in answers if a.status_code == 202]
    refused = [(action, a) for action, a in answers if a.status_code != 202]
    assert made, "one of the calls makes the job"
    winner = made[0][1].json()
    assert {a.json()["job_id"] for _, a in made} == {winner["job_id"]}
    assert all(action == winner["action"] for action, _ in made)
    for action, a in refused:
        assert a.status_code == 409, a.text
        assert a.json()["error"]["field"] == "Idempotency-Key" and action != winner["action"]
    assert len(made) + len(refused) == RACERS
    assert _jobs(app) == 1 and len(_staged(app)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_racer_past_the_checks_gets_the_job_that_won(
    world: tuple[RootApp, TestClient], adv: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: every racer has read "no job with this key" (twice) before any inserts, so
    all but one insert into the unique key of the one that commits first."""
    app = world[0]
    service = app.container.audiences
    me = _principal(adv)
    audience = service.create(me, "CRM", AudienceSource.CRM_SYNC)
    racers = 4
    inserting = threading.Barrier(racers)
    add_job = SqlAudienceRepository.add_job

    def add_job_together(self: SqlAudienceRepository, job: SyncJob, chunks: Any) -> bool:
        inserting.wait(timeout=30)
        return add_job(self, job, chunks)

    monkeypatch.setattr(SqlAudienceRepository, "add_job", add_job_together)
    actions = [SyncAction.ADD, SyncAction.ADD, SyncAction.ADD, SyncAction.REMOVE]

    def call(i: int) -> SyncJob | Conflict:
        staged = service.stage([("email", f"p{j}@example.com") for j in range(10)])
        try:
            return service.sync(me, audience.id, actions[i], staged, job_key="nightly")[0]
        except Conflict as exc:
            return exc

    answers = _race(racers, call)
    jobs = [a for a in answers if isinstance(a, SyncJob)]
    conflicts = [a for a in answers if isinstance(a, Conflict)]
    assert len({j.id for j in jobs}) == 1
    winner = jobs[0]
    assert all(actions[i] is winner.action for i, a in enumerate(answers) if isinstance(a, SyncJob))
    assert len(conflicts) == (1 if winner.action is SyncAction.ADD else 3)
    assert all(c.field == "job_key" for c in conflicts)
    assert _jobs(app) == 1 and len(_staged(app)) == 1


def _principal(adv: Api) -> Principal:
    a = adv.account
    return Principal(a.id, a.kind, "UTC", "USD", None, "test")


def test_a_failed_job_says_why(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    audience_id = _audience(adv)
    made = adv.call(
        "POST",
        "/v2/audiences/sync",
        {"audience_id": audience_id, "action": "add", "identifiers": [{"type": "email", "value": "a@b.com"}]},
    )
    assert made.status_code == 202 and "error" not in made.json()
    for path in _staged(app):  # say, the data dir restored from an older backup
        path.unlink()
    while app.container.audiences.work_once() is not None:
        pass
    job = adv.call("GET", f"/v2/audiences/sync/{made.json()['job_id']}").json()
    assert (job["status"], job["success"]) == ("failed", False)
    assert job["error"] == "the job's staged identifiers are missing; sync them again"
