"""The in-memory share of compacted segments in campaign window totals (`CompactedTotals`)."""

from __future__ import annotations

from pathlib import Path

from auctera.events.compacted_totals import CompactedTotals

KEY = (1, ((0, 10),))
A, B, C = Path("a.parquet"), Path("b.parquet"), Path("c.parquet")
ROWS = {A: [(10, 1, 5)], B: [(10, 2, 7), (11, 1, 1)], C: [(12, 3, 3)]}


class Counting:
    """A `compute` answering fixed rows per file, remembering what it was asked."""

    def __init__(self) -> None:
        self.asked: list[list[Path]] = []

    def __call__(self, files: list[Path]) -> list[tuple[int, ...]]:
        self.asked.append(files)
        return [row for f in files for row in ROWS[f]]


def test_segments_compacted_since_are_the_only_ones_read_and_add_up() -> None:
    cache, compute = CompactedTotals(), Counting()
    assert cache.sums(KEY, [A], compute) == {10: (1, 5)}
    assert cache.sums(KEY, [A], compute) == {10: (1, 5)}
    assert cache.sums(KEY, [A, B], compute) == {10: (3, 12), 11: (1, 1)}
    assert compute.asked == [[A], [B]]


def test_a_deleted_segment_means_computing_afresh() -> None:
    cache, compute = CompactedTotals(), Counting()
    cache.sums(KEY, [A, B], compute)
    assert cache.sums(KEY, [B, C], compute) == {10: (2, 7), 11: (1, 1), 12: (3, 3)}
    assert compute.asked == [[A, B], [B, C]]


def test_accounts_and_windows_are_kept_apart() -> None:
    cache, compute = CompactedTotals(), Counting()
    cache.sums(KEY, [A], compute)
    other_window = (1, ((0, 20),))
    assert cache.sums(other_window, [A], compute) == {10: (1, 5)}
    assert compute.asked == [[A], [A]]


def test_least_recently_used_entries_go_first_past_the_limit() -> None:
    cache, compute = CompactedTotals(max_campaigns=2), Counting()
    first, second = (1, ((0, 1),)), (2, ((0, 1),))
    cache.sums(first, [A], compute)  # 1 campaign
    cache.sums(second, [C], compute)  # 2 in all
    cache.sums(first, [A], compute)  # used again: `second` is now the oldest
    cache.sums(KEY, [B], compute)  # 4 in all: `second` goes, then still 3 > 2: `first` goes
    cache.sums(first, [A], compute)
    assert compute.asked == [[A], [C], [B], [A]]
