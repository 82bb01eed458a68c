"""Compaction: sealed JSON-lines segments become Parquet files, one per segment.

Per segment: write `parquet/.<stem>.parquet.tmp`, fsync it, rename it to its final name,
fsync the directory, then delete the sealed JSON file. A reader listing the stages in
pipeline order (see `layout`) sees the segment once whatever step it lands between; a
crash between the rename and the delete leaves both copies, which readers dedupe and the
next compaction cleans up. Only one process compacts a directory at a time (an flock).

Each segment's rollup (see `rollup_build`) is written from the temporary Parquet file and
renamed in before it, so a compacted segment is never visible without its rollup. A failed
rollup does not hold compaction back: it is retried, like the rollups of segments
compacted before rollups existed, at the end of every round.
"""

from __future__ import annotations

import logging
import os
import threading

import duckdb

from auctera.events.journal import seal
from auctera.events.layout import JOURNAL, PARQUET, SEALED, Layout, Segment, fsync_dir, fsync_file, try_lock
from auctera.events.rollup_build import (
    build_missing_report_grains,
    build_missing_rollups,
    build_rollup,
    remove_stray_rollups,
)
from auctera.events.sql import jsonl_select, sql_string

log = logging.getLogger(__name__)


def compact(layout: Layout) -> int:
    """Compact every sealed segment and build missing rollups; returns how many segments became
    Parquet (0 if another process is at it)."""
    lock_fd = try_lock(layout.compaction_lock_path)
    if lock_fd is None:
        return 0
    try:
        seal_orphans(layout)
        _remove_temporary_files(layout)  # left by a compaction that died; we hold the lock, so not ours
        remove_stray_rollups(layout)
        con = duckdb.connect(":memory:")
        try:
            compacted = sum(_compact_segment(layout, con, segment) for segment in layout.segments(SEALED))
            build_missing_rollups(layout, con)
            build_missing_report_grains(layout, con)
            return compacted
        finally:
            con.close()
    finally:
        os.close(lock_fd)


def seal_orphans(layout: Layout) -> int:
    """Seal live segments whose writer is gone (its lock is free), so they get compacted too."""
    orphans: dict[str, list[Segment]] = {}
    for segment in layout.segments(JOURNAL):
        orphans.setdefault(segment.writer, []).append(segment)
    sealed = 0
    for writer, segments in orphans.items():
        lock_path = layout.writer_lock_path(writer)
        fd = try_lock(lock_path)
        if fd is None:  # that writer is alive
            continue
        try:
            for segment in segments:
                seal(layout, segment)
                sealed += 1
            # Holding the lock, we may delete it: a writer waiting on the old file notices and retries.
            lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return sealed


def _remove_temporary_files(layout: Layout) -> None:
    directory = layout.stage_dir(PARQUET)
    for name in os.listdir(directory):
        if name.startswith(".") and name.endswith(".tmp"):
            (directory / name).unlink(missing_ok=True)


def _compact_segment(layout: Layout, con: duckdb.DuckDBPyConnection, segment: Segment) -> bool:
    source = layout.path(SEALED, segment)
    target = layout.path(PARQUET, segment)
    if target.exists():  # an earlier compaction died after the rename
        source.unlink(missing_ok=True)
        fsync_dir(source.parent)
        return False
    temporary = target.with_name(f".{target.name}.tmp")
    # Sorted so row-group statistics let queries skip other accounts and time ranges.
    con.execute(
        f'COPY ({jsonl_select([source])} ORDER BY account_id, campaign_id, "at") '
        f"TO {sql_string(str(temporary))} (FORMAT parquet, COMPRESSION zstd)"
    )
    fsync_file(temporary)
    try:
        build_rollup(layout, con, segment, temporary)
    except (duckdb.Error, OSError):  # queries read the segment raw meanwhile
        log.exception("building the rollup of %s failed; retried at the end of the round", segment.stem)
    os.rename(temporary, target)
    fsync_dir(target.parent)
    source.unlink()
    fsync_dir(source.parent)
    return True


class BackgroundCompactor:
    """Runs `compact` every `interval` seconds in a daemon thread."""

    def __init__(self, layout: Layout, interval: float) -> None:
        self._layout = layout
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-compactor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                compact(self._layout)
            except Exception:  # a failed round leaves the JSON segments in place; retry next round
                log.exception("event log compaction failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
