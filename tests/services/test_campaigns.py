"""CampaignService with its SQL repositories (SQLite and PostgreSQL) and the real event log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.campaigns import (
    BiddingPatch,
    BidStrategy,
    BudgetPatch,
    CampaignPatch,
    CampaignStatus,
    CampaignType,
    TargetingPatch,
)
from auctera.domain.dates import DatePreset
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.events import DuckDBEventStore
from auctera.services.accounts import AccountService
from auctera.services.campaigns import CampaignQuery, CampaignService
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock

S = CampaignStatus
URL = "https://shop.example.com/sale?cid={click_id}"


class World:
    """Accounts (as principals) and the services under test."""

    def __init__(self, uow: SqlUnitOfWorkFactory, events: DuckDBEventStore, clock: FrozenClock) -> None:
        # Ids from a counter: the clock is frozen, and ordering must still follow creation.
        ticks = count(int(clock.now.timestamp() * 1000))
        ids = IdGenerator(1, lambda: next(ticks))
        self.clock = clock
        self.events = events
        self.accounts = AccountService(uow, ids, clock, rotation_grace=timedelta(hours=1))
        self.campaigns = CampaignService(uow, ids, clock, events)
        self._event_ids = count(1)

    def principal(self, kind: str, timezone: str = "UTC") -> Principal:
        a = self.accounts.create_account(f"{kind} account", kind, timezone=timezone).account
        return Principal(a.id, a.kind, a.timezone, a.currency, None, f"key:{a.id}")

    def create(self, who: Principal, name: str = "Holiday Promo", **fields: object) -> int:
        fields = {"budget": BudgetPatch(total_micros=10_000_000_000), **fields}
        patch = CampaignPatch(name=name, **fields)  # type: ignore[arg-type]
        return self.campaigns.create(who, CampaignType.DSP_RETARGETING, patch).id

    def live(self, who: Principal, name: str = "Holiday Promo", **fields: object) -> int:
        campaign_id = self.create(who, name, **fields)
        self.campaigns.review(campaign_id)
        return campaign_id

    def event(self, who: Principal, campaign_id: int, kind: EventType, at: datetime, **money: int) -> None:
        self.events.append(
            Event(
                id=next(self._event_ids),
                type=kind,
                at=at,
                account_id=who.account_id,
                campaign_id=campaign_id,
                **money,
            )  # type: ignore[arg-type]
        )


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> Iterator[World]:
    with DuckDBEventStore(tmp_path / "events", "test", compact_interval=None) as events:
        yield World(uow_factory, events, FrozenClock())


# --- create, review, read ------------------------------------------------------------------


def test_created_pending_then_reviewed_active(world: World) -> None:
    acme = world.principal("advertiser")
    campaign_id = world.create(acme, targeting=TargetingPatch(geo=("us", "CA")), destination_url=URL)
    assert world.campaigns.get(acme, campaign_id).status is S.PENDING_REVIEW
    reviewed = world.campaigns.review(campaign_id)
    assert reviewed is not None and reviewed.status is S.ACTIVE
    stored = world.campaigns.get(acme, campaign_id)
    assert stored.status is S.ACTIVE
    assert stored.targeting.geo == ("US", "CA")
    assert stored.review.reviewed_at == world.clock.now and stored.review.reviewer_id is None


def test_other_tenants_see_nothing_and_the_network_sees_everything(world: World) -> None:
    acme, rival, publisher, network = (
        world.principal(k) for k in ("advertiser", "advertiser", "publisher", "network")
    )
    campaign_id = world.live(acme)
    for outsider in (rival, publisher):
        with pytest.raises(NotFound):
            world.campaigns.get(outsider, campaign_id)
        with pytest.raises(NotFound):
            world.campaigns.update(outsider, campaign_id, CampaignPatch(name="mine now"), S.PAUSED)
        with pytest.raises(NotFound):
            world.campaigns.archive(outsider, campaign_id)
        assert world.campaigns.list_campaigns(outsider, CampaignQuery()).campaigns == []
    assert world.campaigns.get(acme, campaign_id).name == "Holiday Promo"
    assert world.campaigns.get(acme, campaign_id).status is S.ACTIVE
    assert world.campaigns.get(network, campaign_id).id == campaign_id


def test_who_may_create(world: World) -> None:
    acme, publisher, network = (world.principal(k) for k in ("advertiser", "publisher", "network"))
    patch = CampaignPatch(name="X", budget=BudgetPatch(total_micros=1_000_000))
    with pytest.raises(Forbidden):
        world.campaigns.create(publisher, CampaignType.DSP_PROSPECTING, patch)
    with pytest.raises(ValidationFailed) as raised:
        world.campaigns.create(network, CampaignType.DSP_PROSPECTING, patch)
    assert raised.value.field == "advertiser_id"
    with pytest.raises(ValidationFailed):
        world.campaigns.create(
            network, CampaignType.DSP_PROSPECTING, patch, advertiser_id=publisher.account_id
        )
    with pytest.raises(NotFound):  # an advertiser cannot create for someone else
        world.campaigns.create(acme, CampaignType.DSP_PROSPECTING, patch, advertiser_id=network.account_id)
    on_behalf = world.campaigns.create(
        network, CampaignType.DSP_PROSPECTING, patch, advertiser_id=acme.account_id
    )
    assert on_behalf.account_id == acme.account_id
    assert world.campaigns.get(acme, on_behalf.id).name == "X"


def test_invalid_input_writes_nothing(world: World) -> None:
    acme = world.principal("advertiser")
    with pytest.raises(ValidationFailed) as raised:
        world.create(acme, targeting=TargetingPatch(geo=("US", "XX")))
    assert raised.value.field == "targeting.geo"
    with pytest.raises(ValidationFailed) as raised:
        world.create(acme, end_date=date(2026, 11, 22))  # yesterday
    assert raised.value.field == "end_date"
    assert world.campaigns.list_campaigns(acme, CampaignQuery(all_statuses=True)).campaigns == []


def test_budget_currency_is_the_accounts(world: World) -> None:
    acme = world.principal("advertiser")
    with pytest.raises(ValidationFailed) as raised:
        world.create(acme, budget=BudgetPatch(total_micros=1_000_000, currency="EUR"))
    assert raised.value.field == "budget.currency"


# --- changes and the status machine ---------------------------------------------------------


def test_pause_resume_and_change(world: World) -> None:
    acme = world.principal("advertiser")
    campaign_id = world.live(acme)
    world.clock.now += timedelta(minutes=5)
    paused = world.campaigns.update(
        acme, campaign_id, CampaignPatch(budget=BudgetPatch(daily_micros=75_000_000)), S.PAUSED
    )
    assert paused.status is S.PAUSED
    assert paused.budget.daily_micros == 75_000_000 and paused.budget.total_micros == 10_000_000_000
    assert paused.updated_at == world.clock.now
    resumed = world.campaigns.update(acme, campaign_id, CampaignPatch(), S.ACTIVE)
    assert resumed.status is S.ACTIVE


def test_pending_and_rejected_cannot_be_switched_on_by_the_advertiser(world: World) -> None:
    acme, network = world.principal("advertiser"), world.principal("network")
    pending = world.create(acme)
    with pytest.raises(Conflict, match="pending review"):
        world.campaigns.update(acme, pending, CampaignPatch(), S.ACTIVE)
    world.campaigns.decide(network, pending, approve=False, reasons=["misleading claims"])
    with pytest.raises(Conflict, match="misleading claims"):
        world.campaigns.update(acme, pending, CampaignPatch(name="Renamed"), S.ACTIVE)
    assert world.campaigns.get(acme, pending).name == "Holiday Promo"  # the 409 wrote nothing


def test_archive_is_terminal_and_idempotent(world: World) -> None:
    acme = world.principal("advertiser")
    campaign_id = world.live(acme)
    first = world.campaigns.archive(acme, campaign_id)
    assert first.status is S.ARCHIVED and first.archived_at == world.clock.now
    world.clock.now += timedelta(hours=1)
    again = world.campaigns.archive(acme, campaign_id)
    assert again.archived_at == first.archived_at
    with pytest.raises(Conflict, match="cannot be restarted"):
        world.campaigns.update(acme, campaign_id, CampaignPatch(), S.ACTIVE)
    with pytest.raises(Conflict):
        world.campaigns.update(acme, campaign_id, CampaignPatch(name="Zombie"))
    # A review in flight when the campaign was archived does nothing.
    reviewed = world.campaigns.review(campaign_id)
    assert reviewed is not None and reviewed.status is S.ARCHIVED


def test_bidding_changes(world: World) -> None:
    acme = world.principal("advertiser")
    campaign_id = world.live(acme)
    with pytest.raises(ValidationFailed) as raised:
        world.campaigns.update(
            acme, campaign_id, CampaignPatch(bidding=BiddingPatch(strategy=BidStrategy.TARGET_CPA))
        )
    assert raised.value.field == "bidding.target_amount"
    changed = world.campaigns.update(
        acme, campaign_id, CampaignPatch(bidding=BiddingPatch(BidStrategy.TARGET_CPA, 35_000_000))
    )
    assert changed.bidding.target_micros == 35_000_000 and changed.status is S.ACTIVE


# --- blocklist and review ------------------------------------------------------------------


def test_blocklisted_destination_is_rejected_with_reasons(world: World) -> None:
    acme, network = world.principal("advertiser"), world.principal("network")
    entry, rejected = world.campaigns.block_domain("Example.COM", "malware", by=network)
    assert entry.domain == "example.com" and rejected == 0
    campaign_id = world.create(acme, destination_url=URL)
    reviewed = world.campaigns.review(campaign_id)
    assert reviewed is not None and reviewed.status is S.REJECTED
    assert world.campaigns.get(acme, campaign_id).review.reasons == (
        "destination_url: shop.example.com is on the network's blocklist (via example.com)",
    )
    # Fixing the destination resubmits it; the review then passes.
    fixed = world.campaigns.update(
        acme, campaign_id, CampaignPatch(destination_url="https://shop.example.org/")
    )
    assert fixed.status is S.PENDING_REVIEW
    reviewed = world.campaigns.review(campaign_id)
    assert reviewed is not None and reviewed.status is S.ACTIVE and reviewed.review.reasons == ()


def test_blocking_a_domain_rejects_live_campaigns_at_once(world: World) -> None:
    acme, network = world.principal("advertiser"), world.principal("network")
    hit = world.live(acme, destination_url="https://deals.bad.example/x")
    paused = world.live(acme, destination_url="https://BAD.example/y")
    world.campaigns.update(acme, paused, CampaignPatch(), S.PAUSED)
    spared = world.live(acme, destination_url="https://notbad.example/?ref=bad.example")
    _, rejected = world.campaigns.block_domain("bad.example", by=network)
    assert rejected == 2
    assert world.campaigns.get(acme, hit).status is S.REJECTED
    assert world.campaigns.get(acme, paused).status is S.REJECTED
    assert world.campaigns.get(acme, spared).status is S.ACTIVE
    # Idempotent; unblocking reviews again what the entry alone rejected, as an approval would,
    # and each goes back to what it was before the rejection.
    assert world.campaigns.block_domain("bad.example", "again", by=network)[0].reason is None
    assert world.campaigns.unblock_domain("bad.example", by=network) is True
    assert world.campaigns.unblock_domain("bad.example", by=network) is False
    assert world.campaigns.get(acme, hit).status is S.ACTIVE
    assert world.campaigns.get(acme, paused).status is S.PAUSED  # as it was before the rejection


def test_a_live_campaign_changed_to_a_blocked_destination_is_rejected(world: World) -> None:
    acme, network = world.principal("advertiser"), world.principal("network")
    world.campaigns.block_domain("bad.example", by=network)
    campaign_id = world.live(acme, destination_url=URL)
    changed = world.campaigns.update(acme, campaign_id, CampaignPatch(destination_url="https://bad.example/"))
    assert changed.status is S.REJECTED
    assert "blocklist" in changed.review.reasons[0]


def test_blocklist_is_the_networks(world: World) -> None:
    acme, network = world.principal("advertiser"), world.principal("network")
    world.campaigns.block_domain("bad.example", by=network)
    with pytest.raises(Forbidden):
        world.campaigns.block_domain("other.example", by=acme)
    with pytest.raises(Forbidden):
        world.campaigns.blocked_domains(by=acme)
    with pytest.raises(NotFound):
        world.campaigns.unblock_domain("bad.example", by=acme)
    with pytest.raises(ValidationFailed) as raised:
        world.campaigns.block_domain("not a domain", by=network)
    assert raised.value.field == "domain"
    assert [b.domain for b in world.campaigns.blocked_domains()] == ["bad.example"]  # the CLI: no principal


def test_manual_review(world: World) -> None:
    acme, rival, network = (world.principal(k) for k in ("advertiser", "advertiser", "network"))
    campaign_id = world.live(acme)
    with pytest.raises(Forbidden):
        world.campaigns.decide(acme, campaign_id, approve=False)
    with pytest.raises(NotFound):
        world.campaigns.decide(rival, campaign_id, approve=False)
    rejected = world.campaigns.decide(network, campaign_id, approve=False)
    assert rejected.status is S.REJECTED
    assert rejected.review.reasons == ("rejected by the network operator",)
    assert rejected.review.reviewer_id == network.account_id
    with pytest.raises(ValidationFailed):
        world.campaigns.decide(network, campaign_id, approve=True, reasons=["looks fine"])
    approved = world.campaigns.decide(network, campaign_id, approve=True)
    assert approved.status is S.ACTIVE and approved.review.reasons == ()
    world.campaigns.archive(acme, campaign_id)
    with pytest.raises(Conflict):
        world.campaigns.decide(network, campaign_id, approve=True)


def test_review_pending_sweeps_what_was_left(world: World) -> None:
    acme = world.principal("advertiser")
    left = [world.create(acme, name=f"c{i}") for i in range(3)]
    assert world.campaigns.review_pending() == 3
    assert {world.campaigns.get(acme, c).status for c in left} == {S.ACTIVE}
    assert world.campaigns.review_pending() == 0


# --- listing -------------------------------------------------------------------------------


def test_keyset_pages_are_stable_while_rows_are_inserted(world: World) -> None:
    acme = world.principal("advertiser")
    created = [world.create(acme, name=f"c{i}") for i in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = world.campaigns.list_campaigns(acme, CampaignQuery(limit=3, cursor=cursor))
        seen += [c.id for c in page.campaigns]
        pages += 1
        if pages == 1:
            world.create(acme, name="inserted meanwhile")  # newer: belongs before the first page
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == sorted(created, reverse=True)  # newest first, nothing skipped or repeated


def test_list_filters(world: World) -> None:
    acme = world.principal("advertiser")
    active = world.live(acme, name="active")
    pending = world.create(acme, name="pending")
    archived = world.live(acme, name="archived")
    world.campaigns.archive(acme, archived)
    affiliate = world.campaigns.create(
        acme,
        CampaignType.AFFILIATE_CPA,
        CampaignPatch(
            name="aff",
            budget=BudgetPatch(daily_micros=1_000_000),
            payout_micros=5_000_000,
            destination_url=URL,
        ),
    ).id

    def ids(**query: object) -> set[int]:
        return {c.id for c in world.campaigns.list_campaigns(acme, CampaignQuery(**query)).campaigns}  # type: ignore[arg-type]

    assert ids() == {active, pending, affiliate}  # archived ones only when asked for
    assert ids(status=S.ACTIVE) == {active}
    assert ids(status=S.ARCHIVED) == {archived}
    assert ids(all_statuses=True) == {active, pending, archived, affiliate}
    assert ids(type=CampaignType.AFFILIATE_CPA) == {affiliate}
    assert ids(type=CampaignType.DSP_RETARGETING, status=S.PENDING_REVIEW) == {pending}


def test_list_validation(world: World) -> None:
    acme = world.principal("advertiser")
    for query, field in (
        (CampaignQuery(limit=101), "limit"),
        (CampaignQuery(cursor="not-ours"), "cursor"),
        (
            CampaignQuery(
                date_range=DatePreset.TODAY, start_date=date(2026, 1, 1), end_date=date(2026, 1, 2)
            ),
            "date_range",
        ),
    ):
        with pytest.raises(ValidationFailed) as raised:
            world.campaigns.list_campaigns(acme, query)
        assert raised.value.field == field


def test_network_lists_every_account_or_one(world: World) -> None:
    acme, rival, network = (world.principal(k) for k in ("advertiser", "advertiser", "network"))
    a, b = world.live(acme), world.live(rival)
    everyone = world.campaigns.list_campaigns(network, CampaignQuery())
    assert {c.id for c in everyone.campaigns} == {a, b}
    one = world.campaigns.list_campaigns(network, CampaignQuery(advertiser_id=rival.account_id))
    assert [c.id for c in one.campaigns] == [b]


# --- performance from the event log -----------------------------------------------------------


def test_performance_figures(world: World) -> None:
    acme = world.principal("advertiser")
    a, b = world.live(acme, name="a"), world.live(acme, name="b")
    now = world.clock.now
    yesterday = now - timedelta(days=1)
    world.event(acme, a, EventType.CLICK, now, cost_micros=1_240_500_000)
    for _ in range(45):
        world.event(acme, a, EventType.CONVERSION, now, revenue_micros=100_000_000)
    world.event(acme, a, EventType.CLICK, yesterday, cost_micros=500_000_000)
    world.event(acme, a, EventType.CONVERSION, yesterday, revenue_micros=2_000_000_000)
    world.event(acme, a, EventType.CONVERSION, yesterday, revenue_micros=1_000_000_000)
    world.event(acme, a, EventType.REVERSAL, yesterday, revenue_micros=-1_000_000_000)

    today = world.campaigns.list_campaigns(acme, CampaignQuery())
    p = today.performance[a]
    assert (p.today.cost_micros, p.conversions(p.today)) == (1_240_500_000, 45)
    assert p.cpa is not None and p.cpa.quantize(Decimal("0.0001")) == Decimal("27.5667")  # 1240.50 / 45
    assert p.roas is not None and p.roas.quantize(Decimal("0.01")) == Decimal("3.63")  # 4500 / 1240.50
    assert p.lifetime.cost_micros == 1_740_500_000
    assert today.performance[b].cpa is None and today.performance[b].roas is None

    last = world.campaigns.list_campaigns(acme, CampaignQuery(date_range=DatePreset.YESTERDAY))
    p = last.performance[a]
    assert p.today.cost_micros == 1_240_500_000  # "today" stays today whatever the range
    assert (p.period.cost_micros, p.conversions(p.period)) == (500_000_000, 1)  # the reversal took one back
    assert p.roas is not None and p.roas == 4  # 2000 revenue / 500 spend


def test_today_is_the_accounts_day(world: World) -> None:
    # 12:00 UTC is 07:00 in New York; an event at 03:00 UTC was yesterday evening there.
    ny = world.principal("advertiser", timezone="America/New_York")
    campaign_id = world.live(ny)
    world.event(ny, campaign_id, EventType.CLICK, world.clock.now.replace(hour=3), cost_micros=9_000_000)
    world.event(ny, campaign_id, EventType.CLICK, world.clock.now.replace(hour=11), cost_micros=1_000_000)
    page = world.campaigns.list_campaigns(ny, CampaignQuery())
    assert page.span.start == date(2026, 11, 23)
    assert page.performance[campaign_id].today.cost_micros == 1_000_000
    assert page.performance[campaign_id].lifetime.cost_micros == 10_000_000
