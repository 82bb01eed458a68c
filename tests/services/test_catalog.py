"""CatalogService with its SQL repositories on SQLite and PostgreSQL: retailers, feed imports
(in place, ids stable, vanished products out of stock), product reads and cross-merchant matches."""

from __future__ import annotations

import functools
import io
import json
from dataclasses import replace
from datetime import timedelta
from itertools import count

import pytest

from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.catalog import FeedFormat, FeedImport, ImportStatus, Product
from auctera.domain.ids import IdGenerator
from auctera.errors import Conflict, NotFound, ValidationFailed
from auctera.feeds import read_feed
from auctera.services.accounts import AccountService
from auctera.services.catalog import CatalogService, ProductQuery
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, batch_rows: int = 5000) -> None:
        self.clock = FrozenClock()
        ticks = count(int(self.clock.now.timestamp() * 1000))
        ids = IdGenerator(1, lambda: next(ticks))
        self.uow = uow
        self.accounts = AccountService(uow, ids, self.clock, rotation_grace=timedelta(hours=1))
        reader = functools.partial(read_feed, batch_rows=batch_rows)
        self.catalog = CatalogService(uow, ids, self.clock, reader)

    def principal(self, kind: str = "advertiser") -> Principal:
        a = self.accounts.create_account(f"{kind} account", kind).account
        return Principal(a.id, a.kind, a.timezone, a.currency, None, f"key:{a.id}")

    def feed(
        self, who: Principal, retailer_id: int, rows: list[dict[str, object]], **kw: object
    ) -> FeedImport:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        return self.catalog.import_feed(who, retailer_id, io.BytesIO(data), FeedFormat.JSONL, **kw)  # type: ignore[arg-type]

    def products(self, who: Principal, retailer_id: int) -> dict[str, Product]:
        page = self.catalog.list_products(who, retailer_id, ProductQuery(limit=100))
        return {p.external_id: p for p in page.products}


def item(n: int, **fields: object) -> dict[str, object]:
    return {
        "id": f"sku-{n}",
        "title": f"Product {n}",
        "price": n + 0.5,
        "link": f"https://shop.example.com/{n}",
        **fields,
    }


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> World:
    return World(uow_factory)


def test_a_reimport_updates_in_place_and_takes_vanished_products_out_of_stock(world: World) -> None:
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com")
    first = world.feed(owner, shop.id, [item(1), item(2), item(3, minBid="0.25")])
    assert (first.status, first.rows_valid, first.marked_out_of_stock) == (ImportStatus.SUCCEEDED, 3, 0)
    before = world.products(owner, shop.id)
    assert before["sku-3"].min_bid_micros == 250_000
    assert before["sku-1"].price_micros == 1_500_000

    world.clock.now += timedelta(hours=1)
    second = world.feed(owner, shop.id, [item(1, price="9.99 USD", title="Renamed"), item(3), item(4)])
    assert (second.rows_valid, second.marked_out_of_stock) == (3, 1)
    after = world.products(owner, shop.id)
    assert {k: p.id for k, p in after.items() if k in before} == {k: p.id for k, p in before.items()}
    assert after["sku-1"].name == "Renamed"
    assert after["sku-1"].price_micros == 9_990_000
    assert after["sku-1"].created_at == before["sku-1"].created_at
    assert after["sku-1"].updated_at == world.clock.now
    assert after["sku-2"].in_stock is False
    assert after["sku-3"].min_bid_micros is None  # the feed's latest word
    assert after["sku-4"].in_stock is True

    third = world.feed(owner, shop.id, [item(2)])  # back in stock, the others out
    assert third.marked_out_of_stock == 3
    assert world.products(owner, shop.id)["sku-2"].in_stock is True
    in_stock = world.catalog.list_products(owner, shop.id, ProductQuery(in_stock=True)).products
    assert [p.external_id for p in in_stock] == ["sku-2"]


def test_an_import_commits_in_batches_and_shows_its_progress(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, batch_rows=2)
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com")
    seen: list[tuple[ImportStatus, int]] = []

    def progress(report: FeedImport) -> None:
        stored = world.catalog.get_import(owner, shop.id, report.id)  # what another reader sees now
        seen.append((stored.status, stored.rows_valid))

    rows = [item(1), item(2), item(3), item(1, title="again"), item(5)]
    report = world.feed(owner, shop.id, rows, progress=progress)
    assert seen == [(ImportStatus.RUNNING, 2), (ImportStatus.RUNNING, 3), (ImportStatus.RUNNING, 4)]
    assert (report.rows_read, report.rows_valid, report.rows_invalid) == (5, 4, 1)
    assert [(e.line, e.field, e.reason) for e in report.errors] == [
        (4, "id", "'sku-1' is listed twice in the feed")
    ]
    assert world.products(owner, shop.id)["sku-1"].name == "Product 1"
    assert world.catalog.get_import(owner, shop.id, report.id) == report


def test_retailers_belong_to_their_account(world: World) -> None:
    acme, other, network = world.principal(), world.principal(), world.principal("network")
    shop = world.catalog.create_retailer(acme, " Acme Shop ", "Shop.EXAMPLE.com.")
    assert (shop.name, shop.domain, shop.account_id) == ("Acme Shop", "shop.example.com", acme.account_id)
    with pytest.raises(NotFound):
        world.catalog.get_retailer(other, shop.id)
    with pytest.raises(NotFound):
        world.feed(other, shop.id, [item(1)])
    with pytest.raises(NotFound):
        world.catalog.list_products(other, shop.id, ProductQuery())
    assert world.catalog.list_retailers(other).retailers == []
    assert world.catalog.get_retailer(network, shop.id) == shop
    assert world.catalog.list_retailers(network).retailers == [shop]
    # The same domain in another account is another retailer; twice in one account is a conflict.
    world.catalog.create_retailer(other, "Other", "shop.example.com")
    with pytest.raises(Conflict):
        world.catalog.create_retailer(acme, "Again", "shop.example.com")


def test_who_may_create_a_retailer(world: World) -> None:
    acme, network, publisher = world.principal(), world.principal("network"), world.principal("publisher")
    # A publisher's retailer is a retail site (sponsored products serve there); an advertiser's a merchant.
    site = world.catalog.create_retailer(publisher, "Shop", "shop.example.com")
    assert (site.account_id, site.account_kind) == (publisher.account_id, AccountKind.PUBLISHER)
    with pytest.raises(ValidationFailed) as missing:
        world.catalog.create_retailer(network, "Shop", "shop.example.com")
    assert missing.value.field == "account_id"
    with pytest.raises(ValidationFailed) as network_owned:
        world.catalog.create_retailer(network, "Shop", "n.example.com", account_id=network.account_id)
    assert network_owned.value.field == "account_id"
    made = world.catalog.create_retailer(network, "Shop", "shop.example.com", account_id=acme.account_id)
    assert made.account_id == acme.account_id
    with pytest.raises(NotFound):
        world.catalog.create_retailer(world.principal(), "Shop", "x.example.com", account_id=acme.account_id)
    for bad in ("not a domain", "localhost", "-x.example.com"):
        with pytest.raises(ValidationFailed) as error:
            world.catalog.create_retailer(acme, "Shop", bad)
        assert error.value.field == "domain"


def test_products_page_with_a_cursor_and_filter_by_gtin(world: World) -> None:
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com")
    world.feed(owner, shop.id, [item(n, gtin="4006381333931" if n == 3 else None) for n in range(1, 8)])
    seen: list[str] = []
    cursor = None
    while True:
        page = world.catalog.list_products(owner, shop.id, ProductQuery(limit=3, cursor=cursor))
        seen += [p.external_id for p in page.products]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == [f"sku-{n}" for n in range(1, 8)]
    assert len(seen) == 7
    by_gtin = world.catalog.list_products(owner, shop.id, ProductQuery(gtin="4006381333931")).products
    assert [p.external_id for p in by_gtin] == ["sku-3"]
    with pytest.raises(ValidationFailed):
        world.catalog.list_products(owner, shop.id, ProductQuery(gtin="4006381333932"))


def test_the_same_product_is_found_at_other_merchants(world: World) -> None:
    a, b = world.principal(), world.principal()
    one = world.catalog.create_retailer(a, "One", "one.example.com")
    two = world.catalog.create_retailer(b, "Two", "two.example.com")
    world.feed(
        a, one.id, [item(1, title="PlayStation 5 Console", brand="Sony", gtin="0711719437215"), item(2)]
    )
    world.feed(
        b,
        two.id,
        [
            item(7, title="Sony Playstation-5 console"),
            item(8, gtin="711719437215", availability="out of stock"),
        ],
    )
    with world.uow(read_only=True) as uow:
        by_gtin = uow.products.matching(gtin="00711719437215", match_key=None)
        by_key = uow.products.matching(gtin=None, match_key="5 console playstation sony")
        with_sold_out = uow.products.matching(gtin="00711719437215", match_key=None, in_stock_only=False)
        found = uow.products.by_ids([p.id for p in by_key])
    assert [(p.retailer_id, p.external_id) for p in by_gtin] == [(one.id, "sku-1")]
    assert {(p.retailer_id, p.external_id) for p in by_key} == {(one.id, "sku-1"), (two.id, "sku-7")}
    assert {p.external_id for p in with_sold_out} == {"sku-1", "sku-8"}
    assert set(found) == {p.id for p in by_key}


def test_a_reimport_moves_a_product_to_its_new_gtin_and_match_key(world: World) -> None:
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com")
    world.feed(owner, shop.id, [item(1, title="PlayStation 5", brand="Sony", gtin="0711719437215"), item(2)])
    before = world.products(owner, shop.id)
    world.feed(
        owner, shop.id, [item(1, title="Xbox Series X", brand="Microsoft", gtin="0889842640816"), item(2)]
    )
    with world.uow(read_only=True) as uow:
        old = uow.products.matching(gtin="00711719437215", match_key="5 playstation sony")
        new_gtin = uow.products.matching(gtin="00889842640816", match_key=None)
        new_key = uow.products.matching(gtin=None, match_key="microsoft series x xbox")
    assert old == []
    assert [p.id for p in new_gtin] == [p.id for p in new_key] == [before["sku-1"].id]
    assert world.products(owner, shop.id)["sku-2"] == replace(
        before["sku-2"], import_id=world.products(owner, shop.id)["sku-2"].import_id
    )


def test_an_id_stored_by_an_earlier_import_is_not_listed_twice(uow_factory: SqlUnitOfWorkFactory) -> None:
    """Across batches, an id counts as listed twice only when this import stored it."""
    world = World(uow_factory, batch_rows=2)
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com")
    world.feed(owner, shop.id, [item(1), item(2), item(3)])
    ids = {k: p.id for k, p in world.products(owner, shop.id).items()}
    report = world.feed(owner, shop.id, [item(3, title="Three"), item(4), item(1), item(3, title="Again")])
    assert (report.rows_valid, report.rows_invalid, report.marked_out_of_stock) == (3, 1, 1)
    assert [(e.line, e.reason) for e in report.errors] == [(4, "'sku-3' is listed twice in the feed")]
    after = world.products(owner, shop.id)
    assert {k: after[k].id for k in ids} == ids
    assert (after["sku-3"].name, after["sku-2"].in_stock, after["sku-4"].in_stock) == ("Three", False, True)
