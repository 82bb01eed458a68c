"""Where the event log lives on disk, and how readers take a consistent view of it.

    <root>/journal/<writer>-<seq>.jsonl     live segment, appended to by its writer only
    <root>/sealed/<writer>-<seq>.jsonl      complete segment waiting for compaction
    <root>/parquet/<writer>-<seq>.parquet   compacted segment
    <root>/rollups/<writer>-<seq>.<first>.<last>/*.parquet
                                            pre-aggregated sums of one compacted segment, whose
                                            events lie in 15-minute buckets first..last
    <root>/writers/<writer>.lock            flock held by the live writer of that id
    <root>/compaction.lock                  flock held by whoever is compacting

A segment only ever moves forward through the stages journal -> sealed -> parquet, by an
atomic rename (journal -> sealed) or by writing the Parquet file and then deleting the
JSON one (sealed -> parquet). So at every instant each segment exists in at least one
stage, and `Layout.snapshot` lists the stages in that order and keeps, for each segment,
only its most advanced copy: every event is seen exactly once. (Renaming inside a single
directory would not do: a directory scan racing with a rename may miss both names.)

A rollup is derived from its segment's Parquet file, which never changes, and readers use
it only for segments they see in `parquet/`. Compaction renames the rollup in before the
Parquet file, so a reader sees a compacted segment together with its rollup, or sees the
segment without one (built before this existed) and reads its raw events instead.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from auctera.events.buckets import BUCKET_MICROS

JOURNAL: Final = "journal"
SEALED: Final = "sealed"
PARQUET: Final = "parquet"
ROLLUPS: Final = "rollups"
STAGES: Final = (JOURNAL, SEALED, PARQUET)  # pipeline order; a segment only moves forward

_WRITER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SEGMENT_FILE = re.compile(r"(?P<writer>[A-Za-z0-9][A-Za-z0-9_.-]*)-(?P<seq>\d{9,})\.(?:jsonl|parquet)")
# The bucket span is in the name so that planning a query needs no file reads.
_ROLLUP_DIR = re.compile(r"(?P<stem>[A-Za-z0-9][A-Za-z0-9_.-]*-\d{9,})\.(?P<first>-?\d+)\.(?P<last>-?\d+)")
_SUFFIX: Final = {JOURNAL: ".jsonl", SEALED: ".jsonl", PARQUET: ".parquet"}


class WriterInUseError(RuntimeError):
    """Another live process (or store) is already appending under this writer id."""


def check_writer_id(writer_id: str) -> str:
    if not _WRITER_ID.fullmatch(writer_id):
        raise ValueError(f"writer_id must match {_WRITER_ID.pattern}, got {writer_id!r}")
    return writer_id


def default_writer_id() -> str:
    """Unique per live process on this host (pids are not reused while the process lives)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", os.uname().nodename) or "host"
    return f"{host[:100]}-{os.getpid()}"


@dataclass(frozen=True, order=True, slots=True)
class Segment:
    writer: str
    seq: int

    @property
    def stem(self) -> str:
        return f"{self.writer}-{self.seq:09d}"

    @classmethod
    def parse(cls, filename: str) -> Segment | None:
        match = _SEGMENT_FILE.fullmatch(filename)
        return cls(match["writer"], int(match["seq"])) if match else None


@dataclass(frozen=True, slots=True)
class Rollup:
    """The rollup of one compacted segment: its directory and the UTC span its events lie in."""

    segment: Segment
    parent: Path  # <root>/rollups; the directory itself is `directory` (built on demand: listings are hot)
    name: str
    first_bucket: int  # bucket numbers (start micros // BUCKET_MICROS); last < first: no events
    last_bucket: int

    @property
    def directory(self) -> Path:
        return self.parent / self.name

    @property
    def is_empty(self) -> bool:
        return self.last_bucket < self.first_bucket

    @property
    def span_start(self) -> int:
        """Start, in UTC micros, of the first bucket holding an event of the segment."""
        return self.first_bucket * BUCKET_MICROS

    @property
    def span_end(self) -> int:
        """End (exclusive) of the last bucket holding an event of the segment."""
        return (self.last_bucket + 1) * BUCKET_MICROS

    @property
    def buckets_file(self) -> Path:
        return self.directory / "buckets.parquet"

    @property
    def campaign_buckets_file(self) -> Path:
        return self.directory / "campaign_buckets.parquet"

    @property
    def totals_file(self) -> Path:
        return self.directory / "totals.parquet"

    @classmethod
    def parse(cls, parent: Path, name: str) -> Rollup | None:
        match = _ROLLUP_DIR.fullmatch(name)
        if match is None:
            return None
        writer, _, seq = match["stem"].rpartition("-")
        return cls(Segment(writer, int(seq)), parent, name, int(match["first"]), int(match["last"]))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The files holding every event, each segment counted once."""

    jsonl: list[Path] = field(default_factory=list)  # live and sealed segments
    parquet: list[Path] = field(default_factory=list)
    rollups: dict[Path, Rollup] = field(default_factory=dict)  # Parquet file -> its rollup, where built
    # A SELECT over the events of `jsonl` to read instead of the files (see `tail_index`), if any.
    jsonl_rows: str | None = None


class Layout:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        for name in (*STAGES, ROLLUPS, "writers"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def path(self, stage: str, segment: Segment) -> Path:
        return self.root / stage / f"{segment.stem}{_SUFFIX[stage]}"

    def writer_lock_path(self, writer_id: str) -> Path:
        return self.root / "writers" / f"{writer_id}.lock"

    @property
    def compaction_lock_path(self) -> Path:
        return self.root / "compaction.lock"

    def rollup_path(self, segment: Segment, first_bucket: int, last_bucket: int) -> Path:
        return self.root / ROLLUPS / f"{segment.stem}.{first_bucket}.{last_bucket}"

    def rollups(self) -> dict[Segment, Rollup]:
        """Rollups present (hidden temporary directories are not rollups)."""
        directory = self.root / ROLLUPS
        found = (Rollup.parse(directory, name) for name in os.listdir(directory))
        return {r.segment: r for r in found if r is not None}

    def segments(self, stage: str) -> list[Segment]:
        """Segments present in one stage (hidden temporary files are not segments)."""
        found = (Segment.parse(name) for name in os.listdir(self.stage_dir(stage)))
        return sorted(s for s in found if s is not None)

    def next_seq(self, writer_id: str) -> int:
        """A sequence number above every segment this writer id ever left behind."""
        # Rollups count too: a new segment must never inherit a leftover rollup of an old one.
        segments = [s for stage in STAGES for s in self.segments(stage)] + list(self.rollups())
        seqs = [s.seq for s in segments if s.writer == writer_id]
        return max(seqs, default=0) + 1

    def snapshot(self) -> Snapshot:
        newest: dict[Segment, str] = {}
        for stage in STAGES:  # this order is what makes the view complete; see the module docstring
            for segment in self.segments(stage):
                newest[segment] = stage
        # Listed after the stages: compaction renames a rollup in before its Parquet file, so a
        # segment seen compacted is seen with its rollup (if not, its raw events are read instead).
        rollups = self.rollups()
        snapshot = Snapshot()
        for segment, stage in sorted(newest.items()):
            path = self.path(stage, segment)
            if stage != PARQUET:
                snapshot.jsonl.append(path)
                continue
            snapshot.parquet.append(path)
            if (rollup := rollups.get(segment)) is not None:
                snapshot.rollups[path] = rollup
        return snapshot


def fsync_dir(directory: Path) -> None:
    """Make renames, creations and deletions in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """Take an exclusive flock on `path` without waiting: the fd holding it, or None if busy.

    Lock files may be deleted by whoever holds them (see `compaction.seal_orphans`), so after
    locking we check the fd still is the file at `path` and retry on the new one if not.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        held = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
            return fd
        os.close(fd)


# How long a new writer waits for its lock: a compactor sealing a dead writer's segments
# holds it for a few milliseconds; a live process holding it means a duplicate writer id.
WRITER_LOCK_WAIT_SECONDS = 2.0


def lock_writer(layout: Layout, writer_id: str) -> int:
    """Hold the writer lock for `writer_id`; waits briefly in case a compactor holds it."""
    deadline = time.monotonic() + WRITER_LOCK_WAIT_SECONDS
    while (fd := try_lock(layout.writer_lock_path(writer_id))) is None:
        if time.monotonic() >= deadline:
            raise WriterInUseError(
                f"writer id {writer_id!r} is in use in {layout.root}: give each process its own writer_id"
            )
        time.sleep(0.02)
    return fd
