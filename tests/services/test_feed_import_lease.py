"""One feed import per retailer at a time: a second is refused while the first runs, a renewed
claim keeps it refused, and an import whose process died (its lease ran out) reads as failed, is
ended for good by the next import, and can write nothing more. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.services.test_catalog import World, item

from auctera.domain.catalog import INTERRUPTED, FeedFormat, FeedImport, ImportStatus
from auctera.errors import Conflict
from auctera.services.catalog import ProductQuery
from auctera.store.uow import SqlUnitOfWorkFactory


class Held(io.RawIOBase):
    """A JSONL upload that sends its first rows, then waits (a slow client) until released."""

    def __init__(self, first: range, rest: range) -> None:
        self._parts = [_jsonl(first), _jsonl(rest)]
        self.waiting = threading.Event()
        self.release = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while self._parts and not self._parts[0]:
            self._parts.pop(0)
            if self._parts:  # the first part is sent: wait for the rest
                self.waiting.set()
                assert self.release.wait(30)
        if not self._parts:
            return 0
        n = min(len(buffer), len(self._parts[0]))
        buffer[:n], self._parts[0] = self._parts[0][:n], self._parts[0][n:]
        return n


def _jsonl(numbers: range) -> bytes:
    return "".join(json.dumps(item(n)) + "\n" for n in numbers).encode()


class Running:
    """An import in a thread of its own, as a request or the CLI runs it. With 100 rows a batch,
    the first part's rows (ten whole batches) are stored when it asks for the rest."""

    def __init__(self, world: World, run: Callable[[], FeedImport], feed: Held) -> None:
        self.result: FeedImport | None = None
        self._thread = threading.Thread(target=lambda: setattr(self, "result", run()))
        self._thread.start()
        assert feed.waiting.wait(30)  # its first rows are stored, it waits for more
        self._feed = feed

    def finish(self) -> FeedImport:
        self._feed.release.set()
        self._thread.join(30)
        assert self.result is not None
        return self.result


FIRST, REST = range(1, 1001), range(1001, 2001)


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> World:
    return World(uow_factory, batch_rows=100)


def start(world: World, owner: object, shop: int, feed: Held) -> Running:
    return Running(world, lambda: world.catalog.import_feed(owner, shop, feed, FeedFormat.JSONL), feed)  # type: ignore[arg-type]


def imports_of(world: World, shop: int) -> list[tuple[int, str]]:
    with world.uow(read_only=True) as uow:
        latest = uow.feed_imports.latest([shop])
    return [(r.id, r.status.value) for r in latest.values()]


def test_a_second_import_of_a_retailer_is_refused_while_the_first_runs(world: World) -> None:
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com").id
    other = world.catalog.create_retailer(owner, "Other", "other.example.com").id
    first = start(world, owner, shop, Held(FIRST, REST))
    running = imports_of(world, shop)

    with pytest.raises(Conflict) as refused:
        world.feed(owner, shop, [item(9)])
    assert refused.value.field == "retailer_id" and refused.value.code == "import_running"
    assert "imp_" in refused.value.message and "running" in refused.value.message
    assert imports_of(world, shop) == running  # no second import row
    assert world.feed(owner, other, [item(9)]).status is ImportStatus.SUCCEEDED  # other retailers go on

    done = first.finish()
    assert (done.status, done.rows_valid) == (ImportStatus.SUCCEEDED, 2000)
    again = world.feed(owner, shop, [item(1)])  # once it has ended, the next one runs
    assert (again.status, again.marked_out_of_stock) == (ImportStatus.SUCCEEDED, 1999)


def test_a_renewed_claim_keeps_the_retailer_held_past_the_first_lease(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("auctera.services.catalog.IMPORT_RENEW_EVERY", 0.02)
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com").id
    first = start(world, owner, shop, Held(FIRST, REST))
    for _ in range(2):  # 100 s in all, past the 60 s the import was first given
        world.clock.now += timedelta(seconds=50)
        renewed_by = world.clock.now + timedelta(seconds=60)
        deadline = time.monotonic() + 30
        while _lease(world, shop) != renewed_by:
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.01)
    with pytest.raises(Conflict):
        world.feed(owner, shop, [item(9)])
    assert first.finish().status is ImportStatus.SUCCEEDED


def _lease(world: World, shop: int) -> object:
    with world.uow(read_only=True) as uow:
        return uow.feed_imports.latest([shop])[shop].lease_until


def test_an_import_whose_process_died_reads_as_failed_and_the_next_one_ends_it(world: World) -> None:
    """The heartbeat of a killed process stops: here the clock moves past the lease before it
    beats (every 15 s), as if the process had died, then the 'dead' import wakes up."""
    owner = world.principal()
    shop = world.catalog.create_retailer(owner, "Shop", "shop.example.com").id
    world.feed(owner, shop, [item(1), item(5000)])
    stuck = start(world, owner, shop, Held(FIRST, REST))
    ((stuck_id, status),) = imports_of(world, shop)
    assert status == "running"
    assert world.catalog.get_import(owner, shop, stuck_id).status is ImportStatus.RUNNING

    world.clock.now += timedelta(seconds=61)
    seen = world.catalog.get_import(owner, shop, stuck_id)
    assert (seen.status, seen.errors[-1].reason) == (ImportStatus.FAILED, INTERRUPTED)
    stored = seen.rows_valid
    assert stored == len(FIRST)  # what it had stored stands
    assert seen.finished_at == seen.lease_until  # when it was last known alive

    nxt = world.feed(owner, shop, [item(1), item(9000)])
    assert (nxt.status, nxt.rows_valid) == (ImportStatus.SUCCEEDED, 2)
    assert nxt.marked_out_of_stock == stored  # sku-5000 and all the dead import stored but sku-1
    with world.uow(read_only=True) as uow:
        ended = uow.feed_imports.get(stuck_id, retailer_id=shop)
    assert ended is not None and ended.status is ImportStatus.FAILED  # ended for good
    assert ended.errors[-1].reason == INTERRUPTED

    # The 'dead' import wakes up: it writes nothing more, and says how it was ended.
    woke = stuck.finish()
    assert (woke.id, woke.status, woke.errors[-1].reason) == (stuck_id, ImportStatus.FAILED, INTERRUPTED)
    products = world.catalog.list_products(owner, shop, ProductQuery(limit=100, in_stock=True)).products
    assert sorted(p.external_id for p in products) == ["sku-1", "sku-9000"]
    with world.uow(read_only=True) as uow:
        assert uow.products.counts([shop]) == {shop: 1 + stored + 1}  # its later rows never landed
