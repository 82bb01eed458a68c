"""Campaigns: what an advertiser buys traffic with, the checks on each field, and the status machine.

Field names in problems are the /v2 names (`budget.daily`, `targeting.geo`): /v2 is the native
surface, and other surfaces map them when they render an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TypeVar

from auctera.domain.events import Totals
from auctera.domain.money import display
from auctera.errors import Conflict

MAX_MICROS = 10**15  # one billion currency units: far above any real budget, far below int64
MAX_NAME = 255
MAX_GEO = 250
MAX_ZIP_CODES = 5_000
MAX_MULTIPLIER = Decimal(10)
MAX_AUDIENCES = 50  # included plus excluded


class CampaignType(StrEnum):
    DSP_PROSPECTING = "dsp_prospecting"
    DSP_RETARGETING = "dsp_retargeting"
    AFFILIATE_CPA = "affiliate_cpa"
    AFFILIATE_CPC = "affiliate_cpc"
    RETAIL_MEDIA = "retail_media"
    SMARTLINK_CPC = "smartlink_cpc"


# Affiliate campaigns pay publishers a fixed payout and redirect their clicks to the advertiser.
AFFILIATE_TYPES = frozenset({CampaignType.AFFILIATE_CPA, CampaignType.AFFILIATE_CPC})
# Display campaigns bought in auctions: their ads carry our click and impression URLs.
DSP_TYPES = frozenset({CampaignType.DSP_PROSPECTING, CampaignType.DSP_RETARGETING})


class CampaignStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    ACTIVE = "active"
    PAUSED = "paused"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Visibility(StrEnum):
    PUBLIC = "public"  # any publisher may run the offer
    PRIVATE = "private"  # only publishers whose application was approved


class Pacing(StrEnum):
    ASAP = "asap"
    EVEN = "even"


class BidStrategy(StrEnum):
    MAXIMIZE_CONVERSIONS = "maximize_conversions"
    TARGET_CPA = "target_cpa"
    TARGET_ROAS = "target_roas"
    MANUAL_CPC = "manual_cpc"


# Strategies that need a target: money for CPA and CPC, a revenue/spend ratio for ROAS.
TARGETED_STRATEGIES = frozenset({BidStrategy.TARGET_CPA, BidStrategy.TARGET_ROAS, BidStrategy.MANUAL_CPC})


class DeviceType(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    CTV = "ctv"


class Unset(Enum):
    """Marks a patch field the caller did not send (None is a value: "clear it")."""

    UNSET = "unset"


UNSET = Unset.UNSET
T = TypeVar("T")


def pick(new: T | Unset, old: T) -> T:
    return old if isinstance(new, Unset) else new


@dataclass(frozen=True, slots=True)
class Budget:
    currency: str  # ISO 4217, the owning account's
    daily_micros: int | None = None
    total_micros: int | None = None


@dataclass(frozen=True, slots=True)
class Targeting:
    """Empty tuples mean "no restriction". Zip codes and DMAs narrow US traffic."""

    geo: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    zip_codes: tuple[str, ...] = ()
    dmas: tuple[str, ...] = ()  # Nielsen designated market areas, 3-digit codes
    device_types: tuple[DeviceType, ...] = ()
    # Audience ids: a visitor must be in one of `include_audiences` (when any), in none of
    # `exclude_audiences`. Kept in the audience_targets table, not the campaign row (services/audiences.py).
    include_audiences: tuple[int, ...] = ()
    exclude_audiences: tuple[int, ...] = ()

    @classmethod
    def of(
        cls,
        geo: tuple[str, ...] | list[str] = (),
        zip_codes: tuple[str, ...] | list[str] = (),
        dmas: tuple[str, ...] | list[str] = (),
        device_types: tuple[DeviceType, ...] | list[DeviceType] = (),
        include_audiences: tuple[int, ...] = (),
        exclude_audiences: tuple[int, ...] = (),
    ) -> Targeting:
        """Normalised: upper-case countries, surrounding blanks stripped, duplicates dropped."""
        return cls(
            geo=_unique(g.strip().upper() for g in geo),
            zip_codes=_unique(z.strip() for z in zip_codes),
            dmas=_unique(d.strip() for d in dmas),
            device_types=_unique(device_types),
            include_audiences=_unique(include_audiences),
            exclude_audiences=_unique(exclude_audiences),
        )


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True, slots=True)
class Bidding:
    strategy: BidStrategy = BidStrategy.MAXIMIZE_CONVERSIONS
    target_micros: int | None = None  # CPA/CPC amount in micros; for ROAS the ratio times 10**6


@dataclass(frozen=True, slots=True)
class Review:
    reasons: tuple[str, ...] = ()
    reviewed_at: datetime | None = None
    reviewer_id: int | None = None  # the network account deciding by hand; None: the automated pipeline


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    account_id: int  # the advertiser that owns it
    name: str
    type: CampaignType
    status: CampaignStatus
    budget: Budget
    created_at: datetime
    updated_at: datetime
    targeting: Targeting = Targeting()
    bidding: Bidding = Bidding()
    device_multipliers: Mapping[DeviceType, Decimal] = field(default_factory=dict)
    pacing: Pacing = Pacing.EVEN
    destination_url: str | None = None  # may carry macros such as {click_id}
    payout_micros: int | None = None  # affiliate types: what a publisher earns per action
    start_date: date | None = None  # flight, in the account's time zone, inclusive
    end_date: date | None = None
    review: Review = Review()
    archived_at: datetime | None = None
    # Affiliate offers: rules publishers must follow, and who may run the offer.
    promotional_rules: tuple[str, ...] = ()
    visibility: Visibility = Visibility.PUBLIC


# --- patches -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetPatch:
    daily_micros: int | Unset | None = UNSET
    total_micros: int | Unset | None = UNSET
    currency: str | Unset = UNSET  # only ever the account's: a different one fails validation

    def apply(self, b: Budget) -> Budget:
        return Budget(
            currency=pick(self.currency, b.currency),
            daily_micros=pick(self.daily_micros, b.daily_micros),
            total_micros=pick(self.total_micros, b.total_micros),
        )


@dataclass(frozen=True, slots=True)
class TargetingPatch:
    geo: tuple[str, ...] | Unset = UNSET
    zip_codes: tuple[str, ...] | Unset = UNSET
    dmas: tuple[str, ...] | Unset = UNSET
    device_types: tuple[DeviceType, ...] | Unset = UNSET
    include_audiences: tuple[int, ...] | Unset = UNSET
    exclude_audiences: tuple[int, ...] | Unset = UNSET

    def apply(self, t: Targeting) -> Targeting:
        return Targeting.of(
            geo=pick(self.geo, t.geo),
            zip_codes=pick(self.zip_codes, t.zip_codes),
            dmas=pick(self.dmas, t.dmas),
            device_types=pick(self.device_types, t.device_types),
            include_audiences=pick(self.include_audiences, t.include_audiences),
            exclude_audiences=pick(self.exclude_audiences, t.exclude_audiences),
        )


@dataclass(frozen=True, slots=True)
class BiddingPatch:
    strategy: BidStrategy | Unset = UNSET
    target_micros: int | Unset | None = UNSET

    def apply(self, b: Bidding) -> Bidding:
        # A new strategy without a target drops the old target: they only make sense together.
        keep_target = isinstance(self.strategy, Unset) or self.strategy is b.strategy
        return Bidding(
            strategy=pick(self.strategy, b.strategy),
            target_micros=pick(self.target_micros, b.target_micros if keep_target else None),
        )


@dataclass(frozen=True, slots=True)
class CampaignPatch:
    """A partial update. Status changes go through `set_status`, not here."""

    name: str | Unset = UNSET
    budget: BudgetPatch | Unset = UNSET
    targeting: TargetingPatch | Unset = UNSET
    bidding: BiddingPatch | Unset = UNSET
    device_multipliers: Mapping[DeviceType, Decimal] | Unset = UNSET
    pacing: Pacing | Unset = UNSET
    destination_url: str | Unset | None = UNSET
    payout_micros: int | Unset | None = UNSET
    start_date: date | Unset | None = UNSET
    end_date: date | Unset | None = UNSET
    promotional_rules: tuple[str, ...] | Unset = UNSET
    visibility: Visibility | Unset = UNSET

    def apply(self, c: Campaign) -> Campaign:
        return replace(
            c,
            name=pick(self.name, c.name).strip(),
            budget=c.budget if isinstance(self.budget, Unset) else self.budget.apply(c.budget),
            targeting=c.targeting if isinstance(self.targeting, Unset) else self.targeting.apply(c.targeting),
            bidding=c.bidding if isinstance(self.bidding, Unset) else self.bidding.apply(c.bidding),
            device_multipliers=pick(self.device_multipliers, c.device_multipliers),
            pacing=pick(self.pacing, c.pacing),
            destination_url=pick(self.destination_url, c.destination_url),
            payout_micros=pick(self.payout_micros, c.payout_micros),
            start_date=pick(self.start_date, c.start_date),
            end_date=pick(self.end_date, c.end_date),
            promotional_rules=pick(self.promotional_rules, c.promotional_rules),
            visibility=pick(self.visibility, c.visibility),
        )


# Changing any of these re-runs the compliance review; name, pacing, multipliers and flight
# dates are not checked by it, so changing them does not.
REVIEWED_FIELDS = ("budget", "targeting", "bidding", "destination_url", "payout_micros", "promotional_rules")


def needs_review(before: Campaign, after: Campaign) -> bool:
    return any(getattr(before, f) != getattr(after, f) for f in REVIEWED_FIELDS)


# --- field checks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def name_problems(name: str) -> list[Problem]:
    if not name.strip() or len(name) > MAX_NAME:
        return [Problem("name", f"name must be 1-{MAX_NAME} characters")]
    return []


def _amount_problems(micros: int | None, where: str) -> list[Problem]:
    if micros is None:
        return []
    if micros <= 0:
        return [Problem(where, "must be greater than zero")]
    if micros > MAX_MICROS:
        return [Problem(where, f"must be at most {MAX_MICROS // 1_000_000}")]
    return []


def budget_problems(b: Budget) -> list[Problem]:
    if b.daily_micros is None and b.total_micros is None:
        return [Problem("budget", "a daily or a total budget is required")]
    found = _amount_problems(b.daily_micros, "budget.daily") + _amount_problems(
        b.total_micros, "budget.total"
    )
    if (
        not found
        and b.daily_micros is not None
        and b.total_micros is not None
        and b.daily_micros > b.total_micros
    ):
        found.append(Problem("budget.daily", "the daily budget cannot exceed the total budget"))
    return found


_ZIP = re.compile(r"\d{5}(-\d{4})?")
_DMA = re.compile(r"[5-8]\d\d")  # Nielsen DMA codes run from 500 to 881


def targeting_problems(t: Targeting, countries: frozenset[str]) -> list[Problem]:
    found: list[Problem] = []
    unknown = [g for g in t.geo if g not in countries]
    if unknown:
        found.append(Problem("targeting.geo", f"not ISO 3166-1 alpha-2 country codes: {', '.join(unknown)}"))
    if len(t.geo) > MAX_GEO:
        found.append(Problem("targeting.geo", f"at most {MAX_GEO} countries"))
    bad_zip = [z for z in t.zip_codes if not _ZIP.fullmatch(z)]
    if bad_zip:
        found.append(
            Problem(
                "targeting.zip_codes", f"not US ZIP codes (12345 or 12345-6789): {', '.join(bad_zip[:5])}"
            )
        )
    if len(t.zip_codes) > MAX_ZIP_CODES:
        found.append(Problem("targeting.zip_codes", f"at most {MAX_ZIP_CODES} ZIP codes"))
    bad_dma = [d for d in t.dmas if not _DMA.fullmatch(d) or int(d) > 881]
    if bad_dma:
        found.append(Problem("targeting.dmas", f"not Nielsen DMA codes (500-881): {', '.join(bad_dma[:5])}"))
    if (t.zip_codes or t.dmas) and t.geo and "US" not in t.geo:
        where = "targeting.zip_codes" if t.zip_codes else "targeting.dmas"
        found.append(Problem(where, "ZIP codes and DMAs are US areas; targeting.geo must include US"))
    if len(t.include_audiences) + len(t.exclude_audiences) > MAX_AUDIENCES:
        found.append(Problem("targeting.audiences", f"at most {MAX_AUDIENCES} audiences in all"))
    if set(t.include_audiences) & set(t.exclude_audiences):
        found.append(Problem("targeting.audiences.exclude", "an audience is both included and excluded"))
    return found


def bidding_problems(b: Bidding) -> list[Problem]:
    if b.strategy in TARGETED_STRATEGIES:
        if b.target_micros is None:
            return [Problem("bidding.target_amount", f"{b.strategy.value} needs a target_amount")]
        return _amount_problems(b.target_micros, "bidding.target_amount")
    if b.target_micros is not None:
        return [Problem("bidding.target_amount", f"{b.strategy.value} takes no target_amount")]
    return []


def multiplier_problems(multipliers: Mapping[DeviceType, Decimal]) -> list[Problem]:
    # 0 stops bidding on that device type; 1 is neutral.
    # Each entry named by its key, as every /v2 map entry is (`bid_multipliers.device_type.phone`).
    return [
        Problem(
            f"bid_multipliers.device_type.{d.value}", f"must be 0 to {MAX_MULTIPLIER} with at most 2 decimals"
        )
        for d, m in multipliers.items()
        if not (0 <= m <= MAX_MULTIPLIER) or _decimals(m) > 2
    ]


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


MAX_PROMOTIONAL_RULES = 20
MAX_RULE_LENGTH = 200


def promotional_rule_problems(rules: tuple[str, ...]) -> list[str]:
    if len(rules) > MAX_PROMOTIONAL_RULES:
        return [f"at most {MAX_PROMOTIONAL_RULES} rules"]
    if any(not r.strip() or len(r) > MAX_RULE_LENGTH for r in rules):
        return [f"each rule must be 1 to {MAX_RULE_LENGTH} characters"]
    return []


def affiliate_problems(c: Campaign) -> list[Problem]:
    """Affiliate campaigns need a payout and a destination; the others take no payout."""
    if c.type not in AFFILIATE_TYPES:
        found = []
        if c.payout_micros is not None:
            found.append(Problem("payout", f"payout applies to affiliate campaigns, not {c.type.value}"))
        if c.promotional_rules:
            found.append(Problem("promotional_rules", f"applies to affiliate campaigns, not {c.type.value}"))
        if c.visibility is not Visibility.PUBLIC:
            found.append(Problem("visibility", f"applies to affiliate campaigns, not {c.type.value}"))
        return found
    found = [Problem("promotional_rules", p) for p in promotional_rule_problems(c.promotional_rules)]
    if c.payout_micros is None:
        found.append(Problem("payout", f"{c.type.value} campaigns need a payout"))
    else:
        found += _amount_problems(c.payout_micros, "payout")
    if c.destination_url is None:
        found.append(Problem("destination_url", f"{c.type.value} campaigns need a destination_url"))
    return found


def links_in_flight(c: Campaign, today: date) -> bool:
    """Whether the campaign's links redirect on `today` (UTC) as far as its flight dates go. The
    dates are in the account's zone; a day of slack either side spares the click path a lookup of
    it (pacing, not links, holds spend to the exact days)."""
    if c.start_date is not None and today < c.start_date - timedelta(days=1):
        return False
    return not (c.end_date is not None and today > c.end_date + timedelta(days=1))


def flight_problems(start: date | None, end: date | None, *, today: date | None = None) -> list[Problem]:
    """`today` (in the account's time zone) is given only when the dates are being set."""
    if start is not None and end is not None and end < start:
        return [Problem("end_date", "end_date is before start_date")]
    if today is not None and end is not None and end < today:
        return [Problem("end_date", f"end_date {end.isoformat()} is in the past")]
    return []


# --- status machine ------------------------------------------------------------------------

S = CampaignStatus
ALLOWED: Mapping[CampaignStatus, frozenset[CampaignStatus]] = {
    S.PENDING_REVIEW: frozenset({S.ACTIVE, S.REJECTED, S.ARCHIVED}),
    S.ACTIVE: frozenset({S.PAUSED, S.REJECTED, S.ARCHIVED}),
    S.PAUSED: frozenset({S.ACTIVE, S.REJECTED, S.ARCHIVED}),
    S.REJECTED: frozenset({S.PENDING_REVIEW, S.ACTIVE, S.ARCHIVED}),
    S.ARCHIVED: frozenset(),  # terminal
}
# Serving or ready to: the statuses an advertiser switches between with PATCH. The others follow
# from review, approval and DELETE.
LIVE = frozenset({S.ACTIVE, S.PAUSED})
# How the reason of an automatic pause (a deleted creative or audience) starts, in `review.reasons`.
PAUSE_REASON = "paused: "
# That of a pause for a deleted audience it targeted: it stays until its targeting is saved again.
AUDIENCE_PAUSE = PAUSE_REASON + "audience "


def _refusal(c: Campaign, to: CampaignStatus) -> str:
    if c.status is S.ARCHIVED:
        return "the campaign is archived; archived campaigns cannot be restarted or changed"
    if to is S.ACTIVE and c.status is S.PENDING_REVIEW:
        return "the campaign is pending review; it becomes active when the review passes"
    if to is S.ACTIVE and c.status is S.REJECTED:
        reasons = "; ".join(c.review.reasons) or "no reason given"
        return f"the campaign was rejected ({reasons}); change it to resubmit it for review"
    if to is S.PAUSED:
        return f"only an active campaign can be paused; this one is {c.status.value}"
    return f"a {c.status.value} campaign cannot become {to.value}"


def _move(c: Campaign, to: CampaignStatus, now: datetime) -> Campaign:
    if to not in ALLOWED[c.status]:
        raise Conflict(_refusal(c, to), field="status")
    return replace(c, status=to, updated_at=now)


def ensure_editable(c: Campaign) -> None:
    if c.status is S.ARCHIVED:
        raise Conflict(_refusal(c, S.ACTIVE), field="status")


def set_status(c: Campaign, to: CampaignStatus, now: datetime) -> Campaign:
    """The advertiser's pause/resume. Asking for the current status is a no-op."""
    if to not in LIVE:
        raise Conflict("status can be set to active or paused; DELETE archives", field="status")
    if to is c.status:
        return c
    if c.status not in LIVE:
        raise Conflict(_refusal(c, to), field="status")
    return _move(c, to, now)


def record_review(
    c: Campaign, reasons: tuple[str, ...], now: datetime, reviewer_id: int | None = None
) -> Campaign:
    """A review outcome, automated or by hand. Failing rejects the campaign; passing activates a
    pending or rejected one and leaves a live (active or paused) one as it is."""
    review = Review(reasons, now, reviewer_id)
    if reasons:
        if c.status is S.REJECTED:
            return replace(c, review=review, updated_at=now)
        return replace(_move(c, S.REJECTED, now), review=review)
    if c.status in LIVE:
        if c.status is S.PAUSED:  # still paused: why stays shown, and resuming checks it
            review = replace(review, reasons=tuple(r for r in c.review.reasons if r.startswith(PAUSE_REASON)))
        return replace(c, review=review, updated_at=now)
    return replace(_move(c, S.ACTIVE, now), review=review)


def resubmit(c: Campaign, now: datetime) -> Campaign:
    """A rejected campaign that was changed goes back to the review queue."""
    return _move(c, S.PENDING_REVIEW, now)


def archive(c: Campaign, now: datetime) -> Campaign:
    """Terminal and idempotent: archiving an archived campaign changes nothing."""
    if c.status is S.ARCHIVED:
        return c
    return replace(_move(c, S.ARCHIVED, now), archived_at=now)


# --- performance ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Performance:
    """Figures from the event log. Money in micros; a reversal takes back its conversion."""

    today: Totals
    period: Totals  # the requested date range
    lifetime: Totals

    @staticmethod
    def conversions(t: Totals) -> int:
        return max(t.conversions - t.reversals, 0)

    # CPA and ROAS from the spend and revenue as shown beside them (to the cent), so that a
    # reader's own division agrees: one conversion's CPA is the spend shown, not a cent off it.
    @property
    def cpa(self) -> Decimal | None:
        """Spend per conversion over the period, in currency units; None without conversions."""
        n = self.conversions(self.period)
        return display(self.period.cost_micros) / n if n else None

    @property
    def roas(self) -> Decimal | None:
        """Revenue over spend for the period; None without spend (as shown: under half a cent)."""
        spend = display(self.period.cost_micros)
        return display(self.period.revenue_micros) / spend if spend > 0 else None
