"""15-minute UTC buckets, the time grain of rollups.

Every UTC offset in use today is a whole number of quarter hours, and zones change offset
on quarter-hour instants, so a local day is a union of whole buckets: rollups can answer
daily figures in any such zone exactly. Zones and eras where that fails (local mean time
before standardisation) are detected per query and answered from raw events.
"""

from __future__ import annotations

from typing import Final

BUCKET_MICROS: Final = 15 * 60 * 1_000_000


def bucket_floor(micros: int) -> int:
    """Start of the bucket holding `micros` (Python's // floors, also before 1970)."""
    return micros // BUCKET_MICROS * BUCKET_MICROS


def bucket_ceil(micros: int) -> int:
    """The first bucket start at or after `micros`."""
    return -(-micros // BUCKET_MICROS) * BUCKET_MICROS


def bucket_sql(column: str) -> str:
    """SQL bucket start of `column` (UTC micros). SQL `%` keeps the dividend's sign: hence the detour."""
    return f"({column} - (({column} % {BUCKET_MICROS}) + {BUCKET_MICROS}) % {BUCKET_MICROS})"


def offsets_align_to_buckets(pieces: list[tuple[int, int]]) -> bool:
    """Whether every local-day boundary within `pieces` (from `timezones.offset_pieces`) is a bucket start.

    True when each offset is whole quarter hours and each change of offset after the first
    piece happens on a bucket start; then no bucket straddles two local days.
    """
    offsets_ok = all(offset % BUCKET_MICROS == 0 for _, offset in pieces)
    return offsets_ok and all(start % BUCKET_MICROS == 0 for start, _ in pieces[1:])
