"""The affiliate v3 read side (seed 003): the programs a publisher may run with their terms,
feeds and links, the product feeds themselves, and the advertiser's view of the channels that
applied to its programs.

Who sees what:
- a publisher sees a program that is live or closing, whose campaign is active, and that is
  public or private with one of its applications approved (a channel's or publisher-wide); its
  channels are its own;
- an advertiser calling a partner endpoint is told 403 for its own program (the wrong kind of
  key) and 404 for anyone else's, so nothing about other tenants leaks; a publisher calling a
  client endpoint is told 403;
- a program's feeds are its advertiser's catalogs (`feed_ids`); only a channel whose
  application is approved gets feed links, since only it gets working tracking links.

Product feeds are files (services/feed_files.py): each catalog of a program is rendered once
per import, per format and link variant, its products read in keyset batches (one short read
transaction each, memory flat), with a placeholder where each link names the publisher and
channel; every request streams the file with its own values there. After a successful import
the default variants' files (every format, no `setEpi`, no `gt`) are rendered ahead of any
request (`render_catalog_files`); the others on their first request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import BinaryIO, Generic, Protocol, TypeVar
from urllib.parse import quote

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.campaigns import CampaignStatus
from auctera.domain.catalog import FeedImport, Product
from auctera.domain.programs import (
    STANDARD_SEGMENT,
    Application,
    ApprovalStatus,
    CommissionType,
    Program,
    ProgramStatus,
    RejectReason,
    Segment,
    best_status,
)
from auctera.domain.tracking import MAX_SUB_ID_LENGTH, click_url, deep_link_allowed
from auctera.errors import AucteraError, Conflict, Forbidden, NotFound
from auctera.services.caching import program_sites
from auctera.services.campaigns import COUNTRIES
from auctera.services.clock import Clock
from auctera.services.feed_files import FeedFiles
from auctera.services.feed_formats import DEFAULT_FORMATS, FeedItem, Format
from auctera.services.offers import EPC_WINDOW, epc
from auctera.services.ports import (
    ChannelApplication,
    EventStore,
    ListedProgram,
    PartnerProgramQuery,
    ProgramChannelQuery,
    UnitOfWork,
    UnitOfWorkFactory,
)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ROWS = 2**63 - 1  # the last row a page may reach (a signed 64-bit OFFSET + LIMIT)
FEED_BATCH = 1000  # products per read transaction while a feed file is rendered
# Part of every feed file's version: bump it when a format's rendering changes, so every file
# is rendered again.
FEED_FILES_VERSION = 2  # 2: CSV cells that would be formulas are defused
MAX_CACHED_COUNTS = 100_000
PROGRAMS_PAGE = 500  # an account's programs read at a time, looking for those offering a catalog
_QUARTER_HOUR = timedelta(minutes=15)
T = TypeVar("T")

# Approves or rejects an application: ChannelService.decide's signature.
Decide = Callable[[Principal, int, ApprovalStatus, RejectReason | None, str | None], Application]


class BadRequest(AucteraError):
    """A request the v3 surface answers 400, naming the field."""


# --- what the service hands the surface --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feed:
    id: int  # the retailer's (catalog's) id
    name: str
    products: int
    last_updated: datetime | None  # the last successful import's end


@dataclass(frozen=True, slots=True)
class Standing:
    """A publisher's (or one channel's) standing with a program."""

    status: ApprovalStatus | None  # None: no application
    segment: str  # the segment whose terms apply
    link_channel: int | None  # the approved channel links are for (None: publisher-wide)
    approved: bool

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING


@dataclass(frozen=True, slots=True)
class ProgramCard:
    listed: ListedProgram
    standing: Standing
    commissions: tuple[CommissionType, ...]
    feeds: tuple[Feed, ...]
    tracking_url: str | None  # only for an approved channel
    epc: Decimal | None


@dataclass(frozen=True, slots=True)
class ProgramFilter:
    market: str
    program_id: int | None = None
    channel_id: int | None = None
    approval_status: ApprovalStatus | None = None
    status: ProgramStatus | None = None
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    count: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class FeedPart:
    """One catalog of a feed, and the version of its rendered files: it changes whenever their
    contents would (a new import or its progress, the product count, the program's settings
    that rows show, the links' base)."""

    retailer_id: int
    version: str


@dataclass(frozen=True, slots=True)
class ProductFeed:
    """A feed about to be served: its figures now, the catalogs its files render."""

    listed: ListedProgram
    channel_id: int
    count: int
    last_updated: datetime | None
    parts: tuple[FeedPart, ...]
    set_epi: bool
    gt: bool
    sites: tuple[str, ...]  # with gt: where a `url=` link may land (see product_link)
    link_base: str  # the click link up to the part naming publisher and channel
    channel_links: str  # that part, `p=…&ch=…`: what a file's placeholder stands for


@dataclass(frozen=True, slots=True)
class ChannelFilter:
    program_id: int | None = None
    channel_id: int | None = None
    affiliate_id: int | None = None
    approval_status: ApprovalStatus | None = None
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE


# --- pure rules --------------------------------------------------------------------------------


def effective_terms(
    terms: Sequence[CommissionType], segment_id: int | None, standard_id: int | None
) -> tuple[CommissionType, ...]:
    """What a channel in `segment_id` (None: the standard segment) is paid: its segment's
    commission types, and the standard segment's for event types its segment does not list
    (the engine's fallback)."""
    standard = [t for t in terms if t.segment_id == standard_id]
    if segment_id is None or segment_id == standard_id:
        return tuple(standard)
    own = [t for t in terms if t.segment_id == segment_id]
    covered = {t.event_type for t in own}
    return tuple(own + [t for t in standard if t.event_type not in covered])


def standing(
    applications: Sequence[Application], channel_id: int | None, segments: Sequence[Segment]
) -> tuple[Standing, int | None]:
    """The standing with one program from the publisher's applications to it, and the segment
    id whose terms apply. With a channel: that channel's application; without: the best one."""
    if channel_id is not None:
        chosen = next((a for a in applications if a.channel_id == channel_id), None)
        status = chosen.status if chosen else None
    else:
        status = best_status([a.status for a in applications])
        # The approved application with a channel first: its link is the one to show.
        ranked = sorted(applications, key=lambda a: a.channel_id is None)
        chosen = next((a for a in ranked if a.status == status), None)
    segment_id = chosen.segment_id if chosen else None
    names = {s.id: s.name for s in segments}
    standard = next((s for s in segments if s.standard), None)
    name = names.get(segment_id or -1) or (standard.name if standard else STANDARD_SEGMENT)
    approved = status is ApprovalStatus.APPROVED
    link_channel = chosen.channel_id if approved and chosen else None
    return Standing(status, name, link_channel, approved), segment_id


def product_link(prefix: str, product: Product, *, set_epi: bool, gt: bool, sites: Sequence[str] = ()) -> str:
    """A feed product's click link: `click_url(...)`'s with the product's epi, and the product
    (`pr=`) or, for Google Ads' transparent click tracker, its page written out (`url=`), in the
    order `link_query` writes them. `prefix` is the channel's plain click link.

    A `url=` link lands only on the advertiser's sites (`sites`, as the click handler checks
    them); a product page elsewhere (a catalog may list any domain) keeps `pr=`, which the click
    handler looks up in the catalog instead: a feed never holds a link the click refuses."""
    tail = ""
    if set_epi and product.name:
        tail += "&epi=" + quote(product.name[:MAX_SUB_ID_LENGTH], safe="")
    if gt and deep_link_allowed(product.url, sites):
        tail += "&url=" + quote(product.url, safe="")
    else:
        tail += "&pr=" + idfmt.to_base36(product.id)
    return prefix + tail


def feed_signature(secret: bytes, program_id: int, channel_id: int, feed_id: int, epi: bool) -> str:
    """The `sig` of a served feed's URL: an HMAC over what the URL names (not its format)."""
    message = f"{program_id}:{channel_id}:{feed_id}:{int(epi)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _import_key(record: FeedImport | None) -> tuple[int, str, int] | None:
    """What a catalog's latest import looked like: products change only while one runs, so the
    catalog is as it was while this stays the same."""
    return None if record is None else (record.id, record.status.value, record.rows_read)


def _version(*facts: object) -> str:
    return hashlib.sha256(repr(facts).encode()).hexdigest()[:20]


def _next_quarter_hour(now: datetime) -> datetime:
    # As /v2/offers: the same EPC window for 15 minutes lets the event store answer from cache.
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + _QUARTER_HOUR


# --- the service -------------------------------------------------------------------------------


class PartnerProgramService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        events: EventStore,
        tracking_url: str,
        feed_secret: bytes,
        decide: Decide,
        feed_files: FeedFiles,
    ) -> None:
        self._uow = uow
        self._files = feed_files
        self._clock = clock
        self._events = events
        self._tracking_url = tracking_url
        self._feed_key = hmac.new(feed_secret, b"affiliate-v3-feed", hashlib.sha256).digest()
        self._decide = decide
        # Retailer -> (what its latest import looked like, its product count): counting a 100k-product
        # catalog costs milliseconds, and products only change while an import runs.
        self._counts: dict[int, tuple[tuple[int, str, int], int]] = {}

    # partner: programs and their terms

    def commissions(
        self, principal: Principal, program_id: int | None, channel_id: int | None
    ) -> tuple[tuple[CommissionType, ...], str]:
        """The commission types of the channel's segment, or without a channel the standard
        segment's; and the program's currency."""
        with self._uow(read_only=True) as uow:
            listed = _partner_program(uow, principal, program_id)
            if channel_id is not None:
                _own_channel(uow, principal, channel_id)
            segments = uow.programs.segments_of([listed.program.id])
            segment_id = None
            if channel_id is not None:
                found = uow.channels.application_for(
                    listed.program.id, publisher_id=principal.account_id, channel_id=channel_id
                )
                segment_id = found.segment_id if found else None
            terms = uow.programs.commissions([listed.program.id])
        return effective_terms(terms, segment_id, _standard_id(segments)), listed.currency

    def programs(self, principal: Principal, wanted: ProgramFilter) -> Page[ProgramCard]:
        _page_bounds(wanted.page, wanted.page_size)
        market = wanted.market.strip().upper()
        if market not in COUNTRIES:
            raise BadRequest(f"not an ISO 3166-1 alpha-2 country code: {wanted.market}", field="market")
        with self._uow(read_only=True) as uow:
            if wanted.program_id is not None:
                _partner_program(uow, principal, wanted.program_id)  # 404 for another tenant's
            _publisher(principal)
            if wanted.channel_id is not None:
                _own_channel(uow, principal, wanted.channel_id)
            query = PartnerProgramQuery(
                publisher_id=principal.account_id,
                market=market,
                program_id=wanted.program_id,
                channel_id=wanted.channel_id,
                approval_status=wanted.approval_status,
                status=None if wanted.status is None else int(wanted.status),
                offset=wanted.page * wanted.page_size,
                limit=wanted.page_size,
            )
            listed, count = uow.programs.partner_page(query)
            cards = self._cards(uow, principal.account_id, listed, wanted.channel_id)
        return Page(cards, count, wanted.page, wanted.page_size)

    def _cards(
        self, uow: UnitOfWork, publisher_id: int, listed: Sequence[ListedProgram], channel_id: int | None
    ) -> list[ProgramCard]:
        """Everything a page shows, a query per kind of thing for the whole page (no N+1)."""
        ids = [item.program.id for item in listed]
        applications = _by_program(
            uow.channels.applications(publisher_id=publisher_id, program_ids=ids) if ids else []
        )
        segments = _by_program(uow.programs.segments_of(ids))
        terms = _by_program(uow.programs.commissions(ids))
        feeds = self._feeds(uow, listed)
        earnings = self._epc(listed)
        cards = []
        for item in listed:
            pid = item.program.id
            own_segments = segments.get(pid, [])
            found, segment_id = standing(applications.get(pid, []), channel_id, own_segments)
            link = (
                click_url(self._tracking_url, pid, publisher_id, found.link_channel)
                if found.approved
                else None
            )
            cards.append(
                ProgramCard(
                    listed=item,
                    standing=found,
                    commissions=effective_terms(terms.get(pid, []), segment_id, _standard_id(own_segments)),
                    feeds=feeds[pid],
                    tracking_url=link,
                    epc=earnings.get(pid),
                )
            )
        return cards

    def _feeds(self, uow: UnitOfWork, listed: Sequence[ListedProgram]) -> dict[int, tuple[Feed, ...]]:
        """Each program's feeds: its advertiser's retailers among its feed_ids, in that order."""
        wanted = sorted({f for item in listed for f in item.program.feed_ids})
        retailers = uow.retailers.many(wanted)
        counts = self._product_counts(uow, wanted)
        updated = uow.feed_imports.last_succeeded(wanted)
        found: dict[int, tuple[Feed, ...]] = {}
        for item in listed:
            own = [retailers[f] for f in item.program.feed_ids if f in retailers]
            found[item.program.id] = tuple(
                Feed(r.id, r.name, counts.get(r.id, 0), updated.get(r.id))
                for r in own
                if r.account_id == item.program.account_id
            )
        return found

    def _product_counts(self, uow: UnitOfWork, retailer_ids: Sequence[int]) -> dict[int, int]:
        """Product counts, counted again only for a retailer whose latest import has moved on
        (a new one, or progress or an end of the running one) since they were counted."""
        latest = uow.feed_imports.latest(retailer_ids)
        found: dict[int, int] = {}
        stale: dict[int, tuple[int, str, int] | None] = {}
        for retailer_id in retailer_ids:
            key = _import_key(latest.get(retailer_id))
            cached = self._counts.get(retailer_id)
            if key is not None and cached is not None and cached[0] == key:
                found[retailer_id] = cached[1]
            else:
                stale[retailer_id] = key
        if stale:
            counted = uow.products.counts(list(stale))
            if len(self._counts) > MAX_CACHED_COUNTS:
                self._counts.clear()
            for retailer_id, key in stale.items():
                found[retailer_id] = counted.get(retailer_id, 0)
                if key is not None:
                    self._counts[retailer_id] = (key, found[retailer_id])
        return found

    def _epc(self, listed: Sequence[ListedProgram]) -> dict[int, Decimal | None]:
        """EPC as /v2/offers computes it: one event-log query per advertiser on the page."""
        end = _next_quarter_hour(self._clock())
        windows = {"epc": (end - EPC_WINDOW, end)}
        by_account: dict[int, list[int]] = {}
        for item in listed:
            by_account.setdefault(item.program.account_id, []).append(item.program.id)
        found: dict[int, Decimal | None] = {}
        for account_id, ids in by_account.items():
            totals = self._events.campaign_totals_windows(account_id, ids, windows)["epc"]
            found.update({pid: epc(t) for pid, t in totals.items()})
        return found

    # partner: product feeds

    def feed_info(
        self, principal: Principal, program_id: int | None, channel_id: int | None
    ) -> tuple[tuple[Feed, ...], Standing]:
        with self._uow(read_only=True) as uow:
            listed = _partner_program(uow, principal, program_id)
            channel = _own_channel(uow, principal, channel_id)
            found = self._channel_standing(uow, listed, principal.account_id, channel)
            feeds = self._feeds(uow, [listed])[listed.program.id]
        return feeds, found

    def feed(
        self,
        principal: Principal,
        program_id: int,
        channel_id: int,
        feed_id: int | None,
        *,
        set_epi: bool,
        gt: bool,
    ) -> ProductFeed:
        with self._uow(read_only=True) as uow:
            listed = _partner_program(uow, principal, program_id)
            _own_channel(uow, principal, channel_id)
        return self._product_feed(listed, principal.account_id, channel_id, feed_id, set_epi=set_epi, gt=gt)

    def feed_url_signature(self, program_id: int, channel_id: int, feed_id: int, epi: bool) -> str:
        return feed_signature(self._feed_key, program_id, channel_id, feed_id, epi)

    def download(
        self, program_id: int, channel_id: int, feed_id: int, epi: bool, signature: str
    ) -> ProductFeed:
        """A served feed file: the signed URL stands for the channel's publisher, and works as
        long as the channel stays approved and the program visible to it."""
        expected = self.feed_url_signature(program_id, channel_id, feed_id, epi)
        # As bytes: compare_digest refuses a str that is not ASCII (a TypeError, then a 500).
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Forbidden("the feed URL's signature does not match", field="sig")
        with self._uow(read_only=True) as uow:
            channel = uow.channels.get(channel_id)
            if channel is None:
                raise NotFound("channel not found", field="asid")
            query = PartnerProgramQuery(publisher_id=channel.account_id, program_id=program_id, limit=1)
            found, _ = uow.programs.partner_page(query)
        if not found:
            raise NotFound("program not found", field="apid")
        return self._product_feed(found[0], channel.account_id, channel_id, feed_id, set_epi=epi, gt=False)

    def _product_feed(
        self,
        listed: ListedProgram,
        publisher_id: int,
        channel_id: int,
        feed_id: int | None,
        *,
        set_epi: bool,
        gt: bool,
    ) -> ProductFeed:
        program = listed.program
        if feed_id is not None and feed_id not in program.feed_ids:
            raise NotFound(f"feed {feed_id} is not one of this program's feeds", field="feedId")
        with self._uow(read_only=True) as uow:
            application = uow.channels.application_for(
                program.id, publisher_id=publisher_id, channel_id=channel_id
            )
            if application is None or application.status is not ApprovalStatus.APPROVED:
                raise Forbidden(
                    "only an approved channel gets product feeds (and working tracking links)",
                    field="channelId",
                )
            return self._feed_of(uow, listed, publisher_id, channel_id, feed_id, set_epi=set_epi, gt=gt)

    def _feed_of(
        self,
        uow: UnitOfWork,
        listed: ListedProgram,
        publisher_id: int,
        channel_id: int,
        feed_id: int | None,
        *,
        set_epi: bool,
        gt: bool,
    ) -> ProductFeed:
        """The feed as one channel is served it; its parts' versions name the files whatever
        the channel (the links' base holds only the tracking URL and the program)."""
        program = listed.program
        feeds = self._feeds(uow, [listed])[program.id]
        chosen = [f for f in feeds if feed_id is None or f.id == feed_id]
        latest = uow.feed_imports.latest([f.id for f in chosen])
        stamps = [f.last_updated for f in chosen if f.last_updated is not None]
        link = click_url(self._tracking_url, program.id, publisher_id, channel_id)
        # Its query is `o=…&p=…&ch=…` (link_query's order): all but the program is the channel's.
        channel_links = link.rsplit("?", 1)[1].split("&", 1)[1]
        link_base = link.removesuffix(channel_links)
        # With gt the sites decide which links write their page out: a change renders anew.
        sites = _landing_sites(uow, program) if gt else ()
        settings = (
            FEED_FILES_VERSION,
            program.id,
            program.market,
            listed.currency,
            link_base,
            set_epi,
            gt,
            sites,
        )
        return ProductFeed(
            listed=listed,
            channel_id=channel_id,
            count=sum(f.products for f in chosen),
            last_updated=max(stamps) if stamps else None,
            parts=tuple(
                FeedPart(f.id, _version(*settings, f.products, _import_key(latest.get(f.id)))) for f in chosen
            ),
            set_epi=set_epi,
            gt=gt,
            sites=sites,
            link_base=link_base,
            channel_links=channel_links,
        )

    def feed_files(self, feed: ProductFeed, fmt: Format) -> list[BinaryIO]:
        """The feed's files in one format, one per catalog, open at their headers: rendered
        first where the catalog changed since (or was never rendered)."""
        stem = f"{feed.listed.program.id}-epi{int(feed.set_epi)}-gt{int(feed.gt)}"
        opened: list[BinaryIO] = []
        try:
            for part in feed.parts:

                def body(placeholder: str, retailer_id: int = part.retailer_id) -> Iterator[bytes]:
                    items = self._batches(retailer_id, feed.link_base + placeholder, feed)
                    return fmt.render(items, feed.listed)

                opened.append(self._files.open(str(part.retailer_id), stem, part.version, fmt.suffix, body))
        except BaseException:
            for file in opened:
                file.close()
            raise
        return opened

    def gzip_file(self, feed: ProductFeed, fmt: Format, body: Callable[[], Iterator[bytes]]) -> BinaryIO:
        """The feed as `body()` serves it to its channel, gzip-compressed on the channel's first
        such request and kept until a catalog changes (FeedFiles.open_gzip)."""
        # One gzip file per program, variant, format and choice of catalogs (and channel).
        catalogs = hashlib.sha256(repr([p.retailer_id for p in feed.parts]).encode()).hexdigest()[:12]
        stem = f"{feed.listed.program.id}-epi{int(feed.set_epi)}-gt{int(feed.gt)}-{fmt.suffix}-{catalogs}"
        versions = [p.version for p in feed.parts]
        return self._files.open_gzip(stem, versions, fmt.channel_links(feed.channel_links), body)

    def render_catalog_files(self, retailer_id: int) -> int:
        """Renders the default files (every format, no `setEpi`, no `gt`) of the catalog for
        every active program offering it, as its first request would: run after an import so
        no request waits for a render. Files already rendered are kept. Returns the number of
        programs."""
        with self._uow(read_only=True) as uow:
            retailer = uow.retailers.get(retailer_id)
            if retailer is None:
                return 0
            offering = _programs_offering(uow, retailer.account_id, retailer_id)
            feeds = [
                # Any channel names the same files: the feed's versions leave the channel out.
                self._feed_of(uow, listed, 0, 0, retailer_id, set_epi=False, gt=False)
                for listed in offering
            ]
        for feed in feeds:
            for fmt in DEFAULT_FORMATS:
                for file in self.feed_files(feed, fmt):
                    file.close()
        return len(feeds)

    def _batches(self, retailer_id: int, prefix: str, feed: ProductFeed) -> Iterator[list[FeedItem]]:
        after = None
        while True:
            with self._uow(read_only=True) as uow:
                rows = uow.products.after(retailer_id, after, FEED_BATCH)
            if not rows:
                return
            yield [
                FeedItem(p, product_link(prefix, p, set_epi=feed.set_epi, gt=feed.gt, sites=feed.sites))
                for p in rows
            ]
            if len(rows) < FEED_BATCH:
                return
            after = rows[-1].id

    @staticmethod
    def _channel_standing(
        uow: UnitOfWork, listed: ListedProgram, publisher_id: int, channel_id: int
    ) -> Standing:
        applications = uow.channels.applications(publisher_id=publisher_id, program_ids=[listed.program.id])
        found, _ = standing(applications, channel_id, uow.programs.segments_of([listed.program.id]))
        return found

    # client: the channels that applied to the advertiser's programs

    def channels(self, principal: Principal, wanted: ChannelFilter) -> Page[ChannelApplication]:
        _advertiser(principal)
        _page_bounds(wanted.page, wanted.page_size)
        query = ProgramChannelQuery(
            account_id=principal.account_id,
            program_id=wanted.program_id,
            channel_id=wanted.channel_id,
            publisher_id=wanted.affiliate_id,
            status=wanted.approval_status,
            offset=wanted.page * wanted.page_size,
            limit=wanted.page_size,
        )
        with self._uow(read_only=True) as uow:
            found, count = uow.channels.program_channels(query)
        return Page(found, count, wanted.page, wanted.page_size)

    def decide(
        self,
        principal: Principal,
        channel_id: int,
        status: ApprovalStatus,
        reject_reason: RejectReason | None,
        reason_text: str | None = None,
        program_id: int | None = None,
    ) -> Application:
        """Approve or reject the channel's application to one of the caller's programs. A channel
        that applied to several of them needs `program_id` (409 without)."""
        _advertiser(principal)
        with self._uow(read_only=True) as uow:
            found = uow.channels.applications(
                account_id=principal.account_id,
                channel_id=channel_id,
                program_ids=None if program_id is None else [program_id],
            )
        if not found:
            field = "channelId" if program_id is None else "programId"
            raise NotFound("no application of this channel to your program(s)", field=field)
        if len(found) > 1:
            raise Conflict(
                f"the channel applied to {len(found)} of your programs: give programId to say which",
                field="programId",
            )
        return self._decide(principal, found[0].id, status, reject_reason, reason_text)


# --- who may call what -------------------------------------------------------------------------


def _publisher(principal: Principal) -> None:
    if principal.kind is not AccountKind.PUBLISHER:
        raise Forbidden("partner endpoints take a publisher (partner) account's token")


def _advertiser(principal: Principal) -> None:
    if principal.kind is not AccountKind.ADVERTISER:
        raise Forbidden("client endpoints take an advertiser account's token")


def _partner_program(uow: UnitOfWork, principal: Principal, program_id: int | None) -> ListedProgram:
    """The program as the publisher may see it; 404 when it may not. Another kind of key: 403
    for a program of its own, else 404 (nothing about other tenants' programs leaks)."""
    if principal.kind is not AccountKind.PUBLISHER:
        mine = program_id is not None and uow.programs.get(program_id, account_id=principal.account_id)
        if mine:
            _publisher(principal)
        raise NotFound(f"program {program_id} not found", field="programId")
    found: list[ListedProgram] = []
    if program_id is not None:
        query = PartnerProgramQuery(publisher_id=principal.account_id, program_id=program_id, limit=1)
        found, _ = uow.programs.partner_page(query)
    if not found:
        raise NotFound(f"program {program_id} not found", field="programId")
    return found[0]


def _landing_sites(uow: UnitOfWork, program: Program) -> tuple[str, ...]:
    """Where the click handler lands the program's `url=` links (services/tracking.py `_landing`)."""
    campaign = uow.campaigns.get(program.id, account_id=program.account_id)
    landing = (campaign.destination_url,) if campaign and campaign.destination_url else ()
    return landing + program_sites(uow, program)


def _programs_offering(uow: UnitOfWork, account_id: int, retailer_id: int) -> list[ListedProgram]:
    """The account's programs listing the catalog among their feeds whose campaign is active
    (only those can be asked for a feed)."""
    found: list[ListedProgram] = []
    before: int | None = None
    while page := uow.programs.page(account_id=account_id, before_id=before, limit=PROGRAMS_PAGE):
        for program in page:
            if retailer_id not in program.feed_ids:
                continue
            campaign = uow.campaigns.get(program.id, account_id=account_id)
            if campaign is not None and campaign.status is CampaignStatus.ACTIVE:
                found.append(ListedProgram(program, campaign.name, campaign.budget.currency))
        before = page[-1].id
    return found


def _own_channel(uow: UnitOfWork, principal: Principal, channel_id: int | None) -> int:
    if channel_id is None or uow.channels.get(channel_id, account_id=principal.account_id) is None:
        raise NotFound(f"channel {channel_id} not found", field="channelId")
    return channel_id


class _OfProgram(Protocol):
    @property
    def program_id(self) -> int: ...


ItemT = TypeVar("ItemT", bound=_OfProgram)


def _by_program(items: Sequence[ItemT]) -> dict[int, list[ItemT]]:
    grouped: dict[int, list[ItemT]] = {}
    for item in items:
        grouped.setdefault(item.program_id, []).append(item)
    return grouped


def _standard_id(segments: Sequence[Segment]) -> int | None:
    return next((s.id for s in segments if s.standard), None)


def _page_bounds(page: int, page_size: int) -> None:
    if page < 0:
        raise BadRequest("page counts from 0", field="page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"pageSize must be 1-{MAX_PAGE_SIZE}", field="pageSize")
    # The page's rows are OFFSET page * pageSize LIMIT pageSize: both databases take a 64-bit
    # integer, and no table holds that many rows anyway.
    if (page + 1) * page_size > MAX_ROWS:
        raise BadRequest(
            f"page is at most {MAX_ROWS // page_size - 1} with pageSize {page_size}", field="page"
        )
