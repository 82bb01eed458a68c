"""DuckDBEventStore: the contract, plus what is specific to files on local disk."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from auctera.domain.events import DailyTotals, EventType, Totals
from auctera.events import DuckDBEventStore, WriterInUseError
from auctera.events import layout as layout_module
from auctera.events.codec import encode_event
from auctera.events.layout import JOURNAL, PARQUET, SEALED, Layout, Segment
from auctera.services.ports import EventStore

from .contract import ALL_TIME, EventStoreContract, event


class CompactingStore(DuckDBEventStore):
    """Compacts before answering: with one-byte segments every append is sealed at once, so
    every answer comes from Parquet files and their rollups, not from JSON."""

    def campaign_totals_windows(self, *args: Any, **kwargs: Any) -> dict[str, dict[int, Totals]]:
        self._compact_sealed()
        return super().campaign_totals_windows(*args, **kwargs)

    def daily_totals(self, *args: Any, **kwargs: Any) -> list[DailyTotals]:
        self._compact_sealed()
        return super().daily_totals(*args, **kwargs)

    def _compact_sealed(self) -> None:
        if self.layout.segments(SEALED):
            self.compact()


class DuckDBHarness:
    def __init__(
        self, directory: Path, store: type[DuckDBEventStore] = DuckDBEventStore, **options: object
    ) -> None:
        self.directory = directory
        self.store = store
        self.options = {"compact_interval": None, **options}

    def open(self, writer: str = "writer-a") -> DuckDBEventStore:
        return self.store(self.directory, writer, **self.options)  # type: ignore[arg-type]

    def settle(self, store: EventStore) -> None:
        assert isinstance(store, DuckDBEventStore)
        store.compact()


class TestDuckDBContract(EventStoreContract):
    @pytest.fixture(params=["one-segment", "tiny-segments", "rollups", "read-json"])
    def harness(self, request: pytest.FixtureRequest, tmp_path: Path) -> DuckDBHarness:
        # Tiny segments make every few appends rotate, so the contract also covers sealed and
        # compacted files; "rollups" answers everything from compacted files; "read-json"
        # reads JSON segments with read_json on every query, without the tail index.
        directory = tmp_path / "events [log]"
        if request.param == "rollups":
            return DuckDBHarness(directory, CompactingStore, segment_max_bytes=1)
        if request.param == "read-json":
            return DuckDBHarness(directory, segment_max_bytes=600, tail_index=False)
        size = {"one-segment": 64 * 1024 * 1024, "tiny-segments": 600}[request.param]
        return DuckDBHarness(directory, segment_max_bytes=size)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "events"


@pytest.fixture
def store(directory: Path) -> Iterator[DuckDBEventStore]:
    with DuckDBEventStore(directory, "main", compact_interval=None) as store:
        yield store


def files(directory: Path, stage: str) -> list[str]:
    return sorted(p.name for p in (directory / stage).iterdir())


def impressions(store: DuckDBEventStore, campaign_id: int = 10) -> int:
    return store.campaign_totals(1, [campaign_id], *ALL_TIME)[campaign_id].impressions


def test_segments_rotate_seal_and_compact(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", segment_max_bytes=2_000, compact_interval=None) as store:
        for _ in range(30):
            store.append(event())
        store.append_many([event() for _ in range(20)])
        assert len(files(directory, SEALED)) >= 5
        assert impressions(store) == 50
        compacted = store.compact()
        assert compacted == len(files(directory, PARQUET)) >= 5
        assert files(directory, SEALED) == []
        assert impressions(store) == 50
    # Closing seals the live segment; a later compaction picks it up.
    with DuckDBEventStore(directory, "other", compact_interval=None) as store:
        store.compact()
        assert files(directory, JOURNAL) == files(directory, SEALED) == []
        assert impressions(store) == 50


def test_background_compaction_turns_sealed_segments_into_parquet(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", segment_max_bytes=500, compact_interval=0.02) as store:
        store.append_many([event() for _ in range(10)])
        store.append(event())  # rotated: the batch alone exceeds a segment
        for _ in range(500):  # wait for the compactor thread, without asserting on time
            if files(directory, PARQUET):
                break
            threading.Event().wait(0.02)
        assert files(directory, PARQUET)
        assert impressions(store) == 11


def test_a_torn_last_line_is_skipped(directory: Path, store: DuckDBEventStore) -> None:
    store.append_many([event() for _ in range(3)])
    store.close()
    [sealed] = (directory / SEALED).iterdir()
    with sealed.open("ab") as f:  # what a machine crash mid-write leaves behind
        f.write(encode_event(event())[:25])
    with DuckDBEventStore(directory, "reader", compact_interval=None) as reader:
        assert impressions(reader) == 3
        assert reader.compact() == 1
        assert impressions(reader) == 3


def test_segments_of_a_dead_writer_are_read_and_compacted(directory: Path, store: DuckDBEventStore) -> None:
    # A worker killed mid-write: its live segment stays in journal/, zero-filled and torn at the end.
    layout = Layout(directory)
    orphan = layout.path(JOURNAL, Segment("worker-7", 1))
    orphan.write_bytes(b"".join(encode_event(event()) for _ in range(4)) + b'{"id": 9, "ty' + b"\0" * 64)
    assert impressions(store) == 4
    store.compact()
    assert files(directory, JOURNAL) == []
    assert files(directory, PARQUET) == ["worker-7-000000001.parquet"]
    assert "worker-7.lock" not in files(directory, "writers")
    assert impressions(store) == 4


def test_a_restarted_writer_never_appends_to_its_torn_segment(directory: Path) -> None:
    layout = Layout(directory)
    leftover = layout.path(JOURNAL, Segment("main", 3))
    leftover.write_bytes(encode_event(event()) + encode_event(event())[:30])
    with DuckDBEventStore(directory, "main", compact_interval=None) as store:
        store.append(event())  # would be glued to the torn line if appended to the old file
        assert impressions(store) == 2
        assert files(directory, SEALED) == ["main-000000003.jsonl"]
        assert files(directory, JOURNAL) == ["main-000000004.jsonl"]


def test_a_writer_id_is_held_by_one_store_at_a_time(
    directory: Path, store: DuckDBEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout_module, "WRITER_LOCK_WAIT_SECONDS", 0.05)
    with pytest.raises(WriterInUseError):
        DuckDBEventStore(directory, "main", compact_interval=None)


def test_a_segment_in_two_stages_is_counted_once(directory: Path, store: DuckDBEventStore) -> None:
    # A compaction that died between renaming the Parquet file in and deleting the JSON file.
    store.append_many([event() for _ in range(5)])
    store.close()
    with DuckDBEventStore(directory, "second", compact_interval=None) as second:
        second.compact()
        [parquet] = (directory / PARQUET).iterdir()
        copy = directory / "kept.parquet"
        shutil.copy(parquet, copy)
        parquet.unlink()
        second.compact()  # this time pretend the JSON file survived: restore the Parquet one
        assert files(directory, SEALED) == []

    layout = Layout(directory)
    segment = Segment("main", 1)
    layout.path(SEALED, segment).write_bytes(b"".join(encode_event(event()) for _ in range(5)))
    shutil.copy(copy, layout.path(PARQUET, segment))
    with DuckDBEventStore(directory, "third", compact_interval=None) as third:
        assert impressions(third) == 5
        third.compact()
        assert files(directory, SEALED) == []
        assert impressions(third) == 5


def test_queries_racing_compaction_see_every_event_exactly_once(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", segment_max_bytes=3_000, compact_interval=None) as store:
        for _ in range(40):
            store.append_many([event() for _ in range(10)])
        store.append(event())  # leaves a live segment as well
        stop = threading.Event()

        def compact_and_append() -> None:
            while not stop.is_set():
                store.compact()

        compactor = threading.Thread(target=compact_and_append)
        compactor.start()
        try:
            seen = {impressions(store) for _ in range(60)}
        finally:
            stop.set()
            compactor.join()
        assert seen == {401}


def test_the_source_relation_runs_in_plain_duckdb(directory: Path, store: DuckDBEventStore) -> None:
    store.append_many([event(), event(EventType.CLICK)])
    store.compact()
    store.append(event())
    con = duckdb.connect()
    assert con.sql(f"SELECT count(*) FROM {store.sql_source()}").fetchall() == [(3,)]
    assert store.query("SELECT type, count(*) FROM events GROUP BY type ORDER BY type") == [
        ("click", 1),
        ("impression", 2),
    ]


def test_attributes_and_optional_fields_are_stored(store: DuckDBEventStore) -> None:
    e = event(
        EventType.CLICK,
        publisher_id=5,
        line_item_id=6,
        creative_id=7,
        click_id="clk_1",
        country="SE",
        device_type="mobile",
        currency="SEK",
        attrs={"sub_id": "abc", "n": [1, 2]},
    )
    store.append(e)
    store.compact()
    rows = store.query(
        "SELECT id, publisher_id, line_item_id, creative_id, click_id, country, device_type, currency, "
        "attrs->>'sub_id' FROM events"
    )
    assert rows == [(e.id, 5, 6, 7, "clk_1", "SE", "mobile", "SEK", "abc")]


def test_fsync_on_every_append_still_appends(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", fsync_interval=0, compact_interval=None) as store:
        store.append(event())
        store.append_many([event(), event()])
        store.sync()
        assert impressions(store) == 3


def test_a_closed_store_refuses_work(store: DuckDBEventStore) -> None:
    store.close()
    store.close()
    with pytest.raises(RuntimeError):
        store.append(event())
    with pytest.raises(RuntimeError):
        store.daily_totals(1, date(2024, 1, 1), date(2024, 1, 2), "UTC")


def test_campaign_totals_on_an_empty_directory(store: DuckDBEventStore) -> None:
    assert store.campaign_totals(1, [10], *ALL_TIME) == {10: Totals()}


def test_oversized_events_are_refused_before_writing(store: DuckDBEventStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.append(event(attrs={"blob": "x" * 2_000_000}))
    assert store.campaign_totals(1, None, *ALL_TIME) == {}


def test_a_forked_child_cannot_append_under_the_parents_writer_id(store: DuckDBEventStore) -> None:
    pid = os.fork()
    if pid == 0:  # child: must refuse, and exit without running the parent's cleanup
        try:
            store.append(event())
        except RuntimeError:
            os._exit(0)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.append(event())
    assert impressions(store) == 1
