"""The sponsored click redirect and impression pixels as raw ASGI handlers: /sp/click, /sp/imp,
/sp/viewable (see docs/spend.md). Same request parsing and responses as the /click and /imp routes.

With SQLite both run on the event loop, as the postbacks' writes do (`Container.inline_reads`): a
charge is one short local write transaction (about 0.25 ms), less than a hop to the threadpool
costs under load. With PostgreSQL they run in the threadpool: a charge waits on the network and,
under contention, on the campaign's row lock.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.domain.fraud import RequestFacts
from auctera.services.clock import Clock
from auctera.services.sponsored import CLICK_PATH, IMPRESSION_PATH, VIEWABLE_PATH, SponsoredService
from auctera.services.tracking import UID_COOKIE, TrackingRefused, TrackingRequest
from auctera.tracking.handlers import NO_STORE, PIXEL, PIXEL_HEADERS, client_ip, cookie, page, uid_cookie


def sponsored_handlers(
    service: SponsoredService,
    clock: Clock,
    *,
    inline: bool,
    client_ip_header: str | None = None,
) -> dict[str, ASGIApp]:
    """The hot routes by path: /sp/click, /sp/imp, /sp/viewable."""
    ip_header = client_ip_header.lower().encode() if client_ip_header else None

    def request_of(scope: Scope) -> tuple[TrackingRequest, bool]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        uid = cookie(headers.get("cookie"), UID_COOKIE)
        facts = RequestFacts(
            ip=client_ip(scope, headers, ip_header),
            user_agent=headers.get("user-agent", ""),
            headers=headers,
            at=clock(),
            device_id=uid,
        )
        secure = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        return TrackingRequest(
            scope["query_string"].decode("latin-1"), facts, headers.get("referer"), uid
        ), secure

    async def click(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":  # a HEAD is a link checker or prefetcher, not a visitor: no charge
            await page(send, 405, "Sponsored links answer GET only.")
            return
        request, secure = request_of(scope)
        try:
            redirect = service.click(request) if inline else await run_in_threadpool(service.click, request)
        except TrackingRefused as refused:
            await page(send, refused.status, refused.message)
            return
        headers = [(b"location", redirect.location.encode()), NO_STORE, (b"content-length", b"0")]
        if request.uid != redirect.uid:
            headers.append(uid_cookie(redirect.uid, secure))
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def pixel(viewable: bool) -> ASGIApp:
        def log(request: TrackingRequest) -> str:
            return service.impression(request, viewable=viewable).uid

        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            request, secure = request_of(scope)
            status, headers = 200, list(PIXEL_HEADERS)
            try:
                uid = log(request) if inline else await run_in_threadpool(log, request)
                if request.uid != uid:
                    headers.append(uid_cookie(uid, secure))
            except TrackingRefused as refused:
                status = refused.status  # still a GIF: a broken image would disturb the page
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": PIXEL})

        return handler

    return {CLICK_PATH: click, IMPRESSION_PATH: pixel(False), VIEWABLE_PATH: pixel(True)}
