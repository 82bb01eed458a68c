"""The fast reading of a `POST /v2/audiences/sync` body: the common shape, a list of identifiers all
of one type and laid out alike, read without a Python object per identifier beyond its value.

`{"audience_id": ..., "action": ..., "identifiers": [{"type": "email", "value": "..."}, ...]}`,
compact or with single spaces (`json.dumps`), keys in either order: after the first item the
rest are runs of `<value><separator>` where the separator is always the same bytes, e.g.
`"},{"type":"email","value":"`. Replacing it by a newline yields a window of the list's values
joined, at C speed, with no Python object per value. That is exact JSON because a window is only
accepted when its values hold no quote (the count of `"` is the separators'), no control byte,
no invalid UTF-8; backslash escapes are decoded value by value (a value that decodes to a newline
is left to the general parser). The rest of the body (the list replaced by `[]`) is parsed by
orjson.

Anything else (mixed types, uneven spacing, a quote inside a value, a field of another type)
raises `NotUniform`, and the caller reads the body with the general parser instead: this path
never decides what an odd body means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from auctera.domain.identifiers import IdentifierType

WINDOW = 1 << 18  # bytes of the list at a time: bounded memory beyond the body, and cache-sized
TOP_FIELDS = frozenset({"audience_id", "action", "identifiers", "job_key"})

_S = rb" ?"  # the spacing allowed around structure: none, or one space
_KINDS = b"|".join(t.value.encode() for t in IdentifierType)
_TYPE = rb'"type"' + _S + b":" + _S + rb'"(?P<kind>' + _KINDS + rb')"'
_VALUE_KEY = rb'"value"' + _S + b":" + _S + b'"'
# The first item up to its value's opening quote: type first, or value first.
_OPEN_TYPE_FIRST = re.compile(rb"\{" + _S + _TYPE + _S + b"," + _S + _VALUE_KEY)
_OPEN_VALUE_FIRST = re.compile(rb"\{" + _S + _VALUE_KEY)
# From a value's closing quote to the item's end.
_CLOSE_TYPE_FIRST = re.compile(b'"' + _S + rb"\}")
_CLOSE_VALUE_FIRST = re.compile(b'"' + _S + b"," + _S + _TYPE + _S + rb"\}")
_BETWEEN = re.compile(_S + b"," + _S)
_LIST_END = re.compile(_S + rb"\]")
_KEY = re.compile(rb'"identifiers"' + _S + b":" + _S + rb"\[" + _S)


class NotUniform(Exception):
    """The body is not of the common shape: read it with the general parser."""


@dataclass(frozen=True, slots=True)
class UniformBody:
    fields: dict[str, str | None]  # the top-level fields but `identifiers`
    kind: str  # the type of every identifier
    _body: bytes
    _first: int  # the first value's first byte
    _last_end: int  # the last value's closing quote
    _sep: bytes

    def runs(self) -> Iterator[tuple[bytes, int]]:
        """The values (UTF-8) a window of the list at a time: (joined by newlines, how many);
        raises NotUniform on the first window that is not what the first item promised."""
        body, sep, pos = self._body, self._sep, self._first
        quotes = sep.count(b'"')
        while True:
            cut = body.find(sep, pos + WINDOW, self._last_end)
            window = body[pos : self._last_end if cut == -1 else cut]
            yield _values(window, sep, quotes)
            if cut == -1:
                return
            pos = cut + len(sep)


def _values(window: bytes, sep: bytes, quotes: int) -> tuple[bytes, int]:
    octets = np.frombuffer(window, np.uint8)
    if octets.min() < 0x20:
        raise NotUniform("a control byte: not valid JSON")
    joined = window.replace(sep, b"\n")
    count = joined.count(b"\n") + 1  # no value holds a newline: it is a control byte
    if np.count_nonzero(octets == _QUOTE) != quotes * (count - 1):
        raise NotUniform("a value holds a quote, or an item is laid out differently")
    if not window.isascii():
        try:
            window.decode()
        except UnicodeDecodeError:
            raise NotUniform("not UTF-8") from None
    if b"\\" not in window:
        return joined, count
    try:  # escapes, decoded one value at a time
        values = [orjson.loads(b'"' + v + b'"').encode() if b"\\" in v else v for v in window.split(sep)]
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        raise NotUniform("an invalid escape") from None
    if any(b"\n" in v for v in values):
        raise NotUniform("a newline inside a value")
    return b"\n".join(values), count


_QUOTE = ord('"')


def uniform(body: bytes) -> UniformBody:
    """The body read as the common shape; raises NotUniform when it is not."""
    key = body.find(b'"identifiers"')
    opened = _KEY.match(body, key) if key != -1 else None
    if opened is None:
        raise NotUniform("no identifiers list found")
    item = opened.end()
    first = _OPEN_TYPE_FIRST.match(body, item) or _OPEN_VALUE_FIRST.match(body, item)
    if first is None:
        raise NotUniform("the first item is not {type, value}")
    value_end = body.find(b'"', first.end())
    close = (_CLOSE_TYPE_FIRST if "kind" in first.groupdict() else _CLOSE_VALUE_FIRST).match(body, value_end)
    between = _BETWEEN.match(body, close.end()) if close else None
    second = first.re.match(body, between.end()) if between else None
    if close is None or between is None or second is None:
        raise NotUniform("fewer than two items, or the first two differ")
    kind = (first.groupdict().get("kind") or close["kind"]).decode()
    if first.re is _OPEN_TYPE_FIRST and second["kind"] != first["kind"]:
        raise NotUniform("more than one type")
    opening, closing = body[item : first.end()], body[value_end : close.end()]
    sep = closing + body[between.start() : between.end()] + opening
    # The last item: after the last separator, up to its closing quote, then `]`.
    last = body.rfind(sep)
    last_end = body.find(b'"', last + len(sep))
    if last < first.end() or not body.startswith(closing, last_end):
        raise NotUniform("the last item is laid out differently")
    list_end = _LIST_END.match(body, last_end + len(closing))
    if list_end is None:
        raise NotUniform("the list does not end after the last item")
    rest = body[: opened.end()].rstrip(b" ") + b"]" + body[list_end.end() :]
    try:
        top = orjson.loads(rest)
    except orjson.JSONDecodeError:
        raise NotUniform("the rest of the body is not valid JSON") from None
    if (
        not isinstance(top, dict)
        or not top.keys() <= TOP_FIELDS
        or top.get("identifiers") != []
        or rest.count(b'"identifiers"') != 1
        or not all(isinstance(v, str | None) for k, v in top.items() if k != "identifiers")
    ):
        raise NotUniform("the other fields need the general parser (and its errors)")
    fields = {k: v for k, v in top.items() if k != "identifiers"}
    return UniformBody(fields, kind, body, first.end(), last_end, sep)
