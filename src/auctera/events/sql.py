"""DuckDB SQL for the event log: the relation over the files, and the report aggregates.

Counting rules (shared by every EventStore adapter, pinned by the contract tests):
- impressions, clicks, conversions count events of that type not flagged `ivt`;
- reversals count every reversal event;
- ivt_blocked counts impressions and clicks flagged `ivt`;
- money columns sum the micros of every event not flagged `ivt`, as recorded: a reversal
  carries the amounts it takes back as negative micros, so the sums are net.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from auctera.domain.events import Totals
from auctera.events.codec import COLUMNS, REQUIRED_COLUMNS, to_micros
from auctera.events.timezones import local_day_sql

_COLUMN_LIST: Final = ", ".join(f'"{c}"' for c in COLUMNS)  # quoted: `at` is a keyword

# An empty relation with the right column types, for a directory holding no events yet.
EMPTY_SOURCE: Final = (
    "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in COLUMNS.items()) + " WHERE false"
)

# The counting rules above, one (Totals field, aggregate, events it covers) per counter, in
# Totals order. Raw queries and rollup building both derive their SQL from this table.
COUNTERS: Final = (
    ("impressions", "count(*)", "type = 'impression' AND NOT ivt"),
    ("clicks", "count(*)", "type = 'click' AND NOT ivt"),
    ("conversions", "count(*)", "type = 'conversion' AND NOT ivt"),
    ("reversals", "count(*)", "type = 'reversal'"),
    ("ivt_blocked", "count(*)", "ivt AND type IN ('impression', 'click')"),
    ("cost_micros", "sum(cost_micros)", "NOT ivt"),
    ("revenue_micros", "sum(revenue_micros)", "NOT ivt"),
    ("payout_micros", "sum(payout_micros)", "NOT ivt"),
)
COUNTER_NAMES: Final = tuple(name for name, _, _ in COUNTERS)


def raw_aggregates(*, events: bool = False) -> str:
    """The counters over raw event rows; `events` adds `events`, the number of rows summed.

    (A key is reported when it had events, even if every counter is zero: rollups keep that
    count so they can say the same.)
    """
    columns = ["count(*) AS events"] if events else []
    for name, aggregate, covers in COUNTERS:
        value = f"{aggregate} FILTER (WHERE {covers})"
        columns.append(f"{value if aggregate == 'count(*)' else f'coalesce({value}, 0)'} AS {name}")
    return ",\n    ".join(columns)


def rollup_aggregates(*, events: bool = False) -> str:
    """`raw_aggregates` over rollup rows, which hold the counters already summed."""
    names = (("events",) if events else ()) + COUNTER_NAMES
    return ",\n    ".join(f"sum({name}) AS {name}" for name in names)


AGGREGATES: Final = raw_aggregates()


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def file_list(paths: Sequence[str | Path]) -> str:
    return "[" + ", ".join(sql_string(str(p)) for p in paths) + "]"


def jsonl_select(paths: Sequence[str | Path]) -> str:
    """Rows of journal files; lines DuckDB cannot parse (a torn tail) come back all-NULL and are skipped."""
    columns = "{" + ", ".join(f"{sql_string(c)}: {sql_string(t)}" for c, t in COLUMNS.items()) + "}"
    valid = " AND ".join(f'"{c}" IS NOT NULL' for c in REQUIRED_COLUMNS)
    return (
        f"SELECT {_COLUMN_LIST} FROM read_json({file_list(paths)}, format = 'newline_delimited', "
        f"columns = {columns}, ignore_errors = true) WHERE {valid}"
    )


def parquet_select(paths: Sequence[str | Path]) -> str:
    return f"SELECT {_COLUMN_LIST} FROM read_parquet({file_list(paths)})"


def source_sql(
    jsonl: Sequence[str | Path], parquet: Sequence[str | Path], jsonl_rows: str | None = None
) -> str:
    """A SELECT yielding every event in the given files (wrap it in parentheses to use it in FROM).

    `jsonl_rows`: a SELECT already yielding the events of the `jsonl` files (see `tail_index`),
    read instead of the files.
    """
    parts = [parquet_select(parquet)] if parquet else []
    if jsonl:
        parts.append(jsonl_select(jsonl) if jsonl_rows is None else jsonl_rows)
    return " UNION ALL ".join(parts) or EMPTY_SOURCE


def totals_from_row(values: Sequence[Any]) -> Totals:
    """Totals from the columns of AGGREGATES, in order.

    DuckDB already returns Python ints (counts, and HUGEINT sums made non-NULL by coalesce),
    so this is a plain constructor call: reports can have tens of thousands of rows.
    """
    return Totals(*values)


def daily_totals_query(
    source: str,
    account_id: int | None,
    start: date,
    end: date,
    tz: str,
    *,
    campaign_id: int | None = None,
    publisher_id: int | None = None,
    by_campaign: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Per local day in `tz`, start..end inclusive.

    The UTC prefilter is widened by a day on each side (offsets stay within +-14h) so DuckDB
    can skip files and row groups; the exact cut is on the computed local day, so bucketing
    and range can never disagree about an event near midnight.
    """
    lo, hi = daily_prefilter(start, end)
    params: dict[str, Any] = {"start": start, "end": end, "lo": lo, "hi": hi}
    day = local_day_sql(tz, lo, hi)
    if day is None:  # a zone only DuckDB's ICU knows: look it up per row
        day = 'CAST(timezone($tz, make_timestamptz("at")) AS DATE)'
        params["tz"] = tz
    where = ['"at" >= $lo', '"at" < $hi']
    filters = {"account_id": account_id, "campaign_id": campaign_id, "publisher_id": publisher_id}
    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    campaign = "campaign_id" if by_campaign else "NULL::BIGINT"
    sql = (
        f"SELECT {day} AS day, {campaign} AS campaign_id, "
        f"{AGGREGATES}\nFROM ({source})\nWHERE {' AND '.join(where)}\n"
        # Positional: by name, GROUP BY would bind campaign_id to the column, not to the NULL alias.
        "GROUP BY 1, 2 HAVING day BETWEEN $start AND $end ORDER BY 1, 2 NULLS FIRST"
    )
    return sql, params


def daily_prefilter(start: date, end: date) -> tuple[int, int]:
    """UTC micros [lo, hi) holding every instant of the local days start..end in any zone (+-14h)."""
    lo = to_micros(_utc_midnight(start - timedelta(days=1)))
    return lo, to_micros(_utc_midnight(end + timedelta(days=2)))


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
