"""Campaign totals for several time windows in one query, from rollups wherever they can answer.

Per window [start, end) and compacted segment with a rollup, one source answers each event:

- the segment lies inside the window's whole buckets [aligned_start, aligned_end): its
  per-segment totals (one row per campaign, whatever the number of events);
- otherwise its 15-minute bucket rows (per campaign) inside the whole buckets, plus its raw
  events in the unaligned edges [start, aligned_start) and [aligned_end, end).

Live and sealed JSON segments, and Parquet segments without a rollup, are read raw.

One pass: each source is read once and summed per campaign and per combination of the
windows its rows count for (`in_0`, `in_1`, ...: a handful of combinations), and one FILTER
per window and counter then adds up those few partial rows. (A FILTER per window and
counter on every source row is two to three times slower in DuckDB.) Python only
chooses which files to read, from the spans in rollup names; the `in_i` conditions alone
decide what counts, so reading a file that is not needed would change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from auctera.events.buckets import bucket_ceil, bucket_floor
from auctera.events.layout import Rollup, Snapshot
from auctera.events.sql import (
    COUNTER_NAMES,
    parquet_select,
    raw_aggregates,
    rollup_aggregates,
    source_sql,
)
from auctera.events.totals_cache import RowsSource, read_campaign_buckets, read_totals

_COLUMNS = ("events", *COUNTER_NAMES)  # what each source sums, and the query returns per window
COLUMNS_PER_WINDOW = len(_COLUMNS)
_AT = '"at"'  # quoted: a keyword


@dataclass(frozen=True, slots=True)
class Window:
    start: int  # UTC micros, inclusive
    end: int  # exclusive; start < end

    @property
    def whole(self) -> tuple[int, int] | None:
        """The whole buckets inside the window, or None if it holds none."""
        lo, hi = bucket_ceil(self.start), bucket_floor(self.end)
        return (lo, hi) if lo < hi else None

    def edges(self) -> list[tuple[int, int]]:
        """The parts of the window outside its whole buckets (non-empty ones only)."""
        if (whole := self.whole) is None:
            return [(self.start, self.end)]
        return [(lo, hi) for lo, hi in ((self.start, whole[0]), (whole[1], self.end)) if lo < hi]

    # SQL conditions saying which rows of each source count for this window.

    def raw_condition(self) -> str:
        return _between(_AT, self.start, self.end)

    def edge_condition(self) -> str:
        return " OR ".join(f"({_between(_AT, lo, hi)})" for lo, hi in self.edges()) or "false"

    def buckets_condition(self) -> str:
        if (whole := self.whole) is None:
            return "false"
        return f"{_between('bucket', *whole)} AND NOT ({self.totals_condition()})"

    def totals_condition(self) -> str:
        if (whole := self.whole) is None:
            return "false"
        return f"span_start >= {whole[0]} AND span_end <= {whole[1]}"


def campaign_windows_query(
    snapshot: Snapshot,
    account_id: int,
    campaign_ids: Sequence[int] | None,
    windows: Sequence[Window],
    totals_source: RowsSource = read_totals,
    buckets_source: RowsSource = read_campaign_buckets,
) -> str | None:
    """SQL giving, per campaign, `COLUMNS_PER_WINDOW` columns for each window in order; None if no
    file can hold a matching event."""
    keys = [f"account_id = {int(account_id)}", "campaign_id IS NOT NULL"]
    if campaign_ids is not None:
        # Inlined (they are ints) so DuckDB can prune Parquet row groups on them.
        keys.append(f"campaign_id IN ({', '.join(str(int(c)) for c in campaign_ids)})")
    reads = _Reads.plan(snapshot, windows)
    unrolled = [p for p in snapshot.parquet if p not in snapshot.rollups]
    raw, summed = raw_aggregates(events=True), rollup_aggregates(events=True)
    parts = []
    if snapshot.jsonl or unrolled:
        source = f"({source_sql(snapshot.jsonl, unrolled, snapshot.jsonl_rows)})"
        parts.append(_part(source, keys, windows, [w.raw_condition() for w in windows], _AT, raw))
    if reads.edges:
        conditions = _conditions(windows, reads.edges_for, Window.edge_condition)
        parts.append(_part(f"({parquet_select(reads.edges)})", keys, windows, conditions, _AT, raw))
    if reads.buckets:
        conditions = _conditions(windows, reads.buckets_for, Window.buckets_condition)
        parts.append(_part(buckets_source(reads.buckets), keys, windows, conditions, "bucket", summed))
    if reads.totals:
        conditions = _conditions(windows, reads.totals_for, Window.totals_condition)
        parts.append(_part(totals_source(reads.totals), keys, windows, conditions, None, summed))
    if not parts:
        return None
    sums = ",\n    ".join(
        f"coalesce(sum({c}) FILTER (WHERE in_{i}), 0)" for i in range(len(windows)) for c in _COLUMNS
    )
    union = "\nUNION ALL\n".join(parts)
    return f"SELECT campaign_id,\n    {sums}\nFROM (\n{union}\n)\nGROUP BY campaign_id"


def _part(
    source: str,
    keys: list[str],
    windows: Sequence[Window],
    conditions: list[str],
    time_column: str | None,
    aggregates: str,
) -> str:
    """One source summed per campaign and per combination of the windows its rows count for
    (`conditions`), prefiltered on the time the windows it serves span, for row-group pruning."""
    where = list(keys)
    if time_column is not None:
        served = [w for w, c in zip(windows, conditions, strict=True) if c != "false"]
        where.append(_between(time_column, min(w.start for w in served), max(w.end for w in served)))
    membership = ", ".join(f"({c}) AS in_{i}" for i, c in enumerate(conditions))
    select = f"SELECT campaign_id, {membership},\n    {aggregates}"
    return f"{select}\nFROM {source}\nWHERE {' AND '.join(where)}\nGROUP BY ALL"


@dataclass(slots=True)
class _Reads:
    """What to read of compacted segments with rollups, and for which windows."""

    totals: list[Rollup] = field(default_factory=list)
    buckets: list[Rollup] = field(default_factory=list)
    edges: list[Path] = field(default_factory=list)  # Parquet files read raw for unaligned edges
    totals_for: list[bool] = field(default_factory=list)
    buckets_for: list[bool] = field(default_factory=list)
    edges_for: list[bool] = field(default_factory=list)

    @classmethod
    def plan(cls, snapshot: Snapshot, windows: Sequence[Window]) -> _Reads:
        reads = cls([], [], [], [False] * len(windows), [False] * len(windows), [False] * len(windows))
        shapes = [(w.whole, w.edges()) for w in windows]
        for parquet, rollup in snapshot.rollups.items():
            if rollup.is_empty:
                continue
            lo, hi = rollup.span_start, rollup.span_end
            totals = buckets = edges = False
            for i, (whole, window_edges) in enumerate(shapes):
                if whole is not None and whole[0] <= lo and hi <= whole[1]:
                    reads.totals_for[i] = totals = True
                    continue  # held whole: no event of it is in the window's edges
                if whole is not None and whole[0] < hi and lo < whole[1]:
                    reads.buckets_for[i] = buckets = True
                if any(a < hi and lo < b for a, b in window_edges):
                    reads.edges_for[i] = edges = True
            if totals:
                reads.totals.append(rollup)
            if buckets:
                reads.buckets.append(rollup)
            if edges:
                reads.edges.append(parquet)
        return reads


def _conditions(
    windows: Sequence[Window], needed: list[bool], condition: Callable[[Window], str]
) -> list[str]:
    """`condition` for the windows that need a source, `false` (the same result, for free) elsewhere."""
    return [condition(w) if need else "false" for w, need in zip(windows, needed, strict=True)]


def _between(column: str, lo: int, hi: int) -> str:
    return f"{column} >= {lo} AND {column} < {hi}"
