"""Per-key request quotas ("N requests per minute"), counted in process.

Algorithm: GCRA, the generic cell rate algorithm (a token bucket of `limit` requests that refills at
`limit` per minute, kept as one number per key). The state is the key's *theoretical arrival time*
(TAT): the instant at which its bucket will be full again. A request at `now` is admitted when
`max(TAT, now) + interval - 60s <= now`, with `interval = 60s / limit`, and then moves TAT on by
`interval`. So a client that has been idle may spend its whole quota at once, and is then held to one
request per `interval`; over any long stretch it gets exactly `limit` per minute, and there are no
window edges at which it could spend two quotas back to back.

Why GCRA rather than a fixed or sliding window: it is exact, stores one integer per key, and a key
whose TAT has passed carries no information (its bucket is full), so dropping it is lossless. That
makes the memory bound free: keys live in LRU order and idle ones are dropped from the old end as
requests come in, so the map holds only the keys used in the last minute (and never more than
`max_keys`; past that the least recently used key is forgotten, which can only forgive it).

What the response headers mean (see `RateDecision`):
    limit        the key's requests per minute
    remaining    requests that would be admitted right now, back to back
    reset_at     unix epoch *seconds* (not ms, whatever the affiliate v3 example shows) at which the
                 full quota is back, i.e. the key's TAT
    retry_after  when refused: whole seconds until the next request is admitted (at least 1)

A Redis adapter (the scale-out profile) keeps the same arithmetic, with one key per credential
holding the TAT in microseconds (Lua numbers are doubles: nanoseconds would lose precision), and one
atomic round trip per request (EVALSHA), taking the time from the Redis server so that the API nodes'
clocks do not matter:

    local t = redis.call('TIME')
    local now = t[1] * 1000000 + t[2]
    local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
    local new_tat = tat + ARGV[1]                -- ARGV[1]: interval in µs, ARGV[2]: period in µs
    if new_tat - ARGV[2] > now then return {0, tat, now} end
    redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
    return {1, new_tat, now}

The expiry is the TAT itself, so Redis evicts idle keys the same way this class does. The adapter then
builds its `RateDecision` with `decide()` below (times times 1000), and `bootstrap` picks it when Redis
is configured; the `RateLimiter` port does not change.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from auctera.services.ports import RateDecision

NS = 1_000_000_000
PERIOD_NS = 60 * NS  # limits are per minute

# Idle keys dropped per request: more than one, so a backlog left by a burst of new keys drains.
_EVICT_PER_HIT = 2


def interval_ns(limit_per_minute: int) -> int:
    """Spacing between requests at the sustained rate. Rounded down, so `limit` requests fit a period;
    at least 1 ns, so a limit past 60 billion a minute (no limit, in effect) still moves the TAT on."""
    if limit_per_minute < 1:
        raise ValueError(f"rate limit must be at least 1 per minute, got {limit_per_minute}")
    return max(PERIOD_NS // limit_per_minute, 1)


def decide(allowed: bool, tat_ns: int, now_ns: int, limit: int, wall_now: float) -> RateDecision:
    """The decision for a request at `now_ns`, given the key's TAT after it (`tat_ns`).

    Shared with other adapters: they only need the TAT and "now" on one clock, and the wall clock.
    """
    interval = interval_ns(limit)
    reset_at = math.ceil(wall_now + max(tat_ns - now_ns, 0) / NS)
    if allowed:
        remaining = min((now_ns + PERIOD_NS - tat_ns) // interval, limit - 1)
        return RateDecision(True, limit, max(remaining, 0), reset_at, retry_after=0)
    wait = max(tat_ns, now_ns) + interval - PERIOD_NS - now_ns
    return RateDecision(False, limit, 0, reset_at, retry_after=max(1, -(-wait // NS)))


class InProcessRateLimiter:
    """`RateLimiter` for one process (the embedded profile). Thread-safe.

    `clock` measures intervals and should be monotonic; `wall_clock` only turns instants into the
    epoch seconds of `reset_at`. Tests pass one fake clock for both.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_keys: int = 100_000,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_keys = max_keys
        self._tat: OrderedDict[str, int] = OrderedDict()  # key -> TAT (ns on `clock`), LRU first
        self._lock = threading.Lock()

    def hit(self, key: str, limit_per_minute: int) -> RateDecision:
        interval = interval_ns(limit_per_minute)
        with self._lock:
            # Read the clock under the lock, so the TATs we store never go backwards.
            now = int(self._clock() * NS)
            wall_now = self._wall_clock()
            tat = max(self._tat.get(key, now), now)
            allowed = tat + interval - PERIOD_NS <= now
            if allowed:
                tat += interval
                self._tat[key] = tat
            self._tat.move_to_end(key)  # a new key is always allowed, so `key` is in the map here
            self._evict(now)
        return decide(allowed, tat, now, limit_per_minute, wall_now)

    def tracked_keys(self) -> int:
        """How many keys are held in memory (for tests and diagnostics)."""
        return len(self._tat)

    def _evict(self, now: int) -> None:
        # The least recently used key has the oldest TAT bound (TAT <= last use + period), so once the
        # front key is still busy, every key behind it is too: checking the front is enough.
        for _ in range(_EVICT_PER_HIT):
            oldest_key, oldest_tat = next(iter(self._tat.items()))
            if oldest_tat > now:
                break
            del self._tat[oldest_key]  # never the key just hit: its TAT is in the future
        while len(self._tat) > self._max_keys:
            self._tat.popitem(last=False)
