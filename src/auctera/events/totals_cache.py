"""Rollup rows kept in the store's in-memory DuckDB: per-segment totals and campaign buckets.

A window holding many compacted segments (every "lifetime" figure) is answered from their
totals files: a few rows each, but opening hundreds of small files costs far more than
reading the rows. A window cutting through segments (a list page's "today", when segments
span days) is answered from their campaign bucket files: decoding those on every query cost
most of its time. So each store loads such a file once, on first use, into a table of one
compressed in-memory database and reads it from there. Rows stay valid: a rollup directory
never changes once renamed in, and segment names are never reused (`Layout.next_seq`).

A segment's rows are dropped once a listing no longer shows it (its Parquet file was
deleted) and no running query reads them. A query that took its listing earlier and asks
for them afterwards loads them again, or finds the file gone and retries on a new listing.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import duckdb

from auctera.events.layout import Rollup
from auctera.events.sql import file_list, sql_string

# The attached in-memory database holding the cached rows. COMPRESS: DuckDB compresses
# in-memory tables only when asked, and only at a checkpoint; rollup rows shrink several-fold.
DATABASE = "rollup_cache"

# SQL usable in FROM for the rows of one grain of the given rollups: the files, or a cache.
RowsSource = Callable[[Sequence[Rollup]], str]
TotalsSource = RowsSource


def read_totals(rollups: Sequence[Rollup]) -> str:
    """The `RowsSource` reading the totals files themselves."""
    return f"read_parquet({file_list([r.totals_file for r in rollups])})"


def read_campaign_buckets(rollups: Sequence[Rollup]) -> str:
    """The `RowsSource` reading the campaign bucket files themselves."""
    return f"read_parquet({file_list([r.campaign_buckets_file for r in rollups])})"


def attach(db: duckdb.DuckDBPyConnection) -> None:
    """Create the database the caches of a store keep their tables in."""
    db.execute(f"ATTACH ':memory:' AS {DATABASE} (COMPRESS)")


class RollupCache:
    """The rows of one rollup file (`file_of`) per segment, in table `table` of `DATABASE`."""

    def __init__(self, db: duckdb.DuckDBPyConnection, table: str, file_of: Callable[[Rollup], Path]) -> None:
        self._db = db
        self._table = f"{DATABASE}.{table}"
        self._file_of = file_of
        self._ids: dict[str, int] = {}  # rollup directory name -> its `rollup` number in the table
        self._next_id = 1  # never reused: a number always means the rows of one rollup
        self._users: Counter[str] = Counter()  # rollup name -> running queries given its rows
        self._created = False
        self._lock = threading.Lock()

    @property
    def rollups(self) -> frozenset[str]:
        """Names of the rollups whose rows are held."""
        with self._lock:
            return frozenset(self._ids)

    @contextlib.contextmanager
    def view(self, listed: Iterable[Rollup]) -> Iterator[RowsSource]:
        """A `RowsSource` from the cache, for a query over a listing holding the rollups `listed`.

        Rows of rollups no longer listed, and not read by a running query, are dropped first.
        The source raises duckdb.IOException if a file to load is gone (its segment was deleted
        since the caller listed it): the caller retries on a fresh listing.
        """
        used: list[str] = []

        def relation(rollups: Sequence[Rollup]) -> str:
            with self._lock:
                missing = [r for r in rollups if r.name not in self._ids]
                if missing:
                    self._load(missing)
                self._users.update(r.name for r in rollups)
                used.extend(r.name for r in rollups)
                ids = ", ".join(str(self._ids[r.name]) for r in rollups)
            return f"(SELECT * FROM {self._table} WHERE rollup IN ({ids}))"

        with self._lock:
            names = {r.name for r in listed}
            self._evict([n for n in self._ids if n not in names and not self._users[n]])
        try:
            yield relation
        finally:
            with self._lock:
                self._users.subtract(used)
                self._users = +self._users  # forget rollups no query reads

    def _load(self, rollups: list[Rollup]) -> None:
        cursor = self._db.cursor()
        try:
            for rollup in rollups:  # one file at a time: its rows stay in its order, for scans to skip
                file = sql_string(str(self._file_of(rollup)))
                rows = f"SELECT {self._next_id} AS rollup, * FROM read_parquet({file})"
                if not self._created:
                    cursor.execute(f"CREATE TABLE IF NOT EXISTS {self._table} AS {rows} LIMIT 0")
                    self._created = True
                cursor.execute(f"INSERT INTO {self._table} {rows}")
                self._ids[rollup.name] = self._next_id
                self._next_id += 1
            _compress(cursor)
        finally:
            cursor.close()

    def _evict(self, names: list[str]) -> None:
        if not names:
            return
        cursor = self._db.cursor()
        try:
            ids = ", ".join(str(self._ids[n]) for n in names)
            cursor.execute(f"DELETE FROM {self._table} WHERE rollup IN ({ids})")
            _compress(cursor)  # also reclaims the deleted rows' space
        finally:
            cursor.close()
        for name in names:
            del self._ids[name]


def _compress(cursor: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint `DATABASE`: compresses the rows added since, frees those deleted.

    DuckDB refuses while another transaction writes; the rows then stay as they are (correct,
    only larger) until the next load or eviction checkpoints.
    """
    with contextlib.suppress(duckdb.TransactionException):
        cursor.execute(f"CHECKPOINT {DATABASE}")
