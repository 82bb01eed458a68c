"""The report grains: publisher, placement and creative figures, from rollups where they exist.

Each compacted segment's rollup also holds report files (built with its other grains, see
`rollup_build`), one row per key over the whole segment, with the counters of
`REPORT_COUNTERS`:

    placement_totals.parquet  (account_id, campaign_id, publisher_id, ssp, domain, app_bundle, currency)
    creative_totals.parquet   (account_id, campaign_id, publisher_id, creative_id, variant, currency)
    delayed_events.parquet    the segment's events logged a day or more after they happened, whole:
                              the only ones that can have been logged after their day became final

A report answers every segment that lies whole within its window (all of them, for an
all-time report) from these rows, and reads raw events for the rest: JSON segments, the
segments a window's bounds cut (a segment spans the minutes to hours its writer took to fill
it, so a window of days cuts few), and Parquet segments compacted before the report grains
existed, until their rollup gains them (see `rollup_build.build_missing_report_grains`).
Per-hour rows were tried and dropped: on the benchmark's log they held about 0.8 rows per
event (campaigns x publishers x placements spread the events thin), so they cost more to
build than they saved over reading the few cut segments raw.

Two narrower grains rather than one with every dimension: a row per combination of all of
them would hardly sum anything up.

The dimensions come from the event's columns and attrs, by the same SQL (`dimensions`) in raw
scans and in rollup building:

- `variant`: attrs.variant (a creative's A/B variant, whoever writes the event);
- `ssp`: attrs.ssp (the supply-side platform an exchange impression came through);
- `app_bundle`: attrs.app_bundle (in-app inventory);
- `domain`: attrs.domain, else the host of attrs.referrer (lower case, without `www.`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from auctera.events.layout import Rollup, Snapshot
from auctera.events.sql import COUNTERS, file_list, source_sql

# File name -> the dimensions it keeps (besides account_id).
REPORT_GRAINS: Final[dict[str, tuple[str, ...]]] = {
    "placement_totals.parquet": ("campaign_id", "publisher_id", "ssp", "domain", "app_bundle", "currency"),
    "creative_totals.parquet": ("campaign_id", "publisher_id", "creative_id", "variant", "currency"),
}


ATTRS: Final = ("variant", "ssp", "domain", "referrer", "app_bundle")  # the attrs dimensions read


def dimensions(attr: Callable[[str], str]) -> dict[str, str]:
    """Name -> SQL of each dimension, given SQL for an attr's text (`attr("variant")`)."""
    # The referrer's host: between "://" and the first of / ? #, without user info and port.
    # String functions rather than a regular expression: a third cheaper per event.
    after_scheme = f"split_part({attr('referrer')}, '://', 2)"
    authority = f"split_part(split_part(split_part({after_scheme}, '/', 1), '?', 1), '#', 1)"
    without_user = (
        f"CASE WHEN contains({authority}, '@') THEN split_part({authority}, '@', 2) ELSE {authority} END"
    )
    host = f"split_part({without_user}, ':', 1)"
    return {
        "campaign_id": "campaign_id",
        "publisher_id": "publisher_id",
        "creative_id": "creative_id",
        "variant": attr("variant"),
        "ssp": attr("ssp"),
        "domain": f"nullif(regexp_replace(lower(coalesce({attr('domain')}, {host})), '^www\\.', ''), '')",
        "app_bundle": attr("app_bundle"),
        "currency": "currency",
    }


# Over a raw event row (attrs is JSON).
DIMENSIONS: Final = dimensions(lambda name: f"json_extract_string(attrs, '$.{name}')")
# Over a row with `attr_values`, every attr of ATTRS extracted by one parse of the JSON
# (`ATTRS_EXTRACTED`): how rollups are built, several times faster than one parse per attr.
ATTRS_EXTRACTED: Final = (
    "json_extract_string(attrs, [" + ", ".join(f"'$.{name}'" for name in ATTRS) + "]) AS attr_values"
)
EXTRACTED_DIMENSIONS: Final = dimensions(lambda name: f"attr_values[{ATTRS.index(name) + 1}]")
_PAID: Final = "NOT ivt AND type IN ('impression', 'click')"
# `COUNTERS` plus what the publisher report needs: what was paid for impressions and clicks
# (the clearing prices) and how many were paid for.
REPORT_COUNTERS: Final = (
    *COUNTERS,
    ("media_payout_micros", "sum(payout_micros)", _PAID),
    ("paid_events", "count(*)", f"{_PAID} AND payout_micros <> 0"),
)
REPORT_COUNTER_NAMES: Final = tuple(name for name, _, _ in REPORT_COUNTERS)
REPORT_MONEY: Final = tuple(name for name, aggregate, _ in REPORT_COUNTERS if aggregate != "count(*)")


def raw_report_aggregates() -> str:
    """`events` (rows summed) and the report counters over raw rows."""
    columns = ["count(*) AS events"]
    for name, aggregate, covers in REPORT_COUNTERS:
        value = f"{aggregate} FILTER (WHERE {covers})"
        columns.append(f"{value if aggregate == 'count(*)' else f'coalesce({value}, 0)'} AS {name}")
    return ", ".join(columns)


# Events logged a day or more after they happened (by their Snowflake id), kept whole per
# segment: only they can be logged after their day became final (see `report_queries`).
DELAYED_FILE: Final = "delayed_events.parquet"
_ID_TIME_SHIFT: Final = 22  # ids: milliseconds since EPOCH_MS above 22 bits of node and sequence
DELAYED_MICROS: Final = 86_399_000_000  # a day less a second: ids count milliseconds


def delayed_sql(epoch_ms: int) -> str:
    """SQL true for rows whose id was issued DELAYED_MICROS or more after their `at`."""
    return f'((id >> {_ID_TIME_SHIFT}) + {epoch_ms}) * 1000 - "at" >= {DELAYED_MICROS}'


def grain_for(names: set[str]) -> str | None:
    """The report file keeping every dimension in `names`, if one does."""
    return next((file for file, dims in REPORT_GRAINS.items() if names <= set(dims)), None)


def report_query(
    snapshot: Snapshot,
    account_id: int | None,
    filters: Mapping[str, int | None],
    group_by: Sequence[str],
    window: tuple[int, int] | None,
) -> tuple[str, dict[str, Any]]:
    """Report counters per `group_by` (names of `DIMENSIONS`), over events start <= at < end for
    `window` (UTC micros; None: all time), filtered on equality with `filters` (columns).

    Segments within the window are answered by their report grain; those it cuts, raw.
    """
    where_raw: list[str] = []
    where_rolled: list[str] = []
    params: dict[str, Any] = {}
    # Integers inlined, not parameters: literals let DuckDB skip row groups by their statistics.
    for column, value in {"account_id": account_id, **filters}.items():
        if value is not None:
            where_raw.append(f"{column} = {int(value)}")
            where_rolled.append(f"{column} = {int(value)}")
    if window is not None:
        lo, hi = int(window[0]), int(window[1])
        where_raw.append(f'"at" >= {lo} AND "at" < {hi}')
    needed = set(group_by) | {column for column, value in filters.items() if value is not None}
    grain = grain_for(needed)
    whole: list[Rollup] = []  # segments within the window: their report rows
    raw_parquet = []
    for path in snapshot.parquet:
        rollup = snapshot.rollups.get(path)
        if grain is None or rollup is None or not (rollup.directory / grain).exists():
            raw_parquet.append(path)
        elif rollup.is_empty or (
            window is not None and (rollup.span_end <= window[0] or rollup.span_start >= window[1])
        ):
            continue  # no event of that segment is in the window
        elif window is None or (window[0] <= rollup.span_start and rollup.span_end <= window[1]):
            whole.append(rollup)
        else:  # cut by the window: which of its events are in it, only they can say
            raw_parquet.append(path)
    keys = ", ".join(f"{EXTRACTED_DIMENSIONS[name]} AS {name}" for name in group_by)
    keys_prefix = f"{keys}, " if keys else ""
    source = source_sql(snapshot.jsonl, raw_parquet, snapshot.jsonl_rows)
    if any(DIMENSIONS[name] != EXTRACTED_DIMENSIONS[name] for name in group_by):  # attrs: parsed once
        source = f"SELECT *, {ATTRS_EXTRACTED} FROM ({source}) WHERE {' AND '.join(where_raw) or 'true'}"
    parts = [
        f"SELECT {keys_prefix}{raw_report_aggregates()} "
        f"FROM ({source}) WHERE {' AND '.join(where_raw) or 'true'} GROUP BY ALL"
    ]
    sums = ", ".join(f"sum({name}) AS {name}" for name in ("events", *REPORT_COUNTER_NAMES))
    group = ", ".join(group_by)
    prefix = f"{group}, " if group else ""
    if whole and grain is not None:
        files = file_list([r.directory / grain for r in whole])
        where = " AND ".join(where_rolled) or "true"
        parts.append(f"SELECT {prefix}{sums} FROM read_parquet({files}) WHERE {where} GROUP BY ALL")
    outer = ", ".join(group_by)
    union = "\nUNION ALL\n".join(parts)
    order = f" ORDER BY {outer}" if outer else ""
    sql = (
        f"SELECT {outer + ', ' if outer else ''}{sums} FROM (\n{union}\n)"
        f"{' GROUP BY ' + outer if outer else ''} HAVING sum(events) > 0{order}"
    )
    return sql, params
