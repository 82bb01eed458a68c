"""The embedded EventStore: the local journal for appends, an in-memory DuckDB for queries.

There is no DuckDB database file: every query reads the journal and Parquet files
directly, so any number of processes (server workers, report jobs, the CLI) can append to
and query one directory at the same time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import duckdb

from auctera.domain.events import DailyTotals, Event, Totals
from auctera.events.codec import encode_event, to_micros
from auctera.events.compaction import BackgroundCompactor, compact
from auctera.events.journal import Journal, MiB
from auctera.events.layout import Layout
from auctera.events.sql import (
    campaign_totals_query,
    daily_totals_query,
    source_sql,
    totals_from_row,
)
from auctera.events.timezones import python_zone

QueryBuilder = Callable[[str], tuple[str, dict[str, Any]]]

# Without /proc (or out of descriptors) files are read by path, and a query that finds one
# gone (sealed or compacted meanwhile) is retried on a fresh listing.
_QUERY_ATTEMPTS: Final = 8
_PIN_ATTEMPTS: Final = 1000
_FD_DIR: Final = Path("/proc/self/fd")


@contextlib.contextmanager
def _pinned(layout: Layout) -> Iterator[tuple[list[str], list[str]]]:
    """A snapshot's (jsonl, parquet) paths, the JSON files opened so they stay readable until exit.

    JSON files move on (sealed by rename, deleted once compacted); holding a descriptor and
    reading it as /proc/self/fd/N keeps exactly the listed contents however long the query
    runs. Parquet files never move once renamed in, so they are read by their own paths.
    """
    for _ in range(_PIN_ATTEMPTS):
        snapshot = layout.snapshot()
        parquet = [str(p) for p in snapshot.parquet]
        if not _FD_DIR.is_dir():
            yield [str(p) for p in snapshot.jsonl], parquet
            return
        fds: list[int] = []
        try:
            for path in snapshot.jsonl:
                fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:  # moved on since the listing: list again
            _close_all(fds)
            continue
        except OSError:  # e.g. out of descriptors with a huge compaction backlog
            _close_all(fds)
            yield [str(p) for p in snapshot.jsonl], parquet
            return
        try:
            yield [f"{_FD_DIR}/{fd}" for fd in fds], parquet
            return
        finally:
            _close_all(fds)
    raise RuntimeError(f"could not take a stable view of {layout.root}: files keep moving")


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class DuckDBEventStore:
    """`EventStore` (see `auctera.services.ports`) over a local directory.

    `writer_id` must be unique among the processes appending to `directory` at the same
    time (the default, host name and pid, is). `compact_interval` seconds between
    background compactions; None leaves compaction to explicit `compact()` calls.
    """

    def __init__(
        self,
        directory: Path | str,
        writer_id: str | None = None,
        fsync_interval: float = 1.0,
        *,
        segment_max_bytes: int = 64 * MiB,
        compact_interval: float | None = 60.0,
    ) -> None:
        self._journal = Journal(directory, writer_id, fsync_interval, segment_max_bytes)
        self.layout: Layout = self._journal.layout
        self._db = duckdb.connect(":memory:")
        # Pinned files are read as /proc/self/fd/N, names that later denote other files:
        # nothing may be cached by path. (Neither cache serves local files by default anyway.)
        self._db.execute("SET enable_external_file_cache = false; SET parquet_metadata_cache = false")
        self._icu_time_zones: frozenset[str] | None = None
        self._compactor = BackgroundCompactor(self.layout, compact_interval) if compact_interval else None
        self._closed = False

    @property
    def directory(self) -> Path:
        return self.layout.root

    @property
    def writer_id(self) -> str:
        return self._journal.writer_id

    # -- appends -----------------------------------------------------------------------------

    def append(self, event: Event) -> None:
        self._journal.append(encode_event(event))

    def append_many(self, events: Iterable[Event]) -> None:
        # Encoded (and validated) first: an invalid event means nothing of the batch is written.
        self._journal.append_many([encode_event(e) for e in events])

    # -- queries -----------------------------------------------------------------------------

    def campaign_totals(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        start: datetime,
        end: datetime,
    ) -> dict[int, Totals]:
        """Totals per campaign, start <= at < end. Every requested campaign is in the result."""
        ids = None if campaign_ids is None else sorted(set(campaign_ids))
        result = {} if ids is None else {c: Totals() for c in ids}
        start_us, end_us = _instant(start, "start"), _instant(end, "end")
        if ids == [] or start_us >= end_us:
            return result
        rows = self._fetch(lambda src: campaign_totals_query(src, account_id, ids, start_us, end_us))
        for campaign_id, *values in rows:
            result[campaign_id] = totals_from_row(values)
        return result

    def daily_totals(
        self,
        account_id: int | None,
        start: date,
        end: date,
        tz: str,
        *,
        campaign_id: int | None = None,
        publisher_id: int | None = None,
        by_campaign: bool = True,
    ) -> list[DailyTotals]:
        """Days with events only, ordered by day then campaign (None first)."""
        self._check_open()
        self._check_time_zone(tz)
        if start > end:
            return []
        rows = self._fetch(
            lambda src: daily_totals_query(
                src,
                account_id,
                start,
                end,
                tz,
                campaign_id=campaign_id,
                publisher_id=publisher_id,
                by_campaign=by_campaign,
            )
        )
        return [DailyTotals(row[0], row[1], totals_from_row(row[2:])) for row in rows]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT in which `events` names every stored event (one row each; `at` in UTC micros).

        For reports and tools beyond the port; `sql` must not start with its own WITH.
        """
        return self._fetch(lambda src: (f"WITH events AS ({src})\n{sql}", params or {}))

    def sql_source(self) -> str:
        """A parenthesised relation over the files holding every event right now, usable in FROM.

        A snapshot: compaction may move files on afterwards (`query` retries for you).
        """
        snapshot = self.layout.snapshot()
        return f"({source_sql(snapshot.jsonl, snapshot.parquet)})"

    def _fetch(self, build: QueryBuilder) -> list[tuple[Any, ...]]:
        self._check_open()
        for attempt in range(_QUERY_ATTEMPTS):
            with _pinned(self.layout) as (jsonl, parquet):
                sql, params = build(source_sql(jsonl, parquet))
                cursor = self._db.cursor()  # one per call: cursors make the connection thread-safe
                try:
                    rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
                    return rows
                except duckdb.IOException:
                    # Only reachable without /proc (files read by path): one moved on, list again.
                    if attempt == _QUERY_ATTEMPTS - 1:
                        raise
                finally:
                    cursor.close()
        raise AssertionError("unreachable")

    def _check_time_zone(self, tz: str) -> None:
        if python_zone(tz) is not None:
            return
        if self._icu_time_zones is None:  # Python lacks a tz database entry; DuckDB's ICU may have it
            cursor = self._db.cursor()
            try:
                names = cursor.execute("SELECT name FROM pg_timezone_names()").fetchall()
            finally:
                cursor.close()
            self._icu_time_zones = frozenset(name for (name,) in names)
        if tz not in self._icu_time_zones:
            raise ValueError(f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Stockholm'")

    # -- maintenance and lifecycle -----------------------------------------------------------

    def compact(self) -> int:
        """Turn sealed journal segments into Parquet now; returns how many were compacted."""
        self._check_open()
        return compact(self.layout)

    def sync(self) -> None:
        self._journal.sync()

    def close(self) -> None:
        """Stop background work, seal the live segment (fsynced), release the writer id. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._compactor is not None:
                self._compactor.stop()
        finally:
            try:
                self._journal.close()
            finally:
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("event store is closed")

    def __enter__(self) -> DuckDBEventStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _instant(value: datetime, name: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return to_micros(value)
