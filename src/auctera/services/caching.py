"""Short-lived in-process caches for reads the hot paths make on every request."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """`get(key, load)`: the value loaded at most `seconds` ago, else `load(key)`. Bounded: the
    entries loaded longest ago go first."""

    def __init__(self, seconds: float, size: int = 65_536) -> None:
        self._seconds = seconds
        self._size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V]) -> V:
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
        if held is not None and now - held[0] < self._seconds:
            return held[1]
        value = load(key)
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
