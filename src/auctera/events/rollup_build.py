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

from auctera.domain.ids import EPOCH_MS
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
from auctera.events.report_rollups import (
    ATTRS_EXTRACTED,
    DELAYED_FILE,
    EXTRACTED_DIMENSIONS,
    REPORT_COUNTER_NAMES,
    REPORT_GRAINS,
    REPORT_MONEY,
    delayed_sql,
    raw_report_aggregates,
)
from auctera.events.sql import COUNTER_NAMES, COUNTERS, parquet_select, raw_aggregates, sql_string

log = logging.getLogger(__name__)

_INT64_MAX: Final = 2**63 - 1
_MONEY: Final = tuple(name for name, aggregate, _ in COUNTERS if aggregate != "count(*)")
_VALUES: Final = ("events", *COUNTER_NAMES)  # columns after keys and span, as in raw_aggregates
# Keys, and sort orders for row-group pruning: by account, then time.
_BUCKET_KEYS: Final = "account_id, campaign_id, publisher_id, currency, bucket"
_BUCKET_ORDER: Final = "account_id, bucket, campaign_id, publisher_id, currency"
_CAMPAIGN_BUCKET_KEYS: Final = "account_id, campaign_id, currency, bucket"
_CAMPAIGN_BUCKET_ORDER: Final = "account_id, bucket, campaign_id, currency"
_TOTALS_KEYS: Final = "account_id, campaign_id, currency"
# The report grains (see `report_rollups`): dimensions from columns and attrs, per segment.
_REPORT_VALUES: Final = ("events", *REPORT_COUNTER_NAMES)


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
    _write_report_grains(con, source, span, temporary)
    _write_delayed(con, source, temporary / DELAYED_FILE)
    for name in os.listdir(temporary):
        fsync_file(temporary / name)
    fsync_dir(temporary)
    stale = layout.rollups().get(segment)
    if stale is not None:
        remove_rollup(stale)
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


def build_missing_report_grains(layout: Layout, con: duckdb.DuckDBPyConnection) -> int:
    """Add the report grains to rollups built before they existed (written under hidden names,
    fsynced, renamed in: readers use a file only once it is whole). Returns how many gained them."""
    built = 0
    for rollup in layout.rollups().values():
        missing = [name for name in (*REPORT_GRAINS, DELAYED_FILE) if not (rollup.directory / name).exists()]
        source = layout.path(PARQUET, rollup.segment)
        if not missing or not source.exists():
            continue
        span = f"{rollup.span_start}::BIGINT AS span_start, {rollup.span_end}::BIGINT AS span_end"
        try:
            grains = tuple(name for name in missing if name in REPORT_GRAINS)
            if grains:
                _write_report_grains(con, source, span, rollup.directory, grains, suffix=".tmp")
            if DELAYED_FILE in missing:
                _write_delayed(con, source, rollup.directory / f"{DELAYED_FILE}.tmp")
            for name in missing:
                temporary = rollup.directory / f"{name}.tmp"
                fsync_file(temporary)
                os.rename(temporary, rollup.directory / name)
            fsync_dir(rollup.directory)
            built += 1
        except (duckdb.Error, OSError):  # that segment stays read raw by reports
            log.exception("building the report grains of %s failed", rollup.segment.stem)
            for name in missing:
                (rollup.directory / f"{name}.tmp").unlink(missing_ok=True)
    return built


def remove_rollup(rollup: Rollup) -> None:
    """Delete a rollup: renamed out of the listing first, so no reader ever lists it half
    deleted, then removed. What a concurrent `build_missing_report_grains` adds meanwhile keeps
    the hidden directory alive until `remove_stray_rollups` clears it."""
    hidden = rollup.parent / f".{rollup.name}.removed.tmp"
    os.rename(rollup.directory, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


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
            remove_rollup(rollup)
            removed = True
    if removed:
        fsync_dir(directory)


def _bucket_span(con: duckdb.DuckDBPyConnection, source: Path) -> tuple[int, int]:
    """First and last bucket numbers holding an event of `source`; (0, -1) when it holds none."""
    row = con.execute(f'SELECT min("at"), max("at") FROM ({parquet_select([source])})').fetchone()
    if row is None or row[0] is None:
        return 0, -1
    return row[0] // BUCKET_MICROS, row[1] // BUCKET_MICROS


def _write_delayed(con: duckdb.DuckDBPyConnection, source: Path, target: Path) -> None:
    """The segment's events logged a day or more after they happened, whole (usually none)."""
    con.execute(
        f"COPY ({parquet_select([source])} WHERE {delayed_sql(EPOCH_MS)}) "
        f"TO {sql_string(str(target))} (FORMAT parquet, COMPRESSION zstd)"
    )


def _write_report_grains(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    span: str,
    directory: Path,
    names: tuple[str, ...] = tuple(REPORT_GRAINS),
    *,
    suffix: str = "",
) -> None:
    """Write the report grains `names` of `source` into `directory` (as `<name><suffix>`).

    The events are summed once at every dimension together (the JSON attrs parsed once per
    event), into a temporary table each grain then sums again: a query per grain over the raw
    events would parse them once per grain, and `_write` reads its input twice.
    """
    every = list(dict.fromkeys(d for name in names for d in REPORT_GRAINS[name]))
    keyed = ", ".join(f"{EXTRACTED_DIMENSIONS[d]} AS {d}" for d in every)
    events = (
        f"SELECT account_id, {keyed}, type, ivt, cost_micros, revenue_micros, payout_micros "
        f'FROM (SELECT *, {ATTRS_EXTRACTED} FROM ({parquet_select([source])})) WHERE "at" IS NOT NULL'
    )
    sums = ", ".join(f"sum({c}) AS {c}" for c in _REPORT_VALUES)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE report_finest AS "
        f"SELECT account_id, {', '.join(every)}, {raw_report_aggregates()} FROM ({events}) GROUP BY ALL"
    )
    try:
        for name in names:
            keys = f"account_id, {', '.join(REPORT_GRAINS[name])}"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE report_grain AS SELECT {keys}, {sums} "
                "FROM report_finest GROUP BY ALL"
            )
            order = "account_id, campaign_id, publisher_id"
            target = directory / f"{name}{suffix}"
            _write(con, "SELECT * FROM report_grain", keys, span, order, target, _REPORT_VALUES, REPORT_MONEY)
    finally:
        con.execute("DROP TABLE IF EXISTS report_grain; DROP TABLE IF EXISTS report_finest")


def _write(
    con: duckdb.DuckDBPyConnection,
    groups: str,
    keys: str,
    span: str,
    order: str,
    target: Path,
    values: tuple[str, ...] = _VALUES,
    money: tuple[str, ...] = _MONEY,
) -> None:
    """Write the rows of `groups` (keys, then `_VALUES` as sums of any width) to `target` as int64.

    A group whose sums fit is one row. One that does not (sums beyond 9.2 trillion currency
    units) becomes n rows: row `part` holds the next int64-sized slice of each sum, and the
    counts go to part 0 only.
    """
    counted = tuple(name for name in values if name not in money)
    fits = " AND ".join(f"{m} BETWEEN {-_INT64_MAX - 1} AND {_INT64_MAX}" for m in money)
    slices_needed = ", ".join(f"(abs({m}) + {_INT64_MAX - 1}) // {_INT64_MAX}" for m in money)
    counts = ", ".join(f"(CASE WHEN part = 0 THEN {c} ELSE 0 END)::BIGINT AS {c}" for c in counted)
    rest = "greatest(abs({m}) - part::HUGEINT * {max}, 0)"  # of |sum| once the earlier parts are taken
    slices = ", ".join(
        f"(sign({m}) * least({_INT64_MAX}, {rest.format(m=m, max=_INT64_MAX)}))::BIGINT AS {m}" for m in money
    )
    rows = (
        f"WITH groups AS ({groups})\n"
        f"SELECT {keys}, {', '.join(f'{v}::BIGINT AS {v}' for v in values)}\n"
        f"FROM groups WHERE {fits}\n"
        "UNION ALL\n"
        f"SELECT {keys}, {counts}, {slices}\n"
        f"FROM (SELECT *, unnest(range(CAST(greatest(1, {slices_needed}) AS BIGINT))) AS part\n"
        f"      FROM groups WHERE NOT ({fits}))"
    )
    # Snappy, not zstd: rollups are small and read on every list page, and it decodes faster.
    con.execute(
        f"COPY (SELECT {keys}, {span}, {', '.join(values)} FROM ({rows}) ORDER BY {order}) "
        f"TO {sql_string(str(target))} (FORMAT parquet, COMPRESSION snappy)"
    )
