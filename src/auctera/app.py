"""The ASGI application: lean hot-path routes beside the FastAPI management API.

`RootApp` looks the path up in a dict of raw ASGI handlers first (click redirect, pixel,
auction, postback: later issues) and hands everything else to FastAPI, so the hot paths
pay neither FastAPI's routing and dependency injection nor its middleware.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auctera import __version__
from auctera.api import oauth
from auctera.api.compat.affiliate_v3 import routes as affiliate_v3
from auctera.api.compat.bids import routes as bids
from auctera.api.compat.retail_media import routes as retail_media
from auctera.api.errors import install_error_handlers
from auctera.api.health import HEALTH_WAIT_SECONDS, StoreHealth, health_route
from auctera.api.middleware import install_middleware
from auctera.api.observability import (
    HOT_REQUESTS,
    KNOWN_METHODS,
    configure_logging,
    flush_hot_requests,
    metrics_app,
    multiprocess_mode,
)
from auctera.api.openapi import install_openapi
from auctera.api.responses import OrjsonResponse
from auctera.api.v2 import accounts as v2_accounts
from auctera.api.v2 import applications as v2_applications
from auctera.api.v2 import auctions as v2_auctions
from auctera.api.v2 import audiences as v2_audiences
from auctera.api.v2 import blocklist as v2_blocklist
from auctera.api.v2 import campaigns as v2_campaigns
from auctera.api.v2 import channels as v2_channels
from auctera.api.v2 import conversions as v2_conversions
from auctera.api.v2 import creatives as v2_creatives
from auctera.api.v2 import offers as v2_offers
from auctera.api.v2 import postbacks as v2_postbacks
from auctera.api.v2 import programs as v2_programs
from auctera.api.v2 import reports as v2_reports
from auctera.api.v2 import retailers as v2_retailers
from auctera.api.v2 import smartlinks as v2_smartlinks
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.jobs.audiences import AudienceThread, AudienceWorker
from auctera.jobs.bid_sync import SyncThread, sync_worker
from auctera.jobs.exports import SWEEP_SECONDS as EXPORT_SWEEP_SECONDS
from auctera.jobs.periodic import Periodic
from auctera.jobs.webhooks import WebhookWorker, WorkerOptions, WorkerThread
from auctera.store.database import check_store
from auctera.tracking.handlers import SPONSORED, ClientAddress, tracking_handlers
from auctera.tracking.smartlink import SMARTLINK_PREFIX, smartlink_handlers

HotRoutes = dict[str, ASGIApp]
PREFIXED = (SMARTLINK_PREFIX, v2_campaigns.CAMPAIGN_PREFIX)  # hot routes taking the paths under them
CONVERSION_SWEEP_SECONDS = 30.0
HOT_METRICS_SECONDS = 5.0
AUCTION_STATS_SECONDS = 5.0
# A query over 30 days of conversions and their clicks: often enough for a days-long pattern. The
# first soon after start, so a restart does not leave flooders unflagged for the interval.
FLOODING_WATCH_SECONDS, FLOODING_WATCH_FIRST = 300.0, 5.0


# Hot routes served through the FastAPI middleware (api/raw_routes.py), which counts them already.
SELF_COUNTED = frozenset({"/v2/conversions", v2_campaigns.CAMPAIGN_PREFIX})


def hot_route_label(path: str) -> str | None:
    """The `route` label of a hot route's requests (a prefix's: `/s/{path}`, as a mount's);
    None for one that counts itself."""
    if path in SELF_COUNTED:
        return None
    if path in PREFIXED:
        return path + "{path}"
    return path.rstrip("/") or path  # /api/v1/auction/ and /api/v1/auction: one route


class RootApp:
    def __init__(self, api: FastAPI, hot: HotRoutes, container: Container) -> None:
        self.api = api
        self.hot = hot
        self.container = container
        self._labels: dict[str, str | None] = {}  # hot path -> its metric label, as first served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            handler = self.hot.get(path)
            if handler is None:  # /s/<auction id>, /v2/campaigns/<id>: the handler of the prefix
                path = next((p for p in PREFIXED if path.startswith(p)), "")
                handler = self.hot.get(path)
            if handler is not None:
                label = self._labels.get(path, "")
                if label == "":
                    label = self._labels[path] = hot_route_label(path)
                if label is None:
                    await handler(scope, receive, send)
                    return
                # Counted here, by (method, route, status), into plain integers (see observability).
                method = scope["method"]
                if method not in KNOWN_METHODS:
                    method = "OTHER"  # a client must not be able to mint label values
                status = 0

                def counting(message: Message) -> Awaitable[None]:
                    # Not a coroutine: the handler awaits `send`'s own, one frame less per message.
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                    return send(message)

                try:
                    await handler(scope, receive, counting)
                except Exception:
                    status = status or 500  # what the server answers
                    raise
                finally:
                    key = (method, label, status or 499)  # 499: gone before an answer, as nginx logs it
                    HOT_REQUESTS[key] = HOT_REQUESTS.get(key, 0) + 1
                return
        await self.api(scope, receive, send)


def create_app(settings: Settings | None = None, container: Container | None = None) -> RootApp:
    settings = settings or (container.settings if container else Settings())
    container = container or build(settings)
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Campaigns whose post-create review a restart interrupted get it now.
        await run_in_threadpool(container.campaigns.review_pending, 10_000)
        # Conversions a crash left out of the event log get there (see ConversionService).
        sweep = Periodic("conversion-log-sweep", CONVERSION_SWEEP_SECONDS, container.conversions.log_pending)
        # Charged clicks (sponsored, affiliate CPC) a crash left out of the event log get there.
        spend_sweep = Periodic("spend-log-sweep", CONVERSION_SWEEP_SECONDS, container.sponsored.log_pending)
        # The auction's click and conversion predictions learn from the events logged since.
        auction_stats = Periodic("auction-stats", AUCTION_STATS_SECONDS, container.auctions.refresh_stats)
        # ...and their caches (spend, inventories) are kept fresh off the request path.
        upkeep = min(max(settings.auction_cache_seconds / 2, 0.5), 1.0)
        auction_caches = Periodic("auction-caches", upkeep, container.auctions.refresh_caches)
        # Publishers whose conversions come days after their clicks, far more than others' do.
        flooding = Periodic(
            "flooding-watch",
            FLOODING_WATCH_SECONDS,
            container.flooding.refresh,
            first_after=FLOODING_WATCH_FIRST,
        )
        # Publisher postbacks: the outbox drained in the background (or by `auctera webhooks work`).
        webhook_worker = None
        if settings.webhook_worker:
            webhook_worker = WorkerThread(webhook_worker_for(settings, container))
        # Bids applied on their networks (or by `auctera bids work`, its own process).
        bid_sync = None
        if settings.bid_sync_worker:
            bid_sync = SyncThread(*sync_worker(container.uow, container.ids, container.clock, settings))
        # Audience sync jobs, lookalikes and pixel refreshes (or `auctera audiences work`).
        audience_worker = None
        if settings.audience_worker:
            audience_worker = AudienceThread(
                AudienceWorker(container.audiences, settings.audience_pixel_refresh_seconds)
            )
        # Report exports: queued jobs (the POST also nudges the runner) and retention.
        export_jobs = None
        if settings.export_worker:
            export_jobs = Periodic("report-exports", EXPORT_SWEEP_SECONDS, container.export_runner.sweep)
        # /v3 feed files rendered after each catalog import, off the import's answer.
        if settings.feed_file_worker:
            container.feed_renders.start()
        # With several workers a scrape is answered by one of them, from every worker's files:
        # each writes its hot-route counts there every few seconds (and when it stops).
        hot_metrics = None
        if multiprocess_mode():
            hot_metrics = Periodic("hot-route-metrics", HOT_METRICS_SECONDS, flush_hot_requests)
        try:
            yield
        finally:
            if hot_metrics is not None:
                hot_metrics.stop()
                flush_hot_requests()
            container.feed_renders.stop()
            if export_jobs is not None:
                export_jobs.stop()
            if audience_worker is not None:
                audience_worker.stop()
            auction_stats.stop()
            auction_caches.stop()
            flooding.stop()
            sweep.stop()
            spend_sweep.stop()
            if webhook_worker is not None:
                webhook_worker.stop()
            if bid_sync is not None:
                bid_sync.stop()
            container.close()

    api = FastAPI(
        title="Auctera API",
        version=__version__,
        description="Self-hosted performance-marketing engine. See docs/ for each surface.",
        default_response_class=OrjsonResponse,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    api.state.container = container
    _name_own_pages(api)
    routers = (
        oauth.router,
        v2_accounts.router,
        v2_campaigns.router,
        v2_blocklist.router,
        v2_conversions.router,
        v2_offers.router,
        v2_channels.router,
        v2_applications.router,
        v2_postbacks.router,
        v2_programs.router,
        v2_reports.router,
        bids.router,
        affiliate_v3.router,
        v2_auctions.router,
        v2_smartlinks.router,
        v2_retailers.router,
        v2_audiences.router,
        v2_creatives.router,
        v2_creatives.cdn,
        retail_media.router,  # last: its paths start with a parameter, so IndexedRouter cannot skip it
    )
    for router in routers:
        api.include_router(router)
    install_error_handlers(api, (route for router in routers for route in router.routes))
    install_openapi(api, (route for router in routers for route in router.routes))
    install_middleware(api, container)

    client_address = ClientAddress(
        settings.client_ip_header.lower() if settings.client_ip_header else None, settings.client_ip_hops
    )
    hot: HotRoutes = {
        "/healthz": health_route(StoreHealth(partial(check_store, container.engine, HEALTH_WAIT_SECONDS))),
        "/metrics": metrics_app(),
        "/v2/conversions": v2_conversions.postback_route(api, require_https=settings.require_https),
        v2_campaigns.CAMPAIGN_PREFIX: v2_campaigns.campaign_route(api, require_https=settings.require_https),
        **tracking_handlers(
            container.tracking,
            container.clock,
            inline=container.inline_reads,
            client_address=client_address,
            grouped_click=container.tracking.click_grouped if container.inline_reads else None,
        ),
        **smartlink_handlers(
            container.auctions,
            container.rate_limiter,
            container.clock,
            inline=container.inline_reads,
            limit_per_minute=settings.smartlink_rate_limit_per_minute,
            client_address=client_address,
        ),
        **tracking_handlers(
            container.sponsored,
            container.clock,
            routes=SPONSORED,
            inline=container.inline_reads,
            client_address=client_address,
            grouped_click=container.sponsored.click_grouped if container.inline_reads else None,
        ),
    }
    return RootApp(api, hot, container)


def _name_own_pages(api: FastAPI) -> None:
    """FastAPI's own pages (/docs, /openapi.json, the docs' OAuth2 redirect) are plain Starlette
    routes, which FastAPI's router does not record in `scope["route"]`: the request metrics would
    count them as `<unmatched>`. Each records itself, as an API route is recorded."""
    for route in api.router.routes:
        if type(route) is Route:
            route.app = _recorded(route, route.app)


def _recorded(route: Route, app: ASGIApp) -> ASGIApp:
    async def named(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = route
        await app(scope, receive, send)

    return named


def webhook_worker_for(settings: Settings, container: Container) -> WebhookWorker:
    options = WorkerOptions(
        concurrency=settings.webhook_concurrency,
        timeout=settings.webhook_timeout_seconds,
        lease=timedelta(seconds=max(60.0, 4 * settings.webhook_timeout_seconds)),
        per_publisher=settings.webhook_per_publisher,
    )
    return WebhookWorker(container.webhooks, options)


# A full collection walks every tracked object: with warm caches and fraud counters that is
# about 500k objects and a 100-200 ms pause that every request in flight waits out (the
# SmartLink benchmark's p99 at half load: 194 ms with the default, 12 ms with this).
FULL_COLLECTION_EVERY = 10_000  # young-generation collections (default: 10)

# How long a thread holding the interpreter keeps it while another waits. The event loop shares it
# with the background threads (cache refreshes, sweeps, the journal, the WAL checkpointer): at the
# default 5 ms every request that arrived while one of them ran waited up to 5 ms per hand-over
# (the SmartLink benchmark's p99 at half load: 8-37 ms with the default, 5-6 ms with this).
SWITCH_INTERVAL_SECONDS = 0.0005


def tuned_for_serving(app: RootApp) -> RootApp:
    """What a server process does once its app is built: the objects built so far (modules,
    settings, the container) are frozen out of garbage collection, and full collections are
    made rare. Reference counting frees almost everything here; the young generations still
    collect short-lived cycles. Background threads hand the interpreter back to the event loop
    sooner (`SWITCH_INTERVAL_SECONDS`). Not for tests, which build many apps in one process."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    return app


def app_factory() -> RootApp:
    """For `uvicorn --factory` (`auctera serve`): settings come from AUCTERA_* variables."""
    return tuned_for_serving(create_app(Settings()))
