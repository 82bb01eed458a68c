"""Clicks and impressions: the money path's entry. Every request is logged, even a flagged one
(as IVT, never billed), and answered only once its event is in the event log.

Campaigns and publishers are looked up through a short-lived cache (`CachedLookups`): the
click path must not pay a database read per request, and a paused campaign's links stop
redirecting within its delay.

A CPC offer's click is charged like a sponsored one (`SpendService`: the campaign's caps and the
prepaid balance, all of the price or nothing): the charge commits first, the event is appended
next, the redirect is answered last; a crash in between is repaired by the charged clicks' sweep
(`SponsoredService.log_pending`) from the ledger row. A click that pays nothing writes no row.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from auctera.domain import ids as idfmt
from auctera.domain.accounts import Account, AccountKind
from auctera.domain.campaigns import (
    AFFILIATE_TYPES,
    Campaign,
    CampaignStatus,
    CampaignType,
    Visibility,
    links_in_flight,
)
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import RequestFacts, Verdict
from auctera.domain.programs import ApprovalStatus
from auctera.domain.tracking import (
    LinkError,
    LinkParams,
    country_from_headers,
    deep_link_allowed,
    destination,
    device_type,
    parse_link,
)
from auctera.services.caching import CachedLookups
from auctera.services.clock import Ids
from auctera.services.fraud import Traffic
from auctera.services.group_commit import GroupCommit
from auctera.services.ports import EventStore
from auctera.services.spend import Charge, Click, SpendService, charged_event

UID_COOKIE = "auc_uid"  # first-party visitor id on the tracking host, ties touches into paths
MAX_HEADER = 512  # user agent and referrer are cut to this length in the log


class TrackingRefused(Exception):
    """A tracking request we answer with a page rather than the advertiser's URL."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)  # not frozen: made per request (see Event)
class Redirect:
    location: str
    click_id: str
    uid: str  # the visitor id to keep in the cookie


@dataclass(frozen=True, slots=True)
class Logged:
    """An impression logged."""

    event_id: int
    uid: str


class RecentClicks:
    """Clicks this process logged lately, by id: a postback usually follows its click within
    minutes, and finding it here spares a query of the event log. Bounded LRU."""

    def __init__(self, size: int = 200_000) -> None:
        self._size = size
        self._clicks: OrderedDict[int, Event] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, click: Event) -> None:
        with self._lock:
            self._clicks[click.id] = click
            if len(self._clicks) > self._size:
                self._clicks.popitem(last=False)

    def get(self, click_id: int) -> Event | None:
        with self._lock:
            return self._clicks.get(click_id)


@dataclass(slots=True)  # not frozen: made per request (see Event)
class BegunClick:
    """A click resolved and screened: its event before any charge, and where it leads (affiliate,
    DSP and sponsored clicks alike)."""

    event: Event
    location: str
    click_id: str  # as rendered
    uid: str


@dataclass(slots=True)  # not frozen: made per request (see Event)
class TrackingRequest:
    """What the hot-path handler passes on: the query string and the request's facts."""

    query: str
    facts: RequestFacts
    referrer: str | None
    uid: str | None  # the visitor cookie, when the browser sent one


class TrafficScreen(Protocol):
    """The fraud filters as the hot paths use them (`services.fraud.FraudFilter`)."""

    def check_request(self, facts: RequestFacts, traffic: Traffic = Traffic.CLICK) -> Verdict: ...

    def is_ivt(self, verdict: Verdict) -> bool:
        """Whether a request so judged is invalid traffic: logged, counted as IVT, never billed."""
        ...


class TrackingService:
    def __init__(
        self,
        events: EventStore,
        ids: Ids,
        screen: TrafficScreen,
        countries: frozenset[str],
        lookups: CachedLookups,
        spend: SpendService,
        country_of_ip: Callable[[str], str | None] | None = None,
    ) -> None:
        self._events = events
        self._ids = ids
        self._screen = screen
        self._countries = countries
        self._country_of_ip = country_of_ip
        self._lookups = lookups
        self.recent_clicks = RecentClicks()
        # CPC clicks are charged like sponsored ones (the same ledger, caps and crash sweep).
        self._spend = spend
        self._charges = GroupCommit(spend.charge_many)

    # --- the hot paths ------------------------------------------------------------------------

    def click(self, request: TrackingRequest) -> Redirect:
        """Resolve, screen, charge a paid click (a transaction of its own: PostgreSQL's path, in
        the threadpool, where a charge may wait on its campaign's row lock), log, redirect."""
        begun, due = self._begin_click(request)
        charge = None if due is None else self._spend.charge(due)
        return self._finish_click(begun, charge)

    async def click_grouped(self, request: TrackingRequest) -> Redirect:
        """`click` on the event loop (SQLite): the paid clicks arriving together are charged in
        one transaction (`GroupCommit`), each under every cap as if it came alone. A click that
        pays nothing (CPA offers, DSP campaigns, IVT) never waits on a group."""
        begun, due = self._begin_click(request)
        if due is None:
            return self._finish_click(begun, None)
        return self._finish_click(begun, await self._charges.submit(due))

    def _begin_click(self, request: TrackingRequest) -> tuple[BegunClick, Click | None]:
        """The click resolved, screened and its event made; and the charge to make, if it pays."""
        link, campaign = self._resolve(request, needs_destination=True)
        assert campaign.destination_url is not None  # checked by _resolve
        landing = campaign.destination_url
        if link.product_id is not None or link.deep_url is not None:
            landing = self._landing(link, campaign)
        verdict = self._screen.check_request(request.facts)
        click_id = self._ids.next_id()
        rendered = idfmt.render(idfmt.CLICK_PREFIX, click_id)
        uid = request.uid or _new_uid()
        # CPC offers pay the publisher per click, and the advertiser is charged as much: under the
        # campaign's caps and the prepaid balance (`SpendService`), else for nothing.
        paid = campaign.payout_micros or 0 if campaign.type is CampaignType.AFFILIATE_CPC else 0
        event = self._event(EventType.CLICK, click_id, campaign, link, request, uid, verdict, rendered, paid)
        begun = BegunClick(event, destination(landing, rendered, link), rendered, uid)
        if event.cost_micros == 0:  # nothing to pay, or IVT
            return begun, None
        return begun, Click.of_event(event, event.cost_micros)

    def _finish_click(self, begun: BegunClick, charge: Charge | None) -> Redirect:
        # What was charged: the price, or nothing and the cap that refused it.
        event = begun.event if charge is None else charged_event(begun.event, charge)
        self._events.append(event)  # durable before the visitor is sent on
        if charge is not None:
            self._spend.event_logged(charge)
        self.recent_clicks.add(event)
        return Redirect(begun.location, begun.click_id, begun.uid)

    def impression(self, request: TrackingRequest, *, viewable: bool = False) -> Logged:
        link, campaign = self._resolve(request, needs_destination=False)
        uid = request.uid or _new_uid()
        kind = EventType.VIEWABLE_IMPRESSION if viewable else EventType.IMPRESSION
        verdict = self._screen.check_request(request.facts, Traffic.IMPRESSION)
        event = self._event(kind, self._ids.next_id(), campaign, link, request, uid, verdict)
        self._events.append(event)
        return Logged(event.id, uid)

    def find_click(self, click_id: int) -> Event | None:
        """The click event with this id (from this process's recent clicks, else the log)."""
        found = self.recent_clicks.get(click_id)
        if found is None:
            issued = datetime.fromtimestamp(idfmt.issued_at_ms(click_id) / 1000, tz=UTC)
            found = self._events.find_event(click_id, issued)
            if found is None or found.type is not EventType.CLICK:
                return None
            self.recent_clicks.add(found)  # its other conversions will not query the log again
        return found if found.type is EventType.CLICK else None

    # --- lookups --------------------------------------------------------------------------------

    def _resolve(self, request: TrackingRequest, *, needs_destination: bool) -> tuple[LinkParams, Campaign]:
        try:
            link = parse_link(request.query)
        except LinkError as exc:
            raise TrackingRefused(
                400, f"This tracking link is malformed ({exc.field}: {exc.message})."
            ) from None
        campaign = self._lookups.campaign(link.campaign_id)
        if campaign is None or self._hidden(link, campaign):
            raise TrackingRefused(404, "This link does not lead to any offer.")
        if campaign.status is CampaignStatus.ARCHIVED:
            raise TrackingRefused(410, "This offer has ended and its links no longer work.")
        if campaign.status is not CampaignStatus.ACTIVE or not links_in_flight(
            campaign, request.facts.at.date()
        ):
            raise TrackingRefused(404, "This offer is not running right now.")
        if needs_destination and not campaign.destination_url:
            raise TrackingRefused(404, "This campaign has no landing page to send visitors to.")
        if campaign.type in AFFILIATE_TYPES:
            self._check_publisher(link, campaign)
        elif link.publisher_id is not None:
            # A campaign's own links name no publisher (GET /v2/offers/links builds publisher links
            # for offers only): one added by hand would credit a publisher with the campaign's traffic.
            raise TrackingRefused(404, "This campaign is not an offer publishers can run.")
        return link, campaign

    def _check_publisher(self, link: LinkParams, campaign: Campaign) -> None:
        """The publisher may run the offer: a channel's link (`ch=`) needs that channel of that
        publisher approved. (A private offer's link without one needs any approved application of
        the publisher, publisher-wide or a channel's, as GET /v2/offers/links gives such links:
        `_hidden`.)"""
        if link.publisher_id is None:
            raise TrackingRefused(400, "This offer link names no publisher (p=).")
        self._publisher(link.publisher_id)
        if link.channel_id is not None:
            application = self._lookups.application(campaign.id, link.publisher_id, link.channel_id)
            if (
                application is None
                or application.status is not ApprovalStatus.APPROVED
                or application.publisher_id != link.publisher_id
            ):
                raise TrackingRefused(404, "This channel is not approved for this offer.")

    def _hidden(self, link: LinkParams, campaign: Campaign) -> bool:
        """A private offer's link from a publisher it has not approved leads nowhere, whatever
        the offer's state: its answers must not tell such an offer from an id that does not exist."""
        return (
            campaign.visibility is Visibility.PRIVATE
            and campaign.type in AFFILIATE_TYPES
            and (link.publisher_id is None or not self._lookups.approved(campaign.id, link.publisher_id))
        )

    def _landing(self, link: LinkParams, campaign: Campaign) -> str:
        """Where a product link (`pr=`) or a deep link (`url=`) lands: a product of one of the
        advertiser's catalogs, or a page on its sites (never an open redirect)."""
        if link.product_id is not None:
            if link.deep_url is not None:
                raise TrackingRefused(400, "This link names both a product (pr=) and a page (url=).")
            product = self._lookups.product(link.product_id)
            if product is None or product.account_id != campaign.account_id:
                raise TrackingRefused(404, "This link names a product the advertiser does not sell.")
            return product.url
        assert link.deep_url is not None
        sites = (campaign.destination_url, *self._lookups.program_sites(campaign.id))
        if not deep_link_allowed(link.deep_url, sites):
            raise TrackingRefused(400, "This link's url= leads off the advertiser's site.")
        return link.deep_url

    def _publisher(self, publisher_id: int) -> Account:
        publisher = self._lookups.account(publisher_id)
        if publisher is None or publisher.kind is not AccountKind.PUBLISHER:
            raise TrackingRefused(404, "This link names an unknown publisher.")
        return publisher

    def _event(
        self,
        kind: EventType,
        event_id: int,
        campaign: Campaign,
        link: LinkParams,
        request: TrackingRequest,
        uid: str,
        verdict: Verdict,
        click_id: str | None = None,
        paid_micros: int = 0,
    ) -> Event:
        """The event of a request; `paid_micros` is charged and paid out unless it is IVT."""
        ivt = self._screen.is_ivt(verdict)
        paid = 0 if ivt else paid_micros
        visitor = Visitor.of(request, uid, verdict, link.attrs, self._countries, self._country_of_ip)
        return Event(
            id=event_id,
            type=kind,
            at=request.facts.at,
            account_id=campaign.account_id,
            campaign_id=campaign.id,
            publisher_id=link.publisher_id,
            creative_id=link.creative_id,
            country=visitor.country,
            device_type=visitor.device_type,
            click_id=click_id,
            cost_micros=paid,
            payout_micros=paid,
            currency=campaign.budget.currency,
            ivt=ivt,
            attrs=visitor.attrs,
        )


@dataclass(slots=True)  # not frozen: made per request (see Event)
class Visitor:
    """What every tracked request records of its visitor, whatever it is a visit of."""

    country: str | None
    device_type: str
    attrs: dict[str, object]

    @staticmethod
    def of(
        request: TrackingRequest,
        uid: str,
        verdict: Verdict,
        own: Mapping[str, object],
        countries: frozenset[str],
        country_of_ip: Callable[[str], str | None] | None,
    ) -> Visitor:
        """`own`: the route's attributes (sub ids, the auction's), listed first in the event."""
        facts = request.facts
        country = country_from_headers(facts.headers, countries)
        if country is None and country_of_ip is not None:
            country = country_of_ip(facts.ip)
        attrs = {**own, "ip": facts.ip, "user_agent": facts.user_agent[:MAX_HEADER], "uid": uid}
        if request.referrer:
            attrs["referrer"] = request.referrer[:MAX_HEADER]
        if verdict.signals:
            attrs["fraud_score"] = round(verdict.score, 4)
            attrs["fraud_signals"] = [s.as_dict() for s in verdict.signals]
        device = device_type(facts.user_agent, facts.headers.get("sec-ch-ua-mobile")).value
        return Visitor(country, device, attrs)


def _new_uid() -> str:
    return os.urandom(12).hex()  # what secrets.token_hex(12) does, without its two calls
