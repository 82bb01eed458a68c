"""Building rollups: the sums of one compacted segment, at three grains, written once.

A rollup directory holds three Parquet files, each row a partial sum of the counters
(`sql.COUNTERS`, plus `events`, the number of events summed):

    buckets.parquet           per (account_id, campaign_id, publisher_id, currency, bucket),
                              bucket being the start of a 15-minute UTC bucket (micros)
    campaign_buckets.parquet  the same without publisher_id: what campaign figures need, in
                              fewer rows where a campaign runs on many publishers
    totals.parquet            per (account_id, campaign_id, currency) over the whole segment,
                              for windows that hold the segment entirely (such as "lifetime")

Every row also carries the segment's span (`span_start`, `span_end`), which queries over
several windows use to pick, per window, one grain for the segment. Money sums are int64:
a key whose sum does not fit is stored as several rows that add up to it, so readers,
which sum rows anyway, stay exact without slower 128-bit columns.

The directory is built under a hidden name, fsynced, then renamed into place whole. Only
the holder of `compaction.lock` builds or deletes rollups.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Final

import duckdb

from auctera.events.buckets import BUCKET_MICROS, bucket_sql
from auctera.events.layout import (
    JOURNAL,
    PARQUET,
    ROLLUPS,
    SEALED,
    Layout,
    Rollup,
    Segment,
    fsync_dir,
    fsync_file,
)
from auctera.events.sql import COUNTER_NAMES, COUNTERS, parquet_select, raw_aggregates, sql_string

log = logging.getLogger(__name__)

_INT64_MAX: Final = 2**63 - 1
_MONEY: Final = tuple(name for name, aggregate, _ in COUNTERS if aggregate != "count(*)")
_VALUES: Final = ("events", *COUNTER_NAMES)  # columns after keys and span, as in raw_aggregates
_COUNTS: Final = tuple(name for name in _VALUES if name not in _MONEY)
# Keys, and sort orders for row-group pruning: by account, then time.
_BUCKET_KEYS: Final = "account_id, campaign_id, publisher_id, currency, bucket"
_BUCKET_ORDER: Final = "account_id, bucket, campaign_id, publisher_id, currency"
_CAMPAIGN_BUCKET_KEYS: Final = "account_id, campaign_id, currency, bucket"
_CAMPAIGN_BUCKET_ORDER: Final = "account_id, bucket, campaign_id, currency"
_TOTALS_KEYS: Final = "account_id, campaign_id, currency"


def build_rollup(layout: Layout, con: duckdb.DuckDBPyConnection, segment: Segment, source: Path) -> Rollup:
    """Write the rollup of `segment` from its Parquet file `source`, replacing any earlier one.

    An earlier one exists only if a compaction died after renaming it in and before renaming
    in the segment's Parquet file; readers never use it, as the segment is not compacted.
    """
    first, last = _bucket_span(con, source)
    final = layout.rollup_path(segment, first, last)
    rollup = Rollup(segment, final.parent, final.name, first, last)
    temporary = layout.stage_dir(ROLLUPS) / f".{segment.stem}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    span = f"{rollup.span_start}::BIGINT AS span_start, {rollup.span_end}::BIGINT AS span_end"
    buckets = temporary / rollup.buckets_file.name
    bucket = bucket_sql('"at"')
    events = f'SELECT *, {bucket} AS bucket FROM ({parquet_select([source])}) WHERE "at" IS NOT NULL'
    bucket_groups = f"SELECT {_BUCKET_KEYS}, {raw_aggregates(events=True)} FROM ({events}) GROUP BY ALL"
    _write(con, bucket_groups, _BUCKET_KEYS, span, _BUCKET_ORDER, buckets)
    # The coarser grains are sums of the finest one.
    sums = ", ".join(f"sum({c}) AS {c}" for c in _VALUES)
    coarser = [
        (rollup.campaign_buckets_file, _CAMPAIGN_BUCKET_KEYS, _CAMPAIGN_BUCKET_ORDER),
        (rollup.totals_file, _TOTALS_KEYS, _TOTALS_KEYS),
    ]
    for file, keys, order in coarser:
        groups = f"SELECT {keys}, {sums} FROM read_parquet({sql_string(str(buckets))}) GROUP BY ALL"
        _write(con, groups, keys, span, order, temporary / file.name)
    for name in os.listdir(temporary):
        fsync_file(temporary / name)
    fsync_dir(temporary)
    stale = layout.rollups().get(segment)
    if stale is not None:
        shutil.rmtree(stale.directory)
    os.rename(temporary, rollup.directory)
    fsync_dir(temporary.parent)
    return rollup


def build_missing_rollups(layout: Layout, con: duckdb.DuckDBPyConnection) -> int:
    """Build rollups for Parquet segments without one (compacted before rollups existed, or
    written straight into `parquet/`). Returns how many were built; failures are logged."""
    have = layout.rollups()
    built = 0
    for segment in layout.segments(PARQUET):
        if segment in have:
            continue
        try:
            build_rollup(layout, con, segment, layout.path(PARQUET, segment))
            built += 1
        except (duckdb.Error, OSError):  # that segment stays answered from raw events
            log.exception("building the rollup of %s failed", segment.stem)
    return built


def remove_stray_rollups(layout: Layout) -> None:
    """Delete temporary rollup directories and rollups whose segment is gone from every stage."""
    directory = layout.stage_dir(ROLLUPS)
    for name in os.listdir(directory):
        if name.startswith(".") and name.endswith(".tmp"):
            shutil.rmtree(directory / name, ignore_errors=True)
    present = {s for stage in (JOURNAL, SEALED, PARQUET) for s in layout.segments(stage)}
    removed = False
    for segment, rollup in layout.rollups().items():
        if segment not in present:
            shutil.rmtree(rollup.directory)
            removed = True
    if removed:
        fsync_dir(directory)


def _bucket_span(con: duckdb.DuckDBPyConnection, source: Path) -> tuple[int, int]:
    """First and last bucket numbers holding an event of `source`; (0, -1) when it holds none."""
    row = con.execute(f'SELECT min("at"), max("at") FROM ({parquet_select([source])})').fetchone()
    if row is None or row[0] is None:
        return 0, -1
    return row[0] // BUCKET_MICROS, row[1] // BUCKET_MICROS


def _write(
    con: duckdb.DuckDBPyConnection, groups: str, keys: str, span: str, order: str, target: Path
) -> None:
    """Write the rows of `groups` (keys, then `_VALUES` as sums of any width) to `target` as int64.

    A group whose sums fit is one row. One that does not (sums beyond 9.2 trillion currency
    units) becomes n rows: row `part` holds the next int64-sized slice of each sum, and the
    counts go to part 0 only.
    """
    fits = " AND ".join(f"{m} BETWEEN {-_INT64_MAX - 1} AND {_INT64_MAX}" for m in _MONEY)
    slices_needed = ", ".join(f"(abs({m}) + {_INT64_MAX - 1}) // {_INT64_MAX}" for m in _MONEY)
    counts = ", ".join(f"(CASE WHEN part = 0 THEN {c} ELSE 0 END)::BIGINT AS {c}" for c in _COUNTS)
    rest = "greatest(abs({m}) - part::HUGEINT * {max}, 0)"  # of |sum| once the earlier parts are taken
    slices = ", ".join(
        f"(sign({m}) * least({_INT64_MAX}, {rest.format(m=m, max=_INT64_MAX)}))::BIGINT AS {m}"
        for m in _MONEY
    )
    rows = (
        f"WITH groups AS ({groups})\n"
        f"SELECT {keys}, {', '.join(f'{v}::BIGINT AS {v}' for v in _VALUES)}\n"
        f"FROM groups WHERE {fits}\n"
        "UNION ALL\n"
        f"SELECT {keys}, {counts}, {slices}\n"
        f"FROM (SELECT *, unnest(range(CAST(greatest(1, {slices_needed}) AS BIGINT))) AS part\n"
        f"      FROM groups WHERE NOT ({fits}))"
    )
    # Snappy, not zstd: rollups are small and read on every list page, and it decodes faster.
    con.execute(
        f"COPY (SELECT {keys}, {span}, {', '.join(_VALUES)} FROM ({rows}) ORDER BY {order}) "
        f"TO {sql_string(str(target))} (FORMAT parquet, COMPRESSION snappy)"
    )
