"""A real HTTP receiver on loopback for the postback tests: it records every request and answers
by its path, per webhook-id:

    /ok                 200
    /fail/<n>           500 the first n times, then 200
    /slow/<n>/<secs>    sleeps <secs> (past the worker's timeout) the first n times, then 200
    /busy/<n>           429 with Retry-After: 1 the first n times, then 200
    /gone               410
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # with the query
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.tries: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the sender died mid-body (kill -9): no request arrived
                    self.close_connection = True
                    return
                got = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                route = urlsplit(self.path).path.strip("/").split("/")
                key = (route[0], got.headers.get("webhook-id", ""))
                with receiver.lock:
                    receiver.requests.append(got)
                    receiver.tries[key] += 1
                    tries = receiver.tries[key]
                status, extra = 200, {}
                if route[0] == "fail" and tries <= int(route[1]):
                    status = 500
                elif route[0] == "slow" and tries <= int(route[1]):
                    time.sleep(float(route[2]))
                elif route[0] == "busy" and tries <= int(route[1]):
                    status, extra = 429, {"Retry-After": "1"}
                elif route[0] == "gone":
                    status = 410
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the worker gave up on us (timeout) or was killed

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.requests)
