"""Rollups on local disk: how they are written, found, trusted and raced (see rollup_build)."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from auctera.domain.events import Event, EventType, Totals
from auctera.events import DuckDBEventStore, compaction, rollup_build
from auctera.events.buckets import BUCKET_MICROS
from auctera.events.campaign_windows import Window, campaign_windows_query
from auctera.events.codec import encode_event, to_micros
from auctera.events.daily_rollups import daily_rollups_query
from auctera.events.layout import PARQUET, ROLLUPS, SEALED, Layout, Rollup, Segment, Snapshot
from auctera.events.report_rollups import DELAYED_FILE, REPORT_GRAINS
from auctera.events.sql import jsonl_select, sql_string
from auctera.events.timezones import python_zone

from .contract import ALL_TIME, event, utc
from .oracle import RandomLog, campaign_totals, daily_totals


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "events"


def open_store(directory: Path, writer: str = "main", **options: Any) -> DuckDBEventStore:
    return DuckDBEventStore(directory, writer, compact_interval=None, **options)


def rollup_names(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / ROLLUPS).iterdir())


def write_parquet_directly(directory: Path, segment: Segment, events: list[Event], scratch: Path) -> None:
    """A Parquet segment made outside compaction (as benchmarks and older versions leave them)."""
    source = scratch / f"{segment.stem}.jsonl"
    source.write_bytes(b"".join(encode_event(e) for e in events))
    target = Layout(directory).path(PARQUET, segment)
    con = duckdb.connect()
    con.execute(f"COPY ({jsonl_select([source])}) TO {sql_string(str(target))} (FORMAT parquet)")
    con.close()


def same_answers(
    store: DuckDBEventStore, raw: DuckDBEventStore, windows: dict[str, tuple[datetime, datetime]]
) -> None:
    for account in (1, 2):
        assert store.campaign_totals_windows(account, None, windows) == raw.campaign_totals_windows(
            account, None, windows
        )
    for tz in ("UTC", "Asia/Kathmandu", "America/New_York"):
        days = (date(2024, 3, 1), date(2024, 3, 20))
        assert store.daily_totals(None, *days, tz) == raw.daily_totals(None, *days, tz)
        assert store.daily_totals(1, *days, tz, publisher_id=101) == raw.daily_totals(
            1, *days, tz, publisher_id=101
        )


WINDOWS = {
    "lifetime": ALL_TIME,
    "day": (utc(2024, 3, 10, 5), utc(2024, 3, 11, 4)),
    "unaligned": (utc(2024, 3, 9, 7, 3, 9), utc(2024, 3, 14, 22, 59, 59)),
}


def test_compaction_writes_each_segment_with_its_rollup(directory: Path) -> None:
    first, last = utc(2024, 3, 1, 10, 7), utc(2024, 3, 1, 13, 44, 59)
    with open_store(directory) as store:
        store.append_many([event(at=first, cost_micros=3), event(EventType.CLICK, at=last, cost_micros=4)])
        store.close()
    with open_store(directory, "other") as store:
        store.compact()
        [name] = rollup_names(directory)
        bucket = to_micros(first) // BUCKET_MICROS
        assert name == f"main-000000001.{bucket}.{bucket + 14}"  # 10:00 to 13:30, fourteen buckets on
        grains = sorted(p.name for p in (directory / ROLLUPS / name).iterdir())
        assert grains == sorted(
            [
                "buckets.parquet",
                "campaign_buckets.parquet",
                "totals.parquet",
                *REPORT_GRAINS,
                DELAYED_FILE,
            ]
        )
        con = duckdb.connect()
        rows = con.execute(
            "SELECT bucket, span_start, span_end, events, impressions, clicks, cost_micros "
            "FROM read_parquet(?) ORDER BY bucket",
            [str(directory / ROLLUPS / name / "buckets.parquet")],
        ).fetchall()
        span = (bucket * BUCKET_MICROS, (bucket + 15) * BUCKET_MICROS)
        assert rows == [(span[0], *span, 1, 1, 0, 3), (span[1] - BUCKET_MICROS, *span, 1, 0, 1, 4)]
        totals = con.execute(
            "SELECT account_id, campaign_id, currency, events, impressions, clicks, cost_micros "
            "FROM read_parquet(?)",
            [str(directory / ROLLUPS / name / "totals.parquet")],
        ).fetchall()
        assert totals == [(1, 10, "USD", 2, 1, 1, 7)]
        assert store.campaign_totals(1, None, *ALL_TIME) == {
            10: Totals(impressions=1, clicks=1, cost_micros=7)
        }


def test_sums_beyond_int64_are_split_over_rows_and_stay_exact(directory: Path) -> None:
    big = 4_000_000_000_000_000_000
    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many(
            [event(EventType.CONVERSION, revenue_micros=big, payout_micros=-big) for _ in range(5)]
        )
        store.compact()
        [name] = rollup_names(directory)
        con = duckdb.connect()
        for grain in ("buckets", "campaign_buckets", "totals"):
            rows = con.execute(
                "SELECT count(*), sum(events), sum(conversions), sum(revenue_micros)::HUGEINT, "
                "sum(payout_micros)::HUGEINT FROM read_parquet(?)",
                [str(directory / ROLLUPS / name / f"{grain}.parquet")],
            ).fetchall()
            assert rows == [(3, 5, 5, 5 * big, -5 * big)]  # 2e19 needs three int64 slices
        assert store.campaign_totals(1, None, *ALL_TIME)[10] == Totals(
            conversions=5, revenue_micros=5 * big, payout_micros=-5 * big
        )


def test_parquet_written_without_rollups_is_read_raw_until_compaction_builds_them(
    directory: Path, tmp_path: Path
) -> None:
    log = RandomLog(7)
    with open_store(directory) as store, open_store(directory, "raw", use_rollups=False) as raw:
        for seq in range(1, 4):
            batch = log.events(150)
            write_parquet_directly(directory, Segment("bench", seq), batch, tmp_path)
            log.appended.extend(batch)
        log.append_many(store, log.events(100))
        same_answers(store, raw, WINDOWS)
        log.check(store)
        assert rollup_names(directory) == []
        store.compact()
        assert sorted(Layout(directory).rollups()) == [Segment("bench", seq) for seq in (1, 2, 3)]
        same_answers(store, raw, WINDOWS)
        log.check(store)


def test_a_rollup_of_a_segment_not_yet_compacted_is_never_read(directory: Path) -> None:
    # What a compaction that died between renaming the rollup and the Parquet file in leaves.
    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many([event(), event()])
        bogus = Layout(directory).rollup_path(Segment("main", 1), 0, 10**9)
        shutil.copytree(directory / SEALED, bogus)  # not even Parquet: reading it would fail
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=2)}
        assert store.compact() == 1
        [name] = rollup_names(directory)
        assert name != bogus.name  # replaced by the real one
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=2)}


def test_compaction_removes_temporary_and_orphaned_rollups(directory: Path) -> None:
    with open_store(directory, segment_max_bytes=1) as store:
        store.append(event())
        store.compact()
        [kept] = rollup_names(directory)
        (directory / ROLLUPS / ".main-000000007.tmp").mkdir()  # a build that died
        Layout(directory).rollup_path(Segment("gone", 3), 1, 2).mkdir()  # its segment was deleted
        store.compact()
        assert rollup_names(directory) == [kept]


def test_a_rollup_removed_while_a_builder_writes_into_it_is_never_listed_half_deleted(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rmtree_losing_the_race(path: Path, ignore_errors: bool = False) -> None:
        for file in Path(path).iterdir():
            file.unlink()
        (Path(path) / "creative_totals.parquet.tmp").touch()  # a report grain being added: rmdir fails

    with open_store(directory, segment_max_bytes=1) as store:
        store.append(event())
        store.compact()
        [rollup] = store.layout.rollups().values()
        monkeypatch.setattr(rollup_build.shutil, "rmtree", rmtree_losing_the_race)
        rollup_build.remove_rollup(rollup)
        monkeypatch.undo()
        assert store.layout.rollups() == {}  # its segment is read raw meanwhile
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=1)}
        store.compact()  # clears what the removal left and builds the rollup again
        assert [p.name for p in (directory / ROLLUPS).iterdir()] == [rollup.name]
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=1)}


def test_a_failed_rollup_does_not_hold_compaction_back(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> Rollup:
        raise duckdb.IOException("disk trouble")

    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many([event(), event(EventType.CLICK)])
        monkeypatch.setattr(compaction, "build_rollup", fail)
        monkeypatch.setattr(rollup_build, "build_rollup", fail)
        assert store.compact() == 1
        assert rollup_names(directory) == []
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=1, clicks=1)}
        monkeypatch.undo()
        assert store.compact() == 0
        assert len(rollup_names(directory)) == 1
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=1, clicks=1)}


def test_totals_kept_in_memory_follow_the_files(directory: Path) -> None:
    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many([event(), event()])
        store.append(event(EventType.CLICK))
        store.compact()
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=2, clicks=1)}  # loaded
        layout = store.layout
        [rollup, _] = sorted(layout.rollups().values(), key=lambda r: r.segment)
        layout.path(PARQUET, rollup.segment).unlink()  # as retention would delete a segment
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(clicks=1)}
        store.compact()
        assert len(rollup_names(directory)) == 1  # the orphaned rollup is gone
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(clicks=1)}


def test_rollup_rows_kept_in_memory_answer_as_the_files_do(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RandomLog(5)
    windows = {**WINDOWS, "edge": (utc(2024, 3, 12), utc(2024, 3, 20, 13, 1, 1))}
    with open_store(directory, segment_max_bytes=4_000) as store:
        for _ in range(4):
            log.append_many(store, log.events(60))
        store.compact()
        cached = {a: store.campaign_totals_windows(a, None, windows) for a in (1, 2)}
        cached[3] = store.campaign_totals_windows(1, [10, 11, 12, 99], windows)
        assert store._campaign_buckets.rollups and store._totals.rollups  # answered from them
        again = {a: store.campaign_totals_windows(a, None, windows) for a in (1, 2)}  # now cached
        assert again == {a: cached[a] for a in (1, 2)}
    assert cached[1] == {name: campaign_totals(log.appended, 1, None, *w) for name, w in windows.items()}

    def from_files(snapshot: Snapshot, account: int, ids: Any, asked: Any, *sources: Any) -> str | None:
        return campaign_windows_query(snapshot, account, ids, asked)  # the files, not the caches

    monkeypatch.setattr("auctera.events.duckdb_store.campaign_windows_query", from_files)
    with open_store(directory, "uncached") as store:
        uncached = {a: store.campaign_totals_windows(a, None, windows) for a in (1, 2)}
        uncached[3] = store.campaign_totals_windows(1, [10, 11, 12, 99], windows)
        assert not store._campaign_buckets.rollups
    assert cached == uncached


def test_rollup_rows_kept_in_memory_leave_with_their_segment(directory: Path) -> None:
    cut = {"cut": (utc(2024, 3, 2), utc(2024, 3, 4)), "lifetime": ALL_TIME}  # cuts both segments
    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many([event(at=utc(2024, 3, 1, 10)), event(at=utc(2024, 3, 3, 10))])
        store.append_many([event(EventType.CLICK, at=t) for t in (utc(2024, 3, 1, 9), utc(2024, 3, 3, 9))])
        store.compact()
        assert store.campaign_totals_windows(1, None, cut) == {
            "cut": {10: Totals(impressions=1, clicks=1)},
            "lifetime": {10: Totals(impressions=2, clicks=2)},
        }
        first, second = sorted(store.layout.rollups().values(), key=lambda r: r.segment)
        caches = (store._campaign_buckets, store._totals)
        assert all(cache.rollups == {first.name, second.name} for cache in caches)
        store.layout.path(PARQUET, first.segment).unlink()  # as retention would delete a segment
        assert store.campaign_totals_windows(1, None, cut) == {
            "cut": {10: Totals(clicks=1)},
            "lifetime": {10: Totals(clicks=2)},
        }
        assert all(cache.rollups == {second.name} for cache in caches)
        store.compact()  # deletes the orphaned rollup
        assert store.campaign_totals_windows(1, None, cut)["cut"] == {10: Totals(clicks=1)}


def test_rollup_rows_a_running_query_reads_stay_until_it_ends(directory: Path) -> None:
    with open_store(directory, segment_max_bytes=1) as store:
        store.append_many([event(at=utc(2024, 3, 1, 10)), event(at=utc(2024, 3, 3, 10))])
        store.append(event(EventType.CLICK, at=utc(2024, 3, 2)))
        store.compact()
        first, second = sorted(store.layout.rollups().values(), key=lambda r: r.segment)
        cache = store._campaign_buckets

        def events(relation: str) -> Any:
            return store._db.cursor().execute(f"SELECT sum(events) FROM {relation}").fetchone()

        with cache.view([first, second]) as source:
            relation = source([first])
            with cache.view([second]) as later:  # a later listing, without the first segment
                later([second])
                assert cache.rollups == {first.name, second.name}  # still read by the first query
            assert events(relation) == (2,)
        with cache.view([second]):
            assert cache.rollups == {second.name}


def test_a_new_segment_never_takes_the_name_of_a_leftover_rollup(directory: Path) -> None:
    Layout(directory).rollup_path(Segment("main", 4), 1, 2).mkdir(parents=True)
    with open_store(directory, segment_max_bytes=1) as store:
        store.append(event())
    assert [p.name for p in (directory / SEALED).iterdir()] == ["main-000000005.jsonl"]


def test_events_before_1970_and_zones_off_the_quarter_hour(directory: Path) -> None:
    # Amsterdam kept +00:19:32 until 1937: its local days do not start on bucket edges then.
    instants = [
        datetime(1930, 5, d, h, m, tzinfo=UTC) for d in (1, 2) for h in (0, 23) for m in (0, 19, 20, 44)
    ]
    with (
        open_store(directory, segment_max_bytes=1) as store,
        open_store(directory, "raw", use_rollups=False) as raw,
    ):
        store.append_many([event(at=at, cost_micros=i) for i, at in enumerate(instants)])
        store.compact()
        [name] = rollup_names(directory)
        assert name.startswith("main-000000001.-")
        days = (date(1930, 4, 30), date(1930, 5, 3))
        snapshot = store.layout.snapshot()
        zone = python_zone("Europe/Amsterdam")
        assert zone is not None
        options: dict[str, Any] = {"campaign_id": None, "publisher_id": None, "by_campaign": True}
        assert daily_rollups_query(snapshot, zone, 1, *days, **options) is None  # answered raw
        for tz in ("Europe/Amsterdam", "UTC", "Asia/Kolkata"):
            assert store.daily_totals(1, *days, tz) == raw.daily_totals(1, *days, tz) != []
        window = (datetime(1930, 5, 1, 0, 19, 59, tzinfo=UTC), datetime(1930, 5, 2, 23, 30, tzinfo=UTC))
        assert store.campaign_totals(1, None, *window) == raw.campaign_totals(1, None, *window)


# -- what a query reads ----------------------------------------------------------------------


def fake_snapshot(spans: list[tuple[datetime, datetime]]) -> Snapshot:
    """Compacted segments with rollups over the given spans (no files: for planning only)."""
    rollups = {}
    for seq, (first, last) in enumerate(spans, start=1):
        segment = Segment("w", seq)
        a, b = to_micros(first) // BUCKET_MICROS, to_micros(last) // BUCKET_MICROS
        rollup = Rollup(segment, Path("/r"), f"{segment.stem}.{a}.{b}", a, b)
        rollups[Path(f"/p/{segment.stem}.parquet")] = rollup
    return Snapshot(jsonl=[], parquet=list(rollups), rollups=rollups)


def test_windows_read_only_what_they_cannot_answer_from_totals() -> None:
    days = [(utc(2024, 3, d, 0, 3), utc(2024, 3, d, 23, 58)) for d in range(1, 11)]
    snapshot = fake_snapshot(days)

    def read(*windows: tuple[datetime, datetime]) -> str:
        sql = campaign_windows_query(
            snapshot, 1, [10], [Window(to_micros(a), to_micros(b)) for a, b in windows]
        )
        assert sql is not None
        return sql

    lifetime = read(ALL_TIME)
    assert "buckets.parquet" not in lifetime and "/p/" not in lifetime
    assert lifetime.count("totals.parquet") == 10
    # A day that cuts segment 5 in two: its buckets, and its raw events in the unaligned edges.
    day = read(ALL_TIME, (utc(2024, 3, 5, 12), utc(2024, 3, 6, 12, 0, 1)))
    assert day.count("buckets.parquet") == 2  # of segments 5 and 6; the day holds none, lifetime all
    assert "/r/w-000000005." in day and "/r/w-000000006." in day
    assert day.count("/p/") == 1 and "/p/w-000000006.parquet" in day  # the second past 12:00
    nothing = campaign_windows_query(
        snapshot, 1, [10], [Window(to_micros(utc(2025, 1, 1)), to_micros(utc(2026, 1, 1)))]
    )
    assert nothing is None


# -- racing ----------------------------------------------------------------------------------


def race(work: Callable[[], object], check: Callable[[], None], rounds: int = 20) -> None:
    """Run `check` `rounds` times while another thread keeps running `work`."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def keep_working() -> None:
        try:
            while not stop.is_set():
                work()
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    worker = threading.Thread(target=keep_working)
    worker.start()
    try:
        for _ in range(rounds):
            check()
    finally:
        stop.set()
        worker.join()
    assert not failures


@pytest.fixture
def logged(directory: Path) -> Iterator[tuple[DuckDBEventStore, RandomLog]]:
    log = RandomLog(11)
    with open_store(directory, segment_max_bytes=4_000) as store:
        for _ in range(6):
            log.append_many(store, log.events(60))
        log.append_each(store, log.events(30))  # smaller segments, the last one live
        yield store, log


def exact(store: DuckDBEventStore, log: RandomLog) -> Callable[[], None]:
    windows = {**WINDOWS, "edge": (utc(2024, 3, 12), utc(2024, 3, 20, 13, 1, 1))}
    want = {name: campaign_totals(log.appended, 1, None, *w) for name, w in windows.items()}
    days = (date(2024, 3, 7), date(2024, 4, 10))
    want_days = daily_totals(log.appended, None, *days, "Asia/Kathmandu")

    def check() -> None:
        assert store.campaign_totals_windows(1, None, windows) == want
        assert store.daily_totals(None, *days, "Asia/Kathmandu") == want_days

    return check


def test_queries_racing_compaction_with_rollups_count_every_event_once(
    logged: tuple[DuckDBEventStore, RandomLog],
) -> None:
    store, log = logged
    assert store.layout.segments(SEALED)
    race(store.compact, exact(store, log))
    assert not store.layout.segments(SEALED) and rollup_names(store.directory)


def test_queries_racing_rollups_being_built_count_every_event_once(
    logged: tuple[DuckDBEventStore, RandomLog],
) -> None:
    # Segments compacted before rollups existed get theirs while queries run.
    store, log = logged
    store.compact()
    check = exact(store, log)

    def drop_some_then_check() -> None:
        for rollup in sorted(store.layout.rollups().values(), key=lambda r: r.segment)[::2]:
            with contextlib.suppress(FileNotFoundError):  # the builder may be replacing it
                rollup_build.remove_rollup(rollup)
        check()

    with open_store(store.directory, "builder") as builder:
        race(builder.compact, drop_some_then_check)


def test_a_rollup_gone_mid_query_is_read_again_from_a_fresh_listing(
    logged: tuple[DuckDBEventStore, RandomLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, log = logged
    store.compact()
    check = exact(store, log)
    planned = 0

    def lose_a_rollup_then_plan(*args: Any) -> str | None:
        # Between listing and reading (rollup rows are read while planning, into the store's
        # caches): the reader finds a file gone and must list again.
        nonlocal planned
        if not args[0].parquet:  # the query over the JSON segments, after the compacted ones
            return campaign_windows_query(*args)
        planned += 1
        if planned == 1:
            shutil.rmtree(sorted((store.directory / ROLLUPS).iterdir())[0])
        return campaign_windows_query(*args)

    monkeypatch.setattr("auctera.events.duckdb_store.campaign_windows_query", lose_a_rollup_then_plan)
    check()
    assert planned == 2
