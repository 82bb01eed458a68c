"""XML feeds: Google Merchant RSS (`<item>` with `g:` fields) or a plain `<products><product>` list.

Parsed with expat, pushed a chunk at a time: memory holds one product. A product's fields are
its direct children by local name (the `g:` namespace dropped); nested elements (g:shipping...)
are skipped. Its line is where its opening tag is. XML is well-formed or not: a truncated or
malformed file stops at the error (the products before it stand). Entity declarations are
refused (no "billion laughs"), and external entities are never fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from xml.parsers import expat

from auctera.domain.catalog import FeedBatch, FeedError, RowError

ITEM_TAGS = frozenset({"item", "product", "entry"})
_CHUNK = 1 << 16


class _Items:
    """expat handlers collecting products into the current batch."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.batch = FeedBatch([], [])
        self.found = 0
        self._line = 0
        self._depth = -1  # -1: outside a product; 0: on the product; 1: on one of its fields
        self._row: dict[str, str] = {}
        self._field = ""
        self._text: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        if self._depth < 0:
            if local in ITEM_TAGS:
                self._depth, self._line, self._row = 0, self.parser.CurrentLineNumber, {}
            return
        self._depth += 1
        if self._depth == 1:
            self._field, self._text = local, []

    def end(self, name: str) -> None:
        if self._depth < 0:
            return
        if self._depth == 1:
            self._row.setdefault(self._field, "".join(self._text))
        elif self._depth == 0:
            self.found += 1
            if self._row:
                self.batch.rows.append((self._line, self._row))
            else:
                self.batch.errors.append(RowError(self._line, None, "has no fields"))
        self._depth -= 1

    def text(self, data: str) -> None:
        if self._depth == 1:
            self._text.append(data)


def _no_entities(*_: object) -> None:
    raise FeedError(0, "entity declarations are not allowed")


def read_xml(stream: BinaryIO, *, batch_rows: int = 5000) -> Iterator[FeedBatch]:
    parser = expat.ParserCreate(namespace_separator=" ")
    items = _Items(parser)
    parser.StartElementHandler = items.start
    parser.EndElementHandler = items.end
    parser.CharacterDataHandler = items.text
    parser.EntityDeclHandler = _no_entities
    parser.buffer_text = True
    seen_bytes = False
    while True:
        chunk = stream.read(_CHUNK)
        if chunk.strip():
            seen_bytes = True
        elif not seen_bytes and not chunk:
            raise FeedError(1, "the feed is empty")
        try:
            parser.Parse(chunk, not chunk)
        except expat.ExpatError as exc:
            if items.batch.rows or items.batch.errors:
                yield items.batch
            raise FeedError(exc.lineno, f"malformed XML: {expat.ErrorString(exc.code)}") from None
        except FeedError as exc:
            raise FeedError(parser.CurrentLineNumber, exc.reason) from None
        except LookupError as exc:  # the XML declaration names an encoding Python has no codec for
            raise FeedError(1, f"unknown encoding: {exc}") from None
        if len(items.batch.rows) >= batch_rows or not chunk:
            if items.batch.rows or items.batch.errors:
                yield items.batch
            items.batch = FeedBatch([], [])
        if not chunk:
            break
    if not items.found:
        raise FeedError(1, "no <item> or <product> elements found")
