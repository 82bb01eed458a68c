"""One event log per database: the first data directory's log is recorded, the same one (another
worker, a restart, a copy of the directory) is let in, another one is refused. Both backends."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from auctera.store.deployment import OtherEventLog, claim_event_log, event_log_id


def test_the_first_log_is_recorded_and_another_is_refused(migrated_engine: Engine, tmp_path: Path) -> None:
    first = tmp_path / "a" / "events"
    claim_event_log(migrated_engine, first)
    claim_event_log(migrated_engine, first)  # a restart, another worker
    copied = tmp_path / "moved" / "events"
    shutil.copytree(first, copied)
    claim_event_log(migrated_engine, copied)  # the data directory copied elsewhere

    other = tmp_path / "b" / "events"
    with pytest.raises(OtherEventLog) as refused:
        claim_event_log(migrated_engine, other)
    message = str(refused.value)
    assert event_log_id(first) in message and event_log_id(other) in message
    assert "same data directory" in message
    claim_event_log(migrated_engine, first)  # the refusal changed nothing


def test_processes_starting_together_agree(migrated_engine: Engine, tmp_path: Path) -> None:
    events = tmp_path / "data" / "events"
    failures: list[BaseException] = []

    def start() -> None:
        try:
            claim_event_log(migrated_engine, events)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(p.name for p in events.iterdir()) == ["log.id"]  # no drafts left behind
