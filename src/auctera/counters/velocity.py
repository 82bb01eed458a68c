"""Sliding-window hit counters for the fraud filters' velocity checks, in process.

`hit(key, at, window)` records a hit and returns how many hits `key` had in `(at - window, at]`. The
count is exact (not the two-bucket estimate, which under-counts a burst at the end of the previous
bucket by up to the whole burst): each key keeps the sorted timestamps of its hits in the window.

Memory is bounded two ways:
  - per key, at most `max_hits_per_key` timestamps are kept (the newest), so a key's count saturates
    there: "at least this many". Keep it above every velocity limit and comparisons stay exact.
  - keys live in least-recently-hit order, one order per window length; a key whose newest hit is
    older than its window carries no information, and a couple of those are dropped from the old end
    of its order on each hit; past `max_keys` the key expiring soonest is forgotten (an expired one
    first), which can only under-count it. One order per window: in a single order, minute-long
    keys behind an hour-long one would outlive their window there by up to the hour, filling the
    bound with keys that count nothing and pushing out hour-long ones still in their window.

Hits may arrive slightly out of order (threads, postbacks stamped by the advertiser): a late hit is
inserted in order and counted against its own `at` (a hit older than the key's newest hit minus the
window is not kept, and counts only itself).

Cost: a lock, a dict lookup, an append and, now and then, a bisect: about a microsecond. A Redis
adapter (the scale-out profile) would use one sorted set per key (ZADD, ZREMRANGEBYSCORE, ZCARD,
PEXPIRE in one MULTI); the `VelocityCounter` port does not change.
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections import OrderedDict
from datetime import datetime, timedelta

# Expired keys dropped per hit: more than one, so a backlog left by a burst of new keys drains.
_EVICT_PER_HIT = 2


class _Hits:
    __slots__ = ("expires", "times")

    def __init__(self) -> None:
        self.times: list[float] = []  # epoch seconds, ascending
        self.expires = 0.0  # newest hit + window: after it, the key counts nothing


class SlidingWindowCounter:
    """`VelocityCounter` for one process (the embedded profile). Thread-safe."""

    def __init__(self, *, max_keys: int = 500_000, max_hits_per_key: int = 4096) -> None:
        if max_keys < 1 or max_hits_per_key < 1:
            raise ValueError("max_keys and max_hits_per_key must be at least 1")
        self._max_keys = max_keys
        self._max_hits = max_hits_per_key
        # window seconds -> its keys, least recently hit (so soonest expired) first
        self._windows: dict[float, OrderedDict[str, _Hits]] = {}
        self._size = 0  # keys over all windows
        self._now = float("-inf")  # the newest `at` seen: the counter's idea of now
        self._lock = threading.Lock()

    def hit(self, key: str, at: datetime, window: timedelta) -> int:
        t = at.timestamp()
        span = window.total_seconds()
        with self._lock:
            keys = self._windows.get(span)
            if keys is None:
                keys = self._windows[span] = OrderedDict()
            hits = keys.get(key)
            if hits is None:
                hits = keys[key] = _Hits()
                self._size += 1
            else:
                keys.move_to_end(key)
            times = hits.times
            if not times or t >= times[-1]:
                times.append(t)
            else:
                insort(times, t)
            newest = times[-1]
            # Drop what has left the window of the newest hit.
            if times[0] <= newest - span:
                del times[: bisect_right(times, newest - span)]
            if len(times) > self._max_hits:
                del times[: len(times) - self._max_hits]
            if newest + span > hits.expires:
                hits.expires = newest + span
            if t == newest:
                count = len(times)
            else:  # a late hit; one older than the key's window was dropped at once but still counts
                count = max(1, bisect_right(times, t) - bisect_right(times, t - span))
            if t > self._now:
                self._now = t
            # Expired keys from the old end (the common case: the oldest has not expired, one look).
            for _ in range(_EVICT_PER_HIT):
                if not keys or next(iter(keys.values())).expires > self._now:
                    break
                keys.popitem(last=False)
                self._size -= 1
            if self._size > self._max_keys:
                self._forget_soonest_expiring()
        return count

    def _forget_soonest_expiring(self) -> None:
        oldest = min((k for k in self._windows.values() if k), key=lambda k: next(iter(k.values())).expires)
        oldest.popitem(last=False)
        self._size -= 1

    def count(self, key: str, at: datetime, window: timedelta) -> int:
        """Hits on `key` in (at - window, at], without recording one (diagnostics, tests)."""
        t = at.timestamp()
        with self._lock:
            hits = self._windows.get(window.total_seconds(), {}).get(key)
            if hits is None:
                return 0
            return bisect_right(hits.times, t) - bisect_right(hits.times, t - window.total_seconds())

    def recent(self, key: str, last: int) -> list[float]:
        with self._lock:
            for keys in self._windows.values():
                hits = keys.get(key)
                if hits is not None:
                    return hits.times[-last:]
            return []

    def tracked_keys(self) -> int:
        return self._size
