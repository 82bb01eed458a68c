"""Sponsored clicks and impressions: the money path after an auction.

A click on a sponsored product (or a SmartLink) carries a signed click token (`domain.click_tokens`)
naming the winner, the product and the price. `SponsoredService.click` verifies it, screens the
request with the fraud filters, charges the winner (`SpendService.charge`: whole price under every
cap, or nothing; with SQLite the clicks arriving together share one transaction), logs the click
event with what was charged, and sends the visitor to the product page. Order: the charge commits
first, the event is appended next, the redirect is answered last; the next charge's transaction
marks the ledger row `logged` (`LoggedMarks`). A crash between the first two leaves a row not
`logged`, which `log_pending` turns into its event (same pattern as
`ConversionService.log_pending`). Impressions are logged, never charged.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from auctera.domain import click_tokens
from auctera.domain import ids as idfmt
from auctera.domain.campaigns import Campaign
from auctera.domain.click_tokens import ClickToken, ClickTokenError, ExpiredToken
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import Verdict
from auctera.services.caching import CachedLookups, TimedCache
from auctera.services.clock import Clock, Ids
from auctera.services.fraud import Traffic
from auctera.services.group_commit import GroupCommit
from auctera.services.ports import EventStore, LedgerEntry, UnitOfWorkFactory
from auctera.services.spend import Charge, ChargeOutcome, Click, SpendService, charged_event
from auctera.services.tracking import (
    BegunClick,
    Logged,
    Redirect,
    TrackingRefused,
    TrackingRequest,
    TrafficScreen,
    Visitor,
)

TOKEN_PARAM = "t"
CLICK_PATH = "/sp/click"
IMPRESSION_PATH = "/sp/imp"
VIEWABLE_PATH = "/sp/viewable"
# A ledger row not yet logged is left to the request writing it for this long before the sweep steps in.
IN_FLIGHT = timedelta(seconds=60)
# Impressions remembered to count a pixel fired again only once (a few hundred bytes each).
SHOWN_REMEMBERED = 500_000


class FirstSeen:
    """The first value given for each key, for the `size` keys seen last (bounded LRU): what makes
    a pixel fired twice count once. Per process: a restart, or another worker, may count a repeat."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: Hashable, value: int) -> int:
        """`value` if `key` is new (now remembered with it), else the value it was first seen with."""
        with self._lock:
            seen = self._values.setdefault(key, value)
            if seen == value and len(self._values) > self._size:
                self._values.popitem(last=False)
            return seen


@dataclass(frozen=True, slots=True)
class SponsoredUrls:
    click: str
    impression: str  # `{RAND}`: the client puts a random number there (cache busting, seed 002)
    viewable: str


class SponsoredLinks:
    """The URLs an auction answer carries for a winner: click, impression and viewable pixels, on
    the public tracking host, each with the signed token."""

    def __init__(self, tracking_url: str, secret: bytes) -> None:
        self._base = tracking_url.rstrip("/")
        self.secret = secret

    def token(self, token: ClickToken) -> str:
        return click_tokens.encode(token, self.secret)

    def urls(self, token: ClickToken) -> SponsoredUrls:
        t = self.token(token)
        return SponsoredUrls(
            click=f"{self._base}{CLICK_PATH}?{TOKEN_PARAM}={t}",
            impression=f"{self._base}{IMPRESSION_PATH}?{TOKEN_PARAM}={t}&r={{RAND}}",
            viewable=f"{self._base}{VIEWABLE_PATH}?{TOKEN_PARAM}={t}&r={{RAND}}",
        )


class SponsoredService:
    def __init__(
        self,
        events: EventStore,
        ids: Ids,
        clock: Clock,
        *,
        screen: TrafficScreen,
        spend: SpendService,
        uow: UnitOfWorkFactory,
        lookups: CachedLookups,
        secret: bytes,
        countries: frozenset[str],
        cache_seconds: float,
        country_of_ip: Callable[[str], str | None] | None = None,
        remember_click: Callable[[Event], None] | None = None,
    ) -> None:
        self._events = events
        self._ids = ids
        self._clock = clock
        self._screen = screen
        self._spend = spend
        self._uow = uow
        self._lookups = lookups
        self._secret = secret
        self._countries = countries
        self._country_of_ip = country_of_ip
        # Postbacks find sponsored clicks like any other (`TrackingService.find_click`).
        self._remember_click = remember_click
        self._product_urls: TimedCache[int, str | None] = TimedCache(cache_seconds)
        self._shown = FirstSeen(SHOWN_REMEMBERED)
        self._charges = GroupCommit(spend.charge_many)

    # --- the hot paths --------------------------------------------------------------------------

    def click(self, request: TrackingRequest) -> Redirect:
        """Verify, screen, charge (a transaction of its own), log, redirect: PostgreSQL's path,
        in the threadpool, where a charge may wait on its campaign's row lock."""
        begun, due = self._begin_click(request)
        charge = self._spend.charge(due) if isinstance(due, Click) else due
        return self._finish_click(begun, charge)

    async def click_grouped(self, request: TrackingRequest) -> Redirect:
        """`click` on the event loop (SQLite): the clicks arriving together are charged in one
        transaction (`GroupCommit`), each still under every cap as if it came alone."""
        begun, due = self._begin_click(request)
        charge = await self._charges.submit(due) if isinstance(due, Click) else due
        return self._finish_click(begun, charge)

    def _begin_click(self, request: TrackingRequest) -> tuple[BegunClick, Click | Charge]:
        """The click verified, screened and its event made; then the charge to make, or the one
        decided without charging (IVT, an expired token)."""
        token, expired = self._token(request)
        campaign = self._campaign(token)
        page = self._product_urls.get(token.product_id, self._load_product_url)
        if page is None:
            raise TrackingRefused(404, "This product is no longer available.")
        verdict = self._screen.check_request(request.facts)
        click_id = self._ids.next_id()
        rendered = idfmt.render(idfmt.CLICK_PREFIX, click_id)
        uid = request.uid or secrets.token_hex(12)
        event = self._event(EventType.CLICK, click_id, token, campaign, request, uid, verdict, rendered)
        begun = BegunClick(event, _with_click_id(page, rendered), rendered, uid)
        if event.ivt:
            return begun, Charge(ChargeOutcome.IVT)
        if expired:
            return begun, Charge(ChargeOutcome.EXPIRED)
        return begun, Click.of_event(event, token.price_micros)

    def _finish_click(self, begun: BegunClick, charge: Charge) -> Redirect:
        event = charged_event(begun.event, charge)
        self._events.append(event)  # durable before the visitor is sent on
        self._spend.event_logged(charge)
        if self._remember_click is not None:
            self._remember_click(event)
        return Redirect(begun.location, begun.click_id, begun.uid)

    def impression(self, request: TrackingRequest, *, viewable: bool = False) -> Logged:
        """Log the impression (or viewable impression) of one product of one auction, once: the
        same pixel fired again (a page session asking a SmartLink again gets the same answer and
        token; a page shown twice from cache) counts only the first time."""
        token, _ = self._token(request)  # an old cached page's impressions still count as shown
        campaign = self._campaign(token)
        uid = request.uid or secrets.token_hex(12)
        kind = EventType.VIEWABLE_IMPRESSION if viewable else EventType.IMPRESSION
        event_id = self._ids.next_id()
        first = self._shown.first((token.auction_id, token.product_id, viewable), event_id)
        if first != event_id:
            return Logged(first, uid)
        verdict = self._screen.check_request(request.facts, Traffic.IMPRESSION)
        event = self._event(kind, event_id, token, campaign, request, uid, verdict)
        self._events.append(event)
        return Logged(event.id, uid)

    # --- the crash sweep ------------------------------------------------------------------------

    def log_pending(self, batch: int = 5000) -> int:
        """Append the events of charged clicks whose ledger rows may have been written without them
        (a crash in between), unless the log has them, and mark the rows logged; returns how many
        events were appended. Rows younger than `IN_FLIGHT` are left to their request."""
        cutoff = self._clock() - IN_FLIGHT
        appended = 0
        while True:
            with self._uow(read_only=True) as uow:
                pending = [e for e in uow.spend.unlogged(batch) if e.occurred_at < cutoff]
            if not pending:
                return appended
            wanted = [_ledger_event(e) for e in pending]
            start, end = min(e.at for e in wanted), max(e.at for e in wanted)
            present = self._events.existing_ids([e.id for e in wanted], start, end)
            missing = [e for e in wanted if e.id not in present]
            self._events.append_many(missing)
            appended += len(missing)
            with self._uow() as uow:
                uow.spend.mark_logged([e.id for e in pending])
                uow.commit()

    # --- helpers --------------------------------------------------------------------------------

    def _token(self, request: TrackingRequest) -> tuple[ClickToken, bool]:
        """The request's token and whether it has expired (then the click is logged, not charged)."""
        text = _param(request.query, TOKEN_PARAM)
        if text is None:
            raise TrackingRefused(400, "This sponsored link has no click token (t=).")
        try:
            return click_tokens.decode(text, self._secret, request.facts.at), False
        except ExpiredToken as old:
            return old.token, True
        except ClickTokenError as bad:
            if bad.reason == "forged":
                raise TrackingRefused(404, "This sponsored link does not lead anywhere.") from None
            raise TrackingRefused(400, f"This sponsored link is malformed ({bad}).") from None

    def _campaign(self, token: ClickToken) -> Campaign:
        campaign = self._lookups.campaign(token.campaign_id)
        if campaign is None:  # deleted since the auction
            raise TrackingRefused(404, "This sponsored link does not lead anywhere.")
        return campaign

    def _load_product_url(self, product_id: int) -> str | None:
        with self._uow(read_only=True) as uow:
            return uow.spend.product_url(product_id)

    def _event(
        self,
        kind: EventType,
        event_id: int,
        token: ClickToken,
        campaign: Campaign,
        request: TrackingRequest,
        uid: str,
        verdict: Verdict,
        click_id: str | None = None,
    ) -> Event:
        # Ids as strings: 64-bit integers do not survive every JSON reader (doubles).
        own: dict[str, object] = {
            "placement": token.placement.value,
            "product_id": str(token.product_id),
            "auction_id": str(token.auction_id),
            "price_micros": token.price_micros,
        }
        visitor = Visitor.of(request, uid, verdict, own, self._countries, self._country_of_ip)
        return Event(
            id=event_id,
            type=kind,
            at=request.facts.at,
            account_id=campaign.account_id,
            campaign_id=campaign.id,
            publisher_id=token.publisher_id,
            line_item_id=token.line_item_id,
            click_id=click_id,
            country=visitor.country,
            device_type=visitor.device_type,
            currency=campaign.budget.currency,
            ivt=self._screen.is_ivt(verdict),
            attrs=visitor.attrs,
        )


def _ledger_event(entry: LedgerEntry) -> Event:
    """The click event of a charged click (sponsored, SmartLink or affiliate CPC), rebuilt from its
    ledger row."""
    kept: Mapping[str, Any] = entry.event_fields
    return Event(
        id=entry.click_id,
        type=EventType.CLICK,
        at=entry.occurred_at,
        account_id=entry.account_id,
        campaign_id=entry.campaign_id,
        publisher_id=entry.publisher_id,
        line_item_id=entry.line_item_id,
        creative_id=kept.get("creative_id"),  # an affiliate CPC click's (`TrackingService.click`)
        click_id=kept.get("click_id"),
        country=kept.get("country"),
        device_type=kept.get("device_type"),
        cost_micros=entry.amount_micros,
        payout_micros=entry.amount_micros,
        currency=kept.get("currency", "USD"),
        attrs={**kept.get("attrs", {}), "charge": ChargeOutcome.CHARGED.value},
    )


def _param(query: str, name: str) -> str | None:
    prefix = name + "="
    for part in query.split("&"):
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def _with_click_id(url: str, click_id: str) -> str:
    """The product page with `click_id=<id>` added, so the retailer's site can report the sale."""
    parts = urlsplit(url)
    query = f"{parts.query}&click_id={quote(click_id)}" if parts.query else f"click_id={quote(click_id)}"
    return urlunsplit(parts._replace(query=query))
