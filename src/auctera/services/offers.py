"""The publisher's side of affiliate campaigns: the offers it may run, and its tracking links.

An offer is an `affiliate_cpa` / `affiliate_cpc` campaign that is active and public, or
private with an approved application of the publisher (publisher-wide or for any of its
channels: `services/channels.py`). Publishers use their own key; the network operator acts for a
publisher by naming it. An advertiser has no catalogue: that is a 403 (its account kind), never
a hidden 404. A link for one channel (`ch=`) is given only when that channel is approved.

Links carry no signature: the click handler looks the offer and the publisher up on every
click (`services/tracking.py`), so a forged `p=` only credits the publisher it names and a
forged `o=` for an offer that publisher may not run is refused. An offer that is not open
answers 404 here exactly like an unknown id, so nothing about other tenants leaks.

What an offer pays is what the commission engine would pay this publisher: the flat payout until
the offer's program has commission types, then the types that apply to the publisher's segment,
chosen by the engine itself (`domain.programs.commission`) so the list cannot promise one thing
while postbacks pay another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.campaigns import AFFILIATE_TYPES, Campaign, CampaignStatus, CampaignType, Visibility
from auctera.domain.events import Totals
from auctera.domain.money import MICROS
from auctera.domain.programs import ApprovalStatus, CommissionType, commission
from auctera.domain.tracking import MAX_SUB_ID_LENGTH, SUB_IDS, tracking_links
from auctera.errors import Forbidden, NotFound, ValidationFailed
from auctera.services.campaigns import COUNTRIES, DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from auctera.services.clock import Clock
from auctera.services.ports import EventStore, UnitOfWork, UnitOfWorkFactory

OFFER_PREFIX = "off"  # /v2 renders an offer's (campaign's) id as off_<base36>, as the seed does
# EPC looks back this far from now (UTC instants, no calendar days: every publisher, whatever
# its time zone, sees the same figure), long enough to smooth out a quiet day.
EPC_WINDOW = timedelta(days=7)
_CENT = Decimal("0.01")
_QUARTER_HOUR = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Offer:
    campaign: Campaign
    advertiser: str  # the owning account's name
    epc: Decimal | None  # payout per click over EPC_WINDOW, to the cent; None without clicks
    # The program's commission types that price this publisher's conversions, one per event type
    # (by event type); None when the program has none (or no program settings): the flat payout.
    commissions: tuple[CommissionType, ...] | None = None

    @property
    def payout_micros(self) -> int | None:
        """One amount per action, where there is one: a CPC offer's per click (the click handler
        pays it whatever the program says), a CPA offer's flat payout while its program has no
        commission types; None once commission types price each conversion (`commissions`)."""
        if self.commissions is not None and self.campaign.type is CampaignType.AFFILIATE_CPA:
            return None
        return self.campaign.payout_micros


@dataclass(frozen=True, slots=True)
class OfferPage:
    offers: list[Offer]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class OfferLinks:
    tracking_url: str
    impression_pixel: str


def is_running(campaign: Campaign) -> bool:
    """An affiliate offer taking traffic now, public or private."""
    return campaign.type in AFFILIATE_TYPES and campaign.status is CampaignStatus.ACTIVE


def is_open(campaign: Campaign) -> bool:
    """Whether any publisher may run the offer now (the click handler applies the same rules)."""
    return is_running(campaign) and campaign.visibility is Visibility.PUBLIC


def epc(totals: Totals) -> Decimal | None:
    """Earnings per click in currency units, half-even to the cent; exact Decimal arithmetic on
    integer micros (payout net of reversals, clicks without invalid traffic: the log's rules)."""
    if totals.clicks <= 0:
        return None
    value = Decimal(totals.payout_micros) / (totals.clicks * MICROS)
    return value.quantize(_CENT, ROUND_HALF_EVEN)


class OfferService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, events: EventStore, tracking_url: str) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        self._tracking_url = tracking_url

    def list_offers(
        self,
        principal: Principal,
        geo: str | None,
        cursor: str | None,
        limit: int = DEFAULT_PAGE,
        *,
        publisher_id: int | None = None,
    ) -> OfferPage:
        """The offers open to the publisher (the caller, or the one a network key names), newest
        first; `geo` keeps those allowing that country (worldwide offers always do)."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        country = _country(geo) if geo is not None else None
        before = decode_cursor(cursor) if cursor else None
        with self._uow(read_only=True) as uow:
            publisher = acting_publisher(uow, principal, publisher_id, _NOT_A_PUBLISHER)
            rows = uow.campaigns.open_offers(country, before, limit + 1)  # one more: is there a next page
            rows = _merged(rows, _approved_private(uow, publisher, country, before), limit + 1)
            page, more = rows[:limit], len(rows) > limit
            names: dict[int, str] = {}
            for account_id in {c.account_id for c in page}:
                account = uow.accounts.get(account_id)
                names[account_id] = account.name if account is not None else ""
            terms = _publisher_terms(uow, publisher, [c.id for c in page])
        earnings = self._epc(page)
        return OfferPage(
            [Offer(c, names[c.account_id], earnings.get(c.id), terms.get(c.id)) for c in page],
            encode_cursor(page[-1].id) if more else None,
        )

    def links(
        self,
        principal: Principal,
        offer_id: int | None,
        sub_ids: Mapping[str, str | None],
        *,
        publisher_id: int | None = None,
        channel_id: int | None = None,
        channel_given: bool = False,
    ) -> OfferLinks:
        """The click URL and impression pixel of an open offer for this publisher. Empty sub ids
        are left out of the link. `offer_id` None is an id that did not parse: as unknown as a
        missing one, after the caller's kind is checked (an advertiser is told 403 either way).
        With a channel (`channel_given`; None: an id that did not parse, 404) the links carry it,
        and are given only when that channel of the publisher is approved for the offer (403)."""
        given = _sub_ids(sub_ids)
        with self._uow(read_only=True) as uow:
            publisher = acting_publisher(uow, principal, publisher_id, _NOT_A_PUBLISHER)
            campaign = uow.campaigns.get(offer_id) if offer_id is not None else None
            runs = campaign is not None and (
                is_open(campaign) or approved_private_offer(uow, campaign, publisher)
            )
            if campaign is None or not runs:
                raise NotFound("offer not found", field="offer_id")
            if channel_given:
                if channel_id is None or uow.channels.get(channel_id, account_id=publisher) is None:
                    raise NotFound("channel not found", field="channel_id")
                application = uow.channels.application_for(
                    campaign.id, publisher_id=publisher, channel_id=channel_id
                )
                if application is None or application.status is not ApprovalStatus.APPROVED:
                    raise Forbidden("this channel is not approved for this offer", field="channel_id")
        click, pixel = tracking_links(
            self._tracking_url, campaign.id, publisher, given, offer=True, channel_id=channel_id
        )
        return OfferLinks(click, pixel)

    # --- helpers ---------------------------------------------------------------------------

    def _epc(self, offers: Sequence[Campaign]) -> dict[int, Decimal | None]:
        """One event-log query per advertiser on the page (the log is partitioned by account)."""
        # The window ends at the next quarter hour (nothing is logged in the future) and starts
        # EPC_WINDOW before: the same bounds for 15 minutes, so the event store answers from its
        # cached per-account sums of compacted segments instead of planning a new window each call.
        end = _next_quarter_hour(self._clock())
        windows: dict[str, tuple[datetime, datetime]] = {"epc": (end - EPC_WINDOW, end)}
        by_account: dict[int, list[int]] = {}
        for c in offers:
            by_account.setdefault(c.account_id, []).append(c.id)
        found: dict[int, Decimal | None] = {}
        for account_id, ids in by_account.items():
            totals = self._events.campaign_totals_windows(account_id, ids, windows)["epc"]
            found.update({campaign_id: epc(t) for campaign_id, t in totals.items()})
        return found


def approved_private_offer(uow: UnitOfWork, campaign: Campaign, publisher: int) -> bool:
    """A private offer that would be open but for its visibility, with an approved application
    of the publisher: publisher-wide or for any of its channels (the click handler agrees)."""
    return (
        campaign.visibility is Visibility.PRIVATE
        and is_running(campaign)
        and bool(
            uow.channels.applications(
                publisher_id=publisher, program_ids=[campaign.id], status=ApprovalStatus.APPROVED, limit=1
            )
        )
    )


def _approved_private(
    uow: UnitOfWork, publisher: int, country: str | None, before: int | None
) -> list[Campaign]:
    """The open private offers the publisher is approved for, newest first, below `before` and
    allowing `country`. Few per publisher: read whole and merged into the public page."""
    approved = {
        a.program_id
        for a in uow.channels.applications(publisher_id=publisher, status=ApprovalStatus.APPROVED)
        if before is None or a.program_id < before
    }
    found = []
    for program_id in sorted(approved, reverse=True):
        campaign = uow.campaigns.get(program_id)
        if (
            campaign is not None
            and campaign.visibility is Visibility.PRIVATE
            and is_running(campaign)
            and (country is None or not campaign.targeting.geo or country in campaign.targeting.geo)
        ):
            found.append(campaign)
    return found


def _publisher_terms(
    uow: UnitOfWork, publisher: int, offer_ids: Sequence[int]
) -> dict[int, tuple[CommissionType, ...]]:
    """For each offer whose program has commission types, those that price this publisher's
    conversions. The segment is the one the engine uses for a click without a channel: the
    publisher-wide application's when approved, else the standard segment (a link with `ch=` is
    priced by that channel's segment instead). Three queries for the whole page."""
    by_program: dict[int, list[CommissionType]] = {}
    for t in uow.programs.commissions(offer_ids):
        by_program.setdefault(t.program_id, []).append(t)
    if not by_program:
        return {}
    priced = list(by_program)
    standard = {s.program_id: s.id for s in uow.programs.segments_of(priced) if s.standard}
    approved = uow.channels.applications(
        publisher_id=publisher, program_ids=priced, status=ApprovalStatus.APPROVED
    )
    segment = {a.program_id: a.segment_id for a in approved if a.channel_id is None}
    return {
        program: applicable_types(types, segment.get(program), standard.get(program))
        for program, types in by_program.items()
    }


def applicable_types(
    types: Sequence[CommissionType], segment_id: int | None, standard_segment_id: int | None
) -> tuple[CommissionType, ...]:
    """The commission type that pays each event type the program lists, for a publisher in
    `segment_id` (None: the standard segment), by event type; event types that pay nothing in
    this segment are left out. The engine itself makes each choice (its segment, then standard
    fallback), so this cannot disagree with what a postback is paid; the order value does not
    matter to which type applies, only to its rate."""
    by_id = {t.id: t for t in types}
    chosen = (
        commission(types, segment_id, standard_segment_id, event_type, 0, None, None).commission_type_id
        for event_type in sorted({t.event_type for t in types})
    )
    return tuple(by_id[i] for i in chosen if i is not None)


def _merged(public: list[Campaign], private: list[Campaign], limit: int) -> list[Campaign]:
    """Both lists (each newest first) as one, newest first, cut at `limit`."""
    if not private:
        return public
    return sorted([*public, *private], key=lambda c: c.id, reverse=True)[:limit]


def _next_quarter_hour(now: datetime) -> datetime:
    """The first quarter hour strictly after `now` (a click of this instant is in the window)."""
    floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return floor + _QUARTER_HOUR


def _country(geo: str) -> str:
    code = geo.strip().upper()
    if code not in COUNTRIES:
        raise ValidationFailed(f"not an ISO 3166-1 alpha-2 country code: {geo}", field="geo")
    return code


def _sub_ids(sub_ids: Mapping[str, str | None]) -> dict[str, str]:
    given: dict[str, str] = {}
    for name, value in sub_ids.items():
        if name not in SUB_IDS:
            raise ValidationFailed(f"unknown sub id {name}; use sub_id1 to sub_id5", field=name)
        if value is None or value == "":
            continue
        if len(value) > MAX_SUB_ID_LENGTH:
            raise ValidationFailed(f"{name} is longer than {MAX_SUB_ID_LENGTH} characters", field=name)
        given[name] = value
    return given


_NOT_A_PUBLISHER = "offers are for publisher accounts; advertisers manage their offers at /v2/campaigns"


def acting_publisher(uow: UnitOfWork, principal: Principal, publisher_id: int | None, refusal: str) -> int:
    """The publisher the caller acts for: itself, or for the network the one it names; any other
    caller (an advertiser) is refused with 403 and `refusal`."""
    if principal.kind is AccountKind.PUBLISHER:
        if publisher_id not in (None, principal.account_id):
            raise NotFound("publisher not found", field="publisher_id")
        return principal.account_id
    if not principal.is_network:
        raise Forbidden(refusal)
    if publisher_id is None:
        raise ValidationFailed(
            "network keys act for a publisher: publisher_id is required", field="publisher_id"
        )
    account = uow.accounts.get(publisher_id)
    if account is None or account.kind is not AccountKind.PUBLISHER:
        raise NotFound("publisher not found", field="publisher_id")
    return account.id
