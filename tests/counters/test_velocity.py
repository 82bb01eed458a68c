"""SlidingWindowCounter: exact hits per key in (at - window, at], bounded memory, thread safety."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from auctera.counters.velocity import SlidingWindowCounter
from auctera.services.ports import VelocityCounter

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_is_a_velocity_counter() -> None:
    counter: VelocityCounter = SlidingWindowCounter()
    assert counter.hit("k", T0, MINUTE) == 1


def test_counts_hits_in_the_sliding_window() -> None:
    c = SlidingWindowCounter()
    assert [c.hit("ip:1", at(s), MINUTE) for s in (0, 10, 20, 30)] == [1, 2, 3, 4]
    assert c.hit("ip:1", at(60), MINUTE) == 4  # the hit at 0 s is exactly one window old: out
    assert c.hit("ip:1", at(75), MINUTE) == 4  # 20, 30, 60, 75
    assert c.hit("ip:1", at(200), MINUTE) == 1
    assert c.count("ip:1", at(200), MINUTE) == 1


def test_a_burst_at_a_window_edge_is_not_under_counted() -> None:
    c = SlidingWindowCounter()
    for _ in range(100):
        c.hit("k", at(59), MINUTE)
    assert c.hit("k", at(61), MINUTE) == 101  # a two-bucket estimate would say about 3


def test_keys_are_independent() -> None:
    c = SlidingWindowCounter()
    c.hit("a", T0, MINUTE)
    c.hit("a", T0, MINUTE)
    assert c.hit("b", T0, MINUTE) == 1


def test_late_hits_are_counted_against_their_own_time() -> None:
    c = SlidingWindowCounter()
    c.hit("k", at(100), MINUTE)
    c.hit("k", at(110), MINUTE)
    assert c.hit("k", at(105), MINUTE) == 2  # 100 and 105; 110 is after it
    assert c.hit("k", at(10), MINUTE) == 1  # far too old: only itself
    assert c.count("k", at(110), MINUTE) == 3


def test_idle_keys_are_evicted() -> None:
    c = SlidingWindowCounter()
    for i in range(1000):
        c.hit(f"ip:{i}", at(0), MINUTE)
    assert c.tracked_keys() == 1000
    for i in range(600):  # each hit, well after the window, drops up to two expired keys
        c.hit("busy", at(120 + i * 0.01), MINUTE)
    assert c.tracked_keys() == 1


def test_max_keys_bounds_memory() -> None:
    c = SlidingWindowCounter(max_keys=100)
    for i in range(1000):
        c.hit(f"k{i}", T0, timedelta(hours=1))
    assert c.tracked_keys() == 100


def test_minute_keys_do_not_outlive_their_window_behind_hour_long_ones() -> None:
    """The fraud filter's mix: per click, a minute-long key per IP and per device and an hour-long
    cadence key per device. 100 new visitors a second for 10 minutes: what is tracked is what is
    still in its window (a minute of IP and device keys, every cadence key), not every key made."""
    c = SlidingWindowCounter()
    for second in range(600):
        for n in range(100):
            visitor = f"{second}-{n}"
            c.hit(f"ip:{visitor}", at(second), MINUTE)
            c.hit(f"dev:{visitor}", at(second), MINUTE)
            c.hit(f"cad:{visitor}", at(second), timedelta(hours=1))
    in_window = 2 * 100 * 60 + 100 * 600
    assert in_window <= c.tracked_keys() <= in_window + 2 * 100 * 2  # what a second's hits leave behind


def test_at_the_bound_the_key_expiring_soonest_goes_first() -> None:
    c = SlidingWindowCounter(max_keys=120)
    for n in range(100):  # hour-long keys, hit first
        c.hit(f"cad:{n}", at(n), timedelta(hours=1))
    for n in range(400):  # then a new minute-long key a second: about 60 in their window at a time
        c.hit(f"ip:{n}", at(100 + n), MINUTE)
    assert c.tracked_keys() == 120
    # The least recently hit keys were the hour-long ones, still in their window: all kept.
    assert [c.count(f"cad:{n}", at(500), timedelta(hours=1)) for n in range(100)] == [1] * 100


def test_count_saturates_at_max_hits_per_key() -> None:
    c = SlidingWindowCounter(max_hits_per_key=50)
    counts = [c.hit("k", T0, MINUTE) for _ in range(80)]
    assert counts[-1] == 50 and max(counts) == 50


def test_thread_safe_totals() -> None:
    c = SlidingWindowCounter(max_hits_per_key=100_000)

    def work() -> None:
        for _ in range(2000):
            c.hit("shared", T0, timedelta(hours=1))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.count("shared", T0, timedelta(hours=1)) == 8 * 2000


def test_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        SlidingWindowCounter(max_keys=0)
