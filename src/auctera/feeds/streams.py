"""Byte streams and checks the readers share."""

from __future__ import annotations

import io
import re
from collections import deque
from typing import BinaryIO

# Text no database column can hold: PostgreSQL text refuses a NUL, and a lone surrogate is not
# UTF-8 at all (SQLite's JSON functions lose the one, encoding fails on the other). A value
# holding one is its row's error, as /v2 JSON bodies refuse them (D45).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_REASON = "holds a NUL character or an unpaired surrogate"


class Replay(io.RawIOBase):
    """Bytes already read (to look at the start of a feed), then the rest of the stream.

    Given `tail`, it keeps at least the last `tail` bytes read (the chunks, not copies), so a
    reader can look at how the feed ends once it has read it."""

    def __init__(self, head: bytes, rest: BinaryIO, *, tail: int = 0) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self.last_byte = head[-1:]  # of everything read so far
        self._tail_size = tail
        self._chunks: deque[bytes] = deque()
        self._kept = 0
        if tail:
            self._keep(head)

    def _keep(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._kept += len(chunk)
        while self._kept - len(self._chunks[0]) >= self._tail_size:
            self._kept -= len(self._chunks.popleft())

    def tail(self) -> bytes:
        """The last bytes read: at least `tail` of them, if there were as many."""
        return b"".join(self._chunks)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self._head))
        if n:
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            if n == len(buffer):
                return n
        # The rest of the buffer from the stream: a short read would make pyarrow parse a small block.
        data = self._rest.read(len(buffer) - n)
        buffer[n : n + len(data)] = data
        if data:
            self.last_byte = data[-1:]
            if self._tail_size:
                self._keep(data)
        return n + len(data)
