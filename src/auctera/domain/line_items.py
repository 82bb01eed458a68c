"""Retail-media open-auction line items (seed 004): the entity, its checks, its status machine and
its pacing caps.

Attribute names in problems are the seed's (`maxBid`, `isAutoDailyPacing`): the retail-media
surface is the only one that writes line items. Money is integer micros; dates are local to the
owning account's time zone, and `today` is always given by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from auctera.domain.budgets import Spend, auto_daily_pacing
from auctera.domain.pricing import BidStrategy
from auctera.errors import ValidationFailed

MAX_NAME = 255
MAX_MICROS = 10**15  # one billion currency units, as for campaigns
DEFAULT_TARGET_BID_MICROS = 300_000  # the seed's default targetBid, 0.30
MIN_MAX_BID_MICROS = 10_000  # maxBid is at least 0.01


class LineItemStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    SCHEDULED = "scheduled"
    ENDED = "ended"
    BUDGET_HIT = "budgetHit"
    NO_FUNDS = "noFunds"
    DRAFT = "draft"
    ARCHIVED = "archived"


# The only statuses a user sets; every other one is derived (see `derive_status`).
USER_STATUSES = frozenset({LineItemStatus.ACTIVE, LineItemStatus.PAUSED})


@dataclass(frozen=True, slots=True)
class LineItemSettings:
    """The writeable attributes, with the seed's defaults."""

    name: str
    start_date: date
    end_date: date | None = None
    budget_micros: int | None = None  # lifetime cap
    monthly_pacing_micros: int | None = None
    daily_pacing_micros: int | None = None  # as set; auto pacing computes its own each day
    is_auto_daily_pacing: bool = False
    bid_strategy: BidStrategy = BidStrategy.CONVERSION
    target_bid_micros: int = DEFAULT_TARGET_BID_MICROS
    max_bid_micros: int | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    id: int
    account_id: int
    campaign_id: int
    target_retailer_id: int
    settings: LineItemSettings
    user_status: LineItemStatus  # active or paused: what the user asked for
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


# --- checks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    attribute: str  # the seed's attribute name, or a JSON pointer ("/data/0/id") into the body
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.attribute}: {self.message}"


class LineItemInvalid(ValidationFailed):
    """Every problem of one write; the surface renders each as an error naming its attribute."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message, field=problems[0].attribute, code=problems[0].code)
        self.problems = tuple(problems)


AUTO_WITH_DAILY = (
    "Invalid is auto daily pacing - Cannot turn on IsAutoDailyPacing and add a DailyPacing value. "
    "Only one of the two options can be used"
)


def _amount(micros: int | None, attribute: str, minimum: int = 0) -> list[Problem]:
    if micros is None:
        return []
    if micros < minimum:
        shown = f"{minimum / 1_000_000:.2f}"
        return [Problem(attribute, "out-of-range", f"{attribute} must be at least {shown}")]
    if micros > MAX_MICROS:
        return [Problem(attribute, "out-of-range", f"{attribute} must be at most {MAX_MICROS // 1_000_000}")]
    return []


# The least each amount may be, by attribute.
_MINIMUM_MICROS = {
    "budget": 0,
    "monthlyPacing": 0,
    "dailyPacing": 0,
    "targetBid": 0,
    "maxBid": MIN_MAX_BID_MICROS,
}
AMOUNT_ATTRIBUTES = frozenset(_MINIMUM_MICROS)


def attribute_problems(name: str | None = None, **amounts: int | None) -> list[Problem]:
    """What is wrong with each of these attributes on its own (a name; amounts by attribute): also
    checked when other attributes could not be read, so one answer names every bad attribute."""
    found: list[Problem] = []
    if name is not None and (not name.strip() or len(name) > MAX_NAME):
        found.append(Problem("name", "invalid-name", f"name must be 1-{MAX_NAME} characters"))
    for attribute, micros in amounts.items():
        found += _amount(micros, attribute, _MINIMUM_MICROS[attribute])
    return found


def problems(s: LineItemSettings, *, min_bid_micros: int | None = None) -> list[Problem]:
    """Everything wrong with these settings. `min_bid_micros`: the greatest minBid of the line
    item's products (None: no products, or none with a minimum)."""
    found = attribute_problems(s.name)
    if s.end_date is not None and s.end_date < s.start_date:
        found.append(Problem("endDate", "invalid-date-range", "endDate is before startDate"))
    found += attribute_problems(
        budget=s.budget_micros,
        monthlyPacing=s.monthly_pacing_micros,
        dailyPacing=s.daily_pacing_micros,
        targetBid=s.target_bid_micros,
        maxBid=s.max_bid_micros,
    )
    if min_bid_micros is not None and s.target_bid_micros < min_bid_micros:
        found.append(
            Problem(
                "targetBid",
                "bid-below-min-bid",
                f"targetBid must be at least {min_bid_micros / 1_000_000:.2f}, "
                "the greatest minBid of the line item's products",
            )
        )
    if s.is_auto_daily_pacing:
        if s.daily_pacing_micros is not None:
            found.append(Problem("isAutoDailyPacing", "invalid-is-auto-daily-pacing", AUTO_WITH_DAILY))
        elif s.monthly_pacing_micros is None and (s.end_date is None or s.budget_micros is None):
            found.append(
                Problem(
                    "isAutoDailyPacing",
                    "invalid-is-auto-daily-pacing",
                    "isAutoDailyPacing needs either endDate and budget, or monthlyPacing",
                )
            )
    return found


def requested_status(
    requested: LineItemStatus | None, *, current: LineItemStatus, shown: LineItemStatus | None
) -> LineItemStatus:
    """The user status after a write asking for `requested`.

    active and paused are set. Any other status is accepted only when it is the one shown right
    now (`shown`): a client writing back what it read changes nothing. None keeps `current`.
    """
    if requested is None or requested is shown:
        return current
    if requested in USER_STATUSES:
        return requested
    raise LineItemInvalid([Problem("status", "invalid-status", "status can only be set to active or paused")])


# --- status machine --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What the status depends on besides the line item itself."""

    today: date  # in the account's time zone
    has_products: bool
    spend: Spend
    balance_micros: int | None  # the account's prepaid balance; None: invoiced, never runs out
    campaign_archived: bool = False


def derive_status(item: LineItem, c: Circumstances) -> LineItemStatus:
    """The status shown, first match wins:

    archived (it or its campaign) > draft (no products: it cannot serve, whatever its dates) >
    ended (after endDate) > paused (by the user) > scheduled (before startDate) > budgetHit
    (lifetime spend reached budget) > noFunds (a prepaid balance below the target bid) > active.
    """
    s = item.settings
    if item.archived_at is not None or c.campaign_archived:
        return LineItemStatus.ARCHIVED
    if not c.has_products:
        return LineItemStatus.DRAFT
    if s.end_date is not None and c.today > s.end_date:
        return LineItemStatus.ENDED
    if item.user_status is LineItemStatus.PAUSED:
        return LineItemStatus.PAUSED
    if c.today < s.start_date:
        return LineItemStatus.SCHEDULED
    if s.budget_micros is not None and c.spend.lifetime_micros >= s.budget_micros:
        return LineItemStatus.BUDGET_HIT
    if c.balance_micros is not None and c.balance_micros < s.target_bid_micros:
        return LineItemStatus.NO_FUNDS
    return LineItemStatus.ACTIVE


# --- pacing ----------------------------------------------------------------------------------


def daily_cap(s: LineItemSettings, today: date, spend: Spend) -> int | None:
    """The daily cap in force today: computed afresh each day under auto daily pacing
    (budgets.auto_daily_pacing), else the dailyPacing set."""
    if s.is_auto_daily_pacing:
        return auto_daily_pacing(
            today,
            end_date=s.end_date,
            budget_micros=s.budget_micros,
            monthly_micros=s.monthly_pacing_micros,
            spend=spend,
        )
    return s.daily_pacing_micros


@dataclass(frozen=True, slots=True)
class LineItemState:
    """A line item as read: with its derived status, its spend and today's daily cap."""

    item: LineItem
    status: LineItemStatus
    spend: Spend
    daily_pacing_micros: int | None

    @property
    def budget_remaining_micros(self) -> int | None:
        budget = self.item.settings.budget_micros
        return None if budget is None else max(budget - self.spend.lifetime_micros, 0)


def state_of(item: LineItem, c: Circumstances) -> LineItemState:
    return LineItemState(item, derive_status(item, c), c.spend, daily_cap(item.settings, c.today, c.spend))


def replaced(
    item: LineItem, settings: LineItemSettings, user_status: LineItemStatus, now: datetime
) -> LineItem:
    """PUT: every writeable attribute replaced at once."""
    if settings == item.settings and user_status is item.user_status:
        return item
    return replace(item, settings=settings, user_status=user_status, updated_at=now)
