"""Object keys: relative paths both stores accept as they are (a file path, an S3 key)."""

from __future__ import annotations

import re

# Never a dot first: no `..`, no hidden files (the directory store's drafts start with one).
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
MAX_DEPTH = 4


def checked(key: str) -> str:
    segments = key.split("/")
    if len(segments) > MAX_DEPTH or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(f"not an object key: {key!r}")
    return key
