"""Auctions: sponsored products on a retailer's pages, and SmartLink destinations.

Two caches keep database reads off the auctions:

- who may bid (the inventory: live line items and SmartLink CPC campaigns with the in-stock
  products they promote, the merchants, USD rates), per retailer and per SmartLink. A background
  round (`refresh_caches`, every second) asks the store whether any of it changed (a few
  aggregates, `InventoryRepository.version`) and then reloads the cached inventories, a few per
  round, while auctions go on with the ones they have; without a change, each is reloaded after
  `inventory_seconds` (5 minutes) anyway;
- what each bidder has spent and its account's prepaid balance (`auction_caches.SpendBook`),
  re-read in bulk by the same background round, from which each bidder's remaining caps and
  even-pacing participation are recomputed every `pool_seconds` (2 s by default) without a
  query. A balance is not taken from the inventory (every charge draws it, the network tops it up
  or makes the account invoiced): when a round finds one moved, every pool's headroom is
  recomputed at its next auction, so a line item its balance can no longer cover stops winning,
  and a top-up lets it win again, within a round (about a second).

The SmartLink hot path keeps the built `CandidateSet` per SmartLink, so an auction on a warm
cache reads no database: it runs the auction (`domain.auction`), signs the winner's click token
and appends one AUCTION event. (Caps are only pre-checked here: the charge checks every cap
again, so a stale cache can lose a click's charge, never overspend.)

Predicted click and conversion rates come from a `Predictor` fed in the background
(`refresh_stats`) with the sponsored events logged since its last refresh; never per request.

Every auction is logged as an AUCTION event whose id is the auction id: the placement, the
winners with their prices and every candidate with its bid, score and why it lost. The account
that ran it reads it whole (`GET /v2/auctions/{id}`); an advertiser reads its own line items'
records only.

Currencies: each auction has one currency, USD for a SmartLink, the retailer's account currency
for sponsored products. When a pool is loaded, every bidder's money (target and max bid) and
every product's (min bid, price) is converted into it with the operator's exchange rates
(`fx_rates`, exact, either direction): caps and bids round down, min bids round up, so a
converted bid or cap never exceeds the real one and a min bid is never undercut; remaining caps
are converted the same way when the headroom is recomputed. A pair whose bidder or product has
no rate to the auction currency does not take part: it is logged as lost, `no_exchange_rate`. A
winner's price is converted back into its own currency (rounded down, never above its own bid)
for the click token, which the click is charged in: the currency of the token's campaign.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.auction import (
    AuctionResult,
    BidStrategy,
    Candidate,
    CandidateSet,
    Placement,
    Pricing,
    pacing_participation,
    run_auction,
)
from auctera.domain.audiences import Targets
from auctera.domain.budgets import (
    NOTHING_SPENT,
    Caps,
    Spend,
    auto_daily_pacing,
    day_fraction,
    in_flight,
    local_day,
    remaining_micros,
)
from auctera.domain.click_tokens import ClickToken
from auctera.domain.click_tokens import Placement as TokenPlacement
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import RequestFacts
from auctera.domain.money import MICROS, convert_down, convert_up
from auctera.domain.prediction import Predictor
from auctera.errors import NotFound, ValidationFailed
from auctera.services.auction_caches import PageSessions, ReloadingCache, Seen, SpendBook, SpendReader
from auctera.services.clock import Clock, Ids
from auctera.services.fraud import Traffic
from auctera.services.fx import rates_to
from auctera.services.page_targeting import Page, page_filter
from auctera.services.ports import (
    AdStatsSource,
    Bidder,
    EventStore,
    Inventory,
    ListedProduct,
    Merchant,
    SmartLink,
    UnitOfWork,
    UnitOfWorkFactory,
)
from auctera.services.sponsored import SponsoredLinks, SponsoredUrls
from auctera.services.tracking import TrafficScreen

AUCTION_PREFIX = "au"  # /v2 renders retail auction ids as au_<base36>
MAX_SLOTS = 10
MAX_LOGGED_CANDIDATES = 2_000  # per auction event; the rest are counted by reason
POOL_SECONDS = 2.0  # remaining caps and pacing are at most this old
INVENTORY_SECONDS = 300.0  # who may bid on what is reloaded this often even without a change seen
RELOADS_PER_ROUND = 25  # inventories reloaded per background round: catching up never hogs a worker
STATS_LAG = timedelta(seconds=5)  # events younger than this may still be on their way to the log
STATS_HISTORY = timedelta(days=30)  # what the predictor learns from at start
PAGE_SESSION_SECONDS = 1800.0  # a page session repeating a SmartLink auction gets the same answer
SMARTLINK_CURRENCY = "USD"  # SmartLink auctions are run (and their prices shown) in USD (seed 002)
NO_EXCHANGE_RATE = "no_exchange_rate"  # the loss reason of a pair whose money has no rate to the auction's


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    page: Page
    slots: int = 1
    placement: str = "default"
    reserve_micros: int = 0
    pricing: Pricing = Pricing.SECOND_PRICE
    ip: str | None = None
    user_agent: str | None = None
    # Who is looking, for audience targeting: the visitor's uid (as on tracking events) and
    # member keys of identifiers the page knows (`domain.audiences.member_key`).
    uid: str | None = None
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Served:
    """One winner, as the page shows it."""

    slot: int
    bidder: Bidder
    product: ListedProduct
    merchant: Merchant
    price_micros: int  # per click, in the token: in the bidder's currency (`bidder.currency`)
    urls: SponsoredUrls  # click, impression and viewable URLs, each with the signed token
    auction_price_micros: int  # the same price in the auction's currency, as the auction set it


@dataclass(frozen=True, slots=True)
class Decision:
    auction_id: int
    served: list[Served]
    ivt: bool = False


@dataclass(frozen=True, slots=True)
class SmartLinkAnswer:
    result_id: int  # this auction's id (the AUCTION event's)
    link: SmartLink
    winner: Served | None  # None: nobody bid (or the request was IVT): the fallback applies
    usd_price: Decimal | None


@dataclass(frozen=True, slots=True)
class AuctionLog:
    """An auction as its reader may see it."""

    auction_id: int
    at: datetime
    placement: dict[str, Any]
    winners: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    ivt: bool
    complete: bool  # False: the reader sees only its own line items' records


class SmartLinkNotFound(Exception):
    """No SmartLink with this auction id."""


class SmartLinkArchived(Exception):
    """The SmartLink was archived: no auction runs, the link goes to its fallback URL."""

    def __init__(self, link: SmartLink) -> None:
        super().__init__(link.id)
        self.link = link


@dataclass(frozen=True, slots=True)
class _Pair:
    """A live (bidder, product) pair of a pool, its money converted into the auction currency
    once, when the pool is loaded (`_priced`)."""

    bidder: Bidder
    product: ListedProduct
    rate: Fraction | None  # auction currency per unit of the bidder's; None: the bidder's is the auction's
    target_bid_micros: int  # rounded down
    max_bid_micros: int | None  # rounded down
    min_bid_micros: int  # the product's, rounded up
    order_value_micros: int  # the product's price, rounded down
    avg_order_value_micros: int  # the bidder's average product price (converted), rounded down


@dataclass(frozen=True, slots=True)
class _Offer:
    """A pair that may take part, with its bidder's headroom (in the auction currency)."""

    bidder: Bidder
    product: ListedProduct
    remaining_micros: int | None
    participation: float
    pair: _Pair


@dataclass(slots=True)
class _Pool:
    """An inventory's live (bidder, product) pairs priced in the auction `currency`; `offers` adds
    each bidder's headroom, to be recomputed from `headroom_due` (monotonic seconds)."""

    pairs: list[_Pair]
    merchants: dict[int, Merchant]
    currency: str = SMARTLINK_CURRENCY  # the auction currency
    rates: dict[str, Fraction] = field(default_factory=dict)  # currency -> auction currency per unit
    unpriced: list[tuple[Bidder, ListedProduct]] = field(default_factory=list)  # no rate: lose
    offers: list[_Offer] = field(default_factory=list)
    headroom_due: float = float("-inf")
    targets: dict[int, Targets] = field(default_factory=dict)  # audience targeting, by line item/campaign
    throttled: bool = False  # some offer's even-pacing participation is below 1
    balances_seen: int = -1  # the spend book's `balance_changes` when `offers` were computed


@dataclass(slots=True)
class _LinkAuction:
    """What a SmartLink's auctions need: its pool and the candidate set built from it."""

    link: SmartLink
    owner_key: str
    pool: _Pool
    candidates: CandidateSet | None = None
    stats_version: int = -1  # the predictions the candidate set was built with
    explained_by: int | None = None  # the event explaining the candidate set's auctions (unthrottled)


class AuctionService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        events: EventStore,
        stats: AdStatsSource,
        ids: Ids,
        clock: Clock,
        *,
        screen: TrafficScreen,
        spend: SpendReader,
        links: SponsoredLinks,
        pool_seconds: float = POOL_SECONDS,
        inventory_seconds: float = INVENTORY_SECONDS,
        predictor: Predictor | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._uow = uow
        self._events = events
        self._stats = stats
        self._ids = ids
        self._clock = clock
        self._screen = screen
        self._spend = spend
        self._links_of = links
        self._predictor = predictor or Predictor()
        self.draw = draw  # the auctions' uniform random source (pacing); tests fix it
        self._stats_lock = threading.Lock()
        self._stats_until: datetime | None = None
        self._stats_version = 0  # counts the refreshes that changed the predictions
        self._pool_seconds = pool_seconds
        self._book = SpendBook()
        # bidder id -> (when due again, (remaining micros, pacing participation)); replaced whole
        # per entry, so readers on other threads see either value
        self._headrooms: dict[int, tuple[float, tuple[int | None, float]]] = {}
        self._retail_pools: ReloadingCache[int, _Pool] = ReloadingCache(inventory_seconds, 4096)
        self._links: ReloadingCache[int, _LinkAuction | None] = ReloadingCache(inventory_seconds, 65_536)
        self._inventory_version: object = None
        self._sessions = PageSessions(PAGE_SESSION_SECONDS)

    # --- sponsored products on a retailer's page ----------------------------------------------

    def decide(self, principal: Principal, retailer_id: int, request: DecisionRequest) -> Decision:
        """Run the open auction for one retailer page: the retailer's owner (or the network) only."""
        if not 1 <= request.slots <= MAX_SLOTS:
            raise ValidationFailed(f"slots must be 1-{MAX_SLOTS}", field="slots")
        now = self._clock()
        with self._uow(read_only=True) as uow:
            merchant = uow.inventory.merchant(retailer_id)
        if merchant is None or not (principal.is_network or merchant.account_id == principal.account_id):
            raise NotFound(f"retailer {idfmt.render('ret', retailer_id)} not found", field="retailer_id")
        placement = Placement(request.slots, request.reserve_micros, request.pricing)
        owner_key = f"{TokenPlacement.RETAIL.value}:{merchant.account_id}"
        auction_id = self._ids.next_id()
        pool = self._retail_pools.get(retailer_id, self._load_retail_pool)
        context = {
            "kind": TokenPlacement.RETAIL.value,
            "retailer_id": str(retailer_id),
            "name": request.placement,
            "page": request.page.as_json(),
            "slots": placement.slots,
            "reserve_micros": placement.reserve_micros,  # in the auction currency, as every amount
            "pricing": placement.pricing.value,
            "currency": pool.currency,
        }
        facts = RequestFacts(ip=request.ip or "", user_agent=request.user_agent or "", headers={}, at=now)
        if self._screen.is_ivt(self._screen.check_request(facts, Traffic.BID_REQUEST)):
            self._log(auction_id, now, merchant.account_id, context, [], _listed({}), ivt=True)
            return Decision(auction_id, [], ivt=True)
        self._with_headroom(pool)
        fits = page_filter(request.page, (o.product for o in pool.offers))
        offers = self._audience_eligible([o for o in pool.offers if fits(o.product)], pool, request)
        unpriced = [u for u in pool.unpriced if fits(u[1])]
        served: list[Served] = []
        result = None
        if offers:
            result = run_auction(self._candidate_set(offers, owner_key), placement, self.draw())
            served = self._served(
                result, offers, pool, auction_id, merchant.account_id, TokenPlacement.RETAIL, now
            )
        explained = self._explained(result, offers, unpriced, pool.currency)
        self._log(auction_id, now, merchant.account_id, context, served, _listed(explained))
        return Decision(auction_id, served)

    # --- SmartLinks -----------------------------------------------------------------------------

    def smartlink_auction(
        self, link_id: int, facts: RequestFacts, uuid: str | None = None
    ) -> SmartLinkAnswer:
        """The SmartLink's auction among the merchants selling its product. A page session (`uuid`)
        asking again for the same link gets the answer it got (no new auction, nothing logged).
        Raises SmartLinkNotFound, SmartLinkArchived."""
        built = self._links.get(link_id, self._load_link)
        if built is None:
            raise SmartLinkNotFound(link_id)
        if built.link.archived_at is not None:
            raise SmartLinkArchived(built.link)
        if uuid:
            seen = self._sessions.get(link_id, uuid)
            replayed = self._replayed(built, seen) if seen is not None else None
            if replayed is not None:
                return replayed
        fresh = self._with_headroom(built.pool)
        if fresh or built.candidates is None or built.stats_version != self._stats_version:
            built.candidates = self._candidate_set(built.pool.offers, built.owner_key)
            built.stats_version = self._stats_version
            built.explained_by = None
        candidates, offers = built.candidates, built.pool.offers
        now = facts.at
        result_id = self._ids.next_id()
        link = built.link
        context: dict[str, Any] = {
            "kind": TokenPlacement.SMARTLINK.value,
            "smartlink_id": str(link.id),
            "currency": built.pool.currency,
        }
        if uuid:
            context["uuid"] = uuid
        if self._screen.is_ivt(self._screen.check_request(facts, Traffic.IMPRESSION)):
            self._log(result_id, now, link.account_id, context, [], _listed({}), ivt=True)
            answer = SmartLinkAnswer(result_id, link, None, None)
        else:
            result = None
            served: list[Served] = []
            if offers:
                result = run_auction(candidates, Placement(), self.draw())
                served = self._served(
                    result,
                    offers,
                    built.pool,
                    result_id,
                    link.account_id,
                    TokenPlacement.SMARTLINK,
                    now,
                )
            self._log(
                result_id, now, link.account_id, context, served, self._link_explained(built, result, now)
            )
            winner = served[0] if served else None
            answer = SmartLinkAnswer(
                result_id, link, winner, _usd(winner.product, built.pool) if winner else None
            )
        if uuid:
            won = answer.winner
            self._sessions.put(
                link_id,
                uuid,
                (result_id, now, won.bidder.id, won.product.id, won.price_micros, won.auction_price_micros)
                if won
                else (result_id, now),
            )
        return answer

    def _replayed(self, built: _LinkAuction, seen: Seen) -> SmartLinkAnswer | None:
        """The answer a page session got, rebuilt from what `PageSessions` keeps: the same auction
        id, winner and price give the very same click token (it is signed deterministically).
        None when the winner left the SmartLink's pool meanwhile: then a new auction runs."""
        result_id, issued = seen[0], seen[1]
        if len(seen) == 2:
            return SmartLinkAnswer(result_id, built.link, None, None)
        _, _, bidder_id, product_id, price, auction_price = seen
        pair = next(
            (p for p in built.pool.pairs if p.bidder.id == bidder_id and p.product.id == product_id), None
        )
        if pair is None:
            return None
        bidder, product = pair.bidder, pair.product
        token = ClickToken(
            auction_id=result_id,
            line_item_id=bidder.line_item_id,
            campaign_id=bidder.campaign_id,
            product_id=product_id,
            publisher_id=built.link.account_id,
            price_micros=price,
            placement=TokenPlacement.SMARTLINK,
            issued_at=issued,
        )
        merchant = built.pool.merchants[product.retailer_id]
        served = Served(1, bidder, product, merchant, price, self._links_of.urls(token), auction_price)
        return SmartLinkAnswer(result_id, built.link, served, _usd(product, built.pool))

    def forget_smartlink(self, link_id: int) -> None:
        """Drop the cached auction of a SmartLink just archived: it stops at once in this process
        (other workers within `pool_seconds`)."""
        self._links.drop(link_id)

    # --- the auction log ------------------------------------------------------------------------

    def auction_log(self, principal: Principal, auction_id: int) -> AuctionLog:
        issued = datetime.fromtimestamp(idfmt.issued_at_ms(auction_id) / 1000, UTC)
        event = self._events.find_event(auction_id, issued)
        if event is None or event.type is not EventType.AUCTION:
            raise NotFound(
                f"auction {idfmt.render(AUCTION_PREFIX, auction_id)} not found", field="auction_id"
            )
        attrs = event.attrs
        if attrs.get("placement", {}).get("kind") == "candidates":  # a listing, not an auction
            raise NotFound(
                f"auction {idfmt.render(AUCTION_PREFIX, auction_id)} not found", field="auction_id"
            )
        owner = principal.is_network or event.account_id == principal.account_id
        columns = attrs.get("candidates") or {}
        if "candidates_ref" in attrs:
            ref = int(attrs["candidates_ref"])
            listing = self._events.find_event(
                ref, datetime.fromtimestamp(idfmt.issued_at_ms(ref) / 1000, UTC)
            )
            columns = listing.attrs.get("candidates") or {} if listing is not None else {}
        currency = attrs.get("placement", {}).get("currency")
        candidates = _records(columns, currency)
        winners = [_winner(w, currency) for w in attrs.get("winners", [])]
        if not owner:
            mine = str(principal.account_id)
            candidates = [c for c in candidates if c["account_id"] == mine]
            if not candidates:
                raise NotFound(
                    f"auction {idfmt.render(AUCTION_PREFIX, auction_id)} not found", field="auction_id"
                )
            winners = [w for w in winners if w["account_id"] == mine]
        return AuctionLog(
            auction_id=auction_id,
            at=event.at,
            placement=dict(attrs.get("placement", {})),
            winners=winners,
            candidates=candidates,
            ivt=event.ivt,
            complete=owner,
        )

    # --- predictions ------------------------------------------------------------------------------

    def refresh_stats(self) -> int:
        """Feed the predictor the sponsored events logged since the last refresh (all of the last
        `STATS_HISTORY` the first time); returns how many (placement, product, bidder) rows. Events
        younger than `STATS_LAG` wait for the next round: they may still be on their way."""
        with self._stats_lock:
            until = self._clock() - STATS_LAG
            since = self._stats_until or until - STATS_HISTORY
            if until <= since:
                return 0
            rows = self._stats.ad_stats(since, until)
            p = self._predictor
            for row in rows:
                place, product, bidder = row.placement, row.product_id, row.bidder_id
                if row.impressions:
                    p.add_impressions(
                        placement=place, product_id=product, line_item_id=bidder, count=row.impressions
                    )
                if row.clicks:
                    p.add_clicks(placement=place, product_id=product, line_item_id=bidder, count=row.clicks)
                if row.conversions:
                    p.add_conversions(
                        placement=place, product_id=product, line_item_id=bidder, count=row.conversions
                    )
            self._stats_until = until
            if rows:
                self._stats_version += 1
            return len(rows)

    # --- internals ------------------------------------------------------------------------------

    def _link_explained(
        self, built: _LinkAuction, result: AuctionResult | None, at: datetime
    ) -> dict[str, Any]:
        """Without a pacing throttle every auction on one candidate set ends the same way (the
        random draw only throttles): the explanation is logged once per candidate set, as an
        AUCTION event of kind `candidates`, and each auction refers to it; a SmartLink's log
        line stays a few hundred bytes whatever the number of merchants."""
        pool = built.pool
        if pool.throttled or (result is None and not pool.unpriced):
            return _listed(self._explained(result, pool.offers, pool.unpriced, pool.currency))
        if built.explained_by is None:
            built.explained_by = self._ids.next_id()
            context = {"kind": "candidates", "smartlink_id": str(built.link.id), "currency": pool.currency}
            columns = self._explained(result, pool.offers, pool.unpriced, pool.currency)
            self._log(built.explained_by, at, built.link.account_id, context, [], _listed(columns))
        count = len(pool.offers) + len(pool.unpriced)
        return {"candidate_count": count, "candidates_ref": str(built.explained_by)}

    def refresh_caches(self) -> int:
        """Background upkeep, so that auctions find what they need fresh and read no database:
        re-read in bulk the spend of every bidder the cached pools hold and their accounts'
        balances (`SpendBook.refresh`); when the inventory changed (or a cached one is due),
        reload up to `RELOADS_PER_ROUND` of them. Returns how many inventories were reloaded."""
        self._book.refresh(self._spend, self._pool_seconds / 2)
        with self._uow(read_only=True) as uow:
            version = uow.inventory.version()
        if version != self._inventory_version:
            if self._inventory_version is not None:
                self._links.expire_all()
                self._retail_pools.expire_all()
            self._inventory_version = version
        reloaded = 0
        for link_id in self._links.stale(RELOADS_PER_ROUND):
            self._links.put(link_id, self._load_link(link_id))
            reloaded += 1
        for retailer_id in self._retail_pools.stale(RELOADS_PER_ROUND - reloaded):
            self._retail_pools.put(retailer_id, self._load_retail_pool(retailer_id))
            reloaded += 1
        return reloaded

    def _load_link(self, link_id: int) -> _LinkAuction | None:
        with self._uow(read_only=True) as uow:
            link = uow.smartlinks.get(link_id)
            if link is None:
                return None
            inventory = (
                uow.inventory.for_product(link.gtin, link.match_key)
                if link.archived_at is None
                else Inventory({}, {}, {}, [])
            )
            # In USD, the currency the merchants' prices are shown in: a product without a rate to
            # USD cannot serve (nor can a bidder without one bid).
            pool = self._pool(uow, inventory, SMARTLINK_CURRENCY)
        if pool.targets:  # a SmartLink click names no visitor: it is in no audience
            none, nobody = Targets(), frozenset[int]()
            pool.pairs = [
                p
                for p in pool.pairs
                if pool.targets.get(p.bidder.id, none).admits(nobody)
                and pool.targets.get(p.bidder.campaign_id, none).admits(nobody)
            ]
        return _LinkAuction(link, f"{TokenPlacement.SMARTLINK.value}:{link.account_id}", pool)

    def _load_retail_pool(self, retailer_id: int) -> _Pool:
        """The retailer's pool, in its account's currency (its products' min bids are in it)."""
        with self._uow(read_only=True) as uow:
            merchant = uow.inventory.merchant(retailer_id)
            account = uow.accounts.get(merchant.account_id) if merchant is not None else None
            currency = account.currency if account is not None else SMARTLINK_CURRENCY
            return self._pool(uow, uow.inventory.for_retailer(retailer_id), currency)

    def _pool(self, uow: UnitOfWork, inventory: Inventory, currency: str) -> _Pool:
        """The inventory's pairs whose bidders are in flight today in their account's time zone,
        priced in the auction `currency` (`_priced`); pairs whose bidder or product has no rate
        to it are kept apart, to be logged as lost. The headroom comes later (`_with_headroom`)."""
        now = self._clock()
        today = {tz: local_day(now, ZoneInfo(tz)) for tz in {b.timezone for b in inventory.bidders.values()}}
        live = {
            i: b
            for i, b in inventory.bidders.items()
            if in_flight(b.start_date, b.end_date, today[b.timezone])
            and in_flight(b.campaign_start_date, b.campaign_end_date, today[b.timezone])
        }
        currencies = {p.currency for p in inventory.products.values()} | {b.currency for b in live.values()}
        rates = rates_to(uow, currency, currencies)
        priced: list[tuple[Bidder, ListedProduct]] = []
        unpriced: list[tuple[Bidder, ListedProduct]] = []
        for bidder_id, product_id in inventory.pairs:
            if bidder_id in live:
                pair = (live[bidder_id], inventory.products[product_id])
                has_rates = pair[0].currency in rates and pair[1].currency in rates
                (priced if has_rates else unpriced).append(pair)
        prices: dict[int, list[int]] = {}
        for b, p in priced:
            price = (
                p.price_micros if p.currency == currency else convert_down(p.price_micros, rates[p.currency])
            )
            prices.setdefault(b.id, []).append(price)
        pairs = [_priced(b, p, currency, rates, sum(prices[b.id]) // len(prices[b.id])) for b, p in priced]
        targets = uow.audiences.targets(sorted({s for b, _ in priced for s in (b.id, b.campaign_id)}))
        return _Pool(pairs, inventory.merchants, currency, rates, unpriced, targets=targets)

    def _audience_eligible(self, offers: list[_Offer], pool: _Pool, request: DecisionRequest) -> list[_Offer]:
        """The offers whose line item and campaign admit the visitor by their audience targeting:
        in one of the included audiences (when any), in none of the excluded ones. One membership
        read per auction, only when some bidder of the pool targets audiences."""
        if not pool.targets:
            return offers
        member_of: frozenset[int] = frozenset()
        if request.uid or request.identifiers:
            with self._uow(read_only=True) as uow:
                member_of = uow.audiences.memberships(request.identifiers, request.uid)
        none = Targets()
        return [
            o
            for o in offers
            if pool.targets.get(o.bidder.id, none).admits(member_of)
            and pool.targets.get(o.bidder.campaign_id, none).admits(member_of)
        ]

    def targeting_changed(self) -> None:
        """Audience targeting changed: the cached pools are reloaded (in this process at once,
        in other workers within `inventory_seconds`)."""
        self._retail_pools.expire_all()
        self._links.expire_all()

    def _with_headroom(self, pool: _Pool) -> bool:
        """Recompute the pool's offers (remaining caps, pacing) when older than `pool_seconds` or
        when the background round found a balance moved; True if they changed. Each bidder's
        headroom is computed once per `pool_seconds` for every pool holding it, from the spend
        book (a query only for spend it lacks or holds too old)."""
        started = time.monotonic()
        changes = self._book.balance_changes  # before reading them: a move meanwhile is seen next time
        if started < pool.headroom_due and pool.balances_seen == changes:
            return False
        bidders = {p.bidder.id: p.bidder for p in pool.pairs}
        held = self._headrooms
        stale = [b for i, b in bidders.items() if i not in held or held[i][0] <= started]
        if stale:
            now = self._clock()
            zones = {tz: ZoneInfo(tz) for tz in {b.timezone for b in stale}}
            today = {tz: local_day(now, zone) for tz, zone in zones.items()}
            wanted = {(s, today[b.timezone]) for b in stale for s in (b.id, b.campaign_id)}
            # Twice the age the background refresh keeps it under: a request reads only what the
            # book lacks (a bidder new to it), not what the refresh is about to re-read.
            spend = self._book.spend(wanted, self._spend, 2 * self._pool_seconds)
            due = started + self._pool_seconds
            for b in stale:
                held[b.id] = (due, _headroom(b, spend, today[b.timezone], now, zones[b.timezone]))
        # The balances as the background round last read them (a query only for an account new to
        # the book, or every time without caching), not as the inventory was loaded.
        balances = self._book.balances(
            {b.account_id for b in bidders.values()}, self._spend, self._pool_seconds
        )
        offers = []
        for pair in pool.pairs:
            remaining, participation = held[pair.bidder.id][1]
            remaining = _within_balance(remaining, balances.get(pair.bidder.account_id))
            if remaining is not None and pair.rate is not None:
                remaining = convert_down(remaining, pair.rate)  # a cap, converted: never above the real one
            offers.append(_Offer(pair.bidder, pair.product, remaining, participation, pair))
        # Due again after 50-100% of `pool_seconds`: pools built together (a restart, a burst of
        # new links) come due spread out, not all in the same few milliseconds.
        pool.headroom_due = started + self._pool_seconds * (0.5 + random.random() / 2)
        pool.balances_seen = changes
        if offers == pool.offers:
            return False
        pool.offers = offers
        pool.throttled = any(o.participation < 1.0 for o in offers)
        return True

    def _candidate_set(self, offers: list[_Offer], placement_key: str) -> CandidateSet:
        p = self._predictor
        candidates = []
        for o in offers:
            pair = o.pair  # its money already in the auction currency
            candidates.append(
                Candidate(
                    line_item_id=o.bidder.id,
                    product_id=o.product.id,
                    strategy=BidStrategy(o.bidder.strategy),
                    target_bid_micros=pair.target_bid_micros,
                    max_bid_micros=pair.max_bid_micros,
                    min_bid_micros=pair.min_bid_micros,
                    remaining_micros=o.remaining_micros,
                    p_click=p.p_click(
                        placement=placement_key, product_id=o.product.id, line_item_id=o.bidder.id
                    ),
                    p_conversion=p.p_conversion(
                        placement=placement_key, product_id=o.product.id, line_item_id=o.bidder.id
                    ),
                    avg_conversion=p.avg_conversion(o.bidder.id),
                    order_value_micros=pair.order_value_micros,
                    avg_order_value_micros=pair.avg_order_value_micros,
                    participation=o.participation,
                )
            )
        return CandidateSet.from_candidates(candidates)

    def _served(
        self,
        result: AuctionResult,
        offers: list[_Offer],
        pool: _Pool,
        auction_id: int,
        publisher_id: int,
        kind: TokenPlacement,
        now: datetime,
    ) -> list[Served]:
        served = []
        for w in result.winners:
            offer = offers[w.index]
            price = _own_price(w.price_micros, offer.pair)  # charged in the bidder's currency
            token = ClickToken(
                auction_id=auction_id,
                line_item_id=offer.bidder.line_item_id,
                campaign_id=offer.bidder.campaign_id,
                product_id=offer.product.id,
                publisher_id=publisher_id,
                price_micros=price,
                placement=kind,
                issued_at=now,
            )
            merchant = pool.merchants[offer.product.retailer_id]
            urls = self._links_of.urls(token)
            served.append(Served(w.slot, offer.bidder, offer.product, merchant, price, urls, w.price_micros))
        return served

    @staticmethod
    def _explained(
        result: AuctionResult | None,
        offers: list[_Offer],
        unpriced: list[tuple[Bidder, ListedProduct]],
        currency: str,
    ) -> dict[str, list[Any]]:
        """Every candidate's part in the auction, as columns (one list per field, in candidate
        order): compact in the log, cheap to write. Amounts are in the auction `currency`; when
        some candidate's is another, `currency`, `own_bid_micros` and `own_price_micros` columns
        say its own (null where it is the auction's). The pairs without an exchange rate come
        last, lost with `no_exchange_rate`."""
        if result is None and not unpriced:
            return {}
        records = result.explain() if result is not None else []
        others = [b for b, _ in unpriced]
        columns: dict[str, list[Any]] = {
            "line_item_id": [o.bidder.line_item_id for o in offers] + [b.line_item_id for b in others],
            "campaign_id": [o.bidder.campaign_id for o in offers] + [b.campaign_id for b in others],
            "account_id": [o.bidder.account_id for o in offers] + [b.account_id for b in others],
            "product_id": [o.product.id for o in offers] + [p.id for _, p in unpriced],
            "bid_micros": [e.bid_micros for e in records]
            + [b.target_bid_micros if b.currency == currency else None for b in others],
            "score": [round(e.score, 6) for e in records] + [None] * len(others),
            "reason": [e.reason.value if e.reason else None for e in records]
            + [NO_EXCHANGE_RATE] * len(others),
            "slot": [e.slot for e in records] + [None] * len(others),
            "price_micros": [e.price_micros for e in records] + [None] * len(others),
        }
        if any(o.pair.rate is not None for o in offers) or any(b.currency != currency for b in others):
            columns["currency"] = [o.bidder.currency for o in offers] + [b.currency for b in others]
            columns["own_bid_micros"] = [
                None if o.pair.rate is None else _own_bid(e.bid_micros, o.pair)
                for o, e in zip(offers, records, strict=True)
            ] + [None if b.currency == currency else b.target_bid_micros for b in others]
            columns["own_price_micros"] = [
                None if o.pair.rate is None or e.price_micros is None else _own_price(e.price_micros, o.pair)
                for o, e in zip(offers, records, strict=True)
            ] + [None] * len(others)
        return columns

    def _log(
        self,
        auction_id: int,
        at: datetime,
        owner_account_id: int,
        placement: dict[str, Any],
        served: list[Served],
        explanation: dict[str, Any],
        *,
        ivt: bool = False,
    ) -> None:
        """One AUCTION event: placement, winners, and the candidates (`_listed`, or a reference to
        the event listing them). A winner's price is in the auction currency; one whose currency
        is another also has its own and the price in it (the click token's): `_winner` reads
        them back."""
        currency = placement.get("currency")
        winners = []
        for s in served:
            winner: dict[str, Any] = {
                "slot": s.slot,
                "line_item_id": s.bidder.line_item_id,
                "campaign_id": s.bidder.campaign_id,
                "account_id": s.bidder.account_id,
                "product_id": s.product.id,
                "price_micros": s.auction_price_micros,
            }
            if s.bidder.currency != currency:
                winner["currency"] = s.bidder.currency
                winner["own_price_micros"] = s.price_micros
            winners.append(winner)
        self._events.append(
            Event(
                id=auction_id,
                type=EventType.AUCTION,
                at=at,
                account_id=owner_account_id,
                publisher_id=owner_account_id,
                ivt=ivt,
                attrs={"placement": placement, "winners": winners, **explanation},
            )
        )


def _listed(candidates: dict[str, list[Any]]) -> dict[str, Any]:
    """The candidate columns as logged: the best-ranked `MAX_LOGGED_CANDIDATES` when there are
    more (the rest counted by reason)."""
    count = len(candidates.get("reason", ()))
    if count <= MAX_LOGGED_CANDIDATES:
        return {"candidate_count": count, "candidates": candidates}
    scores, reasons = candidates["score"], candidates["reason"]
    ranked = sorted(range(count), key=lambda i: (reasons[i] is not None, -(scores[i] or 0.0)))
    kept, left = ranked[:MAX_LOGGED_CANDIDATES], ranked[MAX_LOGGED_CANDIDATES:]
    not_listed: dict[str, int] = {}
    for i in left:
        not_listed[reasons[i]] = not_listed.get(reasons[i], 0) + 1
    return {
        "candidate_count": count,
        "candidates": {name: [column[i] for i in kept] for name, column in candidates.items()},
        "candidates_not_listed": not_listed,
    }


def _rendered(record: dict[str, Any]) -> dict[str, Any]:
    """A logged record as the API shows it: ids as strings."""
    return {k: (str(v) if k.endswith("_id") and v is not None else v) for k, v in record.items()}


def _winner(logged: dict[str, Any], currency: str | None) -> dict[str, Any]:
    """A logged winner as the API shows it, naming its currency (the auction's unless logged)."""
    record = _rendered(logged)
    record.setdefault("currency", currency)
    record.setdefault("own_price_micros", None)
    return record


# What a logged record without currency columns means: every amount in the auction currency.
_OWN_DEFAULTS: dict[str, Any] = {"own_bid_micros": None, "own_price_micros": None}


def _records(columns: dict[str, list[Any]], currency: str | None) -> list[dict[str, Any]]:
    """The logged candidate columns as one record per candidate, with its outcome; each names its
    own currency (the auction's unless logged otherwise)."""
    names = list(columns)
    records = []
    for values in zip(*columns.values(), strict=True):
        record = _rendered(dict(zip(names, values, strict=True)))
        record.setdefault("currency", currency)
        for name, value in _OWN_DEFAULTS.items():
            record.setdefault(name, value)
        record["outcome"] = "won" if record["reason"] is None else "lost"
        records.append(record)
    return records


# --- caps, pacing, money ---------------------------------------------------------------------------


def _headroom(
    b: Bidder, spend: dict[int, Spend], today: date, now: datetime, zone: ZoneInfo
) -> tuple[int | None, float]:
    """(the smallest remaining cap of the bidder and its campaign; the even-pacing participation in
    [0, 1]). The balance is applied apart (`_within_balance`): it moves more often."""
    own = spend.get(b.id, NOTHING_SPENT)
    daily = b.daily_pacing_micros
    if b.is_auto_daily_pacing:
        daily = auto_daily_pacing(
            today,
            end_date=b.end_date,
            budget_micros=b.budget_micros,
            monthly_micros=b.monthly_pacing_micros,
            spend=own,
        )
    left = [remaining_micros(Caps(b.budget_micros, b.monthly_pacing_micros, daily), own)]
    campaign = spend.get(b.campaign_id, NOTHING_SPENT) if b.campaign_id != b.id else own
    left.append(remaining_micros(Caps(b.campaign_budget_micros, None, b.campaign_daily_micros), campaign))
    capped = [x for x in left if x is not None]
    remaining = min(capped) if capped else None
    participation = 1.0
    if b.even_pacing:
        if daily is not None:
            participation = pacing_participation(own.day_micros, daily, day_fraction(now, zone))
        elif b.campaign_daily_micros is not None:
            participation = pacing_participation(
                campaign.day_micros, b.campaign_daily_micros, day_fraction(now, zone)
            )
    return remaining, participation


def _within_balance(remaining: int | None, balance: int | None) -> int | None:
    """The headroom under the caps, lowered to the account's prepaid balance (None: invoiced)."""
    if balance is None:
        return remaining
    balance = max(balance, 0)
    return balance if remaining is None else min(remaining, balance)


def _priced(
    b: Bidder, p: ListedProduct, currency: str, rates: dict[str, Fraction], avg_order_value: int
) -> _Pair:
    """The pair with its money in the auction `currency`: the bidder's bids round down (a bid is
    never above what the bidder set), the product's min bid rounds up (never undercut)."""
    rate = None if b.currency == currency else rates[b.currency]
    product_rate = None if p.currency == currency else rates[p.currency]
    min_bid = p.min_bid_micros or 0
    return _Pair(
        bidder=b,
        product=p,
        rate=rate,
        target_bid_micros=b.target_bid_micros if rate is None else convert_down(b.target_bid_micros, rate),
        max_bid_micros=(
            b.max_bid_micros
            if rate is None or b.max_bid_micros is None
            else convert_down(b.max_bid_micros, rate)
        ),
        min_bid_micros=min_bid if product_rate is None else convert_up(min_bid, product_rate),
        order_value_micros=p.price_micros
        if product_rate is None
        else convert_down(p.price_micros, product_rate),
        avg_order_value_micros=avg_order_value,
    )


def _own_price(micros: int, pair: _Pair) -> int:
    """An amount of the auction currency (a price, a bid) in the pair's bidder's own currency:
    rounded down, and never above the bid the bidder set (its target for `clicks`, else its max)."""
    rate = pair.rate
    if rate is None:
        return micros
    own = micros * rate.denominator // rate.numerator
    b = pair.bidder
    cap = b.target_bid_micros if b.strategy == BidStrategy.CLICKS.value else b.max_bid_micros
    return own if cap is None else min(own, cap)


def _own_bid(micros: int, pair: _Pair) -> int:
    """A candidate's bid (auction currency) as its bidder set it: its target for `clicks`; a
    modulated bid converted back (`_own_price`)."""
    b = pair.bidder
    return b.target_bid_micros if b.strategy == BidStrategy.CLICKS.value else _own_price(micros, pair)


def _usd(product: ListedProduct, pool: _Pool) -> Decimal:
    """The product's price in USD (a SmartLink pool's currency), rounded half-even to the cent."""
    cents = round(Fraction(product.price_micros) * pool.rates[product.currency] * 100 / MICROS)
    return Decimal(cents).scaleb(-2)


# What a page session's SmartLink auction answered: (auction id, when), plus (winner's bidder id,
# product id, price in its currency, price in the auction's) when someone won. Flat tuples of
# numbers and a datetime: the garbage collector does not track them, so 200,000 sessions cost no
# collection pauses.
