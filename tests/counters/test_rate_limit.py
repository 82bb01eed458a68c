"""InProcessRateLimiter: GCRA quotas per key, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from auctera.counters.rate_limit import InProcessRateLimiter
from auctera.services.ports import RateLimiter

START = 1_700_000_000.0  # a wall-clock instant, so reset_at reads as epoch seconds


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> InProcessRateLimiter:
    return InProcessRateLimiter(clock=clock, wall_clock=clock)


def test_implements_the_port(limiter: InProcessRateLimiter) -> None:
    port: RateLimiter = limiter  # checked by mypy; the call checks the shape at run time
    assert port.hit("k", 10).allowed


def test_first_request_of_an_idle_key(limiter: InProcessRateLimiter) -> None:
    decision = limiter.hit("k", 60)
    assert decision.allowed
    assert (decision.limit, decision.remaining, decision.retry_after) == (60, 59, 0)
    assert decision.reset_at == START + 1  # one interval (1 s at 60/min) refills it


def test_remaining_counts_down_to_zero_then_refuses(limiter: InProcessRateLimiter) -> None:
    remaining = [limiter.hit("k", 30).remaining for _ in range(30)]
    assert remaining == list(range(29, -1, -1))
    refused = limiter.hit("k", 30)
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == 2  # 60 s / 30: the next request is admitted 2 s later
    assert refused.reset_at == START + 60  # the whole quota is back a minute after the burst


def test_refusals_do_not_consume_quota(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        limiter.hit("k", 3)
    for _ in range(50):
        assert not limiter.hit("k", 3).allowed
    clock.advance(20)  # one interval
    assert limiter.hit("k", 3).allowed


def test_retry_after_is_whole_seconds_rounded_up(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    assert limiter.hit("k", 1).allowed
    assert limiter.hit("k", 1).retry_after == 60
    clock.advance(59.2)
    assert limiter.hit("k", 1).retry_after == 1  # 0.8 s left: never "retry in 0"
    clock.advance(0.8)
    assert limiter.hit("k", 1).allowed


def test_retry_after_is_honest(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for _ in range(7):
        limiter.hit("k", 7)
    refused = limiter.hit("k", 7)
    clock.advance(refused.retry_after)
    assert limiter.hit("k", 7).allowed


def test_full_quota_is_back_a_minute_later(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for _ in range(10):
        assert limiter.hit("k", 10).allowed
    assert not limiter.hit("k", 10).allowed
    clock.advance(60)
    assert [limiter.hit("k", 10).allowed for _ in range(11)] == [True] * 10 + [False]


def test_quota_refills_gradually(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for _ in range(6):
        limiter.hit("k", 6)
    clock.advance(25)  # 2.5 intervals of 10 s
    assert [limiter.hit("k", 6).allowed for _ in range(3)] == [True, True, False]


def test_no_double_quota_across_a_minute_boundary(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    clock.advance(59)
    admitted = sum(limiter.hit("k", 10).allowed for _ in range(20))
    clock.advance(2)  # a fixed window would have reset here
    admitted += sum(limiter.hit("k", 10).allowed for _ in range(20))
    assert admitted == 10


def test_keys_are_independent(limiter: InProcessRateLimiter) -> None:
    for _ in range(2):
        limiter.hit("a", 2)
    assert not limiter.hit("a", 2).allowed
    decision = limiter.hit("b", 2)
    assert decision.allowed
    assert decision.remaining == 1


def test_a_changed_limit_applies_at_once(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    # The state is time, not a count: a spent quota stays spent, and refills at the new rate.
    for _ in range(5):
        limiter.hit("k", 5)
    assert limiter.hit("k", 5).retry_after == 12
    raised = limiter.hit("k", 100)
    assert (raised.allowed, raised.limit, raised.retry_after) == (False, 100, 1)  # 0.6 s, rounded up
    clock.advance(6)
    assert sum(limiter.hit("k", 100).allowed for _ in range(20)) == 10


def test_reset_uses_the_wall_clock() -> None:
    mono = FakeClock(5.0)  # a monotonic clock: arbitrary origin
    limiter = InProcessRateLimiter(clock=mono, wall_clock=lambda: START)
    assert limiter.hit("k", 2).reset_at == START + 30


@pytest.mark.parametrize("bad", [0, -5])
def test_rejects_a_limit_below_one(limiter: InProcessRateLimiter, bad: int) -> None:
    with pytest.raises(ValueError):
        limiter.hit("k", bad)


def test_idle_keys_are_dropped(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for n in range(1000):
        limiter.hit(f"key-{n}", 60)
    assert limiter.tracked_keys() == 1000
    clock.advance(1)  # every bucket is full again
    for _ in range(600):
        limiter.hit("busy", 6000)
    assert limiter.tracked_keys() == 1  # only the key in use is left


def test_dropping_an_idle_key_forgets_nothing(limiter: InProcessRateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        limiter.hit("k", 3)
    clock.advance(60)
    limiter.hit("other", 3)  # evicts "k"
    assert [limiter.hit("k", 3).remaining for _ in range(3)] == [2, 1, 0]


def test_key_count_is_capped(clock: FakeClock) -> None:
    limiter = InProcessRateLimiter(clock=clock, wall_clock=clock, max_keys=100)
    for n in range(1000):
        limiter.hit(f"key-{n}", 1)  # all busy for a minute
    assert limiter.tracked_keys() == 100
    assert not limiter.hit("key-999", 1).allowed  # the most recent ones are still limited


def test_concurrent_hits_admit_exactly_the_limit(limiter: InProcessRateLimiter) -> None:
    admitted: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results = [limiter.hit("shared", 500).allowed for _ in range(200)]
        with lock:
            admitted.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 500  # the clock stands still: the burst is exactly the quota


def test_large_limits_admit_the_whole_quota(limiter: InProcessRateLimiter) -> None:
    # Integer arithmetic: no float drift makes the last request of a burst fail.
    assert all(limiter.hit("k", 100_000).allowed for _ in range(100_000))
    assert not limiter.hit("k", 100_000).allowed


def test_a_limit_past_one_request_a_nanosecond_still_answers(limiter: InProcessRateLimiter) -> None:
    # 60 billion a minute is one request per nanosecond: a larger limit used to round the
    # interval down to 0, and the key just hit was then dropped as idle (a 500 on every request).
    for limit in (60_000_000_001, 2**63):
        decisions = [limiter.hit(f"k{limit}", limit) for _ in range(3)]
        assert all(d.allowed for d in decisions)
        assert decisions[-1].limit == limit
