"""/healthz: whether this process can serve, for a load balancer (docs/operations.md, "Health
check"): the app is built (migrations applied, event log open) and the state store answers."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera import __version__

log = logging.getLogger(__name__)

# /healthz asks the state store at most once a second (a storm of probes costs one query a second
# per process) and answers 503 when it has not answered within HEALTH_WAIT_SECONDS.
HEALTH_FRESH_SECONDS = 1.0
HEALTH_WAIT_SECONDS = 2.0
STORE_DOWN = "the state store does not answer"  # a 503's `error` (the cause, naming hosts, is logged)


class StoreHealth:
    """Whether the state store answers: None, or why not. `probe` runs on a thread of its own, one
    at a time, and its answer is kept `fresh` seconds; a probe stuck on a server that does not
    answer holds no request and no threadpool thread, and the callers meanwhile hear so after
    `wait` seconds. Changes are logged once each, not at every probe."""

    def __init__(
        self,
        probe: Callable[[], None],
        fresh: float = HEALTH_FRESH_SECONDS,
        wait: float = HEALTH_WAIT_SECONDS,
    ) -> None:
        self._probe = probe
        self._fresh = fresh
        self._wait = wait
        self._lock = threading.Lock()
        self._running: Future[str | None] | None = None
        self._answer: str | None = None
        self._answered_at = -math.inf

    async def problem(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._answered_at < self._fresh:
                return self._answer
            running = self._running
            if running is None:
                running = self._running = Future()
                check = threading.Thread(target=self._check, args=(running,), name="health", daemon=True)
                check.start()
        done, _ = await asyncio.wait({asyncio.wrap_future(running)}, timeout=self._wait)
        return running.result() if done else f"no answer within {self._wait:g} s"

    def _check(self, running: Future[str | None]) -> None:
        try:
            self._probe()
            answer = None
        except Exception as exc:
            answer = f"{type(exc).__name__}: {exc}".splitlines()[0]
        with self._lock:
            if answer is not None and self._answer is None:
                log.warning("the state store does not answer: %s", answer)
            elif answer is None and self._answer is not None:
                log.warning("the state store answers again")
            self._answer, self._answered_at, self._running = answer, time.monotonic(), None
        running.set_result(answer)


def health_route(health: StoreHealth) -> ASGIApp:
    """/healthz: 200 once the app is built (migrations applied, event log open) while the state
    store answers; 503 while it does not, so a load balancer sends the traffic elsewhere."""

    async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
        problem = await health.problem()
        status = 200 if problem is None else 503
        answer = {"status": "ok"} if problem is None else {"status": "unavailable", "error": STORE_DOWN}
        body = orjson.dumps({**answer, "version": __version__})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return healthz
