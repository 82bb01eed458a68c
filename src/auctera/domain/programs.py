"""Affiliate programs: their terms (segments and commission types), publishers' channels and their
applications, and the commission engine that prices every conversion. Pure: `now` is passed in.

A program is an affiliate campaign (`affiliate_cpa` / `affiliate_cpc`) published in one market:
the same row id, so a program, an offer and a campaign are one object seen from three surfaces
(seed 003 renders the id as an integer, /v2 as `off_…` or `cmp_…`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import IntEnum, StrEnum

from auctera.domain.money import MICROS

STANDARD_SEGMENT = "Standard"  # every program has it; a channel without a segment is in it
MAX_NAME = 255
MAX_URL = 2048
MAX_REASON_TEXT = 500
MAX_COOKIE_DAYS = 365
MAX_CATEGORY_ID = 2**31 - 1  # stored as a 32-bit INTEGER
MAX_VOLUME_ESTIMATE = 2**63 - 1  # stored as a BIGINT
PERCENT = "%"  # a commission, category rate or threshold given as a percentage of the order value


class ProgramStatus(IntEnum):
    """Seed 003: Live = 0, Closing = 3 (closing programs still track and pay, but take no new
    applications)."""

    LIVE = 0
    CLOSING = 3


class PromotionMethod(StrEnum):
    PPC = "ppc"
    SOCIAL = "social"
    EMAIL = "email"
    CASHBACK = "cashback"
    COUPON = "coupon"


class TrackingType(IntEnum):
    """How the program's conversions reach us (seed 003's `trackingType`)."""

    PIXEL = 1  # the advertiser's page fires a pixel
    SERVER_TO_SERVER = 2  # the advertiser's server posts to /v2/conversions


class ApprovalStatus(IntEnum):
    """Seed 003: 0 = rejected, 1 = approved, 2 = pending review."""

    REJECTED = 0
    APPROVED = 1
    PENDING = 2

    @property
    def label(self) -> str:
        """/v2's words for it (seed 000: `pending_manual_review`)."""
        return _LABELS[self]


_LABELS = {
    ApprovalStatus.REJECTED: "rejected",
    ApprovalStatus.APPROVED: "approved",
    ApprovalStatus.PENDING: "pending_manual_review",
}


class RejectReason(IntEnum):
    """Seed 003's reasons for rejecting a channel's application (required when rejecting)."""

    NOT_ENOUGH_CONTENT = 0
    NOT_RELEVANT_CONTENT = 1
    CLOSED_SITE = 2
    NOT_FOUND_ON_SITE = 3
    SITE_DOES_NOT_EXIST = 4
    WRONG_CONTACT_DETAILS = 5
    UNETHICAL_CONTENT = 6
    INCORRECT_SITE_OWNER = 7
    MISSING_CHANNEL_INFO = 8
    TOO_FEW_FOLLOWERS = 9
    POOR_DESIGN = 10
    TRAFFIC_NOT_RELEVANT = 11
    OUTDATED_CONTENT = 12

    @property
    def text(self) -> str:
        return REJECT_REASON_TEXTS[self]


REJECT_REASON_TEXTS = {
    RejectReason.NOT_ENOUGH_CONTENT: "Not enough content/posts",
    RejectReason.NOT_RELEVANT_CONTENT: "Not relevant content",
    RejectReason.CLOSED_SITE: "A closed site/group/account",
    RejectReason.NOT_FOUND_ON_SITE: "404 on site",
    RejectReason.SITE_DOES_NOT_EXIST: "Site does not exist",
    RejectReason.WRONG_CONTACT_DETAILS: "Wrong contact details / shady details",
    RejectReason.UNETHICAL_CONTENT: "Unethical content",
    RejectReason.INCORRECT_SITE_OWNER: "Incorrect site owner",
    RejectReason.MISSING_CHANNEL_INFO: "Missing info about the channel. No URL/link",
    RejectReason.TOO_FEW_FOLLOWERS: "To few followers/visitors",
    RejectReason.POOR_DESIGN: "Poor design",
    RejectReason.TRAFFIC_NOT_RELEVANT: "Traffic is not relevant",
    RejectReason.OUTDATED_CONTENT: "Outdated content",
}


class ChannelType(StrEnum):
    """Where a publisher promotes programs (seed 003's `channelType`, e.g. "Blog")."""

    WEBSITE = "Website"
    BLOG = "Blog"
    NEWSLETTER = "Newsletter"
    PPC = "PPC"
    SOCIAL = "Social media"
    CASHBACK = "Cashback"
    COUPON = "Coupon"
    APP = "App"
    OTHER = "Other"


# Seed 003's `transactionType` numbers for the conversion event types they stand for. A
# commission type keyed on another event type renders as 0 ("other").
TRANSACTION_TYPES = {1: "lead", 2: "sign_up", 3: "purchase", 4: "install"}
EVENT_TRANSACTION_TYPES = {event: number for number, event in TRANSACTION_TYPES.items()}
OTHER_TRANSACTION_TYPE = 0


def transaction_type(event_type: str) -> int:
    return EVENT_TRANSACTION_TYPES.get(event_type, OTHER_TRANSACTION_TYPE)


@dataclass(frozen=True, slots=True)
class Program:
    """The affiliate settings of an affiliate campaign (`id` is the campaign's id)."""

    id: int
    account_id: int  # the advertiser
    market: str  # ISO 3166-1 alpha-2
    status: ProgramStatus
    cookie_duration_days: int
    promotion_methods: frozenset[PromotionMethod]
    category_id: int | None
    category_name: str | None
    program_url: str | None
    logo_url: str | None
    tracking_type: TrackingType
    feed_ids: tuple[int, ...]  # retailers (catalogs) of the advertiser whose products the program offers
    created_at: datetime
    updated_at: datetime

    def allows(self, method: PromotionMethod) -> bool:
        return method in self.promotion_methods


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    program_id: int
    name: str
    standard: bool  # the program's default: terms for channels in no other segment
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Rate:
    """A fixed amount in the program's currency (`percent` False, `micros` of currency) or a
    percentage of the order value (`percent` True, `micros` of a percent: 4.5% is 4_500_000)."""

    percent: bool
    micros: int

    def on(self, order_value_micros: int) -> int:
        """What the rate pays on an order of this value, half-even to a whole micro."""
        if not self.percent:
            return self.micros
        amount = Decimal(order_value_micros) * Decimal(self.micros) / Decimal(100 * MICROS)
        return int(amount.to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class CategoryRate:
    category: str  # compared case-insensitively with the conversion's product category
    rate: Rate


@dataclass(frozen=True, slots=True)
class Threshold:
    order_value_micros: int  # applies to orders of at least this value (program currency)
    rate: Rate


@dataclass(frozen=True, slots=True)
class CommissionType:
    """One way a program pays: for one conversion event type, in one segment."""

    id: int
    program_id: int
    segment_id: int
    name: str
    event_type: str  # the conversion event type it pays for (purchase, lead, sign_up, ...)
    rate: Rate
    categories: tuple[CategoryRate, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    created_at: datetime | None = None

    @property
    def transaction_type(self) -> int:
        return transaction_type(self.event_type)


@dataclass(frozen=True, slots=True)
class Commission:
    """What the engine decided for one conversion: the amount and the rule that gave it."""

    payout_micros: int
    commission_type_id: int | None  # None: the campaign's flat payout, or nothing matched
    # "base", "category:<name>", "threshold:<order value micros>", "flat", "none"; the conversion
    # service adds "not_approved" (the click's channel lost its approval since)
    rule: str


def choose_rate(terms: CommissionType, order_value_micros: int, category: str | None) -> tuple[Rate, str]:
    """The rule that prices an order under `terms`, most specific first: the rate of the order's
    product category; else the highest order-value threshold the order reaches; else the base."""
    if category:
        wanted = category.strip().casefold()
        for c in terms.categories:
            if c.category.strip().casefold() == wanted:
                return c.rate, f"category:{c.category}"
    reached = [t for t in terms.thresholds if order_value_micros >= t.order_value_micros]
    if reached:
        best = max(reached, key=lambda t: t.order_value_micros)
        return best.rate, f"threshold:{best.order_value_micros}"
    return terms.rate, "base"


def commission(
    terms: Sequence[CommissionType],
    segment_id: int | None,
    standard_segment_id: int | None,
    event_type: str,
    order_value_micros: int,
    category: str | None,
    flat_payout_micros: int | None,
) -> Commission:
    """The publisher's commission for one conversion, from every commission type of the program.

    The commission type of the channel's segment (`segment_id`; None: the standard segment) for
    the event type applies; a segment without one falls back to the standard segment's. A
    program with no commission types at all (in any segment) pays the campaign's flat payout
    (the /v2 `payout`) for every event; one that has some pays nothing for events its segment
    and the standard segment do not list. A negative order value (never accepted upstream)
    pays nothing."""
    if not terms:
        if flat_payout_micros and order_value_micros >= 0:
            return Commission(flat_payout_micros, None, "flat")
        return Commission(0, None, "none")
    if order_value_micros < 0:
        return Commission(0, None, "none")
    wanted = (standard_segment_id,) if segment_id is None else (segment_id, standard_segment_id)
    for segment in wanted:
        for t in terms:
            if t.segment_id == segment and t.event_type == event_type:
                rate, rule = choose_rate(t, order_value_micros, category)
                return Commission(max(rate.on(order_value_micros), 0), t.id, rule)
    return Commission(0, None, "none")


@dataclass(frozen=True, slots=True)
class Channel:
    """A publisher's place to promote programs: a site, a blog, a newsletter, paid search..."""

    id: int
    account_id: int  # the publisher
    name: str
    type: ChannelType
    url: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Application:
    """A publisher's request to run a program: for one of its channels (seed 003), or for the
    publisher as a whole (seed 000's `POST /v2/network/applications`, `channel_id` None)."""

    id: int
    program_id: int
    account_id: int  # the program's advertiser: its owner sees and decides it
    publisher_id: int
    channel_id: int | None
    status: ApprovalStatus
    applied_at: datetime
    traffic_type: str | None = None
    volume_estimate: int | None = None
    segment_id: int | None = None  # None: the standard segment
    reject_reason: RejectReason | None = None
    reason_text: str | None = None
    decided_at: datetime | None = None


class DecisionRefused(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def decide(
    application: Application,
    status: ApprovalStatus,
    reject_reason: RejectReason | None,
    now: datetime,
    *,
    reason_text: str | None = None,
) -> Application:
    """The application approved or rejected. Rejecting needs one of the documented reasons; the
    reason's text is kept unless the advertiser wrote its own. Approving clears an earlier reason.
    Deciding again is allowed (a rejected channel may be approved later, an approved one revoked);
    the same decision twice changes nothing but the time."""
    if status is ApprovalStatus.PENDING:
        raise DecisionRefused("approvalStatus", "an application can be approved (1) or rejected (0)")
    if status is ApprovalStatus.REJECTED:
        if reject_reason is None:
            raise DecisionRefused("rejectReason", "a reject reason (0-12) is required when rejecting")
        text = (reason_text or "").strip() or reject_reason.text
        if len(text) > MAX_REASON_TEXT:
            raise DecisionRefused("reasonText", f"at most {MAX_REASON_TEXT} characters")
        return replace(
            application, status=status, reject_reason=reject_reason, reason_text=text, decided_at=now
        )
    return replace(application, status=status, reject_reason=None, reason_text=None, decided_at=now)


def best_status(statuses: Sequence[ApprovalStatus]) -> ApprovalStatus | None:
    """A publisher's standing with a program over all its applications: approved if any is,
    else pending if any is, else rejected; None without applications."""
    for wanted in (ApprovalStatus.APPROVED, ApprovalStatus.PENDING, ApprovalStatus.REJECTED):
        if wanted in statuses:
            return wanted
    return None
