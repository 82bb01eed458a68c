"""The publisher's side of affiliate campaigns: the offers it may run, and its tracking links.

An offer is an `affiliate_cpa` / `affiliate_cpc` campaign that is active and public (private
offers need an approved application, which does not exist yet: for now nobody may run them).
Publishers use their own key; the network operator acts for a publisher by naming it. An
advertiser has no catalogue: that is a 403 (its account kind), never a hidden 404.

Links carry no signature: the click handler looks the offer and the publisher up on every
click (`services/tracking.py`), so a forged `p=` only credits the publisher it names and a
forged `o=` for an offer that publisher may not run is refused. An offer that is not open
answers 404 here exactly like an unknown id, so nothing about other tenants leaks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.campaigns import AFFILIATE_TYPES, Campaign, CampaignStatus, Visibility
from auctera.domain.events import Totals
from auctera.domain.money import MICROS
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


@dataclass(frozen=True, slots=True)
class OfferPage:
    offers: list[Offer]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class OfferLinks:
    tracking_url: str
    impression_pixel: str


def is_open(campaign: Campaign) -> bool:
    """Whether any publisher may run the offer now (the click handler applies the same rules)."""
    return (
        campaign.type in AFFILIATE_TYPES
        and campaign.status is CampaignStatus.ACTIVE
        and campaign.visibility is Visibility.PUBLIC
    )


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
            self._publisher(uow, principal, publisher_id)
            rows = uow.campaigns.open_offers(country, before, limit + 1)  # one more: is there a next page
            page, more = rows[:limit], len(rows) > limit
            names: dict[int, str] = {}
            for account_id in {c.account_id for c in page}:
                account = uow.accounts.get(account_id)
                names[account_id] = account.name if account is not None else ""
        earnings = self._epc(page)
        return OfferPage(
            [Offer(c, names[c.account_id], earnings.get(c.id)) for c in page],
            encode_cursor(page[-1].id) if more else None,
        )

    def links(
        self,
        principal: Principal,
        offer_id: int | None,
        sub_ids: Mapping[str, str | None],
        *,
        publisher_id: int | None = None,
    ) -> OfferLinks:
        """The click URL and impression pixel of an open offer for this publisher. Empty sub ids
        are left out of the link. `offer_id` None is an id that did not parse: as unknown as a
        missing one, after the caller's kind is checked (an advertiser is told 403 either way)."""
        given = _sub_ids(sub_ids)
        with self._uow(read_only=True) as uow:
            publisher = self._publisher(uow, principal, publisher_id)
            campaign = uow.campaigns.get(offer_id) if offer_id is not None else None
        if campaign is None or not is_open(campaign):
            raise NotFound("offer not found", field="offer_id")
        click, pixel = tracking_links(self._tracking_url, campaign.id, publisher, given, offer=True)
        return OfferLinks(click, pixel)

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _publisher(uow: UnitOfWork, principal: Principal, publisher_id: int | None) -> int:
        """The publisher the caller acts for: itself, or for the network the one it names."""
        if principal.kind is AccountKind.PUBLISHER:
            if publisher_id not in (None, principal.account_id):
                raise NotFound("publisher not found", field="publisher_id")
            return principal.account_id
        if not principal.is_network:
            raise Forbidden(
                "offers are for publisher accounts; advertisers manage their offers at /v2/campaigns"
            )
        if publisher_id is None:
            raise ValidationFailed(
                "network keys act for a publisher: publisher_id is required", field="publisher_id"
            )
        account = uow.accounts.get(publisher_id)
        if account is None or account.kind is not AccountKind.PUBLISHER:
            raise NotFound("publisher not found", field="publisher_id")
        return account.id

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
