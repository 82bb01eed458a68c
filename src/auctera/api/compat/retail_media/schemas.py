"""The attributes of the retail-media resources, as seed 004 and the official SDKs define them.

One table drives both directions: which attributes a POST requires, which a PUT writes (and
so sets to null when omitted), which are read-only (and how a write that sends them is treated).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    ID = "id"  # int64 as a JSON string (a JSON integer is accepted too)
    TEXT = "text"
    DATE = "date"  # YYYY-MM-DD
    MONEY = "money"  # a JSON number or a numeric string ("1.00"); integer micros inside
    BOOL = "bool"
    ENUM = "enum"


class ReadOnly(Enum):
    """What a write that sends a read-only attribute gets."""

    WRITABLE = "writable"
    MUST_MATCH = (
        "must_match"  # identity (id, campaignId, targetRetailerId on PUT): a different value is refused
    )
    IGNORED = "ignored"  # computed figures and times: echoing back what was read is harmless


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    kind: Kind
    required_on_create: bool = False
    required_on_put: bool = False  # non-nullable writeable attributes a PUT must send
    nullable: bool = False
    read_only: ReadOnly = ReadOnly.WRITABLE
    values: tuple[str, ...] = ()  # ENUM


STATUSES = ("active", "paused", "scheduled", "ended", "budgetHit", "noFunds", "draft", "archived")
BID_STRATEGIES = ("conversion", "revenue", "clicks")

LINE_ITEM = {
    a.name: a
    for a in (
        Attribute("id", Kind.ID, read_only=ReadOnly.MUST_MATCH),
        Attribute("campaignId", Kind.ID, read_only=ReadOnly.MUST_MATCH),
        Attribute("name", Kind.TEXT, required_on_create=True, required_on_put=True),
        # Required on create, then fixed: a PUT may echo it, not change it.
        Attribute("targetRetailerId", Kind.ID, required_on_create=True),
        Attribute("startDate", Kind.DATE, required_on_create=True, required_on_put=True),
        Attribute("endDate", Kind.DATE, nullable=True),
        Attribute("budget", Kind.MONEY, nullable=True),
        Attribute("budgetSpent", Kind.MONEY, read_only=ReadOnly.IGNORED),
        Attribute("budgetRemaining", Kind.MONEY, nullable=True, read_only=ReadOnly.IGNORED),
        Attribute("monthlyPacing", Kind.MONEY, nullable=True),
        Attribute("dailyPacing", Kind.MONEY, nullable=True),
        Attribute("isAutoDailyPacing", Kind.BOOL, required_on_put=True),
        Attribute("bidStrategy", Kind.ENUM, values=BID_STRATEGIES),
        Attribute("targetBid", Kind.MONEY, required_on_put=True),
        Attribute("maxBid", Kind.MONEY, nullable=True),
        # Users set active or paused; the rest are derived (echoing the shown one is accepted).
        Attribute("status", Kind.ENUM, values=STATUSES),
        Attribute("createdAt", Kind.TEXT, read_only=ReadOnly.IGNORED),
        Attribute("updatedAt", Kind.TEXT, read_only=ReadOnly.IGNORED),
    )
}

# Campaign attributes a POST /accounts/{accountId}/campaigns may send (CampaignAttributesV202301).
# Attribution settings, company names and balances are accepted and not stored: Auctera's
# attribution is configured per account (see docs/api-retail-media.md).
CAMPAIGN_WRITABLE = frozenset(
    {"name", "startDate", "endDate", "budget", "dailyPacing", "monthlyPacing", "isAutoDailyPacing", "type"}
)
CAMPAIGN_ACCEPTED = frozenset(
    {
        "clickAttributionWindow",
        "viewAttributionWindow",
        "clickAttributionScope",
        "viewAttributionScope",
        "companyName",
        "onBehalfCompanyName",
        "drawableBalanceIds",
    }
)

# JSON:API resource types. The seed's examples name a created line item
# "RetailMediaAuctionLineItem" and a read or updated one "RetailMediaLineItem"; both are kept.
CREATED_LINE_ITEM_TYPE = "RetailMediaAuctionLineItem"
LINE_ITEM_TYPE = "RetailMediaLineItem"
CAMPAIGN_TYPE = "RetailMediaCampaign"
ACCOUNT_TYPE = "RetailMediaAccount"
PRODUCT_TYPE = "RetailMediaPromotedProduct"
