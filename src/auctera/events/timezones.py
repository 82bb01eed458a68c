"""Local days of UTC instants, as SQL integer arithmetic instead of a per-row zone lookup.

Over a query's time range a zone has only a few UTC offsets (one change per DST switch),
so we find them once in Python and let SQL add the right offset with a short CASE; the
result is exact, and several times faster in DuckDB than `timezone()` (ICU) on every row.
"""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

DAY_MICROS: Final = 86_400_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND: Final = timedelta(microseconds=1)
# No IANA zone changes its offset twice within this long; between samples we binary-search.
_SAMPLE_STEP_MICROS: Final = 6 * 3_600_000_000
MAX_PIECES: Final = 256  # beyond this (centuries of DST rules) a CASE stops paying off
# SQL `//` truncates toward zero; shifting by whole days keeps operands positive (floor).
_SHIFT_DAYS: Final = 1_000_000


@lru_cache(maxsize=512)
def python_zone(tz: str) -> zoneinfo.ZoneInfo | None:
    """The zone from Python's tz database, or None if that database does not have it."""
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _offset_micros(zone: zoneinfo.ZoneInfo, at_micros: int) -> int:
    offset = (_EPOCH + timedelta(microseconds=at_micros)).astimezone(zone).utcoffset()
    assert offset is not None
    return offset // _ONE_MICROSECOND


def offset_pieces(zone: zoneinfo.ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """[(from_micros, offset_micros), ...]: the zone's UTC offset on [lo, hi), piece by piece."""
    pieces = [(lo, _offset_micros(zone, lo))]
    at = lo
    while at < hi:
        step_end = min(at + _SAMPLE_STEP_MICROS, hi)
        if _offset_micros(zone, step_end) != pieces[-1][1]:
            before, after = at, step_end  # offset(before) is the current one, offset(after) is not
            while after - before > 1:
                middle = (before + after) // 2
                if _offset_micros(zone, middle) == pieces[-1][1]:
                    before = middle
                else:
                    after = middle
            if after < hi:
                pieces.append((after, _offset_micros(zone, after)))
        at = step_end
    return pieces


def local_day_sql(tz: str, lo: int, hi: int, column: str = '"at"') -> str | None:
    """SQL DATE of `column` (UTC micros) in `tz`, exact for lo <= column < hi.

    None if Python's tz database lacks `tz` or the range needs too many pieces: the caller
    then uses DuckDB's own `timezone()`.
    """
    zone = python_zone(tz)
    if zone is None:
        return None
    pieces = offset_pieces(zone, lo, hi)
    return None if len(pieces) > MAX_PIECES else pieces_day_sql(pieces, column)


def pieces_day_sql(pieces: list[tuple[int, int]], column: str) -> str:
    """SQL DATE of `column` given the zone's `offset_pieces` over a range holding every value of it."""
    if len(pieces) == 1:
        offset = str(pieces[0][1])
    else:
        pairs = itertools.pairwise(pieces)
        branches = " ".join(f"WHEN {column} < {start} THEN {prev}" for (_, prev), (start, _) in pairs)
        offset = f"CASE {branches} ELSE {pieces[-1][1]} END"
    days = f"({column} + {offset} + {_SHIFT_DAYS * DAY_MICROS}) // {DAY_MICROS} - {_SHIFT_DAYS}"
    return f"(DATE '1970-01-01' + CAST({days} AS INTEGER))"


def local_day_numbers(pieces: list[tuple[int, int]], start: int, end: int) -> set[int]:
    """The local days (days since 1970-01-01) met by the instants start <= t < end, within `pieces`.

    Checked piece by piece: where clocks go back across midnight, a span can leave a day and
    come back to it, so looking at its two ends alone would not do.
    """
    days: set[int] = set()
    ends = [at for at, _ in pieces[1:]] + [end]
    for (piece_start, offset), piece_end in zip(pieces, ends, strict=True):
        lo, hi = max(start, piece_start), min(end, piece_end)
        if lo < hi:  # local time rises within a piece: its days are a contiguous range
            days.update(range((lo + offset) // DAY_MICROS, (hi - 1 + offset) // DAY_MICROS + 1))
    return days
