"""Rows whose events reached the event log, waiting to be marked `logged`.

A conversion (or a sponsored click's charge) commits its row first and appends its event after,
so the row cannot say in that transaction that its event is in the log. Rather than a second
write per request, the next write transaction of the same kind marks the rows of the requests
before it: a busy server pays one small UPDATE per group commit. What is never marked this way
(the last rows before a quiet spell, a failed transaction, a crash) the sweep (`log_pending`)
still finds, checks against the log and marks: the sweep is a repair path, not a per-row cost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

# Held in memory at most; beyond it the sweep marks the rest (it only costs the sweep a check).
MAX_HELD = 100_000


class LoggedMarks:
    """Thread-safe: requests add their ids after their event is appended, a transaction takes them."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            if len(self._ids) < MAX_HELD:
                self._ids.extend(ids)

    def take(self) -> list[int]:
        """The ids held, now the caller's to mark (if its transaction fails, the sweep marks them)."""
        with self._lock:
            taken, self._ids = self._ids, []
        return taken
