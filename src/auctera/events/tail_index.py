"""The rows of live and sealed JSON segments, parsed incrementally into the store's in-memory DuckDB.

Reading a JSON segment with `read_json` on every query costs ~50 ms per 80k events, and a
live segment grows to 64 MiB before it rotates. Segments are append-only and keep their
content when sealed (a rename), so each store keeps, per segment (by name, whatever its
stage), a table of the rows parsed so far and the byte offset they end at. A query parses
only the bytes appended since, and reads the tables.

- Only whole lines are parsed from a live (`journal/`) segment: a line still being written,
  or torn, waits for its newline. A sealed segment is final, so its last line is parsed
  even without one, as `read_json` does.
- The bytes are parsed by the very `read_json` call raw queries use (`sql.jsonl_select`),
  over a copy of the new lines, so bad lines are skipped exactly as there.
- Each row records the offset its chunk ends at, and a query reads only the rows up to the
  offset its own refresh reached: concurrent refreshes never change its answer.
- A segment's table is dropped once a listing shows the segment compacted and no running
  query uses the table.
- The journal truncates a failed partial write away; a segment found shorter than its
  offset, or whose bytes before the offset changed, is parsed again from the start.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from auctera.events.codec import COLUMNS
from auctera.events.layout import SEALED, Segment
from auctera.events.sql import jsonl_select

_COLUMN_LIST: Final = ", ".join(f'"{c}"' for c in COLUMNS)
_TABLE_COLUMNS: Final = ", ".join(["upto BIGINT", *(f'"{c}" {t}' for c, t in COLUMNS.items())])
# Bytes before the offset compared on every refresh, to notice a segment rewritten under us.
_CHECK_BYTES: Final = 4096
_FD_DIR: Final = Path("/proc/self/fd")


@dataclass(frozen=True, slots=True)
class JsonFile:
    """A JSON segment of a listing: its identity, whether it is sealed, and where to read it."""

    segment: Segment
    sealed: bool
    path: Path  # the listed path, or /proc/self/fd/N pinning it

    @classmethod
    def of(cls, listed: Path, read_from: Path) -> JsonFile:
        segment = Segment.parse(listed.name)
        if segment is None:
            raise ValueError(f"not a segment file: {listed}")
        return cls(segment, listed.parent.name == SEALED, read_from)


@dataclass(slots=True)
class _Parsed:
    table: str
    offset: int = 0  # bytes of the segment parsed into `table`
    check: bytes = b""  # the bytes just before `offset`


class TailIndex:
    """Parsed rows of JSON segments, per store; `view` gives a query its relation over them."""

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._parsed: dict[Segment, _Parsed] = {}
        self._users: Counter[str] = Counter()  # table -> running queries reading it
        self._doomed: set[str] = set()  # tables to drop once unused
        self._tables = 0
        self.bytes_parsed = 0  # bytes handed to the JSON parser so far (for tests and monitoring)

    @contextlib.contextmanager
    def view(self, files: Sequence[JsonFile], parquet: Sequence[Path] = ()) -> Iterator[str]:
        """A SELECT over every event in `files` as they are now; valid until exit.

        `parquet`: the listing's compacted files; rows of segments among them are dropped.
        Raises OSError if a file cannot be opened (read by path, and moved meanwhile).
        """
        with self._lock:
            listed = {f.segment for f in files}
            if stale := [s for s in self._parsed if s not in listed]:
                compacted = {p.name for p in parquet}
                for segment in stale:
                    if f"{segment.stem}.parquet" in compacted:
                        self._doomed.add(self._parsed.pop(segment).table)
            parts = [self._refresh(f) for f in files]
            self._users.update(table for table, _ in parts)
            self._drop_unused()
        try:
            yield " UNION ALL ".join(
                f"SELECT {_COLUMN_LIST} FROM {table} WHERE upto <= {offset}" for table, offset in parts
            )
        finally:
            with self._lock:
                self._users.subtract(table for table, _ in parts)
                self._users = +self._users  # forget tables no query reads
                self._drop_unused()

    @property
    def segments(self) -> int:
        """How many segments have rows held in memory."""
        with self._lock:
            return len(self._parsed)

    def _refresh(self, file: JsonFile) -> tuple[str, int]:
        """Parse what `file` gained since last time; its table and the offset now parsed."""
        fd = os.open(file.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            parsed = self._parsed.get(file.segment)
            if parsed is not None and parsed.offset <= size:
                start = parsed.offset - len(parsed.check)
                data = os.pread(fd, size - start, start)
                if data[: len(parsed.check)] == parsed.check:
                    self._parse(parsed, data[len(parsed.check) :], file.sealed)
                    return parsed.table, parsed.offset
            if parsed is not None:  # shorter, or rewritten: start over in a new table
                self._doomed.add(parsed.table)
            parsed = self._parsed[file.segment] = _Parsed(self._new_table())
            self._parse(parsed, os.pread(fd, size, 0), file.sealed)
            return parsed.table, parsed.offset
        finally:
            os.close(fd)

    def _parse(self, parsed: _Parsed, data: bytes, final: bool) -> None:
        chunk = data if final else data[: data.rfind(b"\n") + 1]
        if not chunk:
            return
        upto = parsed.offset + len(chunk)
        with _chunk_file(chunk) as path:
            self._execute(f"INSERT INTO {parsed.table} SELECT {upto}, * FROM ({jsonl_select([path])})")
        self.bytes_parsed += len(chunk)
        parsed.check = (parsed.check + chunk)[-_CHECK_BYTES:]
        parsed.offset = upto

    def _new_table(self) -> str:
        self._tables += 1
        table = f"jsonl_tail_{self._tables}"
        self._execute(f"CREATE TABLE {table} ({_TABLE_COLUMNS})")
        return table

    def _drop_unused(self) -> None:
        for table in [t for t in self._doomed if self._users[t] <= 0]:
            self._execute(f"DROP TABLE IF EXISTS {table}")
            self._doomed.discard(table)

    def _execute(self, sql: str) -> None:
        cursor = self._db.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()


@contextlib.contextmanager
def _chunk_file(chunk: bytes) -> Iterator[Path]:
    """A file holding `chunk`, for read_json: in memory where Linux allows, else a temporary file."""
    if hasattr(os, "memfd_create") and _FD_DIR.is_dir():
        fd = os.memfd_create("auctera-jsonl-tail", os.MFD_CLOEXEC)
        try:
            _write_all(fd, chunk)
            yield _FD_DIR / str(fd)
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="auctera-tail-") as directory:
        path = Path(directory) / "chunk.jsonl"
        path.write_bytes(chunk)
        yield path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
