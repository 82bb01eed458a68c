"""The advertiser's side of affiliate programs: program settings, segments, commission types.

A program is the affiliate settings of an `affiliate_cpa` / `affiliate_cpc` campaign (same id);
its currency and name are the campaign's. Who sees what: an advertiser its own programs, the
network operator every program; anything else is "not found", never "forbidden". Every write
is one transaction, validated before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from auctera.domain.accounts import Principal
from auctera.domain.campaigns import AFFILIATE_TYPES, Campaign
from auctera.domain.conversions import EVENT_TYPE
from auctera.domain.ids import render
from auctera.domain.money import MICROS
from auctera.domain.programs import (
    MAX_CATEGORY_ID,
    MAX_COOKIE_DAYS,
    MAX_NAME,
    MAX_URL,
    PERCENT,
    STANDARD_SEGMENT,
    CategoryRate,
    CommissionType,
    Program,
    ProgramStatus,
    PromotionMethod,
    Rate,
    Segment,
    Threshold,
    TrackingType,
)
from auctera.errors import Conflict, NotFound, ValidationFailed
from auctera.services.campaigns import COUNTRIES, DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from auctera.services.clock import Clock, Ids
from auctera.services.offers import EPC_WINDOW, OFFER_PREFIX, epc
from auctera.services.ports import EventStore, UnitOfWork, UnitOfWorkFactory

SEGMENT_PREFIX = "seg"
COMMISSION_PREFIX = "com"
RETAILER_PREFIX = "ret"
MAX_PERCENT_MICROS = 100 * MICROS  # a percentage rate is at most 100%
MAX_RATE_MICROS = 10**15  # a fixed amount: a billion currency units is surely a typo past that
MAX_RULES = 100  # categories, thresholds per commission type


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    """What PUT /v2/programs/{id} sets (all of it: a replace)."""

    market: str
    status: ProgramStatus = ProgramStatus.LIVE
    cookie_duration_days: int = 30
    promotion_methods: frozenset[PromotionMethod] = frozenset(PromotionMethod)
    category_id: int | None = None
    category_name: str | None = None
    program_url: str | None = None
    logo_url: str | None = None
    tracking_type: TrackingType = TrackingType.SERVER_TO_SERVER
    feed_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RateSpec:
    """A rate as the API gives it: `type` the program's currency code (a fixed amount) or "%"."""

    type: str
    value_micros: int


@dataclass(frozen=True, slots=True)
class CommissionSpec:
    name: str
    event_type: str
    rate: RateSpec
    categories: tuple[tuple[str, RateSpec], ...] = ()
    thresholds: tuple[tuple[int, RateSpec], ...] = ()  # (order value micros, rate)
    segment_id: int | None = None  # None: the standard segment


@dataclass(frozen=True, slots=True)
class CommissionChanges:
    """PATCH: the fields given (None: unchanged; an empty list clears categories or thresholds)."""

    name: str | None = None
    event_type: str | None = None
    type: str | None = None  # the base rate's; the one not given keeps its value
    value_micros: int | None = None
    categories: tuple[tuple[str, RateSpec], ...] | None = None
    thresholds: tuple[tuple[int, RateSpec], ...] | None = None
    segment_id: int | None = None


@dataclass(frozen=True, slots=True)
class ProgramView:
    program: Program
    campaign: Campaign  # name and currency come from it
    segments: list[Segment]
    epc: Decimal | None = None  # payout per click over the offers' EPC window; None without clicks

    @property
    def currency(self) -> str:
        return self.campaign.budget.currency


@dataclass(frozen=True, slots=True)
class ProgramPage:
    programs: list[ProgramView]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class CommissionView:
    commission: CommissionType
    segment: Segment
    currency: str  # the program's: what a fixed rate is in


class ProgramService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, events: EventStore) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._events = events

    # --- programs ---------------------------------------------------------------------------

    def put(
        self, principal: Principal, campaign_id: int, settings: ProgramSettings
    ) -> tuple[ProgramView, bool]:
        """Create or replace the program settings of an affiliate campaign; True when created.
        Creating makes the program's standard segment too."""
        now = self._clock()
        checked = _checked_settings(settings)
        with self._uow() as uow:
            campaign = _campaign(uow, principal, campaign_id, for_update=True)
            if campaign.type not in AFFILIATE_TYPES:
                raise ValidationFailed(
                    f"program settings apply to affiliate campaigns (affiliate_cpa, affiliate_cpc), "
                    f"not {campaign.type.value}",
                    field="offer_id",
                )
            _check_feeds(uow, checked.feed_ids, campaign.account_id)
            before = uow.programs.get(campaign.id)
            program = Program(
                id=campaign.id,
                account_id=campaign.account_id,
                market=checked.market,
                status=checked.status,
                cookie_duration_days=checked.cookie_duration_days,
                promotion_methods=checked.promotion_methods,
                category_id=checked.category_id,
                category_name=checked.category_name,
                program_url=checked.program_url,
                logo_url=checked.logo_url,
                tracking_type=checked.tracking_type,
                feed_ids=checked.feed_ids,
                created_at=before.created_at if before else now,
                updated_at=now,
            )
            if before is None:
                uow.programs.add(program)
                standard = Segment(self._ids.next_id(), program.id, STANDARD_SEGMENT, True, now)
                uow.programs.add_segment(standard)
            elif _same_settings(before, program):
                program = before  # nothing changed: not even the time
            else:
                uow.programs.update(program)
            segments = uow.programs.segments(program.id)
            uow.commit()
        return ProgramView(program, campaign, segments), before is None

    def get(self, principal: Principal, program_id: int) -> ProgramView:
        with self._uow(read_only=True) as uow:
            program, campaign = _program(uow, principal, program_id)
            segments = uow.programs.segments(program.id)
        return ProgramView(program, campaign, segments, self._epc([program]).get(program.id))

    def list_programs(
        self, principal: Principal, cursor: str | None, limit: int = DEFAULT_PAGE
    ) -> ProgramPage:
        """The caller's programs (the operator: everyone's), newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        before = decode_cursor(cursor) if cursor else None
        scope = None if principal.is_network else principal.account_id
        with self._uow(read_only=True) as uow:
            rows = uow.programs.page(account_id=scope, before_id=before, limit=limit + 1)
            page, more = rows[:limit], len(rows) > limit
            views = []
            for program in page:
                campaign = uow.campaigns.get(program.id)
                assert campaign is not None, "a program is its campaign's settings (cascade)"
                views.append((program, campaign, uow.programs.segments(program.id)))
        earnings = self._epc([p for p, _, _ in views])
        return ProgramPage(
            [ProgramView(p, c, s, earnings.get(p.id)) for p, c, s in views],
            encode_cursor(page[-1].id) if more else None,
        )

    def _epc(self, programs: Sequence[Program]) -> dict[int, Decimal | None]:
        """As GET /v2/offers computes it: one event-log query per advertiser."""
        end = self._clock() + timedelta(microseconds=1)
        windows = {"epc": (end - EPC_WINDOW, end)}
        by_account: dict[int, list[int]] = {}
        for p in programs:
            by_account.setdefault(p.account_id, []).append(p.id)
        found: dict[int, Decimal | None] = {}
        for account_id, ids in by_account.items():
            totals = self._events.campaign_totals_windows(account_id, ids, windows)["epc"]
            found.update({program_id: epc(t) for program_id, t in totals.items()})
        return found

    # --- segments ---------------------------------------------------------------------------

    def segments(self, principal: Principal, program_id: int) -> list[Segment]:
        with self._uow(read_only=True) as uow:
            program, _ = _program(uow, principal, program_id)
            return uow.programs.segments(program.id)

    def add_segment(self, principal: Principal, program_id: int, name: str) -> Segment:
        wanted = _name(name)
        with self._uow() as uow:
            program, _ = _program(uow, principal, program_id, for_update=True)
            segment = Segment(self._ids.next_id(), program.id, wanted, False, self._clock())
            if not uow.programs.add_segment(segment):
                raise _duplicate_segment(wanted)
            uow.commit()
        return segment

    def rename_segment(self, principal: Principal, program_id: int, segment_id: int, name: str) -> Segment:
        wanted = _name(name)
        with self._uow() as uow:
            program, _ = _program(uow, principal, program_id, for_update=True)
            segment = _segment(uow, program.id, segment_id)
            if any(s.name == wanted and s.id != segment.id for s in uow.programs.segments(program.id)):
                raise _duplicate_segment(wanted)
            if wanted != segment.name:
                uow.programs.rename_segment(segment.id, wanted)
                segment = replace(segment, name=wanted)
            uow.commit()
        return segment

    def delete_segment(self, principal: Principal, program_id: int, segment_id: int) -> None:
        """Its commission types go with it; channels in it fall back to the standard segment."""
        with self._uow() as uow:
            program, _ = _program(uow, principal, program_id, for_update=True)
            segment = _segment(uow, program.id, segment_id)
            if segment.standard:
                raise Conflict(
                    "the standard segment cannot be deleted: channels in no other segment are in it",
                    field="segment_id",
                    code="standard_segment",
                )
            uow.programs.delete_segment(segment.id)
            uow.commit()

    # --- commission types -------------------------------------------------------------------

    def commissions(
        self, principal: Principal, program_id: int, segment_id: int | None = None
    ) -> list[CommissionView]:
        """The program's commission types, by segment (standard first); one segment's if named."""
        with self._uow(read_only=True) as uow:
            program, campaign = _program(uow, principal, program_id)
            if segment_id is not None:
                _segment(uow, program.id, segment_id)
            segments = uow.programs.segments(program.id)
            found = uow.programs.commissions([program.id])
        order = {s.id: i for i, s in enumerate(segments)}
        by_id = {s.id: s for s in segments}
        wanted = [c for c in found if segment_id is None or c.segment_id == segment_id]
        wanted.sort(key=lambda c: (order[c.segment_id], c.id))
        return [CommissionView(c, by_id[c.segment_id], campaign.budget.currency) for c in wanted]

    def add_commission(self, principal: Principal, program_id: int, spec: CommissionSpec) -> CommissionView:
        now = self._clock()
        with self._uow() as uow:
            program, campaign = _program(uow, principal, program_id, for_update=True)
            currency = campaign.budget.currency
            segment = self._segment_or_standard(uow, program.id, spec.segment_id)
            rate, categories, thresholds = _terms(spec, currency)
            created = CommissionType(
                id=self._ids.next_id(),
                program_id=program.id,
                segment_id=segment.id,
                name=_name(spec.name),
                event_type=_event_type(spec.event_type),
                rate=rate,
                categories=categories,
                thresholds=thresholds,
                created_at=now,
            )
            if not uow.programs.add_commission(created):
                raise _duplicate_commission(segment, created.event_type)
            uow.commit()
        return CommissionView(created, segment, currency)

    def update_commission(
        self, principal: Principal, program_id: int, commission_id: int, changes: CommissionChanges
    ) -> CommissionView:
        with self._uow() as uow:
            program, campaign = _program(uow, principal, program_id, for_update=True)
            currency = campaign.budget.currency
            before = _commission(uow, program.id, commission_id)
            segment = _segment(uow, program.id, changes.segment_id or before.segment_id)
            spec = CommissionSpec(
                name=before.name if changes.name is None else changes.name,
                event_type=before.event_type if changes.event_type is None else changes.event_type,
                rate=RateSpec(
                    _spec(before.rate, currency).type if changes.type is None else changes.type,
                    before.rate.micros if changes.value_micros is None else changes.value_micros,
                ),
                categories=(
                    tuple((c.category, _spec(c.rate, currency)) for c in before.categories)
                    if changes.categories is None
                    else changes.categories
                ),
                thresholds=(
                    tuple((t.order_value_micros, _spec(t.rate, currency)) for t in before.thresholds)
                    if changes.thresholds is None
                    else changes.thresholds
                ),
            )
            rate, categories, thresholds = _terms(spec, currency)
            after = replace(
                before,
                segment_id=segment.id,
                name=_name(spec.name),
                event_type=_event_type(spec.event_type),
                rate=rate,
                categories=categories,
                thresholds=thresholds,
            )
            clash = (after.segment_id, after.event_type) != (before.segment_id, before.event_type) and any(
                c.segment_id == after.segment_id and c.event_type == after.event_type
                for c in uow.programs.commissions([program.id])
            )
            if clash:
                raise _duplicate_commission(segment, after.event_type)
            if after != before:
                uow.programs.update_commission(after)
            uow.commit()
        return CommissionView(after, segment, currency)

    def delete_commission(self, principal: Principal, program_id: int, commission_id: int) -> None:
        with self._uow() as uow:
            program, _ = _program(uow, principal, program_id, for_update=True)
            uow.programs.delete_commission(_commission(uow, program.id, commission_id).id)
            uow.commit()

    @staticmethod
    def _segment_or_standard(uow: UnitOfWork, program_id: int, segment_id: int | None) -> Segment:
        if segment_id is not None:
            return _segment(uow, program_id, segment_id)
        standard = uow.programs.standard_segment(program_id)
        assert standard is not None, "every program has its standard segment"
        return standard


# --- look-ups: another tenant's objects are not found ------------------------------------------


def _campaign(
    uow: UnitOfWork, principal: Principal, campaign_id: int, *, for_update: bool = False
) -> Campaign:
    scope = None if principal.is_network else principal.account_id
    campaign = uow.campaigns.get(campaign_id, account_id=scope, for_update=for_update)
    if campaign is None:
        raise NotFound(f"offer {render(OFFER_PREFIX, campaign_id)} not found", field="offer_id")
    return campaign


def _program(
    uow: UnitOfWork, principal: Principal, program_id: int, *, for_update: bool = False
) -> tuple[Program, Campaign]:
    """The program and its campaign. `for_update` locks the campaign's row (PostgreSQL): writes
    to one program's segments and commission types take turns."""
    campaign = None
    scope = None if principal.is_network else principal.account_id
    program = uow.programs.get(program_id, account_id=scope)
    if program is not None:
        campaign = uow.campaigns.get(program_id, for_update=for_update)
    if program is None or campaign is None:
        raise NotFound(f"program {render(OFFER_PREFIX, program_id)} not found", field="program_id")
    return program, campaign


def _segment(uow: UnitOfWork, program_id: int, segment_id: int) -> Segment:
    segment = uow.programs.segment(segment_id, program_id=program_id)
    if segment is None:
        raise NotFound(f"segment {render(SEGMENT_PREFIX, segment_id)} not found", field="segment_id")
    return segment


def _commission(uow: UnitOfWork, program_id: int, commission_id: int) -> CommissionType:
    found = uow.programs.commission(commission_id, program_id=program_id)
    if found is None:
        raise NotFound(
            f"commission type {render(COMMISSION_PREFIX, commission_id)} not found", field="commission_id"
        )
    return found


def _check_feeds(uow: UnitOfWork, feed_ids: Sequence[int], account_id: int) -> None:
    """Feeds are retailers (product catalogs) of the program's own advertiser."""
    for feed_id in feed_ids:
        if uow.retailers.get(feed_id, account_id=account_id) is None:
            raise ValidationFailed(
                f"no retailer {render(RETAILER_PREFIX, feed_id)} of this advertiser: a program's feeds "
                "are the advertiser's own product catalogs (POST /v2/retailers)",
                field="feed_ids",
                code="unknown_feed",
            )


def _duplicate_segment(name: str) -> Conflict:
    return Conflict(
        f"the program has a segment named {name!r} already", field="name", code="duplicate_segment"
    )


def _duplicate_commission(segment: Segment, event_type: str) -> Conflict:
    return Conflict(
        f"segment {segment.name!r} pays for {event_type!r} already: change that commission type instead",
        field="event_type",
        code="duplicate_commission",
    )


# --- validation ---------------------------------------------------------------------------------


def _checked_settings(s: ProgramSettings) -> ProgramSettings:
    market = s.market.strip().upper()
    if market not in COUNTRIES:
        raise ValidationFailed(f"not an ISO 3166-1 alpha-2 country code: {s.market}", field="market")
    if not 1 <= s.cookie_duration_days <= MAX_COOKIE_DAYS:
        raise ValidationFailed(
            f"cookie_duration_days must be 1-{MAX_COOKIE_DAYS}", field="cookie_duration_days"
        )
    if s.category_id is not None and not 0 <= s.category_id <= MAX_CATEGORY_ID:
        raise ValidationFailed(f"category_id must be 0 to {MAX_CATEGORY_ID}", field="category_id")
    category_name = (s.category_name or "").strip() or None
    if category_name is not None and len(category_name) > MAX_NAME:
        raise ValidationFailed(f"category_name is longer than {MAX_NAME} characters", field="category_name")
    return replace(
        s,
        market=market,
        category_name=category_name,
        program_url=_url(s.program_url, "program_url"),
        logo_url=_url(s.logo_url, "logo_url"),
        feed_ids=tuple(dict.fromkeys(s.feed_ids)),  # once each, in the order given
    )


def _same_settings(a: Program, b: Program) -> bool:
    return replace(a, updated_at=b.updated_at) == b


def _url(text: str | None, field: str) -> str | None:
    if text is None or not text.strip():
        return None
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise ValidationFailed(f"{field} must be an http(s) URL of at most {MAX_URL} characters", field=field)
    return url


def _name(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed(f"name must be 1-{MAX_NAME} characters", field="name")
    return name


def _event_type(text: str) -> str:
    if not EVENT_TYPE.match(text):
        raise ValidationFailed(
            "event_type must be a conversion event type: 1-64 lowercase letters, digits or underscores, "
            "starting with a letter (purchase, lead, sign_up, install, ...)",
            field="event_type",
        )
    return text


def _rate(spec: RateSpec, currency: str, field: str) -> Rate:
    """`field` names the rate's place in the body: `value` or `categories.0` ..."""
    prefix = "" if field == "value" else f"{field}."
    value_field = f"{prefix}value"
    kind = spec.type.strip()
    percent = kind == PERCENT
    if not percent and kind.upper() != currency:
        raise ValidationFailed(
            f'type is the program\'s currency ({currency}) for a fixed amount, or "%" for a percentage '
            f"of the order value; not {spec.type!r}",
            field=f"{prefix}type",
        )
    if spec.value_micros < 0:
        raise ValidationFailed("a commission cannot be negative", field=value_field)
    if percent and spec.value_micros > MAX_PERCENT_MICROS:
        raise ValidationFailed("a percentage is at most 100", field=value_field)
    if spec.value_micros > MAX_RATE_MICROS:
        raise ValidationFailed("the amount is too large", field=value_field)
    return Rate(percent, spec.value_micros)


def _terms(
    spec: CommissionSpec, currency: str
) -> tuple[Rate, tuple[CategoryRate, ...], tuple[Threshold, ...]]:
    base = _rate(spec.rate, currency, "value")
    if len(spec.categories) > MAX_RULES or len(spec.thresholds) > MAX_RULES:
        field = "categories" if len(spec.categories) > MAX_RULES else "thresholds"
        raise ValidationFailed(f"at most {MAX_RULES} {field} per commission type", field=field)
    categories: list[CategoryRate] = []
    seen: set[str] = set()
    for i, (name, rate) in enumerate(spec.categories):
        category = name.strip()
        if not 1 <= len(category) <= MAX_NAME:
            raise ValidationFailed(f"a category is 1-{MAX_NAME} characters", field=f"categories.{i}.category")
        if category.casefold() in seen:  # matched case-insensitively: two would be ambiguous
            raise ValidationFailed(f"category {category!r} is listed twice", field=f"categories.{i}.category")
        seen.add(category.casefold())
        categories.append(CategoryRate(category, _rate(rate, currency, f"categories.{i}")))
    thresholds: list[Threshold] = []
    for i, (order_value, rate) in enumerate(spec.thresholds):
        if order_value < 0:
            raise ValidationFailed("an order value cannot be negative", field=f"thresholds.{i}.order_value")
        if any(t.order_value_micros == order_value for t in thresholds):
            raise ValidationFailed(
                "each threshold needs its own order value", field=f"thresholds.{i}.order_value"
            )
        thresholds.append(Threshold(order_value, _rate(rate, currency, f"thresholds.{i}")))
    thresholds.sort(key=lambda t: t.order_value_micros)
    return base, tuple(categories), tuple(thresholds)


def _spec(rate: Rate, currency: str) -> RateSpec:
    return RateSpec(PERCENT if rate.percent else currency, rate.micros)
