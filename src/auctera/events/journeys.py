"""SQL for multi-touch attribution: one visitor's touches, and every visitor's paths.

A touch is a click or an impression (`TOUCH_TYPES`) not flagged IVT. `viewable_impression` is
left out: it is a second signal about an ad view already logged as `impression`, and counting
it too would give display channels two touches per view. Visitors are tied together by the
first-party `uid` the click and pixel handlers put in `attrs`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import duckdb

from auctera.events.codec import COLUMNS, from_micros

TOUCH_TYPES: Final = ("impression", "click")
FETCH_BATCH: Final = 10_000  # paths converted to Python objects at a time

_TOUCH = "type IN ('impression', 'click') AND campaign_id IS NOT NULL"
_UID = "json_extract_string(attrs, '$.uid')"

# (campaign_id, type, at) of one touch
Touch = tuple[int, str, datetime]
# (uid, touches in time order, converted)
Path = tuple[str, list[Touch], bool]


def touchpoints_query(source: str, account_id: int, uid: str, lo: int, hi: int) -> tuple[str, dict[str, Any]]:
    """Every column of the visitor's touches in the account, lo <= at < hi (micros), oldest first."""
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    sql = (
        f"SELECT {columns} FROM ({source}) "
        f'WHERE account_id = $account AND "at" >= $lo AND "at" < $hi AND {_TOUCH} '
        f"AND NOT coalesce(ivt, false) AND {_UID} = $uid "
        'ORDER BY "at", id'
    )
    return sql, {"account": account_id, "uid": uid, "lo": lo, "hi": hi}


def paths_query(source: str, account_id: int, lo: int, hi: int) -> tuple[str, dict[str, Any]]:
    """One row per (visitor, path): uid, campaign ids, types and times (micros) as parallel lists in
    time order, and whether the path ended in a conversion.

    A visitor's touches are cut into paths at each of their conversions (non-IVT, in the window):
    a touch belongs to the first conversion at or after it (`seg` counts the conversions before
    it; at the same microsecond the touch comes first), and the touches after the last conversion
    form a non-converting path. Aggregating per path in DuckDB keeps one compact row per path
    instead of one Python object per event.
    """
    sql = f"""
WITH src AS (
    SELECT {_UID} AS uid, campaign_id, type, "at", id, type = 'conversion' AS is_conversion
    FROM ({source})
    WHERE account_id = $account AND "at" >= $lo AND "at" < $hi AND NOT coalesce(ivt, false)
      AND (({_TOUCH}) OR type = 'conversion')
),
marked AS (
    SELECT *,
        coalesce(sum(is_conversion::INTEGER) OVER (
            PARTITION BY uid ORDER BY "at", is_conversion, id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS seg,
        sum(is_conversion::INTEGER) OVER (PARTITION BY uid) AS conversions
    FROM src
    WHERE uid IS NOT NULL
)
SELECT uid,
    list(campaign_id ORDER BY "at", id) AS campaign_ids,
    list(type ORDER BY "at", id) AS types,
    list("at" ORDER BY "at", id) AS ats,
    seg < conversions AS converted
FROM marked
WHERE NOT is_conversion
GROUP BY uid, seg, conversions"""
    return sql, {"account": account_id, "lo": lo, "hi": hi}


def path_of(row: Sequence[Any]) -> Path:
    uid, campaign_ids, types, ats, converted = row
    touches = [(c, t, from_micros(a)) for c, t, a in zip(campaign_ids, types, ats, strict=True)]
    return uid, touches, bool(converted)


def materialize(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> str:
    """Run `sql` into a new table of the cursor's database; its name.

    The rows then outlive the snapshot the query read (whose JSON files may move on) and the
    cursor, and stay in DuckDB's compact columns (spilled to disk past its memory limit).
    """
    table = f"_paths_{uuid.uuid4().hex}"
    cursor.execute(f"CREATE TABLE {table} AS {sql}", params)
    return table


def stream_table(db: duckdb.DuckDBPyConnection, table: str, batch: int = FETCH_BATCH) -> Iterator[Path]:
    """The paths of a `materialize`d table, `batch` rows at a time (see `PathStream`)."""
    return PathStream(db, table, batch)


class PathStream:
    """Iterates a `materialize`d table's paths and drops the table once exhausted, closed or
    collected, even if iteration never started (a generator's `finally` would not run then)."""

    def __init__(self, db: duckdb.DuckDBPyConnection, table: str, batch: int) -> None:
        self._table = table
        self._batch = batch
        self._rows: Iterator[Sequence[Any]] = iter(())
        self._cursor: duckdb.DuckDBPyConnection | None = db.cursor()
        self._result = self._cursor.execute(f"SELECT * FROM {table}")

    def __iter__(self) -> PathStream:
        return self

    def __next__(self) -> Path:
        row = next(self._rows, None)
        if row is None:
            rows = self._result.fetchmany(self._batch) if self._cursor is not None else []
            if not rows:
                self.close()
                raise StopIteration
            self._rows = iter(rows)
            row = next(self._rows)
        return path_of(row)

    def close(self) -> None:
        cursor, self._cursor = getattr(self, "_cursor", None), None
        if cursor is None:
            return
        try:
            cursor.execute(f"DROP TABLE IF EXISTS {self._table}")
        except duckdb.Error:  # the store was closed meanwhile: the table went with its database
            pass
        finally:
            cursor.close()

    def __del__(self) -> None:
        self.close()
