"""64-bit entity ids and their renderings.

An id is a Snowflake-style integer: 41 bits of milliseconds since 2024-01-01, 8 bits of
node (one per writing process), 14 bits of sequence. Ids are unique without a database
round trip (clicks need them on the hot path), roughly time-ordered (stable cursor
pagination) and do not reveal how many rows a tenant has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

CLICK_PREFIX = "auc"  # click ids look like the seed's `auc_982hfj28`
EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NODE_BITS = 8
SEQ_BITS = 14
MAX_NODE = (1 << NODE_BITS) - 1
_SEQ_MASK = (1 << SEQ_BITS) - 1
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAX_ID = (1 << 63) - 1


class IdGenerator:
    def __init__(self, node: int, now_ms: Callable[[], int]) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be within 0..{MAX_NODE}")
        self._node = node
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._seq = 0

    def next_id(self) -> int:
        with self._lock:
            ms = max(self._now_ms() - EPOCH_MS, self._last_ms)  # never go back if the clock does
            if ms == self._last_ms:
                self._seq = (self._seq + 1) & _SEQ_MASK
                if self._seq == 0:  # 16k ids in one millisecond: borrow the next millisecond
                    ms += 1
            else:
                self._seq = 0
            self._last_ms = ms
            return (ms << (NODE_BITS + SEQ_BITS)) | (self._node << SEQ_BITS) | self._seq


def issued_at_ms(value: int) -> int:
    """Unix milliseconds when a Snowflake id was issued (the clock of the process that issued it)."""
    return (value >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS


# Base-36 digit pairs: rendering two digits per division halves the work (ids render on every
# click redirect).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def to_base36(value: int) -> str:
    if value < 0:
        raise ValueError("ids are non-negative")
    if value < 36:
        return _ALPHABET[value]
    pairs = []
    while value:
        value, rem = divmod(value, 1296)
        pairs.append(_PAIRS[rem])
    return "".join(reversed(pairs)).lstrip("0")


def from_base36(text: str) -> int | None:
    """Parse a base-36 id; None when it is not one (callers answer 404, not 500)."""
    if not text or len(text) > 13 or any(c not in _ALPHABET for c in text):
        return None
    value = int(text, 36)
    return value if value <= _MAX_ID else None


def from_decimal(text: str) -> int | None:
    """Parse a decimal (numeric) id; None unless `text` is ASCII digits within int64. `str.isdigit`
    alone also passes "²" (which `int` refuses) and Arabic-Indic digits (which it reads)."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _MAX_ID else None


def render(prefix: str, value: int) -> str:
    """`render("cmp", 42)` -> "cmp_16": the /v2 form of an id."""
    return f"{prefix}_{to_base36(value)}"


def parse(prefix: str, text: str) -> int | None:
    head, sep, tail = text.partition("_")
    if not sep or head != prefix:
        return None
    return from_base36(tail)
