"""The fast reading of a sync body takes the common layouts, values exactly as JSON says, and hands
every other body to the general parser (tests/api/test_audiences.py checks both stage alike)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest

from auctera.api.v2 import audience_sync_body
from auctera.api.v2.audience_sync_body import NotUniform, uniform

VALUES = [" Ann@Example.com ", "bob@example.com", "zoë@example.com", "\tcid@example.com", "", "a\\b/c"]
Dump = Callable[[Any], str]


def _values(runs: Iterable[tuple[bytes, int]]) -> list[str]:
    values = []
    for joined, count in runs:
        run = joined.decode().split("\n")
        assert len(run) == count
        values += run
    return values


def _body(dump: Dump, items: list[dict[str, str]], **fields: Any) -> bytes:
    return dump({"audience_id": "aud_x", "action": "add", "identifiers": items, **fields}).encode()


@pytest.mark.parametrize(
    "dump",
    [
        lambda body: orjson.dumps(body).decode(),
        json.dumps,  # ", " and ": ", non-ASCII as \u escapes
        lambda body: json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    ],
    ids=["orjson", "json.dumps", "compact"],
)
@pytest.mark.parametrize("value_first", [False, True])
def test_common_layouts_take_the_fast_path(dump: Dump, value_first: bool) -> None:
    items = [{"value": v, "type": "email"} if value_first else {"type": "email", "value": v} for v in VALUES]
    shape = uniform(_body(dump, items, job_key="k"))
    assert shape.kind == "email"
    assert shape.fields == {"audience_id": "aud_x", "action": "add", "job_key": "k"}
    assert _values(shape.runs()) == VALUES


def test_a_long_list_comes_in_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audience_sync_body, "WINDOW", 64)
    values = [f"p{i}@example.com" for i in range(1_000)]
    runs = list(uniform(_body(json.dumps, [{"type": "maid", "value": v} for v in values])).runs())
    assert len(runs) > 10
    assert _values(runs) == values


@pytest.mark.parametrize(
    "items",
    [
        [{"type": "email", "value": "a@b.com"}],  # one item: nothing to learn the layout from
        [{"type": "email", "value": "a@b.com"}, {"type": "phone", "value": "+14155550100"}],
        [{"type": "email", "value": 'a"b@c.com'}, {"type": "email", "value": "d@e.com"}],
        [{"type": "email", "value": "a@b.com"}, {"type": "email", "value": "d@e.com", "x": "1"}],
        [{"type": "email", "value": "a\nb@c.com"}, {"type": "email", "value": "d@e.com"}],
        [{"type": "fax", "value": "1"}, {"type": "fax", "value": "2"}],
    ],
)
def test_other_lists_go_to_the_general_parser(items: list[dict[str, str]]) -> None:
    with pytest.raises(NotUniform):
        list(uniform(_body(json.dumps, items)).runs())


def test_other_bodies_go_to_the_general_parser() -> None:
    items = [{"type": "email", "value": "a@b.com"}, {"type": "email", "value": "d@e.com"}]
    compact = _body(json.dumps, items)
    for body in (
        _body(json.dumps, items, extra="1"),  # the general parser names the unknown field
        _body(json.dumps, items, action=1),
        compact.replace(b"a@b", b"a\x01b"),  # a control byte: not JSON
        compact.replace(b"a@b", "a\udcffb".encode("utf-8", "surrogateescape")),  # not UTF-8
        compact[:-1],
        json.dumps({"identifiers": items, "audience_id": "aud_x", "identifiers ": []})
        .encode()
        .replace(b'"identifiers "', b'"identifiers"'),  # the list twice
    ):
        with pytest.raises(NotUniform):
            list(uniform(body).runs())
