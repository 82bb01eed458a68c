"""ConversionService on both state backends with the real event log: idempotency under
concurrency, the crash window between the state store and the log, reversals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.conversions import Conversion, ConversionStatus, ReversalReason
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import Reason, Signal, Verdict
from auctera.domain.ids import IdGenerator, render
from auctera.errors import AucteraError, Conflict, ValidationFailed
from auctera.events import DuckDBEventStore
from auctera.services.accounts import AccountService
from auctera.services.caching import CachedLookups
from auctera.services.campaigns import CampaignService
from auctera.services.conversions import IN_FLIGHT, ConversionService, Postback, PostbackRequest
from auctera.services.group_commit import GroupCommit
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, events: DuckDBEventStore, clock: FrozenClock) -> None:
        ticks = count(int(clock.now.timestamp() * 1000))
        self.ids = IdGenerator(1, lambda: next(ticks))
        self.clock, self.events, self.uow = clock, events, uow
        accounts = AccountService(uow, self.ids, clock, rotation_grace=timedelta(hours=1))
        campaigns = CampaignService(uow, self.ids, clock, events)
        new = accounts.create_account("Acme", "advertiser").account
        self.advertiser = Principal(new.id, new.kind, new.timezone, new.currency, None, "k")
        patch = CampaignPatch(
            name="Offer",
            budget=BudgetPatch(total_micros=10**12),
            payout_micros=45_000_000,
            destination_url="https://shop.example.com/?c={click_id}",
        )
        self.campaign_id = campaigns.create(self.advertiser, CampaignType.AFFILIATE_CPA, patch).id
        campaigns.review(self.campaign_id)
        self.clicks: dict[int, Event] = {}
        self.verdict = Verdict()
        self.service = self.build()

    def build(self) -> ConversionService:
        return ConversionService(
            self.uow,
            self.events,
            self.ids,
            self.clock,
            find_click=self.clicks.get,
            screen=lambda click, at: self.verdict,
            default_fraud_threshold=0.8,
            lookups=CachedLookups(self.uow, 2.0),
        )

    def click(self) -> str:
        click = Event(
            id=self.ids.next_id(),
            type=EventType.CLICK,
            at=self.clock.now,
            account_id=self.advertiser.account_id,
            campaign_id=self.campaign_id,
            publisher_id=7,
            attrs={"uid": "u1"},
        )
        self.events.append(click)
        self.clicks[click.id] = click
        return render("auc", click.id)

    def logged(self, kind: EventType) -> list[tuple[int, int]]:
        rows = self.events.query(
            "SELECT id, payout_micros FROM events WHERE type = $t ORDER BY id", {"t": kind.value}
        )
        return [(r[0], r[1]) for r in rows]


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> Iterator[World]:
    with DuckDBEventStore(tmp_path / "events", "t", compact_interval=None) as events:
        yield World(uow_factory, events, FrozenClock())


def test_a_hundred_concurrent_copies_make_one_conversion(world: World) -> None:
    postback = Postback(world.click(), "purchase", 10_000_000, None, order_id="o-1")
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: world.service.record(world.advertiser, postback, None), range(100)))
    assert len({c.id for c in results}) == 1
    assert world.logged(EventType.CONVERSION) == [(results[0].id, 45_000_000)]


def test_a_crash_between_the_state_store_and_the_log_is_repaired_once(world: World) -> None:
    postback = Postback(world.click(), "purchase", 10_000_000, None)
    real_append_many = world.events.append_many

    def crash(events: list[Event]) -> None:
        raise OSError("killed before the log write")

    world.events.append_many = crash  # type: ignore[method-assign]
    with pytest.raises(OSError):
        world.service.record(world.advertiser, postback, None)
    world.events.append_many = real_append_many  # type: ignore[method-assign]
    # A retry answers the conversion written; the sweep leaves rows that may still be in flight.
    conversion = world.service.record(world.advertiser, postback, None)
    assert world.service.log_pending() == 0 and world.logged(EventType.CONVERSION) == []
    world.clock.now += IN_FLIGHT + timedelta(seconds=1)
    assert world.service.log_pending() == 1
    assert world.logged(EventType.CONVERSION) == [(conversion.id, 45_000_000)]
    assert world.service.log_pending() == 0  # marked: nothing appended twice


def test_each_write_marks_the_rows_before_it_logged_and_the_sweep_only_marks_the_last(
    world: World,
) -> None:
    def unlogged() -> list[int]:
        with world.uow(read_only=True) as uow:
            return [c.id for c in uow.conversions.unlogged(100)]

    first = world.service.record(world.advertiser, Postback(world.click(), "lead", 0, None), None)
    assert unlogged() == [first.id]  # its event is in the log; its row is marked by the next write
    second = world.service.record(world.advertiser, Postback(world.click(), "lead", 0, None), None)
    assert unlogged() == [second.id]
    world.clock.now += IN_FLIGHT * 2
    assert world.service.log_pending() == 0  # found in the log: marked, not appended again
    assert unlogged() == []
    assert [i for i, _ in world.logged(EventType.CONVERSION)] == [first.id, second.id]


def test_a_reversal_whose_event_failed_is_not_marked_logged_by_the_next_postback(world: World) -> None:
    conversion = world.service.record(world.advertiser, Postback(world.click(), "lead", 0, None), None)
    real_append = world.events.append

    def crash(event: Event) -> None:
        raise OSError("disk full")

    world.events.append = crash  # type: ignore[method-assign]
    with pytest.raises(OSError):
        world.service.reverse(world.advertiser, render("txn", conversion.id), ReversalReason.REFUND)
    world.events.append = real_append  # type: ignore[method-assign]
    # The next batch marks the rows before it, but not one reversed since: the sweep logs its reversal.
    world.service.record(world.advertiser, Postback(world.click(), "lead", 0, None), None)
    world.clock.now += IN_FLIGHT * 2
    assert world.service.log_pending() == 1
    assert [payout for _, payout in world.logged(EventType.REVERSAL)] == [-45_000_000]


def test_the_sweep_does_not_append_what_the_log_has(world: World) -> None:
    conversion = world.service.record(world.advertiser, Postback(world.click(), "lead", 0, None), None)
    with world.uow() as uow:  # as if the process died after the log write, before marking
        from sqlalchemy import update

        from auctera.store.tables import conversions

        uow._conn.execute(update(conversions).values(logged=False))  # type: ignore[attr-defined]
        uow.commit()
    world.clock.now += IN_FLIGHT * 2
    assert world.service.log_pending() == 0
    assert world.logged(EventType.CONVERSION) == [(conversion.id, 45_000_000)]


def test_reversal_is_logged_with_negative_amounts_once(world: World) -> None:
    conversion = world.service.record(
        world.advertiser, Postback(world.click(), "purchase", 5_000_000, None), None
    )
    txn = render("txn", conversion.id)
    first = world.service.reverse(world.advertiser, txn, ReversalReason.REFUND)
    again = world.service.reverse(world.advertiser, txn, ReversalReason.FRAUD)
    assert first.status is again.status is ConversionStatus.REVERSED
    assert again.reversal_reason is ReversalReason.REFUND
    assert [payout for _, payout in world.logged(EventType.REVERSAL)] == [-45_000_000]
    world.clock.now += timedelta(days=31)
    other = world.service.record(world.advertiser, Postback(world.click(), "purchase", 1, None), None)
    world.clock.now += timedelta(days=30, seconds=1)
    with pytest.raises(Conflict) as late:
        world.service.reverse(world.advertiser, render("txn", other.id), ReversalReason.REFUND)
    assert late.value.code == "reversal_window_expired"


def test_fraudulent_conversions_are_rejected_without_payout(world: World) -> None:
    world.verdict = Verdict.of([Signal(Reason.CLICK_INJECTION, 0.95, {"seconds": 2})])
    conversion = world.service.record(world.advertiser, Postback(world.click(), "install", 0, None), None)
    assert conversion.status is ConversionStatus.REJECTED and conversion.payout_micros == 0
    assert conversion.fraud_reason == "click_injection" and conversion.fraud_score == 0.95
    with pytest.raises(Conflict):
        world.service.reverse(world.advertiser, render("txn", conversion.id), ReversalReason.FRAUD)


def test_event_time_must_follow_the_click(world: World) -> None:
    click_id = world.click()
    with pytest.raises(ValidationFailed) as early:
        world.service.record(
            world.advertiser,
            Postback(click_id, "purchase", 0, None, event_time=world.clock.now - timedelta(hours=1)),
            None,
        )
    assert early.value.field == "event_time"


def test_a_batch_is_one_transaction_whose_bad_postbacks_fail_alone(world: World) -> None:
    click = world.click()
    good = PostbackRequest(world.advertiser, Postback(click, "purchase", 1_000_000, None, order_id="a"), None)
    copy = PostbackRequest(world.advertiser, Postback(click, "purchase", 1_000_000, None, order_id="a"), None)
    unknown = PostbackRequest(world.advertiser, Postback("auc_zz", "purchase", 0, None), None)
    no_rate = PostbackRequest(world.advertiser, Postback(click, "lead", 0, "EUR"), None)
    first, again, missing, refused = world.service.record_many([good, copy, unknown, no_rate])
    assert isinstance(first, Conversion) and isinstance(again, Conversion) and again.id == first.id
    assert isinstance(missing, ValidationFailed) and missing.code == "unknown_click_id"
    assert isinstance(refused, ValidationFailed) and refused.field == "currency"
    assert world.logged(EventType.CONVERSION) == [(first.id, 45_000_000)]


def test_a_postback_that_breaks_the_group_commit_fails_alone(world: World) -> None:
    """An error outside the service's own (here a revenue past a 64-bit column, which the API's
    bound keeps out) aborts the shared transaction; the others are then recorded one by one."""
    click = world.click()

    def request(order_id: str, micros: int) -> PostbackRequest:
        return PostbackRequest(
            world.advertiser, Postback(click, "purchase", micros, None, order_id=order_id), None
        )

    async def together() -> list[Any]:
        batcher = GroupCommit(world.service.record_many)
        pending = [batcher.submit(request("a", 1_000_000)), batcher.submit(request("b", 2**70))]
        pending.append(batcher.submit(request("c", 2_000_000)))
        return await asyncio.gather(*pending, return_exceptions=True)

    first, broken, last = asyncio.run(together())
    assert isinstance(first, Conversion) and isinstance(last, Conversion)
    assert not isinstance(broken, Conversion | AucteraError)  # a 500 for that one alone
    assert sorted(i for i, _ in world.logged(EventType.CONVERSION)) == sorted([first.id, last.id])


def test_a_recorded_conversion_reads_back_exactly_as_answered(world: World) -> None:
    # Rows are written straight through the driver on SQLite: times, JSON and flags must come back
    # as Core would have stored them.
    world.verdict = Verdict.of([Signal(Reason.CLICK_INJECTION, 0.95, {"seconds": 2})])
    click_id = world.click()
    world.clock.now += timedelta(seconds=2)  # an event_time ahead of the clock is booked on arrival
    postback = Postback(
        click_id,
        "purchase",
        12_340_000,
        None,
        order_id="o-9",
        event_time=(world.clock.now - timedelta(seconds=1)).replace(microsecond=123_456),
        identifiers=(("email_sha256", "ab" * 32),),
    )
    recorded = world.service.record(world.advertiser, postback, "key-9")
    found = world.service.get(world.advertiser, render("txn", recorded.id))
    assert found == recorded
    assert found.occurred_at.microsecond == 123_456 and found.occurred_at.tzinfo is not None
    assert found.fraud_signals == recorded.fraud_signals and found.attrs["email_sha256"] == "ab" * 32
    again = world.service.record(world.advertiser, Postback(postback.click_id, "lead", 0, None), "key-9")
    assert again.id == recorded.id  # the idempotency key, as stored, finds it
