"""Audience sync jobs' staged member keys as files under the data dir: `<job id>.keys`, fixed-size
records (`domain.audiences.RECORD`) of hashes, never a raw value. A file is flushed to disk
(fdatasync) before its job commits, so an acknowledged sync survives a crash; the service removes
it when the job is done or its audience deleted, and sweeps the ones a crash left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

_SUFFIX = ".keys"


class _Writer:
    def __init__(self, path: Path) -> None:
        self._dir = path.parent
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        try:
            os.fdatasync(self._fd)
        finally:
            os.close(self._fd)
        directory = os.open(self._dir, os.O_RDONLY)  # the new file's name, durable too
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class AudienceStagingFiles:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, job_id: int) -> Path:
        return self._dir / f"{job_id}{_SUFFIX}"

    def create(self, job_id: int) -> _Writer:
        return _Writer(self._path(job_id))

    def read(self, job_id: int, offset: int, size: int) -> bytes:
        with self._path(job_id).open("rb") as f:
            f.seek(offset)
            return f.read(size)

    def remove(self, job_id: int) -> None:
        self._path(job_id).unlink(missing_ok=True)

    def staged(self) -> dict[int, float]:
        now = time.time()
        found = {}
        for path in self._dir.glob(f"*{_SUFFIX}"):
            try:
                found[int(path.stem)] = now - path.stat().st_mtime
            except (ValueError, FileNotFoundError):  # not ours, or removed meanwhile
                continue
        return found
