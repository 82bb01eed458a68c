"""Tracking events: the rows of the append-only event log.

Every figure a user pays or is paid by is derived from these rows, so the shape is
fixed and flat (fast to aggregate); anything surface-specific goes into `attrs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    IMPRESSION = "impression"
    VIEWABLE_IMPRESSION = "viewable_impression"
    CLICK = "click"
    CONVERSION = "conversion"
    REVERSAL = "reversal"
    AUCTION = "auction"


# Not frozen: a frozen dataclass pays an `object.__setattr__` per field when made, three times
# the cost, on every click. Events are values all the same: nothing changes one once it is made.
@dataclass(slots=True)
class Event:
    id: int
    type: EventType
    at: datetime  # timezone-aware, UTC
    account_id: int  # the advertiser account whose campaign the event belongs to
    campaign_id: int | None = None
    publisher_id: int | None = None
    line_item_id: int | None = None
    creative_id: int | None = None
    click_id: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    device_type: str | None = None
    cost_micros: int = 0  # what the advertiser is charged
    revenue_micros: int = 0  # what the advertiser reports earning (conversions)
    payout_micros: int = 0  # what the publisher is paid
    currency: str = "USD"
    ivt: bool = False  # flagged invalid traffic by the fraud filters
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Totals:
    """Aggregated figures for one key (a campaign, a day, ...). Money in micros."""

    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    reversals: int = 0
    ivt_blocked: int = 0
    cost_micros: int = 0
    revenue_micros: int = 0
    payout_micros: int = 0


@dataclass(frozen=True, slots=True)
class DailyTotals:
    day: date  # in the time zone the query asked for
    campaign_id: int | None
    totals: Totals
