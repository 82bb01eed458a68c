"""Daily totals from rollups: compacted segments are read as sums, only live data raw.

In a zone whose local days are unions of whole 15-minute buckets over the queried range
(`buckets.offsets_align_to_buckets`), each bucket row belongs to exactly one local day, and
a segment whose whole span lies within one local day is answered by its per-segment totals.
Elsewhere (zones Python does not know, local mean time in old dates) the caller falls back
to `sql.daily_totals_query` over raw events.
"""

from __future__ import annotations

import zoneinfo
from datetime import date
from pathlib import Path
from typing import Any

from auctera.events.buckets import offsets_align_to_buckets
from auctera.events.layout import Rollup, Snapshot
from auctera.events.sql import (
    COUNTER_NAMES,
    daily_prefilter,
    file_list,
    raw_aggregates,
    rollup_aggregates,
    source_sql,
)
from auctera.events.timezones import MAX_PIECES, local_day_numbers, offset_pieces, pieces_day_sql
from auctera.events.totals_cache import TotalsSource, read_totals


def daily_rollups_query(
    snapshot: Snapshot,
    zone: zoneinfo.ZoneInfo,
    account_id: int | None,
    start: date,
    end: date,
    *,
    campaign_id: int | None,
    publisher_id: int | None,
    by_campaign: bool,
    totals_source: TotalsSource = read_totals,
) -> tuple[str, dict[str, Any]] | None:
    """Same rows as `sql.daily_totals_query`; None when rollups cannot answer exactly (or there are none)."""
    rolled = [r for r in snapshot.rollups.values() if not r.is_empty]
    if not rolled:
        return None
    lo, hi = daily_prefilter(start, end)
    pieces = offset_pieces(zone, lo, hi)
    if len(pieces) > MAX_PIECES or not offsets_align_to_buckets(pieces):
        return None
    totals: list[Rollup] = []
    buckets: list[Path] = []
    for rollup in rolled:
        if rollup.span_end <= lo or rollup.span_start >= hi:
            continue
        within = lo <= rollup.span_start and rollup.span_end <= hi
        # Only the finest grain has publisher_id.
        if publisher_id is not None:
            buckets.append(rollup.buckets_file)
        elif within and len(local_day_numbers(pieces, rollup.span_start, rollup.span_end)) == 1:
            totals.append(rollup)
        else:
            buckets.append(rollup.campaign_buckets_file)
    filters = [
        f"{column} = {int(value)}"
        for column, value in (
            ("account_id", account_id),
            ("campaign_id", campaign_id),
            ("publisher_id", publisher_id),
        )
        if value is not None
    ]
    campaign = "campaign_id" if by_campaign else "NULL::BIGINT"

    def part(day_of: str, aggregates: str, source: str, where: list[str]) -> str:
        # Positional GROUP BY: by name it would bind campaign_id to the column, not to the NULL alias.
        return (
            f"SELECT {pieces_day_sql(pieces, day_of)} AS day, {campaign} AS campaign_id, {aggregates}\n"
            f"FROM {source} WHERE {' AND '.join(where) or 'true'} GROUP BY 1, 2"
        )

    unrolled = [p for p in snapshot.parquet if p not in snapshot.rollups]
    parts = [
        part(
            '"at"',
            raw_aggregates(),
            f"({source_sql(snapshot.jsonl, unrolled, snapshot.jsonl_rows)})",
            [f'"at" >= {lo} AND "at" < {hi}', *filters],
        )
    ]
    if buckets:
        where = [f"bucket >= {lo} AND bucket < {hi}", *filters]
        parts.append(part("bucket", rollup_aggregates(), f"read_parquet({file_list(buckets)})", where))
    if totals:  # every span here lies in one local day, the day of its start
        parts.append(part("span_start", rollup_aggregates(), totals_source(totals), filters))
    sums = ", ".join(f"sum({c}) AS {c}" for c in COUNTER_NAMES)
    union = "\nUNION ALL\n".join(parts)
    sql = (
        f"SELECT day, campaign_id, {sums}\nFROM (\n{union}\n)\n"
        "GROUP BY 1, 2 HAVING day BETWEEN $start AND $end ORDER BY 1, 2 NULLS FIRST"
    )
    return sql, {"start": start, "end": end}
