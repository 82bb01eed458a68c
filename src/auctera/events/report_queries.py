"""SQL for the reports beyond plain sums: late events (restatements) and log-level exports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from auctera.domain.creatives import creative_prefix
from auctera.domain.reports import FORMULA_STARTS
from auctera.events.report_rollups import DIMENSIONS
from auctera.events.sql import AGGREGATES, daily_prefilter, sql_string
from auctera.events.timezones import local_day_sql

_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_POWERS: Final = ", ".join(str(36**i) for i in range(12, -1, -1))  # 36^12 < 2^63 < 36^13


def rendered_id_sql(prefix: str, column: str) -> str:
    """SQL rendering `column` (a non-negative BIGINT id) as the API does: `cmp_<base36>`."""
    return _rendered_sql(sql_string(prefix), column)


def _rendered_sql(prefix_sql: str, column: str) -> str:
    """`rendered_id_sql` with the prefix chosen by SQL, per row."""
    digits = (
        f"ltrim(array_to_string(list_transform([{_POWERS}], p -> "
        f"substr('{_ALPHABET}', (({column} // p) % 36)::INTEGER + 1, 1)), ''), '0')"
    )
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"ELSE {prefix_sql} || '_' || CASE WHEN {column} = 0 THEN '0' ELSE {digits} END END"
    )


# A creative as the API names it (`creative_prefix`): `dco_…` when the event carries a DCO
# variant, else `ast_…`.
_CREATIVE_PREFIX: Final = (
    f"CASE WHEN ({DIMENSIONS['variant']}) IS NULL THEN {sql_string(creative_prefix(None))} "
    f"ELSE {sql_string(creative_prefix(''))} END"
)


def late_daily_query(
    source: str,
    account_id: int | None,
    tz: str,
    first_late_ids: Mapping[date, int],
    filters: Mapping[str, int | None],
) -> tuple[str, dict[str, Any]]:
    """Per local day of `first_late_ids`, the totals of its events whose id is at least that day's
    value: the events logged after the day became final.

    Ids are issued when an event is logged, so the prefilter on the smallest of them lets DuckDB
    skip every segment (and row group) written before: segments hold ids of the time they were
    written in.
    """
    days = sorted(first_late_ids)
    lo, hi = daily_prefilter(days[0], days[-1])
    day = local_day_sql(tz, lo, hi)
    params: dict[str, Any] = {"lo": lo, "hi": hi, "min_id": min(first_late_ids.values())}
    if day is None:
        day = 'CAST(timezone($tz, make_timestamptz("at")) AS DATE)'
        params["tz"] = tz
    where = ['"at" >= $lo', '"at" < $hi', "id >= $min_id"]
    for column, value in {"account_id": account_id, **filters}.items():
        if value is not None:
            where.append(f"{column} = ${column}")
            params[column] = value
    cutoffs = ", ".join(f"(DATE '{d.isoformat()}', {int(first_late_ids[d])}::BIGINT)" for d in days)
    sql = (
        f"WITH cutoffs(day, first_id) AS (VALUES {cutoffs}),\n"
        f"dated AS (SELECT *, {day} AS day FROM ({source}) WHERE {' AND '.join(where)})\n"
        f"SELECT dated.day, max(id) AS last_id, {AGGREGATES}\n"
        "FROM dated JOIN cutoffs ON dated.day = cutoffs.day WHERE dated.id >= cutoffs.first_id\n"
        "GROUP BY dated.day ORDER BY dated.day"
    )
    return sql, params


# Log-level export columns: ids as the API renders them, money as exact decimals.
_MONEY: Final = "0.000001::DECIMAL(7, 6)"
EXPORT_COLUMNS: Final[dict[str, str]] = {
    "event_id": "id",
    "type": "type",
    "at": 'make_timestamptz("at")',
    "campaign_id": rendered_id_sql("cmp", "campaign_id"),
    "publisher_id": rendered_id_sql("pub", "publisher_id"),
    "line_item_id": "CAST(line_item_id AS VARCHAR)",  # as /v2 shows line items: the plain number
    "creative_id": _rendered_sql(_CREATIVE_PREFIX, "creative_id"),
    "variant": DIMENSIONS["variant"],
    "domain": DIMENSIONS["domain"],
    "app_bundle": DIMENSIONS["app_bundle"],
    "ssp": DIMENSIONS["ssp"],
    "click_id": "click_id",
    "country": "country",
    "device_type": "device_type",
    "cost": f"cost_micros * {_MONEY}",
    "revenue": f"revenue_micros * {_MONEY}",
    "payout": f"payout_micros * {_MONEY}",
    "currency": "currency",
    "ivt": "ivt",
}
# Text a visitor or a partner controls (a link's `cv`, the Referer, a postback's click id, ...):
# defused in CSV files as `spreadsheet_text` does (domain/reports.py). Parquet keeps the raw values.
CSV_TEXT_COLUMNS: Final = ("variant", "domain", "app_bundle", "ssp", "click_id", "country", "device_type")


def _csv_safe(column: str) -> str:
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return f"CASE WHEN left({column}, 1) IN ({starts}) THEN chr(39) || {column} ELSE {column} END"


def export_select(
    source: str,
    account_id: int,
    event_types: tuple[str, ...],
    window: tuple[int, int],
    campaign_id: int | None,
    *,
    csv: bool = False,
) -> str:
    """The log-level rows of one account's events of `event_types`, start <= at < end (UTC micros).

    Values are inlined (integers, known type names): COPY takes no parameters. Unordered on
    purpose: sorting would hold every row at once (or spill), and the writer must stay flat in
    memory whatever the row count. Each segment's rows come out in its own order (account,
    campaign, time). `csv`: the text columns a spreadsheet would take for formulas are defused.
    """
    columns = ", ".join(f"{sql} AS {name}" for name, sql in EXPORT_COLUMNS.items())
    types = ", ".join(sql_string(t) for t in event_types)
    where = [f"account_id = {int(account_id)}", f"type IN ({types})"]
    where.append(f'"at" >= {int(window[0])} AND "at" < {int(window[1])}')
    if campaign_id is not None:
        where.append(f"campaign_id = {int(campaign_id)}")
    select = f"SELECT {columns} FROM ({source}) WHERE {' AND '.join(where)}"
    if not csv:
        return select
    defused = ", ".join(f"{_csv_safe(c)} AS {c}" for c in CSV_TEXT_COLUMNS)
    return f"SELECT * REPLACE ({defused}) FROM ({select})"
