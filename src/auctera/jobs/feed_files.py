"""Renders /v3 feed files in the background after a catalog import (services/feed_files.py):
the import answers at once, and the first feed request after it streams a file that is
already there instead of waiting for the render.

A queue of retailer ids drained by one thread: an id queued again before its render starts is
rendered once. A request arriving while its file is being rendered waits on the file's lock
and then streams it (FeedFiles.open), so nothing is rendered twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class FeedFileRenders:
    """`submit(retailer_id)` after an import; `render(retailer_id)` runs on the worker thread
    between `start()` and `stop()`. Before `start()` (a CLI run) and after `stop()`, `submit`
    does nothing: the caller renders itself or a restart's first request does."""

    def __init__(self, render: Callable[[int], object]) -> None:
        self._render = render
        self._pending: dict[int, None] = {}  # an ordered set: first imported, first rendered
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        with self._changed:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="feed-file-renders", daemon=True)
        self._thread.start()

    def submit(self, retailer_id: int) -> None:
        with self._changed:
            if self._thread is None or self._stopping:
                return
            self._pending[retailer_id] = None
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Whether everything submitted was rendered within `timeout` seconds (tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self) -> None:
        """Drops what is queued, lets a render under way finish, and joins the thread."""
        with self._changed:
            self._stopping = True
            self._pending.clear()
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                retailer_id = next(iter(self._pending))
                del self._pending[retailer_id]
                self._busy = True
            try:
                self._render(retailer_id)
            except Exception:
                log.exception("rendering the feed files of retailer %s failed", retailer_id)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
