"""The JSON array reader's guard (feeds/jsonfeed.py `_Guard`) reads a chunk at a time: what it
looks for is found, and what it must leave alone is left alone, wherever a chunk ends."""

from __future__ import annotations

import io

import pytest

from auctera.domain.catalog import FeedError, FeedFormat
from auctera.feeds import read_feed

CHUNK = 1 << 16


def read(body: bytes) -> list[tuple[str, int, object]]:
    found: list[tuple[str, int, object]] = []
    try:
        for batch in read_feed(io.BytesIO(body), FeedFormat.JSON):
            found += [("row", line, row["title"]) for line, row in batch.rows]
            found += [("error", e.line, e.field) for e in batch.errors]
    except FeedError as exc:
        found.append(("failed", exc.line, exc.reason))
    return sorted(found, key=lambda f: f[1])


@pytest.mark.parametrize("start", range(3))
def test_what_straddles_a_chunk_boundary(start: int) -> None:
    for shift in range(start, 1300, 3):
        straddling(shift)


def straddling(shift: int) -> None:
    # The first product ends a little before the first chunk does; what follows straddles it.
    head = b'[{"id":"a","title":"' + b"x" * (CHUNK - 1250 + shift) + b'"},'
    number = head + b'{"id":"b","title":"t","price":' + b"9" * 1200 + b"}]"
    assert read(number)[-1][:2] == ("failed", 2)
    pair = head + b'{"id":"b","title":"\\ud83d\\ude00\\\\\\"q"}]'
    assert read(pair)[-1] == ("row", 2, '\U0001f600\\"q')
    escaped = head + b'{"id":"b","title":"\\\\\\\\\\\\ud800"},{"id":"c","title":"\\ud800"}]'
    assert read(escaped)[1:] == [("row", 2, "\\\\\\ud800"), ("error", 3, "title")]
