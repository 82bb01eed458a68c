"""Per-campaign window totals of an account over compacted segments, kept in memory.

A campaign list page asks the same windows (today, lifetime) for a hundred campaigns again
and again. Compacted Parquet segments never change once renamed in, so their share of those
figures is computed once for the whole account and window set, and afterwards only for
segments compacted since (sums add up across segments). A query then reads only the live
JSON segments (from the tail index) and looks its campaigns up here. Planning a DuckDB
query over the rollups costs several milliseconds however few rows it reads, so this is
what keeps a page fast on a large account.

An entry whose segments are no longer all listed (deleted) is computed afresh. Entries are
dropped least recently used first once they hold more than `max_campaigns` rows in all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Rows of a campaign windows query: campaign_id, then the values of every window.
Rows = Iterable[Sequence[int]]
Key = tuple[int, tuple[tuple[int, int], ...]]  # account id, windows (start, end) in UTC micros


@dataclass(frozen=True, slots=True)
class _Entry:
    files: frozenset[Path]
    sums: dict[int, tuple[int, ...]]  # campaign id -> its values over `files`


class CompactedTotals:
    def __init__(self, max_campaigns: int = 2_000_000) -> None:
        self._max = max_campaigns
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def sums(
        self,
        key: Key,
        files: Sequence[Path],
        compute: Callable[[list[Path]], Rows],
    ) -> dict[int, tuple[int, ...]]:
        """campaign id -> values over the compacted `files`; `compute(some_files)` answers the rows
        of a campaign windows query over those files only, for the whole account."""
        listed = frozenset(files)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.files == listed:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry.sums
        if entry is None or not entry.files <= listed:
            entry = _Entry(frozenset(), {})
        new = sorted(listed - entry.files)
        sums = dict(entry.sums)
        for campaign_id, *values in compute(new):
            held = sums.get(campaign_id)
            sums[campaign_id] = (
                tuple(values) if held is None else tuple(map(sum, zip(held, values, strict=True)))
            )
        self._store(key, _Entry(listed, sums))
        return sums

    def _store(self, key: Key, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None and old.files > entry.files:  # another thread got further: keep it
                self._entries[key] = old
                return
            self._held += len(entry.sums) - (len(old.sums) if old is not None else 0)
            self._entries[key] = entry
            while self._held > self._max and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._held -= len(dropped.sums)
