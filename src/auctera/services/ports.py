"""Ports: what services need from the outside world, as Protocols.

Adapters in `store/`, `events/` and `counters/` implement them; `bootstrap.py` wires them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from auctera.domain.accounts import AccessToken, Account, ApiKey, OAuthClient
from auctera.domain.audiences import Audience, PixelRule, SyncJob, Targets
from auctera.domain.bids import (
    AdSet,
    BatchPhase,
    BatchResult,
    Bid,
    BidChange,
    BidFilter,
    BidOperation,
    Dimension,
    Network,
    NetworkCampaign,
    PartnerBidKey,
    Settled,
    StoredBid,
    SyncBatch,
    SyncItem,
    UploadWrites,
)
from auctera.domain.budgets import Spend
from auctera.domain.campaigns import Campaign, CampaignStatus, CampaignType
from auctera.domain.catalog import (
    FeedBatch,
    FeedFormat,
    FeedImport,
    Product,
    ProductColumns,
    ProductFields,
    Retailer,
    RowRules,
)
from auctera.domain.click_delays import Delays
from auctera.domain.compliance import BlockedDomain
from auctera.domain.conversions import Conversion
from auctera.domain.creatives import Asset, CreativeStanding, Format, MediaFacts, ScanResult
from auctera.domain.dco import Template, VariantStats
from auctera.domain.events import DailyTotals, Event, Totals
from auctera.domain.fraud import RangeHit
from auctera.domain.line_items import Circumstances, LineItem
from auctera.domain.programs import Application, ApprovalStatus, Channel, CommissionType, Program, Segment
from auctera.domain.reports import ExportJob
from auctera.domain.webhooks import Delivery, DeliveryState, PostbackStatus, PublisherPostback
from auctera.errors import AucteraError


class EventStore(Protocol):
    """Append-only event log with analytical queries.

    `append` returns only once the event has reached the operating system (it survives
    a kill -9 of the process); it is fsynced to disk within `fsync_interval` seconds.
    """

    def append(self, event: Event) -> None: ...

    def append_many(self, events: Iterable[Event]) -> None: ...

    def campaign_totals(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        start: datetime,
        end: datetime,
    ) -> dict[int, Totals]:
        """Totals per campaign for events with start <= at < end (UTC instants)."""
        ...

    def campaign_totals_windows(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        windows: Mapping[str, tuple[datetime, datetime]],
    ) -> dict[str, dict[int, Totals]]:
        """`campaign_totals` for each named (start, end) window, computed together in one pass:
        a list page asks for today, the period and lifetime at once."""
        ...

    def daily_totals(
        self,
        account_id: int | None,
        start: date,
        end: date,
        tz: str,
        *,
        campaign_id: int | None = None,
        publisher_id: int | None = None,
        by_campaign: bool = True,
    ) -> list[DailyTotals]:
        """Per-day (in time zone `tz`, inclusive range) totals, per campaign unless by_campaign=False.

        account_id None means every account (the network operator's view).
        """
        ...

    def find_event(self, event_id: int, around: datetime) -> Event | None:
        """The event with this id, written close to `around` (within minutes): ids are
        Snowflakes, so the caller knows when one was issued."""
        ...

    def existing_ids(self, event_ids: Sequence[int], start: datetime, end: datetime) -> set[int]:
        """Which of `event_ids` are in the log among events with start <= at <= end."""
        ...

    def identity_touches(
        self, account_id: int, hashes: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, Event]]:
        """(hash, touch): the clicks and impressions (not IVT), start <= at < end, of every visitor
        the account's events have seen with one of `hashes` (hashed emails or phones); oldest first."""
        ...

    def sync(self) -> None:
        """Force everything appended so far to disk (fsync)."""
        ...

    def close(self) -> None: ...

    def touchpoints(self, account_id: int, uid: str, start: datetime, end: datetime) -> list[Event]:
        """The clicks and impressions (not IVT) of visitor `uid` in the account, start <= at < end,
        oldest first: one visitor's journey for multi-touch attribution."""
        ...

    def paths(
        self, account_id: int, start: datetime, end: datetime
    ) -> Iterable[tuple[str, list[tuple[int, str, datetime]], bool]]:
        """Every visitor's paths in the account, start <= at < end: (uid, [(campaign_id, type, at),
        ...] in time order, converted). Touches are cut into one path per conversion; those after
        the last one make a non-converting path. Streamed: an account can have millions."""
        ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None: ...

    def get(self, account_id: int) -> Account | None: ...

    def list(self) -> list[Account]: ...

    def update(self, account: Account) -> None: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...

    def get(self, key_id: int) -> ApiKey | None: ...

    def by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list_for_account(self, account_id: int) -> list[ApiKey]: ...

    def update(self, key: ApiKey) -> None: ...


class OAuthRepository(Protocol):
    def add_client(self, client: OAuthClient) -> None: ...

    def get_client(self, client_id: str) -> OAuthClient | None: ...

    def clients_of(self, account_id: int) -> list[OAuthClient]: ...

    def update_client(self, client: OAuthClient) -> None: ...

    def end_tokens(self, client_id: str, at: datetime) -> None:
        """Make the client's access tokens expire by `at` (those ending sooner keep their time)."""
        ...

    def add_token(self, token: AccessToken) -> None: ...

    def token_by_hash(self, token_hash: str) -> AccessToken | None: ...

    def purge_tokens(self, before: datetime) -> int: ...


class ConversionRepository(Protocol):
    def add(self, conversion: Conversion, dedup_key: str) -> bool:
        """Insert unless a conversion with the same dedup key or idempotency key exists in the
        account (then nothing is written and False is returned)."""
        ...

    def get(
        self, conversion_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Conversion | None: ...

    def by_keys(self, account_id: int, dedup_key: str, idempotency_key: str | None) -> Conversion | None:
        """The conversion with this dedup key, or else this idempotency key."""
        ...

    def adopt_idempotency_key(self, conversion: Conversion, idempotency_key: str) -> None:
        """Name `conversion` (recorded without a key) by `idempotency_key` too, unless another
        conversion of the account holds that key: a later request with it answers the same."""
        ...

    def update(self, conversion: Conversion) -> None: ...

    def unlogged(self, limit: int) -> list[Conversion]:
        """Conversions whose event may not have reached the event log yet, oldest first."""
        ...

    def mark_logged(self, conversion_ids: Sequence[int]) -> None: ...

    def mark_logged_unless_reversed(self, conversion_ids: Sequence[int]) -> None:
        """`mark_logged` for rows whose conversion event was appended, skipping those reversed
        since: their reversal event is the sweep's to check."""
        ...


class FxRateRepository(Protocol):
    """The operator's exchange rates, each in effect from a day on (store/tables.py, fx_rates)."""

    def history(self, base: str, quote: str) -> list[tuple[date, Decimal]]:
        """Every rate of the pair with the day it takes effect from, oldest first."""
        ...

    def set(
        self, base: str, quote: str, rate: Decimal, at: datetime, effective_from: date | None = None
    ) -> None:
        """The pair's rate from `effective_from` (default: the UTC day of `at`) on."""
        ...

    def list(self) -> list[tuple[str, str, date, Decimal, datetime]]: ...


class WebhookRepository(Protocol):
    """Publisher postbacks and the webhook delivery outbox (store/repositories/webhooks.py)."""

    def add_postback(self, p: PublisherPostback) -> None: ...

    def postbacks_of(self, account_id: int) -> list[PublisherPostback]: ...

    def postback(self, postback_id: int) -> PublisherPostback | None: ...

    def set_status(self, postback_id: int, status: PostbackStatus, at: datetime) -> None: ...

    def add_deliveries(self, deliveries: Sequence[Delivery]) -> None: ...

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def deliveries(
        self,
        account_id: int | None,
        *,
        postback_id: int | None = None,
        state: DeliveryState | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]: ...

    def has_due(self, now: datetime, exclude: Collection[int] = ()) -> bool: ...

    def next_due(self) -> datetime | None:
        """When the first pending delivery is next due (its retry, or the end of the lease a
        worker holds it by); None when none is pending."""
        ...

    def claim(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        *,
        share: int | None = None,
        held: Mapping[int, int] | None = None,
    ) -> list[Delivery]:
        """Due deliveries leased until `lease_until`; with a `share`, at most that many of each
        publisher less what the worker `held` of it, every publisher's first before any's second."""
        ...

    def record_outcomes(self, deliveries: Sequence[Delivery]) -> None: ...

    def replay(self, delivery_id: int, now: datetime) -> None: ...

    def count_by_state(self) -> dict[str, int]: ...


class UnitOfWork(Protocol):
    """One transaction. `with uow:` commits on success when `commit()` was called, rolls back otherwise."""

    accounts: AccountRepository
    api_keys: ApiKeyRepository
    oauth: OAuthRepository
    campaigns: CampaignRepository
    blocklist: BlocklistRepository
    conversions: ConversionRepository
    fx_rates: FxRateRepository
    spend: SpendRepository
    retailers: RetailerRepository
    products: ProductRepository
    feed_imports: FeedImportRepository
    inventory: InventoryRepository
    smartlinks: SmartLinkRepository
    line_items: LineItemRepository
    webhooks: WebhookRepository
    programs: ProgramRepository
    channels: ChannelRepository
    bids: BidRepository
    creatives: CreativeRepository
    audiences: AudienceRepository
    exports: ExportRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the current window resets
    retry_after: int  # seconds to wait when not allowed


class RateLimiter(Protocol):
    def hit(self, key: str, limit_per_minute: int) -> RateDecision:
        """Count one request for `key` and say whether it is within the limit."""
        ...


class CampaignRepository(Protocol):
    def add(self, campaign: Campaign) -> None: ...

    def get(
        self, campaign_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Campaign | None:
        """The campaign, when it belongs to `account_id` (None: any account, the network's view).

        `for_update` locks the row until the transaction ends (PostgreSQL), so concurrent
        writes to one campaign serialise instead of overwriting each other.
        """
        ...

    def update(self, campaign: Campaign) -> None: ...

    def page(
        self,
        *,
        account_id: int | None,
        status: CampaignStatus | None,
        include_archived: bool,
        type: CampaignType | None,
        before_id: int | None,
        limit: int,
    ) -> list[Campaign]:
        """Newest first (id descending), ids below `before_id`: keyset pagination on an index."""
        ...

    def open_offers(self, geo: str | None, before_id: int | None, limit: int) -> list[Campaign]:
        """Up to `limit` active, public affiliate campaigns with ids below `before_id`, newest
        first, restricted to those allowing country `geo` (worldwide ones always do)."""
        ...

    def pending_review_ids(self, limit: int) -> list[int]: ...

    def live_mentioning(self, needles: Sequence[str]) -> list[Campaign]:
        """Active and paused campaigns whose destination URL contains any of `needles`, ignoring
        case (a coarse filter: callers check the host themselves)."""
        ...


class BlocklistRepository(Protocol):
    def add(self, entry: BlockedDomain) -> bool:
        """False when the domain is already listed (the first entry is kept)."""
        ...

    def get(self, domain: str) -> BlockedDomain | None: ...

    def remove(self, domain: str) -> bool: ...

    def list(self) -> list[BlockedDomain]: ...

    def matching(self, domains: Sequence[str]) -> frozenset[str]:
        """Which of `domains` are listed."""
        ...


# --- the fraud filters' lookups (adapters in ivt/ and counters/) ------------------------------


class CrawlerMatcher(Protocol):
    def is_crawler(self, user_agent: str) -> bool:
        """True when the UA is a known bot, crawler, HTTP library or headless browser. Must be
        memoised: it is called on every click."""
        ...


class IpRangeLookup(Protocol):
    def lookup(self, ip: str) -> RangeHit | None:
        """The most specific imported range holding `ip` (IPv4 or IPv6 text), or None."""
        ...


class VelocityCounter(Protocol):
    def hit(self, key: str, at: datetime, window: timedelta) -> int:
        """Record one hit on `key` at `at`; return the hits on `key` in (at - window, at], this one
        included."""
        ...

    def recent(self, key: str, last: int) -> list[float]:
        """The times (epoch seconds) of the newest `last` hits on `key` still in its window, oldest
        first."""
        ...


# --- the auction engine's inventory (adapter: store/repositories/inventory.py) -----------------


@dataclass(frozen=True, slots=True)
class Bidder:
    """A retail-media line item, or a `smartlink_cpc` campaign bidding on all its merchant's
    products, as the auction reads it: what it bids, its caps and its account's clock and balance.
    Statuses are not here: the repository returns only those the user left running (line item
    `active`, not archived; campaign `active`); flight dates are checked by the caller in the
    account's time zone."""

    id: int  # the line item's id; for a SmartLink CPC campaign, the campaign's
    campaign_id: int
    line_item_id: int | None  # None for a SmartLink CPC campaign
    account_id: int  # the advertiser
    currency: str  # ISO 4217: its campaign's (the account's); every amount here is in it
    timezone: str
    balance_micros: int | None
    strategy: str  # clicks | conversion | revenue
    target_bid_micros: int
    max_bid_micros: int | None
    start_date: date | None
    end_date: date | None
    budget_micros: int | None
    monthly_pacing_micros: int | None
    daily_pacing_micros: int | None
    is_auto_daily_pacing: bool
    even_pacing: bool  # the campaign's pacing is `even`
    campaign_start_date: date | None
    campaign_end_date: date | None
    campaign_budget_micros: int | None
    campaign_daily_micros: int | None


@dataclass(frozen=True, slots=True)
class ListedProduct:
    """A product of a retailer's or merchant's catalog, as auctions show and price it."""

    id: int
    retailer_id: int
    external_id: str
    name: str
    price_micros: int
    currency: str
    url: str
    image_url: str | None
    in_stock: bool
    category: str | None
    brand: str | None
    gtin: str | None
    match_key: str | None
    min_bid_micros: int | None


@dataclass(frozen=True, slots=True)
class Merchant:
    """A retailer or merchant: the site a product page is on."""

    id: int
    account_id: int
    name: str
    domain: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """Who may bid on what: bidders, in-stock products and the (bidder id, product id) pairs."""

    bidders: dict[int, Bidder]
    products: dict[int, ListedProduct]
    merchants: dict[int, Merchant]
    pairs: list[tuple[int, int]]


class InventoryRepository(Protocol):
    def merchant(self, retailer_id: int) -> Merchant | None: ...

    def for_retailer(self, retailer_id: int) -> Inventory:
        """Line items targeting the retailer with the retailer's in-stock products they promote."""
        ...

    def for_product(self, gtin: str | None, match_key: str | None) -> Inventory:
        """The in-stock products sharing the GTIN (or, without a GTIN on either side, the match key)
        at every merchant, with the line items promoting them and the merchants' `smartlink_cpc`
        campaigns bidding on all their products."""
        ...

    def product(self, product_id: int) -> ListedProduct | None: ...

    def product_by_url(self, url: str) -> ListedProduct | None:
        """A product whose page is `url`, at a merchant whose domain is the URL's host."""
        ...

    def version(self) -> tuple[object, ...]:
        """A value that changes whenever what cached inventories hold may have: line items, their
        products, campaigns, products, retailers, archived SmartLinks (counts and latest update
        times). Cheap enough to ask every second."""
        ...


@dataclass(frozen=True, slots=True)
class SmartLink:
    id: int  # the auction id: the number at the end of the link
    account_id: int  # the publisher
    name: str | None
    product_id: int | None
    product_url: str | None
    gtin: str | None  # GTIN-14
    match_key: str | None
    fallback_url: str
    created_at: datetime
    archived_at: datetime | None


class SmartLinkRepository(Protocol):
    def add(self, link: SmartLink) -> None: ...

    def get(self, link_id: int, *, account_id: int | None = None) -> SmartLink | None: ...

    def page(
        self, *, account_id: int | None, include_archived: bool, before_id: int | None, limit: int
    ) -> list[SmartLink]:
        """Newest first, ids below `before_id`."""
        ...

    def archive(self, link_id: int, at: datetime) -> None: ...


class AdStatsSource(Protocol):
    """Counts for the click and conversion predictions (adapter: events/ad_stats.py)."""

    def ad_stats(self, start: datetime, end: datetime) -> list[AdStat]:
        """Sponsored impressions, clicks and conversions (not IVT) logged with start <= at < end,
        summed per (placement, product, bidder)."""
        ...


@dataclass(frozen=True, slots=True)
class AdStat:
    placement: str  # "smartlink:<publisher id>" or "retail:<retailer account id>"
    product_id: int
    bidder_id: int  # the line item, or the SmartLink CPC campaign
    impressions: int
    clicks: int
    conversions: int


class LineItemRepository(Protocol):
    """Retail-media line items and their promoted products (adapter: store/repositories/line_items.py).

    `spend` is per subject (line item or campaign) for lifetime, the local month `month` and the
    local day `day`; `find_products` maps product refs (our id or the feed's id) within a retailer
    to (product id, minBid micros, currency); `min_bids` is the greatest minBid of a line item's
    products per currency of theirs."""

    def add(self, item: LineItem) -> None: ...

    def update(self, item: LineItem) -> None: ...

    def get(self, line_item_id: int, *, account_id: int, for_update: bool = False) -> LineItem | None: ...

    def read(
        self, line_item_id: int, *, account_id: int, today: date
    ) -> tuple[LineItem, Circumstances] | None:
        """The line item and what its status reads on `today`, in one round trip."""
        ...

    def read_page(
        self, campaign_id: int, *, today: date, offset: int, limit: int, only_ids: Sequence[int] | None = None
    ) -> tuple[list[tuple[LineItem, Circumstances]], int]: ...

    def name_taken(self, campaign_id: int, name: str, *, other_than: int | None = None) -> bool: ...

    def spend(self, subject_ids: Sequence[int], day: str, month: str) -> dict[int, Spend]: ...

    def balance(self, account_id: int) -> int | None: ...

    def product_counts(self, line_item_ids: Sequence[int]) -> dict[int, int]: ...

    def min_bids(self, line_item_id: int) -> list[tuple[int, str]]: ...

    def is_retail_site(self, retailer_id: int) -> bool: ...

    def find_products(
        self, retailer_id: int, refs: Sequence[str]
    ) -> dict[str, tuple[int, int | None, str]]: ...

    def add_products(self, line_item_id: int, product_ids: Sequence[int]) -> None: ...

    def remove_products(self, line_item_id: int, product_ids: Sequence[int]) -> None: ...

    def product_ids(self, line_item_id: int, *, offset: int = 0, limit: int | None = None) -> list[int]: ...

    def retail_campaign_ids(self, account_id: int, *, offset: int, limit: int) -> tuple[list[int], int]: ...

    def campaign_archived(self, campaign_id: int) -> bool: ...


# --- retailers and their catalogs (adapters: store/repositories/catalog.py, feeds/) -----------


class RetailerRepository(Protocol):
    def add(self, retailer: Retailer) -> bool:
        """False when the account has a retailer on this domain already (nothing is written)."""
        ...

    def get(self, retailer_id: int, *, account_id: int | None = None) -> Retailer | None: ...

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Retailer]:
        """Newest first, ids below `before_id`; account_id None: every account's."""
        ...

    def many(self, retailer_ids: Sequence[int]) -> dict[int, Retailer]: ...

    def touch(self, retailer_id: int, at: datetime) -> None:
        """Mark the retailer updated at `at`: its catalog changed (what the auctions' caches watch)."""
        ...


class ProductRepository(Protocol):
    def upsert(
        self,
        *,
        retailer_id: int,
        account_id: int,
        import_id: int,
        items: Sequence[ProductFields],
        new_ids: Sequence[int],
        now: datetime,
    ) -> None:
        """Insert or update by (retailer, external id): a product listed again keeps its id;
        `new_ids[i]` is used only when `items[i]` is new."""
        ...

    def stored(self, retailer_id: int, external_ids: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """The retailer's stored products among `external_ids`: external id -> (product id, the
        import that last listed it); the answer holds until this transaction commits."""
        ...

    def insert_columns(
        self,
        *,
        retailer_id: int,
        account_id: int,
        import_id: int,
        batch: ProductColumns,
        ids: Sequence[int],
        now: datetime,
    ) -> None:
        """New products given a column at a time (a feed import's batch), none of them `stored`."""
        ...

    def update_columns(
        self, *, import_id: int, batch: ProductColumns, ids: Sequence[int], now: datetime
    ) -> None:
        """Stored products listed again (`ids[i]` is row i's product id): the feed's latest word."""
        ...

    def mark_unlisted_out_of_stock(self, retailer_id: int, import_id: int, now: datetime) -> int:
        """Take the retailer's in-stock products this import did not list out of stock; how many."""
        ...

    def get(self, product_id: int, *, retailer_id: int | None = None) -> Product | None: ...

    def page(
        self,
        *,
        retailer_id: int,
        in_stock: bool | None,
        gtin: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[Product]:
        """Newest first (id descending), ids below `before_id`."""
        ...

    def by_ids(self, product_ids: Sequence[int]) -> dict[int, Product]: ...

    def matching(
        self, *, gtin: str | None, match_key: str | None, in_stock_only: bool = True, limit: int = 1000
    ) -> list[Product]:
        """Every retailer's products with this GTIN-14 or match key: the same product at other
        merchants (the SmartLink auction's candidates)."""
        ...

    def after(self, retailer_id: int, after_id: int | None, limit: int) -> list[Product]:
        """The retailer's products by id ascending, ids above `after_id` (a feed, streamed)."""
        ...

    def counts(self, retailer_ids: Sequence[int]) -> dict[int, int]:
        """How many products each of these retailers has."""
        ...


class FeedImportRepository(Protocol):
    def add(self, record: FeedImport) -> None: ...

    def update(self, record: FeedImport) -> bool:
        """Write the figures of an import still running; False when it was ended meanwhile."""
        ...

    def renew(self, import_id: int, until: datetime) -> bool:
        """Extend a running import's lease; False when it no longer runs."""
        ...

    def running(self, retailer_id: int) -> list[FeedImport]:
        """The retailer's imports marked running, the retailer locked for this transaction."""
        ...

    def get(self, import_id: int, *, retailer_id: int) -> FeedImport | None: ...

    def last_succeeded(self, retailer_ids: Sequence[int]) -> dict[int, datetime]:
        """When each retailer's latest successful import finished (retailers without one: absent)."""
        ...

    def latest(self, retailer_ids: Sequence[int]) -> dict[int, FeedImport]:
        """Each retailer's most recent import, whatever its status (retailers without one: absent)."""
        ...


class FeedReader(Protocol):
    def __call__(
        self, stream: BinaryIO, format: FeedFormat, rules: RowRules | None = None
    ) -> Iterable[FeedBatch]:
        """Raw rows with their line numbers, a batch at a time (memory stays flat); raises
        `FeedError` where the feed cannot be read further. Given `rules`, a reader may validate
        rows itself and yield them as `FeedBatch.products` (what validate_row makes of them)."""
        ...


# --- spend: charging clicks against budgets (adapter: store/repositories/spend.py) -------------


@dataclass(frozen=True, slots=True)
class LineItemCaps:
    """A line item as a charge checks it."""

    id: int
    campaign_id: int
    live: bool  # the user left it active and it is not archived
    start_date: date
    end_date: date | None
    budget_micros: int | None
    monthly_pacing_micros: int | None
    daily_pacing_micros: int | None
    is_auto_daily_pacing: bool


@dataclass(frozen=True, slots=True)
class ChargeSubjects:
    """What a charge counts against, read with the campaign's row locked: the campaign's caps and
    flight, its line item's (None for a SmartLink CPC campaign), the account's zone and balance."""

    account_id: int
    timezone: str
    currency: str
    balance_micros: int | None  # None: invoiced, nothing to run out of
    campaign_live: bool  # the campaign's status is active
    campaign_start: date | None
    campaign_end: date | None
    campaign_budget_micros: int | None  # lifetime
    campaign_daily_micros: int | None
    line_item: LineItemCaps | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One charged click. `event_fields` keeps what rebuilds its event (see the sweep)."""

    id: int
    account_id: int
    campaign_id: int
    line_item_id: int | None
    click_id: int
    amount_micros: int
    occurred_at: datetime
    publisher_id: int | None
    event_fields: Mapping[str, object]


class SpendRepository(Protocol):
    def lock_subjects(self, campaign_id: int, line_item_id: int | None) -> ChargeSubjects | None:
        """The campaign's row locked until the transaction ends (PostgreSQL: every charge of a
        campaign and its line items queues here), with what a charge checks; None when the
        campaign is gone or the line item is not one of its own."""
        ...

    def charged(self, click_id: int) -> LedgerEntry | None: ...

    def spend_of(self, subject_ids: Sequence[int], day: str, month: str) -> dict[int, Spend]:
        """Spend per subject in the period keys given and in all (missing subjects: nothing spent)."""
        ...

    def record(self, entry: LedgerEntry, periods: Sequence[tuple[int, str]], *, logged: bool = False) -> None:
        """Insert the ledger row (`logged`: its event is known to be in the log already) and add
        its amount to each (subject, period) row (upsert)."""
        ...

    def add_to_periods(self, amounts: Sequence[tuple[int, str, int]]) -> None:
        """Add each (subject, period, amount) to its row (upsert)."""
        ...

    def draw_balance(self, account_id: int, amount_micros: int) -> bool:
        """Take `amount_micros` off the account's balance unless that would make it negative
        (one conditional UPDATE); False then. True when the account has no balance (invoiced)."""
        ...

    def balance(self, account_id: int) -> tuple[bool, int | None]:
        """(whether the account exists, its balance or None when invoiced)."""
        ...

    def balances(self, account_ids: Sequence[int]) -> dict[int, int | None]:
        """Balances of the accounts that exist (None: invoiced), in one read."""
        ...

    def set_balance(self, account_id: int, balance_micros: int | None) -> None: ...

    def add_balance(self, account_id: int, delta_micros: int) -> int | None:
        """Add to a prepaid balance in one UPDATE; the new balance (None: the account is invoiced)."""
        ...

    def unlogged(self, limit: int) -> list[LedgerEntry]:
        """Charged clicks whose event may not have reached the event log yet, oldest first."""
        ...

    def mark_logged(self, entry_ids: Sequence[int]) -> None: ...

    def product_url(self, product_id: int) -> str | None:
        """The product page a sponsored click lands on."""
        ...


class ProgramRepository(Protocol):
    """Affiliate programs (one per affiliate campaign, same id), segments and commission types."""

    def add(self, program: Program) -> None: ...

    def update(self, program: Program) -> None: ...

    def get(self, program_id: int, *, account_id: int | None = None) -> Program | None: ...

    def many(self, program_ids: Sequence[int]) -> dict[int, Program]: ...

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Program]: ...

    def add_segment(self, segment: Segment) -> bool:
        """False when the program has a segment of this name already (nothing is written)."""
        ...

    def segments(self, program_id: int) -> list[Segment]: ...

    def segment(self, segment_id: int, *, program_id: int) -> Segment | None: ...

    def standard_segment(self, program_id: int) -> Segment | None: ...

    def rename_segment(self, segment_id: int, name: str) -> None: ...

    def delete_segment(self, segment_id: int) -> None: ...

    def add_commission(self, commission: CommissionType) -> bool:
        """False when the segment pays for this event type already (nothing is written)."""
        ...

    def update_commission(self, commission: CommissionType) -> None: ...

    def delete_commission(self, commission_id: int) -> None: ...

    def commission(self, commission_id: int, *, program_id: int) -> CommissionType | None: ...

    def commissions(self, program_ids: Sequence[int]) -> list[CommissionType]: ...

    def partner_page(self, query: PartnerProgramQuery) -> tuple[list[ListedProgram], int]:
        """The programs `query.publisher_id` may see, filtered, by id, and how many match."""
        ...

    def segments_of(self, program_ids: Sequence[int]) -> list[Segment]: ...


class ChannelRepository(Protocol):
    """Publishers' channels and their applications to programs."""

    def add(self, channel: Channel) -> None: ...

    def update(self, channel: Channel) -> None: ...

    def delete(self, channel_id: int) -> None: ...

    def get(self, channel_id: int, *, account_id: int | None = None) -> Channel | None: ...

    def many(self, channel_ids: Sequence[int]) -> dict[int, Channel]: ...

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Channel]: ...

    def add_application(self, application: Application) -> bool:
        """False when this channel (or publisher-wide, this publisher) applied already."""
        ...

    def update_application(self, application: Application) -> None: ...

    def application(
        self, application_id: int, *, account_id: int | None = None, publisher_id: int | None = None
    ) -> Application | None: ...

    def application_for(
        self, program_id: int, *, publisher_id: int, channel_id: int | None
    ) -> Application | None: ...

    def applications(
        self,
        *,
        account_id: int | None = None,
        publisher_id: int | None = None,
        program_ids: Sequence[int] | None = None,
        channel_id: int | None = None,
        status: ApprovalStatus | None = None,
        before_id: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Application]: ...

    def count_applications(
        self,
        *,
        account_id: int | None = None,
        publisher_id: int | None = None,
        program_ids: Sequence[int] | None = None,
        channel_id: int | None = None,
        status: ApprovalStatus | None = None,
    ) -> int: ...

    def program_channels(self, query: ProgramChannelQuery) -> tuple[list[ChannelApplication], int]:
        """Channels' applications to an advertiser's programs with their channel and publisher
        name, newest first, and how many match (affiliate v3 `POST /client/channels`)."""
        ...


# --- the affiliate v3 partner market (adapter: store/repositories/programs.py) -----------------


@dataclass(frozen=True, slots=True)
class PartnerProgramQuery:
    """Programs a publisher may see: live or closing, campaign active, public or applied to."""

    publisher_id: int
    market: str | None = None
    program_id: int | None = None
    channel_id: int | None = None  # with approval_status: that channel's application's status
    approval_status: ApprovalStatus | None = None  # without channel_id: the best over all of them
    status: int | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ListedProgram:
    program: Program
    name: str  # the campaign's
    currency: str  # the campaign's


@dataclass(frozen=True, slots=True)
class ProgramChannelQuery:
    account_id: int  # the advertiser owning the programs
    program_id: int | None = None
    channel_id: int | None = None
    publisher_id: int | None = None
    status: ApprovalStatus | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ChannelApplication:
    application: Application
    channel: Channel
    publisher_name: str


class BidRepository(Protocol):
    """Bid management (seed 001): networks, their campaigns and ad sets, bids and operations.
    Every read takes the owning account: another tenant's object is not there."""

    def add_network(self, network: Network) -> bool:
        """False when the account has a network of that name already."""
        ...

    def update_network(self, network: Network) -> bool: ...

    def network(self, network_id: int, *, account_id: int) -> Network | None: ...

    def networks(self, network_ids: Sequence[int] | None, *, account_id: int) -> list[Network]: ...

    def add_campaign(self, campaign: NetworkCampaign) -> bool:
        """False when another network campaign links the same campaign of ours already."""
        ...

    def update_campaign(self, campaign: NetworkCampaign) -> bool: ...

    def campaigns(
        self,
        campaign_ids: Sequence[int] | None,
        *,
        account_id: int,
        network_id: int | None = None,
        for_update: bool = False,
    ) -> list[NetworkCampaign]:
        """`for_update` locks them (PostgreSQL): uploads to one campaign run one after another."""
        ...

    def add_ad_set(self, ad_set: AdSet) -> bool:
        """False when another ad set links the same line item of ours already."""
        ...

    def update_ad_set(self, ad_set: AdSet) -> bool: ...

    def ad_sets(
        self, ad_set_ids: Sequence[int] | None, *, account_id: int, campaign_id: int | None = None
    ) -> list[AdSet]: ...

    def bids_of_campaigns(self, campaign_ids: Sequence[int]) -> dict[Dimension, Bid]:
        """The stored bids of these campaigns, by dimension."""
        ...

    def bids(self, found: BidFilter, *, account_id: int, offset: int, limit: int) -> list[Bid]:
        """In id order (oldest first): offset/limit pages stay stable as bids are added."""
        ...

    def stored_bids(self, campaign_ids: Sequence[int]) -> dict[Dimension, StoredBid]:
        """What an upload needs of these campaigns' stored bids, by dimension."""
        ...

    def save_upload(self, writes: UploadWrites) -> None:
        """Insert the new bids, rewrite the changed ones, add an operation for each."""
        ...

    def operations(self, *, upload_id: int) -> list[BidOperation]: ...

    # --- the bid sync (services/bid_sync.py) ---

    def supersede(self, operation_ids: Sequence[int]) -> None:
        """Mark these operations superseded unless a partner batch holds them already."""
        ...

    def sync_network(self, network_id: int) -> Network | None:
        """Any account's network, locked (PostgreSQL) while this transaction claims its batches."""
        ...

    def pending_networks(self) -> list[int]:
        """Networks with operations waiting for a batch."""
        ...

    # what a claim looks at (BidSyncService.claim)

    def due_networks(self, now: datetime) -> dict[int, tuple[int, int]]:
        """Networks with open batches due for a step: {network id: (how many, fewest attempts)}."""
        ...

    def next_due_batch(self, network_id: int, now: datetime) -> int | None:
        """The network's open batch to step next (fewest attempts, then longest due), locked
        (PostgreSQL, skipping one another worker holds); None: none."""
        ...

    def sync_networks(self, network_ids: Sequence[int]) -> list[Network]:
        """These networks, of any account, unlocked, in id order."""
        ...

    def leased_by_network(self, now: datetime) -> dict[int, int]:
        """Open batches leased now, per network (by any worker)."""
        ...

    def lease_batch(self, batch_id: int, lease_until: datetime, token: int) -> None: ...

    def create_batch(
        self, batch_id: int, network: Network, now: datetime, lease_until: datetime, token: int
    ) -> int:
        """A batch of up to the network's batch size of its pending operations (the latest of
        their bid, whose bid has no operation in an open batch), leased: how many it holds
        (0: none was waiting, nothing written)."""
        ...

    def sync_batch(self, batch_id: int, token: int) -> SyncBatch | None:
        """The batch and its unsettled operations; None when `token` no longer holds it."""
        ...

    def record_step(
        self,
        batch_id: int,
        token: int,
        now: datetime,
        *,
        phase: BatchPhase,
        attempts: int,
        next_attempt_at: datetime,
        error: str | None,
        refused: Sequence[SyncItem] = (),
        settled: Sequence[Settled] = (),
    ) -> bool:
        """One step's outcome, written only while `token` holds the batch (False otherwise):
        refused operations keep their reason for the rollback, settled ones (and their bids, when
        still their latest operation) take their final status; the lease is released."""
        ...

    def sync_counts(
        self, now: datetime, stuck_before: datetime, *, account_id: int | None = None
    ) -> dict[str, int]:
        """Operations per status, and `stuck`: pending ones created before `stuck_before`; one
        account's, or every account's (None)."""
        ...

    def stuck_operations(
        self, stuck_before: datetime, *, account_id: int | None, limit: int
    ) -> list[tuple[BidOperation, SyncBatchInfo | None]]: ...


@dataclass(frozen=True)
class SyncBatchInfo:
    """Where a stuck operation's batch is: its phase, attempts, last error and lease."""

    id: int
    phase: str
    attempts: int
    error: str | None
    locked_until: datetime | None
    next_attempt_at: datetime


class BidPartners(Protocol):
    """The partner adapter of a network (kind http/simulated: the JSON protocol; auctera: ours)."""

    def partner(self, network: Network) -> BidPartner: ...


class PartnerUnavailable(Exception):
    """The partner did not answer usefully (timeout, 5xx, 429): nothing is known to have changed;
    retry after `retry_after` seconds when the partner said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BidPartner(Protocol):
    """An ad network bids are applied on. Calls are idempotent per `batch_id`: a batch sent again
    (after a timeout, a crash) has the effect it had the first time. Each raises
    `PartnerUnavailable` when the partner could not be reached or asked to come back later."""

    def apply(self, batch_id: str, changes: Sequence[BidChange]) -> BatchResult:
        """Set (or, with value None, delete) each bid; per-item results, or the batch rejected whole."""
        ...

    def read(self, keys: Sequence[PartnerBidKey]) -> dict[PartnerBidKey, int | None]:
        """The partner's current values, micros of USD (None: no such bid): what a rollback restores."""
        ...

    def delete(self, batch_id: str, keys: Sequence[PartnerBidKey]) -> BatchResult: ...


# --- audiences (issue 8) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    members: int
    links: int
    jobs: int


class AudienceRepository(Protocol):
    def add(self, audience: Audience) -> None: ...

    def get(
        self, audience_id: int, account_id: int | None = None, *, for_update: bool = False
    ) -> Audience | None: ...

    def page(self, account_id: int, before_id: int | None, limit: int) -> list[Audience]: ...

    def of_account(self, account_id: int, ids: Sequence[int]) -> list[Audience]: ...

    def update(self, audience: Audience) -> None:
        """Everything but the members: status, counts, sketch, lookalike figures, error."""

    def delete(self, audience_id: int) -> PurgeCounts:
        """The audience, its members, identity links, pending sync jobs and staged identifiers."""

    def add_purge(
        self, audience: Audience, counts: PurgeCounts, paused: Sequence[int], at: datetime
    ) -> None: ...

    def purged(self, account_id: int, audience_id: int) -> bool: ...

    def pixel_audiences(self, *, new_only: bool = False) -> list[Audience]: ...

    def building_lookalikes(self) -> list[Audience]: ...

    # members and identity links
    def add_members(self, audience_id: int, keys: Sequence[str]) -> None: ...

    def remove_members(self, audience_id: int, keys: Sequence[str]) -> None: ...

    def clear_members(self, audience_id: int) -> None: ...

    def add_links(self, audience_id: int, links: Sequence[tuple[str, str]]) -> None:
        """(member key, visitor uid) pairs the event log knows."""

    def users(self, audience_id: int) -> Iterable[str]:
        """Each member as users: its linked visitors (`u:` keys), else the member key itself."""

    def counts(self, audience_id: int) -> tuple[int, int]:
        """(members, members with a visitor: linked ones, and `u:` keys)."""

    def memberships(self, keys: Sequence[str], uid: str | None) -> frozenset[int]:
        """The audiences holding one of `keys` as a member, or linked to visitor `uid`."""

    # sync jobs
    def add_job(self, job: SyncJob, chunks: Iterable[str]) -> bool:
        """The job and its staged chunks (member keys, one a line), in this transaction; False,
        and nothing written, when the account has a job with its key already (a racing call's)."""

    def job(self, job_id: int, account_id: int | None = None) -> SyncJob | None: ...

    def job_by_key(self, account_id: int, job_key: str) -> SyncJob | None: ...

    def has_due_job(self, now: datetime) -> bool:
        """Whether `claim_job` would find a job (a read: no lock taken)."""
        ...

    def claim_job(self, now: datetime, lease: timedelta, token: int) -> SyncJob | None:
        """The oldest queued or running job whose lease ran out, leased to `token`."""

    def chunk(self, job_id: int, seq: int) -> list[str]: ...

    def update_job(self, job: SyncJob, token: int, lease_until: datetime | None) -> bool:
        """False when the job is no longer leased to `token` (another worker took it over)."""

    def open_jobs(self) -> int: ...

    # targeting
    def set_targets(self, subject_id: int, account_id: int, targets: Targets) -> None: ...

    def targets(self, subject_ids: Sequence[int]) -> dict[int, Targets]: ...

    def subjects_targeting(self, audience_id: int) -> list[int]: ...


class StagingWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """Flushed to disk: what was written survives a crash from here on."""


class AudienceStaging(Protocol):
    """Sync jobs' staged member keys (`domain.audiences` records), one file per job id, written
    and flushed before the job commits, removed once it is done (services/audiences.py)."""

    def create(self, job_id: int) -> StagingWriter: ...

    def read(self, job_id: int, offset: int, size: int) -> bytes:
        """Raises FileNotFoundError when the job has no staged file."""

    def remove(self, job_id: int) -> None: ...

    def staged(self) -> dict[int, float]:
        """Every staged file: job id -> seconds since it was last written."""


class AudienceGraph(Protocol):
    """The event log read for audiences (events/audiences.py)."""

    def visitors_of(self, account_id: int, hashes: Sequence[str]) -> list[tuple[str, str]]:
        """(hash, uid) for every visitor the log saw with one of the hashed emails or phones."""

    def pixel_visitors(self, account_id: int, rule: PixelRule, now: datetime) -> list[str]: ...

    def visitor_features(self, account_id: int, since: datetime) -> list[tuple[Any, ...]]:
        """Per visitor: (uid, publisher, country, device, hour of day, campaign, impressions,
        clicks, conversions), each categorical the visitor's most frequent one."""


# --- reports and exports (issue 7) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Report figures for one key (`keys`: the asked dimensions' values, in order). Money in micros."""

    keys: tuple[object, ...]
    totals: Totals
    media_payout_micros: int  # paid for impressions and clicks: the clearing prices summed
    paid_events: int  # impressions and clicks paid for


@dataclass(frozen=True, slots=True)
class LateDay:
    """A local day's totals of the events logged after the day became final (a restatement)."""

    day: date
    last_id: int  # the latest such event's id (when it was logged)
    totals: Totals


class EventReports(Protocol):
    """The report queries of the event log (adapter: events/duckdb_store.py; see docs/api-v2-reports.md)."""

    def report_totals(
        self,
        account_id: int | None,
        group_by: Sequence[str],
        *,
        filters: Mapping[str, int | None],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[ReportRow]:
        """Figures per `group_by` among campaign_id, publisher_id, creative_id, variant, ssp, domain,
        app_bundle, currency; events start <= at < end (None: all time) matching `filters`."""
        ...

    def late_daily_totals(
        self,
        account_id: int | None,
        tz: str,
        first_late_ids: Mapping[date, int],
        *,
        filters: Mapping[str, int | None],
    ) -> list[LateDay]:
        """Per local day, the totals of its events whose id is at least the day's given id."""
        ...

    def export_events(
        self,
        account_id: int,
        event_types: tuple[str, ...],
        start: datetime,
        end: datetime,
        target: Path,
        file_format: str,
        *,
        campaign_id: int | None = None,
    ) -> int:
        """Write the account's events of these types (start <= at < end) to `target` as `csv` or
        `parquet`, streamed; returns the number of rows written."""
        ...


# --- creatives (issue 8 §2) ------------------------------------------------------------------


class CreativeRepository(Protocol):
    def add(self, asset: Asset) -> None:
        """The asset, its audit and its campaign links."""
        ...

    def get(self, asset_id: int, account_id: int | None = None) -> Asset | None:
        """A live (not deleted) asset; `account_id` scopes it to its owner."""
        ...

    def set_trackers(
        self, asset_id: int, clicks: Sequence[str], impressions: Sequence[str], now: datetime
    ) -> None: ...

    def mark_deleted(self, asset_id: int, now: datetime) -> None: ...

    def standing(self, campaign_id: int) -> CreativeStanding | None:
        """The campaign's live creatives by audit status; None when it has none."""
        ...

    def add_template(self, template: Template) -> None: ...

    def get_template(self, template_id: int, account_id: int | None = None) -> Template | None: ...


class StorageUnavailable(AucteraError):
    """The object store could not be reached or refused the call (a timeout, a 5xx, bad
    credentials, no such bucket): nothing is known to have changed. Surfaces answer 503."""

    status_code = 503
    code = "storage_unavailable"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object being read: its size, and its bytes in chunks (closing `chunks` ends the read)."""

    size: int
    chunks: Iterator[bytes]


class ObjectStore(Protocol):
    """Where the files every machine serving us must see live: report exports and creative assets
    (adapters in storage/: a directory under the data dir, or an S3-compatible bucket). A key is
    `/`-joined segments of `[A-Za-z0-9_.-]`, none starting with a dot. Every call raises
    `StorageUnavailable` when the store cannot be used."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (replacing what was there): durable, all or nothing."""
        ...

    def put_file(self, key: str, source: Path) -> int:
        """Store the file at `source` and remove it; returns its size. The file may be hundreds of
        MB: it is never read into memory whole. All or nothing: no reader sees part of it."""
        ...

    def get(self, key: str) -> bytes | None:
        """A (small) object whole; None when there is none."""
        ...

    def read(self, key: str) -> StoredObject | None:
        """An object in chunks (flat memory however large); None when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Gone at once; nothing to do when it is not there."""
        ...


class MalwareScanner(Protocol):
    def scan(self, data: bytes) -> ScanResult: ...


class MediaInspector(Protocol):
    """Decoding and probing content (Pillow, ffprobe); MediaRefused when it cannot be used."""

    def clean_image(self, data: bytes, fmt: Format) -> tuple[bytes, MediaFacts]:
        """The image re-encoded without metadata, after the decompression-bomb guard."""
        ...

    def probe_video(self, data: bytes) -> MediaFacts: ...


class ClickDelaySource(Protocol):
    def click_delays(
        self,
        account_id: int | None,
        campaign_id: int | None,
        start: datetime,
        end: datetime,
        late_after: timedelta,
    ) -> dict[tuple[int, int], Delays]:
        """Per (advertiser, publisher), the conversions start <= at < end by delay after their
        click (adapter: events/click_delays.py); `account_id` None: every advertiser."""
        ...


class VariantStatsSource(Protocol):
    def variant_stats(self, account_id: int, creative_id: int) -> dict[str, VariantStats]:
        """Impressions, clicks and conversions (not IVT) per variant of one creative, from the log."""
        ...


class ExportRepository(Protocol):
    """Report export jobs (adapter: store/repositories/exports.py)."""

    def add(self, job: ExportJob) -> None: ...

    def get(self, job_id: int, *, account_id: int | None = None) -> ExportJob | None:
        """The job, when it belongs to `account_id` (None: any account)."""
        ...

    def update(self, job: ExportJob) -> None: ...

    def update_held(self, job: ExportJob, held_until: datetime) -> bool:
        """Write a running job only while its lease is still `held_until` (the writer's): False,
        writing nothing, when another runner has taken it over since."""
        ...

    def claim(self, now: datetime, lease_until: datetime) -> ExportJob | None:
        """Take the oldest queued job (or a running one whose lease ran out) until `lease_until`."""
        ...

    def completed_before(self, before: datetime, limit: int) -> list[ExportJob]: ...

    def delete_finished_before(self, before: datetime) -> int: ...
