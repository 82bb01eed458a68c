"""SpendService on both state backends: every cap holds, local periods roll over at the account's
midnight and month start, balances run down to what is left, a retried click is charged once, the
ledger always equals the period counters, and 1,000 concurrent clicks never cross a budget.

Accounts, campaigns, the retailer and line items are made by their services (as the API makes
them); only states those services refuse to produce are written to the tables, each where it is
needed and said why.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from auctera.domain.accounts import Principal
from auctera.domain.budgets import Spend
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignStatus, CampaignType
from auctera.domain.ids import IdGenerator
from auctera.domain.line_items import LineItemSettings, LineItemStatus
from auctera.domain.pricing import BidStrategy
from auctera.feeds import read_feed
from auctera.services.accounts import AccountService
from auctera.services.campaigns import CampaignService
from auctera.services.catalog import CatalogService
from auctera.services.line_items import LineItemService, LineItemWrite
from auctera.services.spend import Charge, ChargeOutcome, Click, SpendService
from auctera.store.database import make_engine
from auctera.store.migrate import upgrade
from auctera.store.tables import campaigns, line_items, spend_ledger, spend_periods
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock
from support.postgres import PostgresServer

NEW_YORK = "America/New_York"  # UTC-5 in November: local midnight is 05:00 UTC
CENT = 10_000
DOLLAR = 1_000_000
# A campaign always has a budget (the service requires one); a test about line-item caps or
# balances gets a campaign total no test comes near, so only the caps under test bind.
OUT_OF_REACH = 10**6 * DOLLAR


class _NoEvents:
    """The event store CampaignService reads performance figures from: never reached here."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the spend tests read no events ({name})")


class World:
    """One advertiser with a campaign; line items added per test; clicks at the clock's time."""

    def __init__(
        self,
        factory: SqlUnitOfWorkFactory,
        *,
        timezone: str = NEW_YORK,
        balance: int | None = None,
        campaign_total: int | None = None,
        campaign_daily: int | None = None,
        campaign_type: str = "retail_media",
    ) -> None:
        self.factory = factory
        self.engine: Engine = factory.engine
        self.clock = FrozenClock(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))  # noon in New York
        ticks = count(int(self.clock.now.timestamp() * 1000))
        self.ids = IdGenerator(1, lambda: next(ticks))
        self.spend = SpendService(factory, self.ids)
        self.accounts = AccountService(factory, self.ids, self.clock, rotation_grace=timedelta(hours=1))
        self.campaigns = CampaignService(factory, self.ids, self.clock, _NoEvents())  # type: ignore[arg-type]
        self.catalog = CatalogService(factory, self.ids, self.clock, read_feed)
        self.line_items = LineItemService(factory, self.ids, self.clock)
        self.timezone = timezone
        self.principal = self._principal("Acme", "advertiser")
        self.account_id = self.principal.account_id
        if balance is not None:
            self.spend.set_balance(self.account_id, balance)
        if campaign_total is None and campaign_daily is None:
            campaign_total = OUT_OF_REACH
        budget = BudgetPatch(daily_micros=campaign_daily, total_micros=campaign_total)
        created = self.campaigns.create(
            self.principal, CampaignType(campaign_type), CampaignPatch(name="Campaign", budget=budget)
        )
        reviewed = self.campaigns.review(created.id)
        assert reviewed is not None and reviewed.status is CampaignStatus.ACTIVE, reviewed
        self.campaign_id = reviewed.id
        shop = self._principal("Shop", "publisher")
        self.retailer_id = self.catalog.create_retailer(shop, "Shop", "shop.example.com").id

    def _principal(self, name: str, kind: str) -> Principal:
        a = self.accounts.create_account(name, kind, timezone=self.timezone).account
        return Principal(a.id, a.kind, a.timezone, a.currency, None, f"key:{a.id}")

    def settings(self, **fields: Any) -> LineItemSettings:
        values: dict[str, Any] = {
            "name": f"Line item {self.ids.next_id()}",
            "start_date": date(2026, 11, 1),
            "bid_strategy": BidStrategy.CLICKS,
            "target_bid_micros": DOLLAR,
            **fields,
        }
        return LineItemSettings(**values)

    def line_item(self, **fields: Any) -> int:
        write = LineItemWrite(self.settings(**fields), target_retailer_id=self.retailer_id)
        return self.line_items.create(self.principal, self.campaign_id, write).item.id

    def change_line_item(
        self, line_item_id: int, status: LineItemStatus | None = None, **fields: Any
    ) -> None:
        """A PUT of the line item: its settings with `fields` changed."""
        before = self.line_items.get(self.principal, line_item_id).item
        settings = dataclasses.replace(before.settings, **fields)
        self.line_items.replace(self.principal, line_item_id, LineItemWrite(settings, status=status))

    def set(self, table: Any, row_id: int, **values: Any) -> None:
        """A state no service produces, written to its row (each caller says why)."""
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(**values))

    def click(self, line_item_id: int | None, price: int, click_id: int | None = None) -> Charge:
        return self.spend.charge(
            Click(
                click_id=click_id or self.ids.next_id(),
                campaign_id=self.campaign_id,
                line_item_id=line_item_id,
                price_micros=price,
                at=self.clock(),
                publisher_id=42,
            )
        )

    def clicks(self, line_item_id: int | None, price: int, n: int) -> list[ChargeOutcome]:
        return [self.click(line_item_id, price).outcome for _ in range(n)]

    def at(self, when: datetime) -> None:
        self.clock.now = when

    def total(self, subject_id: int) -> int:
        return self.spend.spend_of([subject_id], date(2026, 11, 23))[subject_id].lifetime_micros

    def balance(self) -> int | None:
        return self.spend.balance(self.account_id)

    def assert_ledger_equals_periods(self) -> None:
        """Every period row is exactly the sum of the ledger rows it counts (in the local zone)."""
        tz = ZoneInfo(self.timezone)
        expected: dict[tuple[int, str], int] = defaultdict(int)
        with self.engine.connect() as conn:
            for row in conn.execute(select(spend_ledger)):
                day = row.occurred_at.astimezone(tz).date()
                subjects = [row.campaign_id] + ([row.line_item_id] if row.line_item_id else [])
                for subject in subjects:
                    for period in (day.isoformat(), day.isoformat()[:7], "total"):
                        expected[(subject, period)] += row.amount_micros
            stored = {(r.subject_id, r.period): r.spent_micros for r in conn.execute(select(spend_periods))}
        assert stored == dict(expected)


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> World:
    return World(uow_factory)


C, B = ChargeOutcome.CHARGED, ChargeOutcome.BUDGET


def test_lifetime_budget_is_never_crossed_not_even_by_the_last_click(world: World) -> None:
    li = world.line_item(budget_micros=DOLLAR)
    assert world.clicks(li, 30 * CENT, 4) == [C, C, C, B]  # 0.90 spent; 0.30 more would cross 1.00
    assert world.click(li, 10 * CENT).outcome is C  # a cheaper click still fits exactly
    assert world.clicks(li, 1, 1) == [B]
    assert world.total(li) == DOLLAR
    world.assert_ledger_equals_periods()


def test_daily_pace_resets_at_local_midnight_not_utc(world: World) -> None:
    li = world.line_item(daily_pacing_micros=50 * CENT)
    assert world.clicks(li, 20 * CENT, 3) == [C, C, ChargeOutcome.DAILY]
    world.at(datetime(2026, 11, 24, 0, 30, tzinfo=UTC))  # UTC's new day, still the 23rd in New York
    assert world.clicks(li, 20 * CENT, 1) == [ChargeOutcome.DAILY]
    world.at(datetime(2026, 11, 24, 4, 59, 59, tzinfo=UTC))
    assert world.clicks(li, 20 * CENT, 1) == [ChargeOutcome.DAILY]
    world.at(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))  # midnight in New York
    assert world.clicks(li, 20 * CENT, 3) == [C, C, ChargeOutcome.DAILY]
    spend = world.spend.spend_of([li], date(2026, 11, 24))[li]
    assert spend == Spend(lifetime_micros=80 * CENT, month_micros=80 * CENT, day_micros=40 * CENT)
    world.assert_ledger_equals_periods()


def test_monthly_pace_resets_at_the_local_month_start(world: World) -> None:
    li = world.line_item(monthly_pacing_micros=DOLLAR)
    world.at(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    assert world.clicks(li, 40 * CENT, 3) == [C, C, ChargeOutcome.MONTHLY]
    world.at(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))  # December in UTC, still November locally
    assert world.clicks(li, 40 * CENT, 1) == [ChargeOutcome.MONTHLY]
    world.at(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    assert world.clicks(li, 40 * CENT, 3) == [C, C, ChargeOutcome.MONTHLY]
    with world.engine.connect() as conn:
        periods = {
            r.period: r.spent_micros for r in conn.execute(select(spend_periods)) if r.subject_id == li
        }
    assert periods == {
        "2026-11-30": 80 * CENT,
        "2026-11": 80 * CENT,
        "2026-12-01": 80 * CENT,
        "2026-12": 80 * CENT,
        "total": 160 * CENT,
    }
    world.assert_ledger_equals_periods()


def test_auto_daily_pacing_spreads_the_monthly_pace_over_the_days_left(world: World) -> None:
    # 30.00 a month on November 23rd: 8 days left including today -> 3.75 a day.
    li = world.line_item(monthly_pacing_micros=30 * DOLLAR, is_auto_daily_pacing=True)
    assert world.clicks(li, DOLLAR, 4) == [C, C, C, ChargeOutcome.DAILY]
    world.at(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))  # next day: (30 - 3) / 7 = 3.857... -> 3.85
    assert world.clicks(li, DOLLAR, 4) == [C, C, C, ChargeOutcome.DAILY]
    assert world.clicks(li, 85 * CENT, 2) == [C, ChargeOutcome.DAILY]
    world.assert_ledger_equals_periods()


def test_campaign_caps_hold_across_its_line_items(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, campaign_total=3 * DOLLAR, campaign_daily=2 * DOLLAR)
    first, second = world.line_item(), world.line_item()
    assert world.clicks(first, DOLLAR, 1) + world.clicks(second, DOLLAR, 2) == [
        C,
        C,
        ChargeOutcome.CAMPAIGN_DAILY,
    ]
    world.at(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    assert world.clicks(first, DOLLAR, 2) == [C, ChargeOutcome.CAMPAIGN_BUDGET]
    assert world.total(world.campaign_id) == 3 * DOLLAR
    assert world.total(first) + world.total(second) == 3 * DOLLAR
    world.assert_ledger_equals_periods()


def test_the_line_items_own_cap_is_named_before_the_campaigns(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, campaign_total=DOLLAR)
    li = world.line_item(budget_micros=DOLLAR)
    assert world.clicks(li, DOLLAR, 2) == [C, B]


def test_smartlink_cpc_campaign_has_only_campaign_caps(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, campaign_type="smartlink_cpc", campaign_daily=DOLLAR)
    assert world.clicks(None, 40 * CENT, 3) == [C, C, ChargeOutcome.CAMPAIGN_DAILY]
    assert world.total(world.campaign_id) == 80 * CENT
    with world.engine.connect() as conn:
        assert {r.subject_id for r in conn.execute(select(spend_periods))} == {world.campaign_id}
    world.assert_ledger_equals_periods()


def test_prepaid_balance_runs_down_and_never_below_zero(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, balance=50 * CENT)
    li = world.line_item()
    assert world.clicks(li, 20 * CENT, 3) == [C, C, ChargeOutcome.NO_FUNDS]
    assert world.balance() == 10 * CENT
    assert world.click(li, 10 * CENT).outcome is C
    assert world.balance() == 0
    assert world.spend.add_balance(world.account_id, DOLLAR) == DOLLAR
    assert world.clicks(li, 20 * CENT, 1) == [C]
    assert world.balance() == 80 * CENT
    world.spend.set_balance(world.account_id, None)  # invoiced from now on: nothing runs out
    assert world.clicks(li, 5 * DOLLAR, 2) == [C, C]
    assert world.balance() is None
    world.assert_ledger_equals_periods()


def test_balance_changes_are_checked(world: World) -> None:
    from auctera.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed):
        world.spend.add_balance(world.account_id, DOLLAR)  # invoiced: set one first
    with pytest.raises(ValidationFailed):
        world.spend.set_balance(world.account_id, -1)
    with pytest.raises(NotFound):
        world.spend.set_balance(world.account_id + 1, DOLLAR)


def _archive_line_item(world: World, li: int) -> None:
    # No service archives a single line item (it is archived with its campaign): the row, as an
    # archived one would be.
    world.set(line_items, li, archived_at=datetime(2026, 11, 23, 16, 0, tzinfo=UTC))


def _end_campaign_yesterday(world: World, li: int) -> None:
    # The campaign service refuses to set an end date in the past; a campaign that ended
    # yesterday got there by time passing, which the row shows as it would be.
    world.set(campaigns, world.campaign_id, end_date=date(2026, 11, 22))


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda w, li: w.change_line_item(li, status=LineItemStatus.PAUSED), id="li-paused"),
        pytest.param(_archive_line_item, id="li-archived"),
        # ended yesterday, New York time
        pytest.param(lambda w, li: w.change_line_item(li, end_date=date(2026, 11, 22)), id="li-ended"),
        pytest.param(
            lambda w, li: w.change_line_item(li, start_date=date(2026, 11, 24)), id="li-not-started"
        ),
        pytest.param(
            lambda w, li: w.campaigns.update(
                w.principal, w.campaign_id, CampaignPatch(), CampaignStatus.PAUSED
            ),
            id="campaign-paused",
        ),
        pytest.param(lambda w, li: w.campaigns.archive(w.principal, w.campaign_id), id="campaign-archived"),
        pytest.param(_end_campaign_yesterday, id="campaign-ended"),
    ],
)
def test_nothing_is_charged_once_not_live(world: World, stop: Any) -> None:
    li = world.line_item()
    assert world.click(li, CENT).outcome is C
    stop(world, li)
    assert world.click(li, CENT).outcome is ChargeOutcome.NOT_LIVE
    assert world.total(li) == CENT


def test_ends_at_the_end_of_its_last_local_day(world: World) -> None:
    li = world.line_item(end_date=date(2026, 11, 23))
    world.at(datetime(2026, 11, 24, 4, 59, tzinfo=UTC))  # 23:59 on the 23rd in New York
    assert world.click(li, CENT).outcome is C
    world.at(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    assert world.click(li, CENT).outcome is ChargeOutcome.NOT_LIVE


def test_a_line_item_of_another_campaign_is_not_charged(world: World) -> None:
    li = world.line_item()
    charge = world.spend.charge(Click(world.ids.next_id(), world.campaign_id + 1, li, CENT, world.clock()))
    assert charge.outcome is ChargeOutcome.NOT_LIVE


def test_a_retried_click_is_charged_once(world: World) -> None:
    li = world.line_item(budget_micros=DOLLAR)
    click_id = world.ids.next_id()
    first = world.click(li, 30 * CENT, click_id)
    again = world.click(li, 30 * CENT, click_id)
    assert (first.outcome, first.amount_micros, first.replayed) == (C, 30 * CENT, False)
    assert (again.outcome, again.amount_micros, again.replayed) == (C, 30 * CENT, True)
    assert world.total(li) == 30 * CENT
    with world.engine.connect() as conn:
        assert len(conn.execute(select(spend_ledger)).all()) == 1
    world.assert_ledger_equals_periods()


def test_clicks_charged_together_hold_every_cap_as_if_one_by_one(uow_factory: SqlUnitOfWorkFactory) -> None:
    """One transaction for a group (SQLite's group commit): each click reads what the ones before
    it wrote, so the budget, the balance and a click id repeated in the group all hold."""
    world = World(uow_factory, balance=DOLLAR)
    li = world.line_item(budget_micros=70 * CENT)
    repeated = world.ids.next_id()

    def click(price: int, click_id: int | None = None) -> Click:
        return Click(click_id or world.ids.next_id(), world.campaign_id, li, price, world.clock(), 42)

    group = [click(30 * CENT, repeated), click(30 * CENT, repeated), click(30 * CENT), click(30 * CENT)]
    group.append(click(10 * CENT))
    charges = world.spend.charge_many(group)
    assert [(c.outcome, c.replayed) for c in charges] == [
        (C, False),
        (C, True),
        (C, False),
        (B, False),
        (C, False),
    ]
    assert world.total(li) == 70 * CENT and world.balance() == 30 * CENT
    refused = world.spend.charge_many([click(50 * CENT)])  # nothing charged: nothing written
    assert [c.outcome for c in refused] == [B]
    with world.engine.connect() as conn:
        assert len(conn.execute(select(spend_ledger)).all()) == 3
    world.assert_ledger_equals_periods()


def test_a_group_holds_the_campaign_cap_across_its_line_items(uow_factory: SqlUnitOfWorkFactory) -> None:
    world = World(uow_factory, campaign_total=DOLLAR)
    first, second = world.line_item(), world.line_item()

    def click(li: int) -> Click:
        return Click(world.ids.next_id(), world.campaign_id, li, 30 * CENT, world.clock(), 42)

    charges = world.spend.charge_many([click(first), click(second), click(first), click(second)])
    assert [c.outcome for c in charges] == [C, C, C, ChargeOutcome.CAMPAIGN_BUDGET]
    assert (world.total(first), world.total(second), world.total(world.campaign_id)) == (
        60 * CENT,
        30 * CENT,
        90 * CENT,
    )
    assert [c.outcome for c in world.spend.charge_many([click(second)])] == [ChargeOutcome.CAMPAIGN_BUDGET]
    world.assert_ledger_equals_periods()


def test_spend_of_answers_every_id_in_one_read(world: World) -> None:
    spent, idle = world.line_item(), world.line_item()
    world.clicks(spent, 25 * CENT, 2)
    found = world.spend.spend_of([spent, idle, world.campaign_id], date(2026, 11, 23))
    assert found == {
        spent: Spend(50 * CENT, 50 * CENT, 50 * CENT),
        idle: Spend(),
        world.campaign_id: Spend(50 * CENT, 50 * CENT, 50 * CENT),
    }
    assert world.spend.spend_of([spent], date(2026, 11, 24))[spent] == Spend(50 * CENT, 50 * CENT, 0)


def test_concurrent_clicks_within_one_process_never_cross_the_budget(world: World) -> None:
    """64 threads on either backend (SQLite: the unit of work serialises writers)."""
    li = world.line_item(budget_micros=10 * DOLLAR)
    outcomes = hammer(world, li, DOLLAR // 5, 64)
    assert outcomes.count(C) == 50
    assert world.total(li) == 10 * DOLLAR
    world.assert_ledger_equals_periods()


def hammer(world: World, line_item_id: int, price: int, threads: int) -> list[ChargeOutcome]:
    """`threads` clicks released at once, one per thread."""
    start = threading.Barrier(threads)
    outcomes: list[ChargeOutcome] = []
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        outcome = world.click(line_item_id, price).outcome
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return outcomes


@pytest.mark.postgres
def test_1000_simultaneous_clicks_on_postgresql_charge_exactly_the_budget(
    postgres_server: PostgresServer,
) -> None:
    """THE concurrency test, service level: 1,000 threads, each with its own click, on real
    PostgreSQL (the engine's usual pool: threads queue for connections, then on the campaign's
    row lock); the budget covers 50 of them."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = SqlUnitOfWorkFactory(engine)
        world = World(factory, balance=100 * DOLLAR, campaign_total=1000 * DOLLAR)
        li = world.line_item(budget_micros=50 * 37 * CENT)
        outcomes = hammer(world, li, 37 * CENT, 1000)
        assert outcomes.count(C) == 50
        assert outcomes.count(B) == 950
        assert world.total(li) == 50 * 37 * CENT
        assert world.total(world.campaign_id) == 50 * 37 * CENT
        assert world.balance() == 100 * DOLLAR - 50 * 37 * CENT
        world.assert_ledger_equals_periods()
    finally:
        engine.dispose()
        postgres_server.drop_database(url.rsplit("/", 1)[1])


def test_ledger_rows_carry_what_rebuilds_the_event(world: World) -> None:
    li = world.line_item()
    click_id = world.ids.next_id()
    fields = {"click_id": "auc_x", "country": "US", "attrs": {"product_id": "7"}}
    world.spend.charge(Click(click_id, world.campaign_id, li, CENT, world.clock(), 42, fields))
    with world.factory() as uow:
        entry = uow.spend.charged(click_id)
    assert entry is not None
    assert (entry.publisher_id, dict(entry.event_fields)) == (42, fields)


def test_a_charge_marks_logged_the_rows_of_charges_whose_events_are_in_the_log(world: World) -> None:
    line_item = world.line_item()
    first = world.click(line_item, CENT)
    world.spend.event_logged(first)  # its click event appended
    second = world.click(line_item, CENT)  # not appended (yet): stays for the next one, or the sweep
    world.click(line_item, CENT)
    with world.engine.connect() as conn:
        logged = {r.id: r.logged for r in conn.execute(select(spend_ledger))}
    assert first.entry_id is not None and second.entry_id is not None
    assert logged[first.entry_id] is True
    assert logged[second.entry_id] is False
    assert sum(logged.values()) == 1
