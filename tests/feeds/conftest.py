"""A catalog service on a real SQLite database, and feeds written in every format."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.catalog import FeedFormat, FeedImport, Product
from auctera.domain.ids import IdGenerator
from auctera.feeds import read_feed
from auctera.services.accounts import AccountService
from auctera.services.catalog import CatalogService, ProductQuery
from auctera.store.database import make_engine
from auctera.store.migrate import upgrade
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock

Rows = list[dict[str, str]]
# A feed's bytes, and the line (or, for JSON arrays, the ordinal) of its i-th product (0-based).
Written = tuple[bytes, Callable[[int], int]]


def write_csv(rows: Rows, delimiter: str = ",") -> Written:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    quote = (lambda v: '"' + v.replace('"', '""') + '"') if delimiter == "," else (lambda v: v)
    lines = [delimiter.join(columns)] + [delimiter.join(quote(r.get(c, "")) for c in columns) for r in rows]
    return ("\n".join(lines) + "\n").encode(), lambda i: i + 2


def write_tsv(rows: Rows) -> Written:
    return write_csv(rows, "\t")


def write_json(rows: Rows) -> Written:
    return json.dumps(rows, indent=2, ensure_ascii=False).encode(), lambda i: i + 1


def write_wrapped_json(rows: Rows) -> Written:
    return json.dumps({"count": len(rows), "products": rows}, ensure_ascii=False).encode(), lambda i: i + 1


def write_jsonl(rows: Rows) -> Written:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(), lambda i: i + 1


def write_xml(rows: Rows) -> Written:
    items = "".join(
        "<item>" + "".join(f"<g:{k}>{escape(v)}</g:{k}>" for k, v in r.items()) + "</item>\n" for r in rows
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">\n'
    return f"{head}<channel>\n{items}</channel>\n</rss>\n".encode(), lambda i: i + 4


WRITERS: dict[str, tuple[FeedFormat, Callable[[Rows], Written]]] = {
    "csv": (FeedFormat.CSV, write_csv),
    "tsv": (FeedFormat.TSV, write_tsv),
    "json": (FeedFormat.JSON, write_json),
    "json-wrapped": (FeedFormat.JSON, write_wrapped_json),
    "jsonl": (FeedFormat.JSONL, write_jsonl),
    "xml": (FeedFormat.XML, write_xml),
}


def row(n: int, **fields: str) -> dict[str, str]:
    return {
        "id": f"sku-{n}",
        "title": f"Product {n}",
        "price": f"{n}.99",
        "link": f"https://shop.example.com/p/{n}",
        **fields,
    }


class Catalog:
    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        clock = FrozenClock()
        ticks = count(int(clock.now.timestamp() * 1000))
        ids = IdGenerator(1, lambda: next(ticks))
        self.service = CatalogService(uow, ids, clock, read_feed)
        accounts = AccountService(uow, ids, clock, rotation_grace=timedelta(hours=1))
        account = accounts.create_account("Shop", "advertiser").account
        self.owner = Principal(account.id, account.kind, account.timezone, account.currency, None, "k")
        self.retailer = self.service.create_retailer(self.owner, "Shop", "shop.example.com")

    def load(self, data: bytes, format: FeedFormat) -> FeedImport:
        return self.service.import_feed(self.owner, self.retailer.id, io.BytesIO(data), format)

    def products(self, **filters: object) -> list[Product]:
        page = self.service.list_products(self.owner, self.retailer.id, ProductQuery(limit=100, **filters))  # type: ignore[arg-type]
        return page.products

    def by_external_id(self) -> dict[str, Product]:
        return {p.external_id: p for p in self.products()}


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'auctera.db'}")
    upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    yield Catalog(uow)
    uow.close()
    engine.dispose()
