"""Composition root: picks the storage profile and wires adapters into services."""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from auctera.config import HEX_SECRET, Settings
from auctera.counters.rate_limit import InProcessRateLimiter
from auctera.counters.velocity import SlidingWindowCounter
from auctera.domain.creatives import DEFAULT_SCRIPT_HOSTS
from auctera.domain.ids import MAX_NODE, IdGenerator
from auctera.events.audience_staging import AudienceStagingFiles
from auctera.events.audiences import EventAudienceGraph
from auctera.events.click_delays import EventLogClickDelays
from auctera.events.creative_stats import EventLogVariantStats
from auctera.events.duckdb_store import DuckDBEventStore
from auctera.feeds import read_feed
from auctera.ivt.crawlers import default_crawlers
from auctera.ivt.geoip import GeoIpCountries
from auctera.ivt.ip_ranges import IpRanges
from auctera.jobs.exports import ExportRunner
from auctera.jobs.feed_files import FeedFileRenders
from auctera.media.inspect import MediaInspector
from auctera.media.scanning import ClamdScanner, Scanners, YaraScanner
from auctera.services.accounts import AccountService
from auctera.services.attribution import AttributionService
from auctera.services.auctions import AuctionService
from auctera.services.audiences import AudienceService
from auctera.services.auth import AuthService
from auctera.services.bids import PartnerTargets
from auctera.services.caching import CachedLookups
from auctera.services.campaigns import COUNTRIES, CampaignService
from auctera.services.catalog import CatalogService
from auctera.services.channels import ChannelService
from auctera.services.clock import Clock, utcnow
from auctera.services.conversions import ConversionService
from auctera.services.creatives import CDN_PATH, CreativeService
from auctera.services.exports import ExportService
from auctera.services.feed_files import FeedFiles
from auctera.services.fraud import FloodingWatch, FraudFilter, FraudSettings
from auctera.services.line_items import LineItemService
from auctera.services.outbound import resolve_host
from auctera.services.partner_programs import PartnerProgramService
from auctera.services.ports import RateLimiter
from auctera.services.reports import ReportService
from auctera.services.smartlinks import SmartLinkService
from auctera.services.spend import SpendService
from auctera.services.sponsored import SponsoredLinks, SponsoredService
from auctera.services.tracking import TrackingService
from auctera.services.webhooks import PostbackOutbox, WebhookService
from auctera.storage import object_store
from auctera.store.database import PostgresLimits, WalCheckpointer, is_sqlite_file, make_engine
from auctera.store.deployment import claim_event_log
from auctera.store.migrate import upgrade, upgrade_url
from auctera.store.uow import SqlUnitOfWorkFactory


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow: SqlUnitOfWorkFactory
    ids: IdGenerator
    clock: Clock
    events: DuckDBEventStore
    rate_limiter: RateLimiter
    accounts: AccountService
    auth: AuthService
    campaigns: CampaignService
    tracking: TrackingService
    conversions: ConversionService
    attribution: AttributionService
    spend: SpendService
    sponsored: SponsoredService
    sponsored_links: SponsoredLinks  # what the auctions put in their answers: /sp/click, /sp/imp URLs
    catalog: CatalogService
    line_items: LineItemService
    auctions: AuctionService
    smartlinks: SmartLinkService
    webhooks: WebhookService
    audiences: AudienceService
    reports: ReportService
    flooding: FloodingWatch  # publishers suspected of click flooding, refreshed by the server
    exports: ExportService
    export_runner: ExportRunner  # writes report exports (jobs/exports.py)
    creatives: CreativeService
    partner_programs: PartnerProgramService  # the /v3 affiliate API's service
    feed_renders: FeedFileRenders  # /v3 feed files rendered after imports (jobs/feed_files.py)
    partner_targets: PartnerTargets  # where bid networks may be called (AUCTERA_PARTNER_ALLOW_PRIVATE)
    # Whether short reads of the state store may run on the event loop: SQLite reads a local file
    # in microseconds, less than a hop to the threadpool costs; a PostgreSQL round trip is I/O.
    inline_reads: bool = False
    _node_lock: IO[str] | None = field(default=None, repr=False)
    _checkpointer: WalCheckpointer | None = field(default=None, repr=False)

    def close(self) -> None:
        self.events.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.uow.close()
        self.engine.dispose()
        if self._node_lock is not None:
            self._node_lock.close()


def claim_node_slot(data_dir: Path) -> tuple[int, IO[str]]:
    """A node number unique among the processes sharing `data_dir` (server workers, CLI runs).

    Held by an flock for the life of the process; the OS releases it even on kill -9.
    """
    slots = data_dir / "nodes"
    slots.mkdir(parents=True, exist_ok=True)
    for node in range(MAX_NODE + 1):
        handle = open(slots / f"{node}.lock", "w")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.write(str(os.getpid()))
        handle.flush()
        return node, handle
    raise RuntimeError(f"all {MAX_NODE + 1} node slots in {slots} are taken")


CLICK_TOKEN_SECRET_FILE = "click-token.secret"


def click_token_secret(settings: Settings) -> bytes:
    """The key click tokens are signed with: AUCTERA_CLICK_TOKEN_SECRET, else 32 random bytes made
    once and kept in data_dir (mode 0600), so restarts and every worker sharing the dir agree.
    The variable's text is the key (its UTF-8 bytes: what deployments have used it as, whose
    issued URLs must keep working), unless it is `hex:` and a file's hex digits (checked by
    Settings): then the key those digits encode, so another machine can share the file's key."""
    value = settings.click_token_secret
    if value:
        if value.startswith(HEX_SECRET):
            return bytes.fromhex(value.removeprefix(HEX_SECRET).strip())
        return value.encode()
    path = settings.data_dir / CLICK_TOKEN_SECRET_FILE
    if not path.exists():
        draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)  # atomic and exclusive: when workers race, the first one's wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return bytes.fromhex(path.read_text().strip())


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def build(settings: Settings, *, migrate: bool = True, clock: Clock = utcnow) -> Container:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds secrets
    if settings.node_id is None:
        node, lock = claim_node_slot(settings.data_dir)
    else:
        node, lock = settings.node_id, None
    # SQLite's WAL is copied back by a thread of its own, not inside a commit (WalCheckpointer).
    checkpoints = is_sqlite_file(settings.sqlalchemy_url)
    limits = PostgresLimits.of(settings)
    engine = make_engine(settings.sqlalchemy_url, background_checkpoints=checkpoints, limits=limits)
    if migrate and engine.dialect.name == "postgresql":
        upgrade_url(settings.sqlalchemy_url)  # an engine without the statement limit: DDL may be long (D59)
    elif migrate:
        upgrade(engine)
    claim_event_log(engine, settings.events_dir)  # one event log per database: OtherEventLog
    uow = SqlUnitOfWorkFactory(engine)
    # Ids from the same clock as event times: a click id tells when its click was logged. (The
    # wall clock read directly, without making a datetime, when that is the clock.)
    now_ms = _wall_ms if clock is utcnow else lambda: int(clock().timestamp() * 1000)
    ids = IdGenerator(node, now_ms)
    events = DuckDBEventStore(
        settings.events_dir, writer_id=f"n{node}", fsync_interval=settings.fsync_interval
    )
    delays = EventLogClickDelays(events)
    # One settings object: the watch counts as "late" exactly what the filter then judges late.
    fraud_settings = FraudSettings()
    flooding = FloodingWatch(delays, clock, late_after=fraud_settings.flooding_after)
    fraud = FraudFilter(
        default_crawlers(), IpRanges(settings.data_dir), SlidingWindowCounter(), fraud_settings, flooding
    )
    lookups = CachedLookups(uow, settings.tracking_cache_seconds)
    spend = SpendService(uow, ids)
    tracking = TrackingService(
        events,
        ids,
        screen=fraud,
        countries=COUNTRIES,
        lookups=lookups,
        country_of_ip=GeoIpCountries(settings.geoip_database) if settings.geoip_database else None,
        spend=spend,
    )
    outbox = PostbackOutbox(uow, ids, clock, settings.tracking_cache_seconds)
    sponsored_links = SponsoredLinks(settings.tracking_url, click_token_secret(settings))
    sponsored = SponsoredService(
        events,
        ids,
        clock,
        screen=fraud,
        spend=spend,
        uow=uow,
        lookups=lookups,
        secret=sponsored_links.secret,
        countries=COUNTRIES,
        cache_seconds=settings.tracking_cache_seconds,
        country_of_ip=GeoIpCountries(settings.geoip_database) if settings.geoip_database else None,
        remember_click=tracking.recent_clicks.add,
    )
    auctions = AuctionService(
        uow,
        events,
        events,
        ids,
        clock,
        screen=fraud,
        spend=spend,
        links=sponsored_links,
        pool_seconds=settings.auction_cache_seconds,
        inventory_seconds=settings.auction_inventory_seconds,
    )
    reports = ReportService(uow, events, clock, delays)
    exports = ExportService(
        uow,
        ids,
        clock,
        events,
        reports,
        click_token_secret(settings),
        retention=timedelta(days=settings.export_retention_days),
    )
    partner_programs = PartnerProgramService(
        uow,
        clock,
        events,
        settings.tracking_url,
        sponsored_links.secret,
        # Decisions go through the channel service, as /v2/network/applications makes them.
        ChannelService(uow, ids, clock).decide,
        FeedFiles(settings.feed_files_dir),
    )
    feed_renders = FeedFileRenders(partner_programs.render_catalog_files)
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        ids=ids,
        clock=clock,
        events=events,
        rate_limiter=InProcessRateLimiter(),
        accounts=AccountService(
            uow, ids, clock, rotation_grace=timedelta(seconds=settings.key_rotation_grace_seconds)
        ),
        auth=AuthService(
            uow,
            clock,
            token_ttl=timedelta(seconds=settings.oauth_token_ttl_seconds),
            cache_seconds=settings.auth_cache_seconds,
        ),
        campaigns=CampaignService(uow, ids, clock, events),
        tracking=tracking,
        conversions=ConversionService(
            uow,
            events,
            ids,
            clock,
            find_click=tracking.find_click,
            screen=fraud.check_postback,
            default_fraud_threshold=settings.default_fraud_threshold,
            lookups=lookups,
            outbox=outbox,
            spend=spend,
        ),
        attribution=AttributionService(uow, events, clock),
        spend=spend,
        sponsored=sponsored,
        sponsored_links=sponsored_links,
        catalog=CatalogService(uow, ids, clock, read_feed, after_import=feed_renders.submit),
        line_items=LineItemService(uow, ids, clock),
        auctions=auctions,
        flooding=flooding,
        smartlinks=SmartLinkService(uow, ids, clock),
        webhooks=WebhookService(
            uow,
            ids,
            clock,
            outbox,
            resolve_host,
            allow_private=settings.webhook_allow_private,
            first_retry=timedelta(seconds=settings.webhook_first_retry_seconds),
        ),
        audiences=AudienceService(
            uow,
            ids,
            clock,
            EventAudienceGraph(events),
            AudienceStagingFiles(settings.data_dir / "audience-staging"),
            on_targeting_changed=auctions.targeting_changed,
        ),
        reports=reports,
        exports=exports,
        # Finished files in the object store (exports_dir, or the bucket's exports/); the ones
        # being written in local scratch space.
        export_runner=ExportRunner(
            exports,
            events,
            object_store(settings, "exports", settings.exports_dir),
            settings.exports_dir / ".tmp",
        ),
        creatives=creative_service(settings, uow, ids, clock, events),
        partner_programs=partner_programs,
        feed_renders=feed_renders,
        partner_targets=PartnerTargets(resolve_host, allow_private=settings.partner_allow_private),
        inline_reads=engine.dialect.name == "sqlite",
        _node_lock=lock,
        _checkpointer=WalCheckpointer(engine) if checkpoints else None,
    )


def creative_service(
    settings: Settings, uow: SqlUnitOfWorkFactory, ids: IdGenerator, clock: Clock, events: DuckDBEventStore
) -> CreativeService:
    scanners: list[YaraScanner | ClamdScanner] = [YaraScanner()]
    if settings.clamav_socket:
        scanners.append(ClamdScanner(settings.clamav_socket))
    return CreativeService(
        uow,
        ids,
        clock,
        store=object_store(settings, "creatives", settings.creatives_dir),
        scanner=Scanners(scanners),
        inspector=MediaInspector(),
        stats=EventLogVariantStats(events),
        # A campaign's creatives changed: its review runs again (CampaignService holds no state).
        review_campaign=CampaignService(uow, ids, clock, events).rereview,
        cdn_base=settings.cdn_url or f"{settings.tracking_url.rstrip('/')}{CDN_PATH}",
        tracking_base=settings.tracking_url,
        script_hosts=settings.creative_script_hosts or DEFAULT_SCRIPT_HOSTS,
        stats_seconds=settings.auction_cache_seconds,  # as fresh as the auction's own figures
    )
