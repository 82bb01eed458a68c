"""Per-segment totals kept in the store's in-memory DuckDB.

A window holding many compacted segments (every "lifetime" figure) is answered from their
totals files: a few rows each, but opening hundreds of small files costs far more than
reading the rows. So each store loads a totals file once, on first use, into one table and
reads it from there. Rows stay valid: a rollup directory never changes once renamed in,
and segment names are never reused (`Layout.next_seq`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import duckdb

from auctera.events.layout import Rollup
from auctera.events.sql import file_list, sql_string

_TABLE = "rollup_totals"

# SQL usable in FROM for the totals rows of the given rollups: `read_totals`, or a cache.
TotalsSource = Callable[[Sequence[Rollup]], str]


def read_totals(rollups: Sequence[Rollup]) -> str:
    """The `TotalsSource` reading the totals files themselves."""
    return f"read_parquet({file_list([r.totals_file for r in rollups])})"


class TotalsCache:
    """The `TotalsSource` of a store: `relation`."""

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self._db = db
        self._ids: dict[str, int] = {}  # rollup directory name -> its `rollup` number in the table
        self._lock = threading.Lock()

    def relation(self, rollups: Sequence[Rollup]) -> str:
        """SQL usable in FROM for the totals rows of `rollups`, loading those not loaded yet.

        Raises duckdb.IOException if a totals file is gone (its segment was deleted since
        the caller listed it): the caller retries on a fresh listing.
        """
        with self._lock:
            missing = [r for r in rollups if r.name not in self._ids]
            if missing:
                self._load(missing)
            ids = ", ".join(str(self._ids[r.name]) for r in rollups)
        return f"(SELECT * FROM {_TABLE} WHERE rollup IN ({ids}))"

    def _load(self, rollups: list[Rollup]) -> None:
        first = len(self._ids) + 1
        files = [r.totals_file for r in rollups]
        numbers = ", ".join(f"({sql_string(str(f))}, {first + i})" for i, f in enumerate(files))
        rows = (
            f"SELECT ids.rollup, t.* EXCLUDE (filename)\n"
            f"FROM read_parquet({file_list(files)}, filename = true) t\n"
            f"JOIN (VALUES {numbers}) ids(path, rollup) ON t.filename = ids.path"
        )
        cursor = self._db.cursor()
        try:
            if not self._ids:
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} AS {rows} LIMIT 0")
            cursor.execute(f"INSERT INTO {_TABLE} {rows}")
        finally:
            cursor.close()
        self._ids.update((r.name, first + i) for i, r in enumerate(rollups))
