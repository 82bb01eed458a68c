"""Pure rendering of the v3 objects as seed 003 shows them.

Money and rates leave as JSON numbers written from integer micros (`orjson.Fragment`: exact,
never a float): 100 SEK is `100`, 4.5 % is `4.5`; a product's price is a string ("129.5"), as
the seed's example has it. Dates are in the network's time zone with its offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from auctera.domain.programs import PERCENT, CommissionType, PromotionMethod, Rate
from auctera.services.feed_formats import decimal_text
from auctera.services.partner_programs import Feed, ProgramCard, Standing
from auctera.services.ports import ChannelApplication

# Java's Date.toString, which the seed's feed_lastupdated header is: English whatever the locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Which promotion method each of the seed's 1/0 flags stands for.
MARKETING_FLAGS = {
    "ppcMarketing": PromotionMethod.PPC,
    "socialMarketing": PromotionMethod.SOCIAL,
    "emailMarketing": PromotionMethod.EMAIL,
    "cashbackMarketing": PromotionMethod.CASHBACK,
    "couponMarketing": PromotionMethod.COUPON,
}


# --- values ------------------------------------------------------------------------------------


def number(micros: int) -> orjson.Fragment:
    return orjson.Fragment(decimal_text(micros).encode())


def timestamp(at: datetime | None, tz: ZoneInfo) -> str | None:
    """2018-01-01T10:15:12+0100."""
    return None if at is None else at.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def java_date(at: datetime, tz: ZoneInfo) -> str:
    """Tue Aug 27 14:56:30 CEST 2019."""
    local = at.astimezone(tz)
    day = f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day:02d}"
    return f"{day} {local.strftime('%H:%M:%S')} {local.tzname()} {local.year}"


# --- commissions -------------------------------------------------------------------------------


def _rate(rate: Rate, currency: str) -> dict[str, Any]:
    return {"type": PERCENT if rate.percent else currency, "value": number(rate.micros)}


def commission(terms: CommissionType, currency: str) -> dict[str, Any]:
    base = _rate(terms.rate, currency)
    return {
        "id": str(terms.id),
        "type": base["type"],
        "name": terms.name,
        "value": base["value"],
        "transactionType": terms.transaction_type,
        "categories": [{"category": c.category, **_rate(c.rate, currency)} for c in terms.categories],
        "thresholds": [
            {"orderValue": number(t.order_value_micros), **_rate(t.rate, currency)} for t in terms.thresholds
        ],
    }


# --- programs and feeds ------------------------------------------------------------------------

FeedUrl = Callable[[int], str | None]  # feed id -> its served URL (None: no approved channel)


def feed_entry(feed: Feed, url: str | None, tz: ZoneInfo) -> dict[str, Any]:
    """A feed inside a program (POST /partner/programs)."""
    return {
        "feedUrl": url,
        "lastUpdated": timestamp(feed.last_updated, tz),
        "numberOfProducts": feed.products,
        "feedId": feed.id,
        "name": feed.name,
    }


def feed_info(feed: Feed, standing: Standing, url: str | None, tz: ZoneInfo) -> dict[str, Any]:
    """An entry of GET /partner/products/feedinfo."""
    return {
        "feedId": feed.id,
        "name": feed.name,
        "approvalStatus": None if standing.status is None else int(standing.status),
        "feedUrl": url,
        "lastUpdated": timestamp(feed.last_updated, tz),
        "numberOfProducts": feed.products,
    }


def program(card: ProgramCard, feed_url: FeedUrl, tz: ZoneInfo) -> dict[str, Any]:
    p = card.listed.program
    found = card.standing
    return {
        "programId": p.id,
        "market": p.market,
        "currency": card.listed.currency,
        "approvalStatus": None if found.status is None else int(found.status),
        **{flag: int(p.allows(method)) for flag, method in MARKETING_FLAGS.items()},
        "programName": card.listed.name,
        "programURL": p.program_url,
        "currentSegment": found.segment,
        "pendingActive": found.pending,
        "cookieDuration": p.cookie_duration_days,
        "adId": p.id,  # the program's default ad is the campaign itself
        "commissions": [commission(t, card.listed.currency) for t in card.commissions],
        "feeds": [feed_entry(f, feed_url(f.id), tz) for f in card.feeds],
        "logoURL": p.logo_url,
        "trackingURL": card.tracking_url,
        "categoryName": p.category_name,
        "categoryId": p.category_id,
        "trackingType": int(p.tracking_type),
        "status": int(p.status),
        "epc": None if card.epc is None else orjson.Fragment(str(card.epc).encode()),
    }


# --- client: channels --------------------------------------------------------------------------


def channel(found: ChannelApplication, tz: ZoneInfo) -> dict[str, Any]:
    a, c = found.application, found.channel
    return {
        "affiliateId": a.publisher_id,
        "affiliateName": found.publisher_name,
        "channelId": c.id,
        "channelName": c.name,
        "channelDescription": c.description,
        "channelUrl": c.url,
        "channelType": c.type.value,
        "approvalStatus": int(a.status),
        "applicationDate": a.applied_at.astimezone(tz).date().isoformat(),
        "rejectReason": None if a.reject_reason is None else int(a.reject_reason),
        "reasonText": a.reason_text,
        "programId": a.program_id,  # our extension: a channel may apply to several programs
    }
