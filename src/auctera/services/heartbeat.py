"""A lease kept alive while slow work runs: `beat` called every few seconds on a thread of its
own, so the working thread may spend minutes in one call (an upload, a COPY) and still hold it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Heartbeat:
    """Calls `beat` every `every` seconds until the block ends or `beat` returns False (nothing
    left to renew). A failing beat is logged and tried again at the next one: a lease is several
    beats long, so one busy database moment does not lose it."""

    def __init__(self, name: str, every: float, beat: Callable[[], bool]) -> None:
        self._every = every
        self._beat = beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._beat():
                    return
            except Exception:
                log.warning("%s: renewing the lease failed; trying again", self._thread.name, exc_info=True)
