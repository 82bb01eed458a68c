"""Asset files in a directory under the data dir: written atomically, deleted at once."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class DirectoryAssetStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key) or key.startswith("."):
            raise ValueError(f"not an asset key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        draft = path.with_name(f".{key}.{os.getpid()}.tmp")
        with open(draft, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(draft, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
