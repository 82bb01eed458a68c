"""The append-only journal: newline-terminated records in per-writer segment files.

Durability contract:
- `append`/`append_many` return only after one `os.write` on an O_APPEND file descriptor
  has handed the bytes to the kernel, so they survive a kill -9 of the process at once;
- a background thread fdatasyncs them every `fsync_interval` seconds (0 = on every
  append, in the caller's thread), which bounds what a machine crash can lose;
- a segment is fsynced before it is sealed, and directory entries are fsynced when
  segments are created or moved.

Each process appends under its own `writer_id` (held with an flock), so any number of
processes can share a directory without coordinating. A writer never appends to a file it
did not create in this run: after a crash the old segment may end in a torn line, and a
new record glued onto it would be unreadable.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

from auctera.events.layout import (
    JOURNAL,
    SEALED,
    Layout,
    Segment,
    check_writer_id,
    default_writer_id,
    fsync_dir,
    fsync_file,
    lock_writer,
)

log = logging.getLogger(__name__)

MiB: Final = 1024 * 1024
_sync_data = getattr(os, "fdatasync", os.fsync)  # appends change the size; fdatasync covers that

# A forked child shares its parent's descriptors and writer locks: its appends would interleave
# with the parent's under one writer id. Marked at the fork, rather than by a getpid() per append.
_open_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


def _mark_forked() -> None:
    for journal in list(_open_journals):
        journal._forked = True


os.register_at_fork(after_in_child=_mark_forked)


def seal(layout: Layout, segment: Segment) -> None:
    """Move a finished journal segment to `sealed/` (deleting it if empty). Caller holds its writer lock."""
    path = layout.path(JOURNAL, segment)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        path.unlink(missing_ok=True)
    else:
        fsync_file(path)
        os.rename(path, layout.path(SEALED, segment))
        fsync_dir(layout.stage_dir(SEALED))
    fsync_dir(layout.stage_dir(JOURNAL))


class Journal:
    def __init__(
        self,
        directory: Path | str,
        writer_id: str | None = None,
        fsync_interval: float = 1.0,
        segment_max_bytes: int = 64 * MiB,
    ) -> None:
        if fsync_interval < 0:
            raise ValueError("fsync_interval must be >= 0 seconds")
        if segment_max_bytes <= 0:
            raise ValueError("segment_max_bytes must be positive")
        self.layout = Layout(directory)
        self.writer_id = check_writer_id(writer_id or default_writer_id())
        self.fsync_interval = fsync_interval
        self.segment_max_bytes = segment_max_bytes

        self._lock = threading.Lock()
        self._forked = False
        _open_journals.add(self)
        self._writer_lock_fd: int | None = lock_writer(self.layout, self.writer_id)
        try:
            # Segments a previous process with this id left open (it died): complete them.
            for segment in self.layout.segments(JOURNAL):
                if segment.writer == self.writer_id:
                    seal(self.layout, segment)
            self._next_seq = self.layout.next_seq(self.writer_id)
        except BaseException:
            os.close(self._writer_lock_fd)
            raise
        self._segment: Segment | None = None  # opened lazily by the first append
        self._fd = -1
        self._size = 0
        self._dirty = False
        self._closed = False

        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if fsync_interval > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"journal-fsync-{self.writer_id}", daemon=True
            )
            self._flusher.start()

    # -- appending ---------------------------------------------------------------------------

    def append(self, record: bytes) -> None:
        """Append one newline-terminated record."""
        self._write(record)

    def append_many(self, records: Sequence[bytes]) -> None:
        """Append records with a single write: they land in one segment, together."""
        if records:
            self._write(b"".join(records))

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("journal is closed")
            if self._forked:  # each process needs its own store (see `_mark_forked`)
                raise RuntimeError("journal used after fork: open the event store in each worker process")
            if self._segment is None:
                self._open_segment()
            written = 0
            try:
                while written < len(data):  # os.write on a regular file is short only on errors
                    written += os.write(self._fd, data[written:] if written else data)
            except BaseException:
                if written:
                    self._drop_partial_write()
                raise
            self._size += written
            if self.fsync_interval == 0:
                _sync_data(self._fd)
            else:
                self._dirty = True
            if self._size >= self.segment_max_bytes:
                try:
                    self._seal_current()
                except OSError:  # the record is written: do not report a failure (a retry would duplicate it)
                    log.exception("sealing %s failed; it is sealed on the next start", self.writer_id)

    def _drop_partial_write(self) -> None:
        # A partial record would be glued to the next one; cut it off, or start a new segment.
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            log.exception("could not truncate a partial write in %s; starting a new segment", self._segment)
            self._seal_current()

    def _open_segment(self) -> None:
        segment = Segment(self.writer_id, self._next_seq)
        path = self.layout.path(JOURNAL, segment)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o644)
        fsync_dir(path.parent)  # the file itself must survive a machine crash, not only its bytes
        self._next_seq += 1
        self._segment, self._size, self._dirty = segment, 0, False

    def _seal_current(self) -> None:
        if self._segment is None:
            return
        segment, fd = self._segment, self._fd
        self._segment, self._fd, self._dirty = None, -1, False
        try:
            os.close(fd)
        finally:
            seal(self.layout, segment)  # fsyncs the data before the rename

    # -- durability --------------------------------------------------------------------------

    def sync(self) -> None:
        """fdatasync everything appended so far (sealed segments already are)."""
        with self._lock:
            if self._segment is None:
                return
            fd = os.dup(self._fd)  # fsync outside the lock without racing a rotation's close
            self._dirty = False
        try:
            _sync_data(fd)
        finally:
            os.close(fd)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval):
            if self._dirty:
                try:
                    self.sync()
                except Exception:  # keep flushing; the next round retries
                    log.exception("background fsync of the event journal failed")
                    self._dirty = True

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Seal the current segment (fsynced) and release the writer id. Idempotent."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._seal_current()
            finally:
                if self._writer_lock_fd is not None:
                    # Deleted while still held, so lock files do not pile up (see layout.try_lock).
                    self.layout.writer_lock_path(self.writer_id).unlink(missing_ok=True)
                    os.close(self._writer_lock_fd)
                    self._writer_lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
