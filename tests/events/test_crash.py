"""Acknowledged events survive a kill -9 of the server the instant after the acknowledgement."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

import auctera
from auctera.events import DuckDBEventStore

SERVER = Path(__file__).with_name("_append_server.py")
ACKNOWLEDGED_BEFORE_KILL = 4_000
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def start_server(directory: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    src = str(Path(auctera.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, str(SERVER), str(directory)], stdout=subprocess.PIPE, stderr=stderr, env=env
        )
    assert server.stdout is not None
    line = server.stdout.readline()
    assert line.strip().isdigit(), f"server did not start: {log.read_text()}"
    return server, int(line)


def payload(event_id: int) -> dict[str, Any]:
    at = T0 + timedelta(seconds=event_id)
    return {"id": event_id, "type": "click", "at": at.isoformat(), "account_id": 1, "campaign_id": 7}


def stored_counts(directory: Path) -> dict[int, int]:
    with DuckDBEventStore(directory, "verifier", compact_interval=None) as store:
        before = dict(store.query("SELECT id, count(*) FROM events GROUP BY id"))
        store.compact()  # also seals and compacts what the killed server left open
        after = dict(store.query("SELECT id, count(*) FROM events GROUP BY id"))
    assert before == after
    return after


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    directory = tmp_path / "events"
    server, port = start_server(directory, tmp_path / "server.log")
    ids = itertools.count(1)
    sent: set[int] = set()
    acknowledged: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def post_until_killed(batch_size: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while not killed.is_set():
                with lock:
                    batch = [next(ids) for _ in range(batch_size)]
                    sent.update(batch)
                try:
                    if batch_size == 1:
                        response = http.post("/append-one", content=orjson.dumps(payload(batch[0])))
                    else:
                        response = http.post("/append", content=orjson.dumps([payload(i) for i in batch]))
                except httpx.TransportError:
                    return  # the server is gone
                assert response.status_code == 200, response.text
                with lock:
                    acknowledged.update(batch)
                    if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL and not killed.is_set():
                        os.kill(server.pid, signal.SIGKILL)  # the instant after this acknowledgement
                        killed.set()

    clients = [threading.Thread(target=post_until_killed, args=(size,)) for size in (1, 1, 25, 40)]
    try:
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    assert killed.is_set() and server.returncode == -signal.SIGKILL

    counts = stored_counts(directory)
    missing = acknowledged - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:10]}"
    assert all(n == 1 for n in counts.values()), "an event was stored twice"
    assert counts.keys() <= sent
