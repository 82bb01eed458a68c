"""The ASGI application: lean hot-path routes beside the FastAPI management API.

`RootApp` looks the path up in a dict of raw ASGI handlers first (click redirect, pixel,
auction, postback: later issues) and hands everything else to FastAPI, so the hot paths
pay neither FastAPI's routing and dependency injection nor its middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera import __version__
from auctera.api import oauth
from auctera.api.errors import install_error_handlers
from auctera.api.middleware import install_middleware
from auctera.api.observability import configure_logging, metrics_app
from auctera.api.responses import OrjsonResponse
from auctera.api.v2 import accounts as v2_accounts
from auctera.api.v2 import blocklist as v2_blocklist
from auctera.api.v2 import campaigns as v2_campaigns
from auctera.api.v2 import conversions as v2_conversions
from auctera.api.v2 import offers as v2_offers
from auctera.api.v2 import reports as v2_reports
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.jobs.periodic import Periodic
from auctera.tracking.handlers import tracking_handlers

HotRoutes = dict[str, ASGIApp]
CONVERSION_SWEEP_SECONDS = 30.0


class RootApp:
    def __init__(self, api: FastAPI, hot: HotRoutes, container: Container) -> None:
        self.api = api
        self.hot = hot
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.hot.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.api(scope, receive, send)


async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
    """Ready once the app is built: migrations applied, event log open."""
    body = orjson.dumps({"status": "ok", "version": __version__})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
        try:
            yield
        finally:
            sweep.stop()
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
    install_error_handlers(api)
    api.include_router(oauth.router)
    api.include_router(v2_accounts.router)
    api.include_router(v2_campaigns.router)
    api.include_router(v2_blocklist.router)
    api.include_router(v2_conversions.router)
    api.include_router(v2_offers.router)
    api.include_router(v2_reports.router)
    install_middleware(api, container)

    hot: HotRoutes = {
        "/healthz": healthz,
        "/metrics": metrics_app(),
        "/v2/conversions": v2_conversions.postback_route(api, require_https=settings.require_https),
        **tracking_handlers(
            container.tracking,
            container.clock,
            inline=container.inline_reads,
            client_ip_header=settings.client_ip_header,
        ),
    }
    return RootApp(api, hot, container)


def app_factory() -> RootApp:
    """For `uvicorn --factory` (several workers): settings come from AUCTERA_* variables."""
    return create_app(Settings())
