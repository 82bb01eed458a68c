"""The auction service's in-memory caches: page sessions' answers, inventories that reload in the
background, and the spend each bidder has made and its account's balance, all bounded and
thread-safe."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Generic, Protocol, TypeVar

from auctera.domain.budgets import Spend

# What a page session was answered: (result id, at) without a winner; with one, also the
# winner's (bidder, product, price charged, price in the auction currency) as ints.
Seen = tuple[int, datetime] | tuple[int, datetime, int, int, int, int]


class PageSessions:
    """What each page session (SmartLink, uuid) was answered, for `seconds`: bounded, thread-safe."""

    def __init__(self, seconds: float, size: int = 200_000) -> None:
        self._seconds = seconds
        self._size = size
        self._items: OrderedDict[tuple[int, str], tuple[float, Seen]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, link_id: int, uuid: str) -> Seen | None:
        with self._lock:
            held = self._items.get((link_id, uuid))
        if held is None or time.monotonic() - held[0] >= self._seconds:
            return None
        return held[1]

    def put(self, link_id: int, uuid: str, seen: Seen) -> None:
        with self._lock:
            self._items[(link_id, uuid)] = (time.monotonic(), seen)
            self._items.move_to_end((link_id, uuid))
            while len(self._items) > self._size:
                self._items.popitem(last=False)


K = TypeVar("K")
V = TypeVar("V")


class ReloadingCache(Generic[K, V]):
    """Values by key, each due for a reload after 50-100% of `seconds` (at random, so entries
    loaded together come due spread out) or when `expire_all` says the source changed.

    `get` answers the value held even when it is due (the background reloads it: see
    `stale`); only a key never loaded is loaded there and then. With `seconds` 0 nothing is
    cached. Bounded (the entries loaded longest ago go first); thread-safe."""

    def __init__(self, seconds: float, size: int) -> None:
        self._seconds = seconds
        self._size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (due at, value)
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V]) -> V:
        held = self._items.get(key)
        if held is not None and self._seconds > 0:
            return held[1]
        value = load(key)
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        due = time.monotonic() + self._seconds * (0.5 + random.random() / 2)
        with self._lock:
            self._items[key] = (due, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def stale(self, limit: int) -> list[K]:
        """Up to `limit` keys due for a reload, the longest overdue first."""
        now = time.monotonic()
        with self._lock:
            due = [(at, key) for key, (at, _) in self._items.items() if at <= now]
        due.sort(key=lambda item: item[0])
        return [key for _, key in due[: max(limit, 0)]]

    def expire_all(self) -> None:
        """Everything is due now (the source changed), in random order, so reloads spread."""
        with self._lock:
            for key, (_, value) in self._items.items():
                self._items[key] = (-random.random(), value)

    def drop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)


class SpendReader(Protocol):
    def spend_of(self, subject_ids: Sequence[int], today: date) -> dict[int, Spend]:
        """Spend so far per line item or campaign id: lifetime, in the local month and day of `today`."""
        ...

    def balances_of(self, account_ids: Sequence[int]) -> dict[int, int | None]:
        """Each account's prepaid balance now (None: invoiced)."""
        ...


class SpendBook:
    """What each line item and campaign has spent, as read lately: {subject: (day, Spend, read
    at)}, and each bidding account's prepaid balance. Thread-safe. `spend` and `balances` answer
    from it, reading only what is missing (or, spend, too old); `refresh` re-reads everything
    held, in bulk, to keep the auctions from reading at all.

    Balances are not part of the cached inventories: every charge draws one, and a top-up, an
    overwrite or a switch to invoiced is no inventory change either. They are re-read on every
    `refresh` (a balance moves with each click, spend only adds up), and `balance_changes` counts
    the refreshes that found one moved, so an auction knows its pool's headroom is out of date."""

    def __init__(self, size: int = 1_000_000) -> None:
        self._size = size
        self._held: dict[int, tuple[date, Spend, float]] = {}
        self._balances: dict[int, int | None] = {}
        self.balance_changes = 0
        self._lock = threading.Lock()

    def spend(self, wanted: set[tuple[int, date]], source: SpendReader, max_age: float) -> dict[int, Spend]:
        now = time.monotonic()
        found: dict[int, Spend] = {}
        missing: dict[date, list[int]] = {}
        for subject, day in wanted:
            held = self._held.get(subject)
            if held is not None and held[0] == day and now - held[2] < max_age:
                found[subject] = held[1]
            else:
                missing.setdefault(day, []).append(subject)
        for day, subjects in missing.items():
            found.update(self._read(source, subjects, day))
        return found

    def balances(self, account_ids: set[int], source: SpendReader, max_age: float) -> dict[int, int | None]:
        """The accounts' balances as last read; read now only those never read, or every one
        when `max_age` is 0 (no caching)."""
        held = self._balances
        missing = sorted(account_ids if max_age <= 0 else (a for a in account_ids if a not in held))
        if missing:
            self._read_balances(source, missing)
        held = self._balances
        return {a: held.get(a) for a in account_ids}

    def refresh(self, source: SpendReader, max_age: float) -> int:
        """Re-read the subjects read more than `max_age` seconds ago, for the day they were read
        for (a new local day starts from the first auction that asks for it), and every balance."""
        now = time.monotonic()
        with self._lock:
            stale: dict[date, list[int]] = {}
            for subject, (day, _, read_at) in self._held.items():
                if now - read_at >= max_age:
                    stale.setdefault(day, []).append(subject)
            accounts = sorted(self._balances)
        for day, subjects in stale.items():
            self._read(source, subjects, day)
        if accounts:
            self._read_balances(source, accounts)
        return sum(len(s) for s in stale.values())

    def _read_balances(self, source: SpendReader, account_ids: list[int]) -> None:
        fresh = source.balances_of(account_ids)
        with self._lock:
            moved = any(a in self._balances and self._balances[a] != b for a, b in fresh.items())
            if len(self._balances) + len(fresh) > self._size:
                self._balances = {}
            # Replaced whole: readers on other threads see the old or the new dict, never half.
            self._balances = {**self._balances, **fresh}
            if moved:
                self.balance_changes += 1

    def _read(self, source: SpendReader, subjects: list[int], day: date) -> dict[int, Spend]:
        read_at = time.monotonic()
        fresh = source.spend_of(subjects, day)
        with self._lock:
            if len(self._held) + len(fresh) > self._size:
                self._held.clear()  # a rare reset beats tracking recency for a million entries
            for subject, spent in fresh.items():
                self._held[subject] = (day, spent, read_at)
        return fresh
