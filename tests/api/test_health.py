"""/healthz says whether this process can serve: 503 while its state store does not answer (a load
balancer then sends the traffic elsewhere), 200 again once it does; and a storm of health checks
asks the store at most once a second. PostgreSQL stopped outright: test_database_outage.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from auctera import __version__
from auctera.api.health import STORE_DOWN, StoreHealth
from auctera.app import RootApp


def eventually(client: TestClient, status: int, within: float = 10.0) -> httpx.Response:
    """/healthz once it answers `status` (an answer is kept a second), or its last answer."""
    deadline = time.monotonic() + within
    while (response := client.get("/healthz")).status_code != status and time.monotonic() < deadline:
        time.sleep(0.1)
    return response


def test_healthz_is_503_once_the_sqlite_file_is_gone(app: RootApp, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "version": __version__}
    database = Path(str(app.container.engine.url.database))
    # An unmounted volume, a restore gone wrong: the database is not there any more. The pool's
    # open connections still read the old file; the new ones (and sqlite3 makes the file when it
    # is missing) find an empty database: no tables. Either way this process cannot serve.
    os.rename(database, database.with_name("moved-away.db"))
    gone = eventually(client, 503)
    assert gone.status_code == 503, gone.text
    assert gone.json() == {"status": "unavailable", "error": STORE_DOWN, "version": __version__}


def test_a_storm_of_health_checks_asks_the_store_once() -> None:
    probes = 0

    def probe() -> None:
        nonlocal probes
        probes += 1

    health = StoreHealth(probe, fresh=60.0)

    async def storm() -> list[str | None]:
        return await asyncio.gather(*(health.problem() for _ in range(200)))

    assert asyncio.run(storm()) == [None] * 200
    assert asyncio.run(storm()) == [None] * 200
    assert probes == 1


def test_a_store_that_does_not_answer_is_unhealthy_within_the_wait_with_one_probe() -> None:
    release = threading.Event()
    started: list[str] = []

    def stuck() -> None:
        started.append(threading.current_thread().name)
        release.wait(30)

    health = StoreHealth(stuck, fresh=0.0, wait=0.2)

    async def storm() -> list[str | None]:
        return await asyncio.gather(*(health.problem() for _ in range(50)))

    try:
        began = time.monotonic()
        answers = asyncio.run(storm())
        answers += asyncio.run(storm())  # the probe still stuck: none more is started
        assert all(answer is not None and "no answer" in answer for answer in answers), answers
        assert time.monotonic() - began < 10  # each waited the 0.2 s, not the stuck probe's 30 s
        assert len(started) == 1
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while asyncio.run(health.problem()) is not None:
        assert time.monotonic() < deadline
