"""Line-item budgets: the pacing periods in the account's time zone, the auto daily cap, and
what is left to spend.

Every cap is integer micros. Spend is kept per period (`day_key`, `month_key`) so the daily and
monthly paces reset at the account's local midnight, not UTC's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CENT_MICROS = 10_000  # caps a user sees are whole cents


TOTAL = "total"  # the lifetime period's key, beside day_key's and month_key's


def day_key(day: date) -> str:
    return day.isoformat()  # "2026-11-23"


def month_key(day: date) -> str:
    return day.isoformat()[:7]  # "2026-11"


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def in_flight(start: date | None, end: date | None, today: date) -> bool:
    """Whether `today` (in the account's zone) is within the flight dates; None: open-ended."""
    return (start is None or start <= today) and (end is None or today <= end)


def day_fraction(at: datetime, tz: ZoneInfo) -> float:
    """How much of the local day has passed at `at`, in [0, 1); days of 23 or 25 hours (DST) count
    their real length, so even pacing spreads spend over the hours the day actually has."""
    day = at.astimezone(tz).date()
    # Timestamps, not datetimes: subtracting two datetimes of one zone ignores a DST change.
    start = datetime.combine(day, time(), tz).timestamp()
    end = datetime.combine(day + timedelta(days=1), time(), tz).timestamp()
    return (at.timestamp() - start) / (end - start)


@dataclass(frozen=True, slots=True)
class Spend:
    """What a line item has spent: in all, this local month, and this local day."""

    lifetime_micros: int = 0
    month_micros: int = 0
    day_micros: int = 0


# Nothing spent yet: one shared value (frozen), not a new one per subject looked up.
NOTHING_SPENT = Spend()


@dataclass(frozen=True, slots=True)
class Caps:
    budget_micros: int | None = None  # lifetime
    monthly_micros: int | None = None
    daily_micros: int | None = None  # the effective daily cap (set, or computed by auto pacing)


def auto_daily_pacing(
    today: date,
    *,
    end_date: date | None,
    budget_micros: int | None,
    monthly_micros: int | None,
    spend: Spend,
) -> int | None:
    """The daily cap auto daily pacing sets for `today`, from what was left when the day began.

    - lifetime budget and end date: (budget - spent before today) / days left including today;
    - monthly pace: (monthly pace - spent this month before today) / days left in the month
      including today;
    - both: the smaller of the two. Rounded down to the cent; None when neither applies.

    The cap is fixed for the whole day (spend during the day does not move it) and computed
    afresh the next day, so an underspent day raises the following days' caps and an overspent
    pace lowers them.
    """
    before_today_lifetime = spend.lifetime_micros - spend.day_micros
    before_today_month = spend.month_micros - spend.day_micros
    caps: list[int] = []
    if budget_micros is not None and end_date is not None and end_date >= today:
        days_left = (end_date - today).days + 1
        caps.append(max(budget_micros - before_today_lifetime, 0) // days_left)
    if monthly_micros is not None:
        days_in_month = calendar.monthrange(today.year, today.month)[1]
        days_left = days_in_month - today.day + 1
        caps.append(max(monthly_micros - before_today_month, 0) // days_left)
    if not caps:
        return None
    return min(caps) // CENT_MICROS * CENT_MICROS


def remaining_micros(caps: Caps, spend: Spend, balance_micros: int | None = None) -> int | None:
    """The most the line item may still spend now: the smallest headroom under any cap and the
    account's prepaid balance, never negative. None: nothing caps it."""
    left: list[int] = []
    if caps.budget_micros is not None:
        left.append(caps.budget_micros - spend.lifetime_micros)
    if caps.monthly_micros is not None:
        left.append(caps.monthly_micros - spend.month_micros)
    if caps.daily_micros is not None:
        left.append(caps.daily_micros - spend.day_micros)
    if balance_micros is not None:
        left.append(balance_micros)
    return max(min(left), 0) if left else None


def can_charge(price_micros: int, remaining: int | None) -> bool:
    """A charge lands only whole and only under every cap: a cap is never crossed, not even by
    the last click (that click is logged, not billed)."""
    return remaining is None or price_micros <= remaining
