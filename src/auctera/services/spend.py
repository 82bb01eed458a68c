"""Charging clicks: at the auction's price, exactly once per click, never over a cap.

`SpendService.charge` runs in one write transaction: it locks the campaign's row (PostgreSQL;
SQLite serialises write transactions), reads the line item's and the campaign's caps and their
spend today, this month and in all (local periods in the account's time zone), and either
charges the whole price (ledger row + every period row + the prepaid balance) or nothing, naming
the cap that refused it. Concurrent charges of one campaign queue on its row, so the spend they
read is the spend they add to: no cap is crossed, whatever the concurrency (see docs/spend.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from auctera.domain.budgets import (
    NOTHING_SPENT,
    TOTAL,
    Caps,
    Spend,
    auto_daily_pacing,
    can_charge,
    day_key,
    in_flight,
    local_day,
    month_key,
    remaining_micros,
)
from auctera.domain.campaigns import MAX_MICROS
from auctera.domain.events import Event
from auctera.domain.money import MICROS
from auctera.errors import NotFound, ValidationFailed
from auctera.services.clock import Ids
from auctera.services.logged_marks import LoggedMarks
from auctera.services.ports import ChargeSubjects, LedgerEntry, UnitOfWork, UnitOfWorkFactory

# A prepaid balance is at most what a campaign budget may be (a billion currency units): far
# above any real one, and top-ups can never carry it past a 64-bit column.
MAX_BALANCE_MICROS = MAX_MICROS
_READ_CHUNK = 1000  # ids per IN (...) read
BALANCE_DRAWN = "balance_drawn"  # on a ledger row's event_fields: the prepaid balance paid it


class ChargeOutcome(StrEnum):
    CHARGED = "charged"
    BUDGET = "budget"  # the line item's lifetime budget
    MONTHLY = "monthly"  # its monthly pace
    DAILY = "daily"  # its daily pace (set, or computed by auto daily pacing)
    CAMPAIGN_BUDGET = "campaign_budget"
    CAMPAIGN_DAILY = "campaign_daily"
    NO_FUNDS = "no_funds"  # the account's prepaid balance cannot cover the price
    NOT_LIVE = "not_live"  # paused, ended, archived or deleted since the auction
    EXPIRED = "expired"  # the click token is older than its lifetime (decided before charging)
    IVT = "ivt"  # the fraud filters flagged the click (decided before charging)


# A charged click's event fields its ledger row keeps (the rest are ledger columns): the crash
# sweep (`SponsoredService.log_pending`) rebuilds the event from them.
KEPT_EVENT_FIELDS = ("click_id", "creative_id", "country", "device_type", "currency", "attrs")


@dataclass(frozen=True, slots=True)
class Click:
    """A click to charge: who won, at what price, when (the request's time decides the periods)."""

    click_id: int
    campaign_id: int
    line_item_id: int | None  # None: a SmartLink CPC campaign
    price_micros: int
    at: datetime
    publisher_id: int | None = None
    # Kept on the ledger row so the sweep can rebuild the click's event after a crash.
    event_fields: Mapping[str, object] = field(default_factory=dict)
    # False for a conversion's payout: earned by a click made while the offer ran, it is paid
    # after a pause or the flight's end too (caps and balance still hold).
    live_only: bool = True
    # A payout's click (or impression) time, whose day (in the account's zone) must be in the
    # campaign's flight; None: the click's own time, `at`. Links redirect a day either side of the
    # flight (`links_in_flight`), so this, not the link, holds payouts to the exact days.
    earned_at: datetime | None = None

    @classmethod
    def of_event(cls, event: Event, price_micros: int) -> Click:
        """The charge of a click event (its campaign, line item, publisher and time), keeping what
        the crash sweep needs to rebuild the event from the ledger row."""
        assert event.campaign_id is not None, "a charged click has a campaign"
        return cls(
            click_id=event.id,
            campaign_id=event.campaign_id,
            line_item_id=event.line_item_id,
            price_micros=price_micros,
            at=event.at,
            publisher_id=event.publisher_id,
            event_fields={name: getattr(event, name) for name in KEPT_EVENT_FIELDS},
        )


@dataclass(frozen=True, slots=True)
class Charge:
    outcome: ChargeOutcome
    amount_micros: int = 0
    replayed: bool = False  # this click was charged before: the first charge, unchanged
    entry_id: int | None = None  # the ledger row this charge wrote (not for a replay)

    @property
    def charged(self) -> bool:
        return self.outcome is ChargeOutcome.CHARGED


class SpendService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids) -> None:
        self._uow = uow
        self._ids = ids
        self._logged = LoggedMarks()

    def charge(self, click: Click) -> Charge:
        """Charge the click's price under every cap, or nothing. A click id charged before returns
        its first charge (a retry never charges twice); a refused click leaves no trace, so a retry
        is judged again, on the same click time."""
        (charge,) = self.charge_many([click])
        return charge

    def charge_many(self, clicks: Sequence[Click]) -> list[Charge]:
        """`charge` for each click in turn, in one write transaction (`GroupCommit`; see
        `ChargeGroup`). Locks are taken in the clicks' order: meant for one writer at a time
        (SQLite's); on PostgreSQL charge one click per transaction, as the threadpool path does,
        or two groups could deadlock."""
        with self._uow() as uow:
            group = self.group(uow)
            charges = [group.charge(click) for click in clicks]
            if any(charge.entry_id is not None for charge in charges):
                group.close()
                uow.spend.mark_logged(self._logged.take())  # earlier charges' (see LoggedMarks)
                uow.commit()
        return charges

    def group(self, uow: UnitOfWork) -> ChargeGroup:
        """Charges made inside the caller's write transaction (a conversion batch's payouts); its
        `close` before the commit."""
        return ChargeGroup(uow, self._ids)

    def refund_in(self, uow: UnitOfWork, charged_id: int, refund_id: int) -> int:
        """Give back, inside the caller's write transaction, what the charge of `charged_id` took:
        a negative ledger row (`refund_id`, once) on the charge's own periods, so the ledger still
        sums to the period counters, and the amount back on a prepaid balance. Returns the amount
        given back (0: nothing was charged, or it was given back before)."""
        entry = uow.spend.charged(charged_id)
        if entry is None:
            return 0
        subjects = uow.spend.lock_subjects(entry.campaign_id, entry.line_item_id)
        if subjects is None or uow.spend.charged(refund_id) is not None:
            return 0
        day = local_day(entry.occurred_at, ZoneInfo(subjects.timezone))
        ids = [entry.campaign_id] if entry.line_item_id is None else [entry.line_item_id, entry.campaign_id]
        refund = replace(
            entry,
            id=self._ids.next_id(),
            click_id=refund_id,
            amount_micros=-entry.amount_micros,
            event_fields={},
        )
        periods = [(s, p) for s in ids for p in (day_key(day), month_key(day), TOTAL)]
        uow.spend.record(refund, periods, logged=True)
        # Back on the balance only what the balance paid: nothing for a charge made while the
        # account was invoiced, nor to one invoiced since (no balance to give it back to).
        if entry.event_fields.get(BALANCE_DRAWN) and subjects.balance_micros is not None:
            uow.spend.add_balance(subjects.account_id, entry.amount_micros)
        return entry.amount_micros

    def event_logged(self, charge: Charge) -> None:
        """The click's event of a new charge is in the event log: the next charge marks its row."""
        if charge.entry_id is not None:
            self._logged.add((charge.entry_id,))

    def spend_of(self, subject_ids: Sequence[int], today: date) -> dict[int, Spend]:
        """Spend of line items and campaigns (ids) on the local day `today`, its month and in all;
        every id asked for is in the answer. For callers showing or pre-checking caps (the
        auction's candidates, the line items' budgetSpent)."""
        with self._uow(read_only=True) as uow:
            found = uow.spend.spend_of(list(subject_ids), day_key(today), month_key(today))
        return {s: found.get(s, NOTHING_SPENT) for s in subject_ids}

    # --- prepaid balances ----------------------------------------------------------------------

    def balance(self, account_id: int) -> int | None:
        """The account's prepaid balance; None: invoiced (never runs out)."""
        with self._uow(read_only=True) as uow:
            exists, balance = uow.spend.balance(account_id)
        if not exists:
            raise NotFound("account not found", field="account_id")
        return balance

    def balances_of(self, account_ids: Sequence[int]) -> dict[int, int | None]:
        """Accounts' prepaid balances (None: invoiced, or no such account), in one read
        transaction: for the auctions' background refresh (`AuctionService.refresh_caches`)."""
        found: dict[int, int | None] = {}
        with self._uow(read_only=True) as uow:
            for start in range(0, len(account_ids), _READ_CHUNK):  # within SQLite's bound variables
                found.update(uow.spend.balances(account_ids[start : start + _READ_CHUNK]))
        return {a: found.get(a) for a in account_ids}

    def set_balance(self, account_id: int, balance_micros: int | None) -> int | None:
        """Set the prepaid balance (None: invoiced from now on)."""
        if balance_micros is not None and balance_micros < 0:
            raise ValidationFailed("a balance is never negative", field="balance")
        if balance_micros is not None and balance_micros > MAX_BALANCE_MICROS:
            raise ValidationFailed(f"a balance is at most {MAX_BALANCE_MICROS // MICROS:,}", field="balance")
        with self._uow() as uow:
            if not uow.spend.balance(account_id)[0]:
                raise NotFound("account not found", field="account_id")
            uow.spend.set_balance(account_id, balance_micros)
            uow.commit()
        return balance_micros

    def add_balance(self, account_id: int, amount_micros: int) -> int:
        """Top up a prepaid balance in one UPDATE (charges running meanwhile are not lost)."""
        if amount_micros <= 0:
            raise ValidationFailed("a top-up is a positive amount", field="add")
        if amount_micros > MAX_BALANCE_MICROS:
            raise ValidationFailed(f"a balance is at most {MAX_BALANCE_MICROS // MICROS:,}", field="add")
        with self._uow() as uow:
            exists, balance = uow.spend.balance(account_id)
            if not exists:
                raise NotFound("account not found", field="account_id")
            if balance is None:
                raise ValidationFailed("this account is invoiced: set a balance first", field="add")
            new = uow.spend.add_balance(account_id, amount_micros)
            assert new is not None
            if new > MAX_BALANCE_MICROS:  # not committed: the top-up is undone
                raise ValidationFailed(
                    f"a balance is at most {MAX_BALANCE_MICROS // MICROS:,}; this top-up would pass it",
                    field="add",
                )
            uow.commit()
        return new


class ChargeGroup:
    """Charges made one after another in one write transaction (a group commit's, or a conversion
    batch's payouts), each judged on the spend the ones before it took, exactly as if it came
    alone. What the group's first charge of a campaign read (its caps and status, each period's
    spend) serves the next ones, which add what they took; the period rows are written once each,
    summed, by `close` (before the commit). A refused charge writes nothing. The balance is drawn
    per charge (a conditional UPDATE: on PostgreSQL another campaign of the account may draw it
    meanwhile)."""

    def __init__(self, uow: UnitOfWork, ids: Ids) -> None:
        self._uow = uow
        self._ids = ids
        self._subjects: dict[tuple[int, int | None], ChargeSubjects | None] = {}
        self._spent: dict[tuple[int, str], int] = {}  # (subject, period): as read, plus this group's
        self._added: dict[tuple[int, str], int] = {}  # what this group adds, written by `close`

    def charge(self, click: Click, *, payout: bool = False) -> Charge:
        """`payout`: the charge is the payout of a conversion written in this transaction. Its
        event is the conversion's, so the ledger row is written as logged (the click sweep never
        rebuilds it), and its key, the new conversion's id, cannot have been charged before."""
        if click.price_micros < 0:
            raise ValueError("a price is never negative")
        spend_repo = self._uow.spend
        key = (click.campaign_id, click.line_item_id)
        if key not in self._subjects:
            self._subjects[key] = spend_repo.lock_subjects(*key)
        subjects = self._subjects[key]
        # After the lock: a concurrent copy has committed.
        earlier = None if payout else spend_repo.charged(click.click_id)
        if earlier is not None:
            return Charge(ChargeOutcome.CHARGED, earlier.amount_micros, replayed=True)
        if subjects is None:
            return Charge(ChargeOutcome.NOT_LIVE)
        zone = ZoneInfo(subjects.timezone)
        today = local_day(click.at, zone)
        # The flight holds the day the price was earned: a payout's click's, else today.
        earned_on = today if click.earned_at is None else local_day(click.earned_at, zone)
        li = subjects.line_item
        ids = [click.campaign_id] if li is None else [li.id, click.campaign_id]
        periods = [(s, p) for s in ids for p in (day_key(today), month_key(today), TOTAL)]
        spend = self._spend(ids, today)
        refused = _refusal(subjects, click, today, earned_on, spend)
        if refused is not None:
            return Charge(refused)
        prepaid = subjects.balance_micros is not None
        if prepaid and not spend_repo.draw_balance(subjects.account_id, click.price_micros):
            return Charge(ChargeOutcome.NO_FUNDS)  # drawn by the group's earlier charges, or concurrently
        entry = LedgerEntry(
            id=self._ids.next_id(),
            account_id=subjects.account_id,
            campaign_id=click.campaign_id,
            line_item_id=click.line_item_id,
            click_id=click.click_id,
            amount_micros=click.price_micros,
            occurred_at=click.at,
            publisher_id=click.publisher_id,
            # Whether the balance paid it: a refund gives back only what was drawn.
            event_fields={**click.event_fields, BALANCE_DRAWN: True} if prepaid else click.event_fields,
        )
        spend_repo.record(entry, (), logged=payout)
        for period in periods:
            self._spent[period] += click.price_micros
            self._added[period] = self._added.get(period, 0) + click.price_micros
        return Charge(ChargeOutcome.CHARGED, click.price_micros, entry_id=entry.id)

    def close(self) -> None:
        """Write what the group's charges added to each period row."""
        self._uow.spend.add_to_periods([(s, p, amount) for (s, p), amount in self._added.items()])
        self._added = {}

    def _spend(self, ids: list[int], today: date) -> dict[int, Spend]:
        day, month, spent = day_key(today), month_key(today), self._spent
        if any((s, p) not in spent for s in ids for p in (day, month, TOTAL)):
            # A row not read yet has had nothing added by this group: the stored value is current.
            read = self._uow.spend.spend_of(ids, day, month)
            for s in ids:
                found = read.get(s, NOTHING_SPENT)
                spent.setdefault((s, day), found.day_micros)
                spent.setdefault((s, month), found.month_micros)
                spent.setdefault((s, TOTAL), found.lifetime_micros)
        return {s: Spend(spent[(s, TOTAL)], spent[(s, month)], spent[(s, day)]) for s in ids}


def charged_event(event: Event, charge: Charge) -> Event:
    """The click event with what was charged: the advertiser's cost, the publisher's (or
    retailer's) earnings, and the outcome (`charged` or the cap that refused it)."""
    attrs = {**event.attrs, "charge": charge.outcome.value}
    amount = charge.amount_micros
    return replace(event, cost_micros=amount, payout_micros=amount, attrs=attrs)


def _refusal(
    subjects: ChargeSubjects, click: Click, today: date, earned_on: date, spend: dict[int, Spend]
) -> ChargeOutcome | None:
    """The first cap the price would cross, in the order a user reads them (line item, campaign,
    balance); None: every cap has room for the whole price. Earned outside the campaign's flight
    (`earned_on`), or, for a click (`live_only`), while the campaign is not live: `not_live`."""
    campaign_id, price = click.campaign_id, click.price_micros
    li = subjects.line_item
    in_dates = in_flight(subjects.campaign_start, subjects.campaign_end, earned_on)
    if not in_dates or (click.live_only and not subjects.campaign_live):
        return ChargeOutcome.NOT_LIVE
    if li is not None:
        if not li.live or not in_flight(li.start_date, li.end_date, today):
            return ChargeOutcome.NOT_LIVE
        spent = spend.get(li.id, NOTHING_SPENT)
        daily = li.daily_pacing_micros
        if li.is_auto_daily_pacing:
            daily = auto_daily_pacing(
                today,
                end_date=li.end_date,
                budget_micros=li.budget_micros,
                monthly_micros=li.monthly_pacing_micros,
                spend=spent,
            )
        for outcome, caps in (
            (ChargeOutcome.BUDGET, Caps(budget_micros=li.budget_micros)),
            (ChargeOutcome.MONTHLY, Caps(monthly_micros=li.monthly_pacing_micros)),
            (ChargeOutcome.DAILY, Caps(daily_micros=daily)),
        ):
            if not can_charge(price, remaining_micros(caps, spent)):
                return outcome
    campaign_spent = spend.get(campaign_id, NOTHING_SPENT)
    for outcome, caps in (
        (ChargeOutcome.CAMPAIGN_BUDGET, Caps(budget_micros=subjects.campaign_budget_micros)),
        (ChargeOutcome.CAMPAIGN_DAILY, Caps(daily_micros=subjects.campaign_daily_micros)),
    ):
        if not can_charge(price, remaining_micros(caps, campaign_spent)):
            return outcome
    if subjects.balance_micros is not None and not can_charge(price, subjects.balance_micros):
        return ChargeOutcome.NO_FUNDS
    return None
