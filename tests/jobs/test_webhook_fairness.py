"""One publisher's receiver that never answers must not hold up another publisher's postbacks:
real HTTP receivers on loopback, a real worker and database. The hanging receiver holds every
request open until the test releases it (in a finally), with a backlog of deliveries queued before
the other publisher's."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.webhooks import DeliveryState
from auctera.jobs.webhooks import WebhookWorker, WorkerOptions

from .receiver import Receiver
from .test_webhook_delivery import SETTINGS, Setup, _deliveries, _drain


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a connection the worker closed: not news
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Holding:
    """A receiver that takes each request and answers only after `delay` seconds, or (None) once
    `release` is set; it records how many it held open at once."""

    def __init__(self, delay: float | None = None) -> None:
        self.release = threading.Event()
        self.open = 0
        self.most_open = 0
        self.ids: list[str] = []
        self.lock = threading.Lock()
        holding = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with holding.lock:
                    holding.ids.append(self.headers.get("webhook-id", ""))
                    holding.open += 1
                    holding.most_open = max(holding.most_open, holding.open)
                try:
                    if delay is None:
                        holding.release.wait(120)
                    else:
                        time.sleep(delay)
                finally:
                    with holding.lock:
                        holding.open -= 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the worker gave up (timeout) or stopped

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def held(self) -> tuple[int, int]:
        with self.lock:
            return self.open, len(self.ids)

    @contextmanager
    def running(self) -> Iterator[Holding]:
        self.thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()


def _ids(receiver: Receiver) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.snapshot()}


def test_a_hanging_receiver_does_not_hold_up_another_publishers_postbacks(tmp_path: Path) -> None:
    hanging = Holding()
    with hanging.running(), Receiver() as fine:
        c = build(Settings(data_dir=tmp_path / "data", **SETTINGS))  # type: ignore[arg-type]
        try:
            slow, other = Setup(c), Setup(c)
            slow.postback("purchase", hanging.url + "/pb?t={transaction_id}")
            other.postback("purchase", fine.url + "/ok?t={transaction_id}")
            slow.convert(40)  # a backlog, queued (and due) before the other publisher's postbacks
            other.convert(5)
            theirs = {
                d.webhook_id  # type: ignore[attr-defined]
                for d in _deliveries(c)
                if d.account_id == other.publisher.account_id  # type: ignore[attr-defined]
            }
            assert len(theirs) == 5
            # Attempts outlast the test: the hanging receiver's slots are never freed by a timeout.
            options = WorkerOptions(
                concurrency=8, timeout=60.0, lease=timedelta(seconds=300), per_publisher=3
            )
            worker = WebhookWorker(c.webhooks, options)
            stop = threading.Event()
            thread = threading.Thread(target=worker.run_forever, args=(stop,))
            thread.start()
            try:
                deadline = time.monotonic() + 20
                while _ids(fine) != theirs and time.monotonic() < deadline:
                    time.sleep(0.05)
                got = _ids(fine)
                open_then, sent_then = hanging.held()
            finally:
                hanging.release.set()
                stop.set()
                thread.join()
            # Every postback of the other publisher arrived while the hanging receiver still held
            # its requests, and that receiver had its share of attempts (3), never more.
            assert got == theirs
            assert open_then == 3 and sent_then == 3
            assert hanging.most_open == 3
        finally:
            c.close()


def test_a_slow_receivers_backlog_drains_at_its_share_beside_a_fast_one(tmp_path: Path) -> None:
    """A receiver answering slowly still gets every postback, at most `per_publisher` at a time,
    and the other publisher's are all delivered too: no publisher starved, nothing lost."""
    slow_receiver = Holding(delay=0.2)
    with slow_receiver.running(), Receiver() as fine:
        c = build(Settings(data_dir=tmp_path / "data", **SETTINGS))  # type: ignore[arg-type]
        try:
            slow, other = Setup(c), Setup(c)
            slow.postback("purchase", slow_receiver.url + "/pb?t={transaction_id}")
            other.postback("purchase", fine.url + "/ok?t={transaction_id}")
            slow.convert(24)
            other.convert(24)
            worker = WebhookWorker(
                c.webhooks,
                WorkerOptions(concurrency=8, timeout=5.0, lease=timedelta(seconds=30), per_publisher=3),
            )
            _drain(worker, c)
            rows = _deliveries(c)
            assert len(rows) == 48
            assert all(d.state is DeliveryState.DELIVERED for d in rows)  # type: ignore[attr-defined]
            by_pub: dict[int, set[str]] = {}
            for d in rows:
                by_pub.setdefault(d.account_id, set()).add(d.webhook_id)  # type: ignore[attr-defined]
            assert set(slow_receiver.ids) == by_pub[slow.publisher.account_id]
            assert _ids(fine) == by_pub[other.publisher.account_id]
            assert slow_receiver.most_open == 3
        finally:
            c.close()
