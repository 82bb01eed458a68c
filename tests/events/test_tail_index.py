"""The tail index: JSON segments parsed incrementally, each event counted once at every moment."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from auctera.domain.events import EventType
from auctera.events import DuckDBEventStore
from auctera.events.codec import encode_event
from auctera.events.layout import JOURNAL, PARQUET, SEALED, Layout, Segment
from auctera.events.tail_index import JsonFile, TailIndex

from .contract import ALL_TIME, event

GHOST = Segment("ghost", 1)  # a segment written here by hand, as a writer would


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "events"


@pytest.fixture
def store(directory: Path) -> Iterator[DuckDBEventStore]:
    with DuckDBEventStore(directory, "main", compact_interval=None) as store:
        yield store


def tail(store: DuckDBEventStore) -> TailIndex:
    assert store.tail_index is not None
    return store.tail_index


def impressions(store: DuckDBEventStore) -> int:
    return store.campaign_totals(1, [10], *ALL_TIME)[10].impressions


def lines(n: int) -> bytes:
    return b"".join(encode_event(event()) for _ in range(n))


def test_only_the_bytes_appended_since_the_last_query_are_parsed(
    directory: Path, store: DuckDBEventStore
) -> None:
    store.append_many([event() for _ in range(5)])
    assert impressions(store) == 5
    [live] = (directory / JOURNAL).iterdir()
    assert tail(store).bytes_parsed == live.stat().st_size
    assert impressions(store) == 5
    assert tail(store).bytes_parsed == live.stat().st_size  # nothing new: nothing parsed
    before = live.stat().st_size
    store.append_many([event() for _ in range(3)])
    assert impressions(store) == 8
    assert tail(store).bytes_parsed == live.stat().st_size
    assert live.stat().st_size > before


def test_a_torn_last_line_completed_later_is_counted_once(directory: Path, store: DuckDBEventStore) -> None:
    path = Layout(directory).path(JOURNAL, GHOST)
    line = encode_event(event())
    path.write_bytes(lines(2) + line[:40])
    assert impressions(store) == 2
    assert tail(store).bytes_parsed == len(lines(2))  # the partial line waits for its newline
    with path.open("ab") as f:
        f.write(line[40:-1])  # all but the newline: still waiting in a live segment
    assert impressions(store) == 2
    with path.open("ab") as f:
        f.write(b"\n")
    assert impressions(store) == 3
    assert impressions(store) == 3
    assert tail(store).bytes_parsed == path.stat().st_size


def test_a_sealed_segment_is_read_to_its_end_as_read_json_reads_it(directory: Path) -> None:
    # A complete line without its newline counts in a sealed segment (read_json and compaction
    # count it), but waits while the segment is live.
    layout = Layout(directory)
    path = layout.path(JOURNAL, GHOST)
    path.write_bytes(lines(2) + encode_event(event())[:-1])
    with (
        DuckDBEventStore(directory, "main", compact_interval=None) as store,
        DuckDBEventStore(directory, "raw", compact_interval=None, tail_index=False) as raw,
    ):
        assert impressions(store) == 2
        os.rename(path, layout.path(SEALED, GHOST))
        assert impressions(store) == impressions(raw) == 3
        store.compact()
        assert impressions(store) == impressions(raw) == 3


def test_a_segment_sealed_then_compacted_is_counted_once_throughout(
    directory: Path, store: DuckDBEventStore
) -> None:
    layout = Layout(directory)
    path = layout.path(JOURNAL, GHOST)
    path.write_bytes(lines(4))
    assert impressions(store) == 4
    parsed = tail(store).bytes_parsed
    os.rename(path, layout.path(SEALED, GHOST))
    assert impressions(store) == 4
    assert tail(store).bytes_parsed == parsed  # the same segment: its rows are kept, not parsed again
    assert store.compact() == 1
    assert (directory / PARQUET / "ghost-000000001.parquet").exists()
    assert impressions(store) == 4
    assert tail(store).segments == 0  # compacted: its rows are dropped
    assert tail(store).bytes_parsed == parsed


def test_a_segment_in_two_stages_is_read_from_parquet_and_its_rows_dropped(
    directory: Path, store: DuckDBEventStore
) -> None:
    layout = Layout(directory)
    path = layout.path(JOURNAL, GHOST)
    path.write_bytes(lines(3))
    assert impressions(store) == 3
    os.rename(path, layout.path(SEALED, GHOST))
    kept = layout.path(SEALED, GHOST).read_bytes()
    store.compact()
    layout.path(SEALED, GHOST).write_bytes(kept)  # compaction died before deleting the JSON copy
    assert impressions(store) == 3
    assert tail(store).segments == 0


def test_a_fresh_store_over_an_existing_directory_sees_everything(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", segment_max_bytes=2_000, compact_interval=None) as store:
        for _ in range(10):
            store.append_many([event() for _ in range(3)])
        store.compact()
        store.append_many([event() for _ in range(3)])
        store.append_many([event() for _ in range(3)])  # leaves sealed and live JSON segments
        assert impressions(store) == 36
    with DuckDBEventStore(directory, "other", compact_interval=None) as fresh:
        assert impressions(fresh) == 36
        json_bytes = sum(
            p.stat().st_size for stage in (JOURNAL, SEALED) for p in (directory / stage).iterdir()
        )
        assert tail(fresh).bytes_parsed == json_bytes > 0


def test_a_segment_truncated_under_the_index_is_parsed_again(
    directory: Path, store: DuckDBEventStore
) -> None:
    # The journal truncates a failed partial write away; a reader may have parsed its whole lines.
    path = Layout(directory).path(JOURNAL, GHOST)
    path.write_bytes(lines(2))
    assert impressions(store) == 2
    path.write_bytes(lines(1))
    assert impressions(store) == 1
    with path.open("ab") as f:  # regrown past the old offset with other events
        f.write(lines(1) + lines(1))
    assert impressions(store) == 3


def test_bad_lines_are_skipped_exactly_as_read_json_skips_them(directory: Path) -> None:
    good = [encode_event(event(EventType.CLICK if i % 3 else EventType.IMPRESSION, id=i)) for i in range(50)]
    bad = [
        b"not json\n",
        b"\n",
        b"{}\n",
        b'{"id": 1}\n',
        b'{"id": "x", "type": "impression", "at": 1, "account_id": 1}\n',
        b'{"id": 1.5, "type": "impression", "at": 1, "account_id": 1, "campaign_id": 10}\n',
        b'{"id": 7, "type": "impression", "at": 946684800000001, "account_id": 1, "campaign_id": 10}\n',
        b'{"id": 8, "type": "click", "at": 946684800000001, "account_id": 1, "campaign_id": 10, "x": [1]}\n',
        b"\0" * 40 + b"\n",
        good[0][:30] + b"\n",
    ]
    rng = random.Random(7)
    content = good + bad
    rng.shuffle(content)
    layout = Layout(directory)
    path = layout.path(JOURNAL, GHOST)
    query = "SELECT * FROM events ORDER BY ALL"
    with (
        DuckDBEventStore(directory, "main", compact_interval=None) as store,
        DuckDBEventStore(directory, "raw", compact_interval=None, tail_index=False) as raw,
    ):
        path.write_bytes(b"")
        for i in range(0, len(content), 7):  # grown a few lines at a time, queried in between
            with path.open("ab") as f:
                f.write(b"".join(content[i : i + 7]))
            assert store.query(query) == raw.query(query)
        assert len(store.query(query)) >= 50
        os.rename(path, layout.path(SEALED, GHOST))
        assert store.query(query) == raw.query(query)


def test_concurrent_queries_racing_appends_and_compaction_count_every_event_once(directory: Path) -> None:
    with DuckDBEventStore(directory, "main", segment_max_bytes=3_000, compact_interval=None) as store:
        for _ in range(40):
            store.append_many([event() for _ in range(10)])
        store.append(event())
        stop = threading.Event()
        seen: list[set[int]] = [set() for _ in range(3)]

        def compact() -> None:
            while not stop.is_set():
                store.compact()

        def count(into: set[int]) -> None:
            for _ in range(40):
                into.add(impressions(store))

        compactor = threading.Thread(target=compact)
        readers = [threading.Thread(target=count, args=(s,)) for s in seen]
        compactor.start()
        for reader in readers:
            reader.start()
        try:
            for reader in readers:
                reader.join()
        finally:
            stop.set()
            compactor.join()
        assert seen == [{401}] * 3
        store.compact()
        assert impressions(store) == 401
        assert tail(store).segments == 1  # only the live segment is held


def test_a_view_keeps_its_rows_while_other_queries_parse_more_and_drop_segments(directory: Path) -> None:
    layout = Layout(directory)
    path = layout.path(JOURNAL, GHOST)
    path.write_bytes(lines(3))
    db = duckdb.connect()
    index = TailIndex(db)

    def count(rows: str) -> int:
        [(n,)] = db.execute(f"SELECT count(*) FROM ({rows})").fetchall()
        return int(n)

    def tables() -> int:
        [(n,)] = db.execute("SELECT count(*) FROM duckdb_tables()").fetchall()
        return int(n)

    with index.view([JsonFile(GHOST, False, path)]) as first:
        with path.open("ab") as f:
            f.write(lines(2))
        with index.view([JsonFile(GHOST, False, path)]) as second:
            assert (count(first), count(second)) == (3, 5)  # each sees the file as its listing did
        compacted = [layout.path(PARQUET, GHOST)]
        with index.view([], compacted):  # a later listing shows the segment compacted
            pass
        assert index.segments == 0
        assert count(first) == 3  # still running: its table is kept
    assert tables() == 0  # and dropped once it ends
