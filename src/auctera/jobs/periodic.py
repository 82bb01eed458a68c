"""Background work that repeats: a daemon thread calling a function every few seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls `work` every `interval` seconds (first after `first_after`, default one interval)
    until `stop()`. A failing round is logged and the next one runs as planned: the work must be
    safe to repeat."""

    def __init__(
        self, name: str, interval: float, work: Callable[[], object], *, first_after: float | None = None
    ) -> None:
        self._work = work
        self._interval = interval
        self._first_after = interval if first_after is None else first_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait = self._first_after
        while not self._stop.wait(wait):
            wait = self._interval
            try:
                self._work()
            except Exception:
                log.exception("background job %s failed", self._thread.name)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
