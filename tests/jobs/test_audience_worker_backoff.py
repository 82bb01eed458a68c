"""An audience worker whose rounds keep failing (its database away) waits longer after each failed
round, doubling up to 30 s, and logs one traceback per streak of failures, then one short line a
round; once a round works it is back to its usual pace. Before, it retried every 0.2 s with a
7 KB traceback each time: ~250 MB of logs an hour while PostgreSQL was down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.jobs.audiences import IDLE, MAX_RETRY, AudienceWorker


class Rounds(threading.Event):
    """The worker's stop event, recording each pause instead of sleeping it: `on_pause` is told
    how many there have been, and may set the event to end the run."""

    def __init__(self, on_pause: Callable[[int], None]) -> None:
        super().__init__()
        self.pauses: list[float | None] = []
        self._on_pause = on_pause

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        self._on_pause(len(self.pauses))
        return self.is_set()


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    c = build(Settings(data_dir=tmp_path / "data", audience_worker=False))
    yield c
    c.close()


def _rename(container: Container, old: str, new: str) -> None:
    with container.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_failed_rounds_back_off_log_once_and_recover(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    # Every round fails as it does with the database away: the jobs' table cannot be read.
    _rename(container, "audience_sync_jobs", "audience_sync_jobs_away")
    failing = 9

    def on_pause(count: int) -> None:
        if count == failing:  # the database is back
            _rename(container, "audience_sync_jobs_away", "audience_sync_jobs")
        if count == failing + 3:
            stop.set()

    stop = Rounds(on_pause)
    with caplog.at_level(logging.INFO, logger="auctera.jobs.audiences"):
        AudienceWorker(container.audiences).run(stop)

    assert stop.pauses == [
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        MAX_RETRY,
        MAX_RETRY,
        MAX_RETRY,
        MAX_RETRY,
        IDLE,
        IDLE,
        IDLE,
    ]
    records = [r for r in caplog.records if r.name == "auctera.jobs.audiences"]
    tracebacks = [r for r in records if r.exc_info]
    assert len(tracebacks) == 1 and tracebacks[0].getMessage() == "audience worker round failed"
    again = [r.getMessage() for r in records if "failed again" in r.getMessage()]
    assert len(again) == failing - 1
    assert "(2 in a row, next in 2 s)" in again[0] and "no such table: audience_sync_jobs" in again[0]
    assert all("\n" not in line for line in again)  # one short line each
    assert records[-1].getMessage() == "audience worker rounds work again, after 9 failed"
