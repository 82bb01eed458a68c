"""ProgramService with its SQL repositories (SQLite and PostgreSQL) and the real event log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.catalog import Retailer
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.domain.programs import (
    STANDARD_SEGMENT,
    Application,
    ApprovalStatus,
    ProgramStatus,
    PromotionMethod,
    Rate,
)
from auctera.errors import Conflict, NotFound, ValidationFailed
from auctera.events import DuckDBEventStore
from auctera.services.accounts import AccountService
from auctera.services.campaigns import CampaignService
from auctera.services.programs import (
    CommissionChanges,
    CommissionSpec,
    ProgramService,
    ProgramSettings,
    RateSpec,
)
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, events: DuckDBEventStore, clock: FrozenClock) -> None:
        ticks = count(int(clock.now.timestamp() * 1000))
        self.ids = IdGenerator(1, lambda: next(ticks))
        self.uow, self.events, self.clock = uow, events, clock
        self.accounts = AccountService(uow, self.ids, clock, rotation_grace=timedelta(hours=1))
        self.campaigns = CampaignService(uow, self.ids, clock, events)
        self.programs = ProgramService(uow, self.ids, clock, events)

    def principal(self, kind: str, currency: str = "USD") -> Principal:
        a = self.accounts.create_account(f"{kind} account", kind, currency=currency).account
        return Principal(a.id, a.kind, a.timezone, a.currency, None, f"key:{a.id}")

    def campaign(self, who: Principal, type: CampaignType = CampaignType.AFFILIATE_CPA) -> int:
        patch = CampaignPatch(
            name="Kitchentime SE",
            budget=BudgetPatch(total_micros=10**12),
            payout_micros=45_000_000 if type is CampaignType.AFFILIATE_CPA else None,
            destination_url="https://shop.example.com/?c={click_id}",
        )
        return self.campaigns.create(who, type, patch).id

    def retailer(self, who: Principal) -> int:
        now = self.clock()
        retailer = Retailer(
            self.ids.next_id(), who.account_id, who.kind, "Shop", "shop.example.com", now, now
        )
        with self.uow() as uow:
            uow.retailers.add(retailer)
            uow.commit()
        return retailer.id


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> Iterator[World]:
    with DuckDBEventStore(tmp_path / "events", "test", compact_interval=None) as events:
        yield World(uow_factory, events, FrozenClock())


SALE = CommissionSpec("Sale", "purchase", RateSpec("%", 5_000_000))


def test_a_program_is_created_with_its_standard_segment_then_replaced(world: World) -> None:
    acme = world.principal("advertiser", currency="SEK")
    feed = world.retailer(acme)
    cid = world.campaign(acme)
    view, created = world.programs.put(
        acme,
        cid,
        ProgramSettings(
            market="se",
            cookie_duration_days=45,
            promotion_methods=frozenset({PromotionMethod.EMAIL, PromotionMethod.COUPON}),
            program_url="https://www.kitchentime.se",
            feed_ids=(feed, feed),
        ),
    )
    assert created and view.currency == "SEK" and view.campaign.name == "Kitchentime SE"
    p = view.program
    assert (p.market, p.status, p.cookie_duration_days, p.feed_ids) == ("SE", ProgramStatus.LIVE, 45, (feed,))
    assert [(s.name, s.standard) for s in view.segments] == [(STANDARD_SEGMENT, True)]

    world.clock.now += timedelta(minutes=1)
    again, created = world.programs.put(acme, cid, ProgramSettings(market="SE", status=ProgramStatus.CLOSING))
    assert not created
    assert again.program.status is ProgramStatus.CLOSING and again.program.feed_ids == ()
    assert again.program.promotion_methods == frozenset(PromotionMethod)  # the default: all of them
    assert again.program.created_at == p.created_at < again.program.updated_at
    assert [s.id for s in again.segments] == [s.id for s in view.segments]  # one standard segment still


def test_bad_settings_are_refused_naming_the_field_and_write_nothing(world: World) -> None:
    acme, other = world.principal("advertiser"), world.principal("advertiser")
    cid = world.campaign(acme)
    cases = {
        "market": ProgramSettings(market="XX"),
        "cookie_duration_days": ProgramSettings(market="SE", cookie_duration_days=366),
        "program_url": ProgramSettings(market="SE", program_url="ftp://x.example.com"),
        "logo_url": ProgramSettings(market="SE", logo_url="not a url"),
        "feed_ids": ProgramSettings(market="SE", feed_ids=(world.retailer(other),)),
    }
    for field, settings in cases.items():
        with pytest.raises(ValidationFailed) as refused:
            world.programs.put(acme, cid, settings)
        assert refused.value.field == field
    dsp = world.campaign(acme, CampaignType.DSP_RETARGETING)
    with pytest.raises(ValidationFailed) as refused:
        world.programs.put(acme, dsp, ProgramSettings(market="SE"))
    assert refused.value.field == "offer_id"
    with world.uow(read_only=True) as uow:
        assert uow.programs.page(account_id=None, before_id=None, limit=10) == []


def test_other_tenants_find_nothing_and_the_operator_everything(world: World) -> None:
    acme, other = world.principal("advertiser"), world.principal("advertiser")
    publisher, network = world.principal("publisher"), world.principal("network")
    cid = world.campaign(acme)
    view, _ = world.programs.put(acme, cid, ProgramSettings(market="SE"))
    standard = view.segments[0].id
    sale = world.programs.add_commission(acme, cid, SALE).commission
    for intruder in (other, publisher):
        with pytest.raises(NotFound):
            world.programs.put(intruder, cid, ProgramSettings(market="SE"))
        with pytest.raises(NotFound):
            world.programs.get(intruder, cid)
        with pytest.raises(NotFound):
            world.programs.add_segment(intruder, cid, "Gold")
        with pytest.raises(NotFound):
            world.programs.delete_commission(intruder, cid, sale.id)
        assert world.programs.list_programs(intruder, None).programs == []
    # Another program's segment or commission type through this program's path: not found either.
    theirs = world.campaign(other)
    their_view, _ = world.programs.put(other, theirs, ProgramSettings(market="SE"))
    with pytest.raises(NotFound):
        world.programs.rename_segment(acme, cid, their_view.segments[0].id, "Mine")
    with pytest.raises(NotFound):
        world.programs.add_commission(
            acme, cid, CommissionSpec("x", "lead", RateSpec("USD", 1), segment_id=their_view.segments[0].id)
        )
    assert world.programs.get(network, cid).program.id == cid
    assert {v.program.id for v in world.programs.list_programs(network, None).programs} == {cid, theirs}
    assert world.programs.segments(acme, cid)[0].id == standard


def test_segments(world: World) -> None:
    acme = world.principal("advertiser")
    cid = world.campaign(acme)
    world.programs.put(acme, cid, ProgramSettings(market="SE"))
    gold = world.programs.add_segment(acme, cid, " Gold ")
    assert gold.name == "Gold" and not gold.standard
    with pytest.raises(Conflict) as duplicate:
        world.programs.add_segment(acme, cid, "Gold")
    assert duplicate.value.field == "name"
    silver = world.programs.add_segment(acme, cid, "Silver")
    with pytest.raises(Conflict):
        world.programs.rename_segment(acme, cid, silver.id, "Gold")
    assert world.programs.rename_segment(acme, cid, silver.id, "Platinum").name == "Platinum"
    names = [s.name for s in world.programs.segments(acme, cid)]
    assert names == [STANDARD_SEGMENT, "Gold", "Platinum"]
    standard = world.programs.segments(acme, cid)[0]
    with pytest.raises(Conflict) as refused:
        world.programs.delete_segment(acme, cid, standard.id)
    assert refused.value.code == "standard_segment"

    # Deleting Gold takes its commission types; a channel's application in it falls back to standard.
    world.programs.add_commission(
        acme, cid, CommissionSpec("Gold sale", "purchase", RateSpec("%", 8_000_000), segment_id=gold.id)
    )
    application = Application(
        world.ids.next_id(),
        cid,
        acme.account_id,
        world.principal("publisher").account_id,
        None,
        ApprovalStatus.APPROVED,
        world.clock(),
        segment_id=gold.id,
    )
    with world.uow() as uow:
        assert uow.channels.add_application(application)
        uow.commit()
    world.programs.delete_segment(acme, cid, gold.id)
    assert world.programs.commissions(acme, cid) == []
    with world.uow(read_only=True) as uow:
        moved = uow.channels.application(application.id)
    assert moved is not None and moved.segment_id is None


def test_commission_types(world: World) -> None:
    acme = world.principal("advertiser", currency="SEK")
    cid = world.campaign(acme)
    world.programs.put(acme, cid, ProgramSettings(market="SE"))
    gold = world.programs.add_segment(acme, cid, "Gold")
    spec = CommissionSpec(
        "Sale new customer",
        "purchase",
        RateSpec("sek", 100_000_000),
        categories=(("Books", RateSpec("%", 4_500_000)),),
        thresholds=(
            (2_000_000_000, RateSpec("SEK", 150_000_000)),
            (1_500_000_000, RateSpec("SEK", 120_000_000)),
        ),
    )
    sale = world.programs.add_commission(acme, cid, spec)
    c = sale.commission
    assert sale.segment.standard and sale.currency == "SEK"
    assert c.rate == Rate(False, 100_000_000) and c.transaction_type == 3
    assert [t.order_value_micros for t in c.thresholds] == [1_500_000_000, 2_000_000_000]  # in order
    with pytest.raises(Conflict) as duplicate:
        world.programs.add_commission(acme, cid, spec)
    assert duplicate.value.field == "event_type"
    gold_sale = world.programs.add_commission(
        acme, cid, CommissionSpec("Gold", "purchase", RateSpec("%", 8_000_000), segment_id=gold.id)
    )

    listed = world.programs.commissions(acme, cid)
    assert [v.commission.id for v in listed] == [c.id, gold_sale.commission.id]  # standard first
    assert [v.commission.id for v in world.programs.commissions(acme, cid, gold.id)] == [
        gold_sale.commission.id
    ]

    # PATCH: the value alone keeps the type; moving onto a segment that pays for it already: 409.
    changed = world.programs.update_commission(acme, cid, c.id, CommissionChanges(value_micros=110_000_000))
    assert (
        changed.commission.rate == Rate(False, 110_000_000) and changed.commission.categories == c.categories
    )
    with pytest.raises(Conflict):
        world.programs.update_commission(acme, cid, c.id, CommissionChanges(segment_id=gold.id))
    cleared = world.programs.update_commission(
        acme, cid, c.id, CommissionChanges(type="%", value_micros=5_000_000, thresholds=())
    )
    assert cleared.commission.rate == Rate(True, 5_000_000) and cleared.commission.thresholds == ()
    world.programs.delete_commission(acme, cid, gold_sale.commission.id)
    with pytest.raises(NotFound):
        world.programs.delete_commission(acme, cid, gold_sale.commission.id)
    assert [v.commission.id for v in world.programs.commissions(acme, cid)] == [c.id]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (CommissionSpec("Sale", "purchase", RateSpec("EUR", 1)), "type"),
        (CommissionSpec("Sale", "purchase", RateSpec("%", 100_000_001)), "value"),
        (CommissionSpec("Sale", "purchase", RateSpec("SEK", -1)), "value"),
        (CommissionSpec("Sale", "Purchase!", RateSpec("SEK", 1)), "event_type"),
        (CommissionSpec("  ", "purchase", RateSpec("SEK", 1)), "name"),
        (
            CommissionSpec(
                "Sale", "purchase", RateSpec("SEK", 1), categories=(("Books", RateSpec("NOK", 1)),)
            ),
            "categories.0.type",
        ),
        (
            CommissionSpec(
                "Sale",
                "purchase",
                RateSpec("SEK", 1),
                categories=(("Books", RateSpec("%", 1)), ("books", RateSpec("%", 2))),
            ),
            "categories.1.category",
        ),
        (
            CommissionSpec(
                "Sale",
                "purchase",
                RateSpec("SEK", 1),
                thresholds=((5, RateSpec("%", 1)), (5, RateSpec("%", 2))),
            ),
            "thresholds.1.order_value",
        ),
        (
            CommissionSpec(
                "Sale", "purchase", RateSpec("SEK", 1), thresholds=((5, RateSpec("%", 101_000_000)),)
            ),
            "thresholds.0.value",
        ),
    ],
)
def test_bad_commission_types_are_refused_naming_the_field(
    world: World, spec: CommissionSpec, field: str
) -> None:
    acme = world.principal("advertiser", currency="SEK")
    cid = world.campaign(acme)
    world.programs.put(acme, cid, ProgramSettings(market="SE"))
    with pytest.raises(ValidationFailed) as refused:
        world.programs.add_commission(acme, cid, spec)
    assert refused.value.field == field
    assert world.programs.commissions(acme, cid) == []


def test_epc_comes_from_the_event_log(world: World) -> None:
    acme = world.principal("advertiser")
    cid = world.campaign(acme)
    world.programs.put(acme, cid, ProgramSettings(market="US"))
    assert world.programs.get(acme, cid).epc is None  # no clicks yet
    at = world.clock()
    for _ in range(4):
        world.events.append(
            Event(world.ids.next_id(), EventType.CLICK, at, acme.account_id, cid, publisher_id=9)
        )
    world.events.append(
        Event(
            world.ids.next_id(),
            EventType.CONVERSION,
            at,
            acme.account_id,
            cid,
            publisher_id=9,
            payout_micros=10_000_000,
            currency="USD",
        )
    )
    assert str(world.programs.get(acme, cid).epc) == "2.50"  # 10 over 4 clicks
