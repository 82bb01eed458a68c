"""The object store in a directory under the data dir (one machine, or a shared file system).

Writes are atomic (a dot-named draft, fsynced, then renamed), so a reader sees a whole file or
none; a file handed over with `put_file` is renamed into place when it is on the same file system.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from auctera.services.ports import StoredObject
from auctera.storage.keys import checked

CHUNK = 1 << 20


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / checked(key)

    def _draft(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        draft = self._draft(path)
        try:
            with open(draft, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(draft, path)
        finally:
            draft.unlink(missing_ok=True)

    def put_file(self, key: str, source: Path) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
            size = os.fstat(handle.fileno()).st_size
        try:
            os.replace(source, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            draft = self._draft(path)  # another file system: copied in chunks, then renamed
            try:
                with open(source, "rb") as src, open(draft, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(draft, path)
            finally:
                draft.unlink(missing_ok=True)
            source.unlink()
        return size

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def read(self, key: str) -> StoredObject | None:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the chunks' iterator
        except FileNotFoundError:
            return None
        return StoredObject(os.fstat(handle.fileno()).st_size, _chunks(handle))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
