"""`auctera webhooks work --until-idle` against a real receiver on loopback that fails: the worker
makes the attempts that are due, then exits, saying how many deliveries remain scheduled and when
the next is due, instead of waiting out a backoff that runs for up to 72 hours."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.jobs.receiver import Receiver
from tests.jobs.test_webhook_delivery import Setup

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.webhooks import Delivery, DeliveryState

AUCTERA = shutil.which("auctera", path=str(Path(sys.executable).parent)) or "auctera"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _auctera(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUCTERA_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback
        "AUCTERA_WEBHOOK_FIRST_RETRY_SECONDS": "3600",  # a failed attempt is retried 30-60 min later
        "AUCTERA_LOG_LEVEL": "warning",
    }
    command = [AUCTERA, "webhooks", *args, "--data-dir", str(data_dir)]
    # The timeout only stops a worker that would otherwise wait for the retry (the defect).
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _rows(data_dir: Path) -> dict[str, Delivery]:
    c = build(Settings(data_dir=data_dir))
    try:
        with c.uow(read_only=True) as uow:
            found = uow.webhooks.deliveries(None, limit=100)
    finally:
        c.close()
    return {urlsplit(d.url).path.split("/")[1]: d for d in found}  # by route: "fail", "ok"


def test_until_idle_exits_with_retries_scheduled_and_says_when(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = tmp_path / "data"
    c = build(Settings(data_dir=data_dir, webhook_allow_private=True, webhook_worker=False))
    try:
        s = Setup(c)
        s.postback("purchase", receiver.url + "/fail/1000?t={transaction_id}")  # always 500
        s.postback("purchase", receiver.url + "/ok?t={transaction_id}")
        s.convert(1)
    finally:
        c.close()

    done = _auctera(data_dir, "work", "--until-idle")
    assert done.returncode == 0, done.stderr
    assert sorted(urlsplit(r.path).path for r in receiver.snapshot()) == ["/fail/1000", "/ok"]
    rows = _rows(data_dir)
    failed = rows["fail"]
    assert rows["ok"].state is DeliveryState.DELIVERED
    assert failed.state is DeliveryState.PENDING and failed.attempts == 1 and failed.last_status_code == 500
    out = json.loads(done.stdout)
    assert out == {"sent": 2, "pending": 1, "next_attempt_at": failed.next_attempt_at.isoformat()}
    (line,) = done.stderr.strip().splitlines()
    due = failed.next_attempt_at.isoformat(timespec="seconds")
    assert line.startswith(f"idle: 1 delivery remains scheduled; the next is due at {due} (in "), line

    # Made due now (a replay), it is attempted by the next run, which again leaves it scheduled.
    replay = _auctera(data_dir, "replay", failed.webhook_id)
    assert replay.returncode == 0, replay.stderr
    again = _auctera(data_dir, "work", "--until-idle")
    assert again.returncode == 0, again.stderr
    assert [urlsplit(r.path).path for r in receiver.snapshot()].count("/fail/1000") == 2
    failed = _rows(data_dir)["fail"]
    assert failed.state is DeliveryState.PENDING
    assert json.loads(again.stdout) == {
        "sent": 1,
        "pending": 1,
        "next_attempt_at": failed.next_attempt_at.isoformat(),
    }
    assert "idle: 1 delivery remains scheduled" in again.stderr


def test_until_idle_with_nothing_queued_says_so(tmp_path: Path) -> None:
    done = _auctera(tmp_path / "data", "work", "--until-idle")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sent": 0, "pending": 0, "next_attempt_at": None}
    assert done.stderr.strip() == "idle: no delivery remains scheduled"
