"""Conversions: what a postback records, its reversal. Pure: `now` is passed in (payouts: the
commission engine in domain/programs.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

REVERSAL_WINDOW = timedelta(days=30)
# How far in the past a postback's `event_time` may lie, and how far ahead of our clock.
MAX_EVENT_AGE = timedelta(days=90)
MAX_CLOCK_SKEW = timedelta(minutes=5)
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # purchase, lead, install, sign_up ...


class ConversionStatus(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"  # scored above the account's fraud threshold: no payout
    REVERSED = "reversed"


class ReversalReason(StrEnum):
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    FRAUD = "fraud"
    OTHER = "other"


# Not frozen: a frozen dataclass pays an `object.__setattr__` per field when made, three times the
# cost, on every postback. A conversion is a value all the same: changes are new ones (`replace`).
@dataclass(slots=True)
class Conversion:
    id: int  # the transaction id (`txn_…` on /v2)
    account_id: int  # the advertiser whose campaign converted
    campaign_id: int
    publisher_id: int | None
    click_id: int
    event_type: str
    order_id: str | None
    idempotency_key: str | None
    currency: str  # the account's: revenue and payout are in it
    revenue_micros: int
    original_revenue_micros: int  # as posted, in `original_currency`
    original_currency: str
    payout_micros: int
    cost_micros: int  # what the advertiser is charged for it (CPA offers: the payout)
    fraud_score: float
    status: ConversionStatus
    occurred_at: datetime
    created_at: datetime
    fraud_reason: str | None = None
    fraud_signals: tuple[dict[str, Any], ...] = ()  # each reason with the telemetry behind it
    reversed_at: datetime | None = None
    reversal_reason: ReversalReason | None = None
    logged: bool = False  # its event has reached the event log
    attrs: dict[str, Any] = field(default_factory=dict)


def dedup_key(click_id: int, event_type: str, order_id: str | None) -> str:
    """Two postbacks with the same click, event type and order id are one conversion."""
    return f"{click_id}:{event_type}:{order_id or ''}"


def convert(amount_micros: int, rate: Fraction) -> int:
    """`amount_micros` times `rate`, rounded half-even to a whole micro: exact, no float."""
    return round(amount_micros * rate)


class ReversalRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def reverse(c: Conversion, reason: ReversalReason, now: datetime) -> Conversion:
    """The conversion reversed: its revenue and payout come off every figure. Reversing a reversed
    conversion changes nothing (the caller answers as the first time)."""
    if c.status is ConversionStatus.REVERSED:
        return c
    if c.status is ConversionStatus.REJECTED:
        raise ReversalRefused(
            "conversion_rejected", "the conversion was rejected by the fraud filters: it paid nothing"
        )
    if now - c.created_at > REVERSAL_WINDOW:
        raise ReversalRefused(
            "reversal_window_expired",
            f"conversions can be reversed within {REVERSAL_WINDOW.days} days; this one was recorded "
            f"at {c.created_at.isoformat()}",
        )
    return replace(c, status=ConversionStatus.REVERSED, reversed_at=now, reversal_reason=reason)
