"""Pre-rendered product feed files: rendered once per catalog import, served at I/O speed.

A feed's body is the same for every channel but for the publisher and channel in each tracking
link (`p=…&ch=…`). So each (catalog, program, format, link variant) is rendered once into a file
under the data dir with a placeholder where that part goes, and every request streams the file
in large chunks, swapping the placeholder for its own value.

The placeholder is `X` and a random 31-hex-digit nonce drawn for each file and written in its
header: it survives JSON, XML and CSV escaping unchanged, a catalog imported before it was
drawn cannot contain it, and since its first character occurs nowhere else in it, two
occurrences never overlap (so a chunk boundary cutting one is easy to tell).

A file is written to a temporary name, fsynced and renamed into place under an exclusive lock
(flock: between threads and between processes sharing the data dir), so concurrent first
requests render it once and nobody reads half a file. Its name carries a version that changes
whenever its contents would (see PartnerProgramService), so a new import is a new name; the
superseded files of the same stem are removed once the new one is in place. The default files
are rendered right after an import (PartnerProgramService.render_catalog_files, run by
jobs/feed_files.py): a request for one being rendered waits on its lock, then reads it.

A client sending `Accept-Encoding: gzip` (feed tools do) gets a gzip file instead: the response
as its channel is served, compressed once on its first such request and kept beside the files
(`gzip/`), so later downloads of that channel send about a fifteenth of the bytes. It cannot be
rendered with the files: its links are one channel's, and compressed text has no placeholder to
swap. Its name carries the versions of the files it was made from, so a new import makes a new
name and the first request of any channel after it drops every channel's superseded gzip files.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

MAGIC = b"auctera-feed-file 1 "
MARK = b"X"  # a placeholder's first character, and only there
PLACEHOLDER_LENGTH = 32
HEADER_LENGTH = len(MAGIC) + PLACEHOLDER_LENGTH + 1  # the magic, the placeholder, a newline
CHUNK = 1 << 20  # bytes read (and sent) at a time while serving
GZIP_LEVEL = 1  # ISA-L's level 1: zlib level 1's ratio at 2.5 times its speed
GZIP_FOLDER = "gzip"

# Renders a file's body given the placeholder to put where each link's `p=…&ch=…` goes.
Render = Callable[[str], Iterator[bytes]]


class FeedFiles:
    def __init__(self, root: Path) -> None:
        self._root = root

    def open(self, folder: str, stem: str, version: str, suffix: str, render: Render) -> BinaryIO:
        """The file `folder/stem.version.suffix`, opened for reading at its header; rendered
        first when it does not exist yet. Open before the lock is released, so it stays readable
        even if a newer version replaces it meanwhile."""
        directory = self._root / folder

        def written(path: Path) -> None:
            _write(path, _with_header(render))
            _drop_superseded(directory, f"{stem}.*.{suffix}", keep=path.name)

        return _opened(directory / f"{stem}.{version}.{suffix}", directory / f"{stem}.lock", written)

    def open_gzip(
        self, stem: str, versions: Sequence[str], value: bytes, body: Callable[[], Iterator[bytes]]
    ) -> BinaryIO:
        """The gzip file of a response, `body()` as served with `value` in its links (`stem`
        names the program, variant and format, `versions` the files it is made of), opened at
        its start: compressed first when it does not exist yet."""
        directory = self._root / GZIP_FOLDER
        version = hashlib.sha256(" ".join(versions).encode()).hexdigest()[:20]
        key = hashlib.sha256(value).hexdigest()[:20]  # the channel's links, not spelled out in a name

        def written(path: Path) -> None:
            _write(path, lambda: _gzipped(body()))
            _drop_superseded(directory, f"{stem}.*.gz", keep=f"{stem}.{version}.")  # every channel's

        return _opened(directory / f"{stem}.{version}.{key}.gz", directory / f"{stem}.{key}.lock", written)


def _opened(path: Path, lock_path: Path, write: Callable[[Path], None]) -> BinaryIO:
    """`path` opened for reading, written first under an exclusive lock if it does not exist.
    Opened before the lock is released, so it stays readable even if a newer version replaces
    it meanwhile."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():  # else someone wrote it while we waited
                write(path)
            return path.open("rb")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _with_header(render: Render) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        placeholder = MARK.decode() + secrets.token_hex(PLACEHOLDER_LENGTH // 2)[1:]
        yield MAGIC + placeholder.encode() + b"\n"
        yield from render(placeholder)

    return chunks


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)  # gzip
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def _write(path: Path, chunks: Callable[[], Iterator[bytes]]) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("wb") as out:
            for chunk in chunks():
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _drop_superseded(directory: Path, pattern: str, keep: str) -> None:
    """Removes the files matching `pattern` but those whose name starts with `keep`."""
    for old in directory.glob(pattern):
        if not old.name.startswith(keep):
            old.unlink(missing_ok=True)  # a reader still streaming it keeps its open file


def chunks_of(file: BinaryIO) -> Iterator[bytes]:
    """A file's bytes from where it is open, in large chunks; closes it."""
    with file:
        while chunk := file.read(CHUNK):
            yield chunk


def is_empty(file: BinaryIO) -> bool:
    return os.fstat(file.fileno()).st_size <= HEADER_LENGTH


def served(
    files: Sequence[BinaryIO], value: bytes, *, head: bytes, separator: bytes, tail: bytes
) -> Iterator[bytes]:
    """`head`, the non-empty files' bodies joined by `separator` with `value` in place of each
    one's placeholder, `tail`; closes the files."""
    try:
        yield head
        first = True
        for file in files:
            if is_empty(file):
                continue
            if not first:
                yield separator
            first = False
            yield from replaced(file, value)
        yield tail
    finally:
        for file in files:
            file.close()


def replaced(file: BinaryIO, value: bytes, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """A file's body, read in chunks, its placeholder replaced by `value` everywhere, even where
    a chunk boundary cuts it in two: a chunk ending in the start of a placeholder keeps that
    start back for the next one."""
    header = file.read(HEADER_LENGTH)
    placeholder = header[len(MAGIC) : -1]
    if len(header) != HEADER_LENGTH or not header.startswith(MAGIC) or placeholder.rfind(MARK) != 0:
        raise ValueError(f"{getattr(file, 'name', 'a feed file')} is not a rendered feed file")
    carry = b""
    while chunk := file.read(chunk_size):
        buffer = carry + chunk if carry else chunk
        # Only the last MARK can start a cut placeholder: placeholders never overlap.
        start = buffer.rfind(MARK, max(0, len(buffer) - len(placeholder) + 1))
        if start != -1 and placeholder.startswith(buffer[start:]):
            buffer, carry = buffer[:start], buffer[start:]
        else:
            carry = b""
        if buffer:
            yield buffer.replace(placeholder, value)
    if carry:
        yield carry
