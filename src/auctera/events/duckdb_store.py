"""The embedded EventStore: the local journal for appends, an in-memory DuckDB for queries.

There is no DuckDB database file: every query reads the journal and Parquet files
directly, so any number of processes (server workers, report jobs, the CLI) can append to
and query one directory at the same time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import duckdb

from auctera.domain import ids as idfmt
from auctera.domain.events import DailyTotals, Event, Totals
from auctera.events.campaign_windows import COLUMNS_PER_WINDOW, Window, campaign_windows_query
from auctera.events.codec import COLUMNS, encode_event, row_to_event, to_micros
from auctera.events.compacted_totals import CompactedTotals
from auctera.events.compaction import BackgroundCompactor, compact
from auctera.events.daily_rollups import daily_rollups_query
from auctera.events.identity import identity_touches_sql
from auctera.events.journal import Journal, MiB
from auctera.events.layout import Layout, Snapshot
from auctera.events.report_queries import export_select, late_daily_query
from auctera.events.report_rollups import DELAYED_FILE, DIMENSIONS, report_query
from auctera.events.sql import daily_totals_query, source_sql, totals_from_row
from auctera.events.tail_index import JsonFile, TailIndex
from auctera.events.timezones import python_zone
from auctera.events.totals_cache import RollupCache, RowsSource, attach
from auctera.services.ports import AdStat, LateDay, ReportRow


@dataclasses.dataclass(frozen=True, slots=True)
class _Cached:
    """Where a query reads rollup rows from: the store's caches (see `totals_cache`)."""

    totals: RowsSource
    campaign_buckets: RowsSource


# SQL and parameters for a snapshot of the files; None when no file can hold a matching row.
QueryBuilder = Callable[[Snapshot, _Cached], tuple[str, dict[str, Any]] | None]

_T = TypeVar("_T")
_FIND_SLACK: Final = timedelta(minutes=10)
# Exports (`export_events`): memory stays flat whatever the row count.
_EXPORT_CONFIG: Final = {"memory_limit": "256MB", "preserve_insertion_order": False}

# Without /proc (or out of descriptors) files are read by path, and a query that finds one
# gone (sealed or compacted meanwhile) is retried on a fresh listing.
_QUERY_ATTEMPTS: Final = 8
_PIN_ATTEMPTS: Final = 1000
_FD_DIR: Final = Path("/proc/self/fd")


@contextlib.contextmanager
def _pinned(layout: Layout) -> Iterator[tuple[Snapshot, list[JsonFile]]]:
    """A snapshot whose JSON files are opened, so they stay readable until exit; and those files.

    JSON files move on (sealed by rename, deleted once compacted); holding a descriptor and
    reading it as /proc/self/fd/N keeps exactly the listed contents however long the query
    runs. Parquet files and rollups never move once renamed in, so they are read by path.
    """
    for _ in range(_PIN_ATTEMPTS):
        snapshot = layout.snapshot()
        if not _FD_DIR.is_dir():
            yield snapshot, _json_files(snapshot.jsonl, snapshot.jsonl)
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
            yield snapshot, _json_files(snapshot.jsonl, snapshot.jsonl)
            return
        try:
            pinned = [_FD_DIR / str(fd) for fd in fds]
            yield dataclasses.replace(snapshot, jsonl=pinned), _json_files(snapshot.jsonl, pinned)
            return
        finally:
            _close_all(fds)
    raise RuntimeError(f"could not take a stable view of {layout.root}: files keep moving")


def _json_files(listed: list[Path], read_from: list[Path]) -> list[JsonFile]:
    return [JsonFile.of(path, pinned) for path, pinned in zip(listed, read_from, strict=True)]


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class DuckDBEventStore:
    """`EventStore` (see `auctera.services.ports`) over a local directory.

    `writer_id` must be unique among the processes appending to `directory` at the same
    time (the default, host name and pid, is). `compact_interval` seconds between
    background compactions; None leaves compaction to explicit `compact()` calls.
    `use_rollups=False` answers every query from raw events (for checks and benchmarks).
    `tail_index=False` reads JSON segments with `read_json` on every query instead of
    keeping their parsed rows in memory (see `tail_index`).
    """

    def __init__(
        self,
        directory: Path | str,
        writer_id: str | None = None,
        fsync_interval: float = 1.0,
        *,
        segment_max_bytes: int = 64 * MiB,
        compact_interval: float | None = 60.0,
        use_rollups: bool = True,
        tail_index: bool = True,
    ) -> None:
        self._journal = Journal(directory, writer_id, fsync_interval, segment_max_bytes)
        self.layout: Layout = self._journal.layout
        self._db = duckdb.connect(":memory:")
        # Pinned files are read as /proc/self/fd/N, names that later denote other files:
        # nothing may be cached by path. (Neither cache serves local files by default anyway.)
        self._db.execute("SET enable_external_file_cache = false; SET parquet_metadata_cache = false")
        self._icu_time_zones: frozenset[str] | None = None
        self._use_rollups = use_rollups
        attach(self._db)
        self._totals = RollupCache(self._db, "totals", lambda r: r.totals_file)
        self._campaign_buckets = RollupCache(self._db, "campaign_buckets", lambda r: r.campaign_buckets_file)
        self._tail = TailIndex(self._db) if tail_index else None
        self._compacted = CompactedTotals()
        self._compactor = BackgroundCompactor(self.layout, compact_interval) if compact_interval else None
        self._closed = False

    @property
    def directory(self) -> Path:
        return self.layout.root

    @property
    def tail_index(self) -> TailIndex | None:
        """The parsed rows of JSON segments this store keeps (None if disabled)."""
        return self._tail

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
        return self.campaign_totals_windows(account_id, campaign_ids, {"": (start, end)})[""]

    def campaign_totals_windows(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        windows: Mapping[str, tuple[datetime, datetime]],
    ) -> dict[str, dict[int, Totals]]:
        """`campaign_totals` for each named (start, end) window, in one query over the log."""
        ids = None if campaign_ids is None else sorted(set(campaign_ids))
        bounds = {
            name: (_instant(start, "start"), _instant(end, "end")) for name, (start, end) in windows.items()
        }
        result: dict[str, dict[int, Totals]] = {
            name: {} if ids is None else dict.fromkeys(ids, Totals()) for name in windows
        }
        asked = {name: Window(*b) for name, b in bounds.items() if b[0] < b[1]}
        if ids == [] or not asked:
            return result
        rows = self._on_snapshot(
            lambda snapshot, cached, cursor: self._windows_rows(
                snapshot, cached, cursor, account_id, ids, list(asked.values())
            )
        )
        for campaign_id, values in rows.items():
            for i, name in enumerate(asked):
                events, *counters = values[i * COLUMNS_PER_WINDOW : (i + 1) * COLUMNS_PER_WINDOW]
                if events:
                    result[name][campaign_id] = totals_from_row(counters)
        return result

    def _windows_rows(
        self,
        snapshot: Snapshot,
        cached: _Cached,
        cursor: duckdb.DuckDBPyConnection,
        account_id: int,
        ids: list[int] | None,
        windows: list[Window],
    ) -> dict[int, Sequence[int]]:
        """campaign id -> the values of every window (see `campaign_windows_query`): compacted
        segments from `CompactedTotals` (with rollups only: without, queries stay raw), the
        JSON segments queried now."""

        def rows_of(part: Snapshot, campaign_ids: list[int] | None) -> list[tuple[Any, ...]]:
            query = campaign_windows_query(
                part, account_id, campaign_ids, windows, cached.totals, cached.campaign_buckets
            )
            return [] if query is None else cursor.execute(query).fetchall()

        if not self._use_rollups:
            return {row[0]: row[1:] for row in rows_of(snapshot, ids)}

        def compacted(files: list[Path]) -> list[tuple[Any, ...]]:
            kept = {p: snapshot.rollups[p] for p in files if p in snapshot.rollups}
            return rows_of(Snapshot(parquet=files, rollups=kept), None)

        key = (account_id, tuple((w.start, w.end) for w in windows))
        sums = self._compacted.sums(key, snapshot.parquet, compacted)
        found: dict[int, Sequence[int]] = (
            dict(sums) if ids is None else {i: sums[i] for i in ids if i in sums}
        )
        live = dataclasses.replace(snapshot, parquet=[], rollups={})
        for campaign_id, *values in rows_of(live, ids):
            held = found.get(campaign_id)
            found[campaign_id] = (
                values if held is None else [a + b for a, b in zip(held, values, strict=True)]
            )
        return found

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
        zone = python_zone(tz)
        options: dict[str, Any] = {
            "campaign_id": campaign_id,
            "publisher_id": publisher_id,
            "by_campaign": by_campaign,
        }

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            if zone is not None:
                query = daily_rollups_query(
                    snapshot, zone, account_id, start, end, **options, totals_source=cached.totals
                )
                if query is not None:
                    return query
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            return daily_totals_query(source, account_id, start, end, tz, **options)

        rows = self._fetch(build)
        return [DailyTotals(row[0], row[1], totals_from_row(row[2:])) for row in rows]

    # -- reports (EventReports) -----------------------------------------------------------------

    def report_totals(
        self,
        account_id: int | None,
        group_by: Sequence[str],
        *,
        filters: Mapping[str, int | None],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[ReportRow]:
        """Figures per `group_by` (see `report_rollups.DIMENSIONS`), from the report grain of
        rollups where the window allows, raw events elsewhere."""
        unknown = [name for name in group_by if name not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown report dimension(s): {unknown}")
        window = None
        if start is not None or end is not None:
            window = (
                _instant(start, "start") if start is not None else -(2**63),
                _instant(end, "end") if end is not None else 2**63 - 1,
            )

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            return report_query(snapshot, account_id, filters, group_by, window)

        w = len(group_by)  # keys, then events, the counters, media payout and paid events
        return [
            ReportRow(tuple(row[:w]), totals_from_row(row[w + 1 : w + 9]), row[w + 9], row[w + 10])
            for row in self._fetch(build)
        ]

    def late_daily_totals(
        self,
        account_id: int | None,
        tz: str,
        first_late_ids: Mapping[date, int],
        *,
        filters: Mapping[str, int | None],
    ) -> list[LateDay]:
        """Per local day, the totals of its events logged after the given id (see `report_queries`)."""
        self._check_time_zone(tz)
        if not first_late_ids:
            return []

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            # Compacted segments: only their delayed events (kept apart by the rollup) can be late.
            raw, delayed = [], []
            for path in snapshot.parquet:
                rollup = snapshot.rollups.get(path)
                kept = None if rollup is None else rollup.directory / DELAYED_FILE
                if kept is not None and kept.exists():
                    delayed.append(kept)
                else:
                    raw.append(path)
            source = source_sql(snapshot.jsonl, raw + delayed, snapshot.jsonl_rows)
            return late_daily_query(source, account_id, tz, first_late_ids, filters)

        return [LateDay(row[0], row[1], totals_from_row(row[2:])) for row in self._fetch(build)]

    def export_events(
        self,
        account_id: int,
        event_types: tuple[str, ...],
        start: datetime,
        end: datetime,
        target: Path,
        file_format: str,
        *,
        campaign_id: int | None = None,
    ) -> int:
        """Write the rows to `target` with DuckDB COPY, which streams them (memory stays flat
        whatever the count); returns how many were written."""
        if file_format not in ("csv", "parquet"):
            raise ValueError(f"unknown export format {file_format!r}")
        window = (_instant(start, "start"), _instant(end, "end"))
        parquet = file_format == "parquet"
        options = "FORMAT parquet, COMPRESSION zstd" if parquet else "FORMAT csv, HEADER true"

        def work(snapshot: Snapshot, cached: _Cached, cursor: duckdb.DuckDBPyConnection) -> int:
            # A connection of its own, bounded: rows stream through in any order (keeping the
            # insertion order would buffer them), and the store's caches stay out of reach. JSON
            # segments are read from their pinned files, not the tail index of this connection.
            source = source_sql(snapshot.jsonl, snapshot.parquet)
            select = export_select(source, account_id, event_types, window, campaign_id, csv=not parquet)
            path = "'" + str(target).replace("'", "''") + "'"
            with duckdb.connect(":memory:", config=_EXPORT_CONFIG) as con:
                row = con.execute(f"COPY ({select}) TO {path} ({options})").fetchone()
            return int(row[0]) if row else 0

        return self._on_snapshot(work)

    def find_event(self, event_id: int, around: datetime, slack: timedelta = _FIND_SLACK) -> Event | None:
        """The event with id `event_id`, written within `slack` of `around` (which lets DuckDB skip
        the files and row groups of other times); None if there is none."""
        lo, hi = to_micros(around - slack), to_micros(around + slack)

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            columns = ", ".join(f'"{c}"' for c in COLUMNS)
            where = 'id = $id AND "at" >= $lo AND "at" < $hi'  # "at": a keyword
            sql = f"SELECT {columns} FROM ({source}) WHERE {where} LIMIT 1"
            return sql, {"id": event_id, "lo": lo, "hi": hi}

        rows = self._fetch(build)
        return row_to_event(dict(zip(COLUMNS, rows[0], strict=True))) if rows else None

    def touchpoints(self, account_id: int, uid: str, start: datetime, end: datetime) -> list[Event]:
        """The visitor's clicks and impressions in the account, start <= at < end, oldest first,
        IVT excluded (see `journeys`)."""
        from auctera.events.journeys import touchpoints_query  # only this method's module needs it

        lo, hi = _instant(start, "start"), _instant(end, "end")

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            return touchpoints_query(source, account_id, uid, lo, hi)

        return [row_to_event(dict(zip(COLUMNS, row, strict=True))) for row in self._fetch(build)]

    def paths(
        self, account_id: int, start: datetime, end: datetime
    ) -> Iterator[tuple[str, list[tuple[int, str, datetime]], bool]]:
        """Every visitor's paths in the account, start <= at < end: (uid, [(campaign_id, type, at),
        ...] in time order, converted), in no particular order (see `journeys.paths_query`).

        The query runs now, on a pinned snapshot, into a table of this store's in-memory DuckDB
        (one compact row per path); the iterator streams it in batches and drops it when done or
        closed, so a million paths never become one Python list.
        """
        from auctera.events.journeys import materialize, paths_query, stream_table

        lo, hi = _instant(start, "start"), _instant(end, "end")

        def work(snapshot: Snapshot, cached: _Cached, cursor: duckdb.DuckDBPyConnection) -> str:
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            return materialize(cursor, *paths_query(source, account_id, lo, hi))

        table = self._on_snapshot(work)
        return stream_table(self._db, table)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT in which `events` names every stored event (one row each; `at` in UTC micros).

        For reports and tools beyond the port; `sql` must not start with its own WITH.
        """

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            return f"WITH events AS ({source})\n{sql}", params or {}

        return self._fetch(build)

    def existing_ids(self, event_ids: Sequence[int], start: datetime, end: datetime) -> set[int]:
        """Which of `event_ids` the log holds among events with start <= at <= end."""
        if not event_ids:
            return set()
        params = {"ids": list(event_ids), "lo": to_micros(start), "hi": to_micros(end)}

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            source = source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)
            where = 'id IN (SELECT unnest($ids)) AND "at" >= $lo AND "at" <= $hi'
            return f"SELECT DISTINCT id FROM ({source}) WHERE {where}", params

        return {row[0] for row in self._fetch(build)}

    def identity_touches(
        self, account_id: int, hashes: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, Event]]:
        """(hash, touch) for each click or impression, start <= at < end, of a visitor seen with one
        of the hashed identifiers in the account (see `events.identity`); oldest first."""
        if not hashes:
            return []
        params = {"account": account_id, "hashes": list(hashes), "lo": to_micros(start), "hi": to_micros(end)}

        def build(snapshot: Snapshot, cached: _Cached) -> tuple[str, dict[str, Any]]:
            source = f"({source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows)})"
            return identity_touches_sql(source), params

        rows = self._fetch(build)
        return [(row[0], row_to_event(dict(zip(COLUMNS, row[1:], strict=True)))) for row in rows]

    def ad_stats(self, start: datetime, end: datetime) -> list[AdStat]:
        """Sponsored impressions, clicks and conversions, start <= at < end, per (placement,
        product, bidder): what the auction's predictions learn from (see `ad_stats`)."""
        from auctera.events import ad_stats as sql

        lo, hi = _instant(start, "start"), _instant(end, "end")

        def window(query: Callable[[str, int, int], tuple[str, dict[str, Any]]]) -> QueryBuilder:
            return lambda snapshot, cached: query(
                source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows), lo, hi
            )

        counted = self._fetch(window(sql.ad_stats_query))
        conversions = {str(c): int(n) for c, n in self._fetch(window(sql.conversions_query))}
        clicks: list[tuple[Any, ...]] = []
        issued = [idfmt.issued_at_ms(i) for i in map(_click_number, conversions) if i is not None]
        if issued:
            since = to_micros(datetime.fromtimestamp(min(issued) / 1000, UTC) - _FIND_SLACK)
            clicks = self._fetch(
                lambda snapshot, cached: sql.ad_stats_clicks_query(
                    source_sql(snapshot.jsonl, snapshot.parquet, snapshot.jsonl_rows),
                    list(conversions),
                    since,
                    hi,
                )
            )
        return sql.combine(counted, conversions, clicks)

    def sql_source(self) -> str:
        """A parenthesised relation over the files holding every event right now, usable in FROM.

        A snapshot: compaction may move files on afterwards (`query` retries for you).
        """
        snapshot = self.layout.snapshot()
        return f"({source_sql(snapshot.jsonl, snapshot.parquet)})"

    def _fetch(self, build: QueryBuilder) -> list[tuple[Any, ...]]:
        def run(
            snapshot: Snapshot, cached: _Cached, cursor: duckdb.DuckDBPyConnection
        ) -> list[tuple[Any, ...]]:
            query = build(snapshot, cached)  # may read files too (see RollupCache)
            return [] if query is None else cursor.execute(*query).fetchall()

        return self._on_snapshot(run)

    def _on_snapshot(self, work: Callable[[Snapshot, _Cached, duckdb.DuckDBPyConnection], _T]) -> _T:
        """`work` on a pinned snapshot of the files with a cursor of its own, retried on a fresh
        snapshot if a file it reads by path is gone."""
        self._check_open()
        for attempt in range(_QUERY_ATTEMPTS):
            with contextlib.ExitStack() as stack:
                cursor = self._db.cursor()  # one per call: cursors make the connection thread-safe
                stack.callback(cursor.close)
                try:
                    snapshot, files = stack.enter_context(_pinned(self.layout))
                    listed = snapshot.rollups.values()  # rows of rollups not listed leave the caches
                    cached = _Cached(
                        stack.enter_context(self._totals.view(listed)),
                        stack.enter_context(self._campaign_buckets.view(listed)),
                    )
                    if not self._use_rollups:
                        snapshot = dataclasses.replace(snapshot, rollups={})
                    if self._tail is not None:
                        rows_of = stack.enter_context(self._tail.view(files, snapshot.parquet))
                        snapshot = dataclasses.replace(snapshot, jsonl_rows=rows_of)
                    return work(snapshot, cached, cursor)
                except (duckdb.IOException, FileNotFoundError):
                    # A file read by path is gone: compacted meanwhile (only without /proc), or
                    # deleted. List again.
                    if attempt == _QUERY_ATTEMPTS - 1:
                        raise
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


def _click_number(click_id: str) -> int | None:
    """The Snowflake id in a rendered click id (`auc_<base36>`)."""
    _, _, digits = click_id.rpartition("_")
    return idfmt.from_base36(digits)


def _instant(value: datetime, name: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return to_micros(value)
