"""The click redirects and the impression pixels as raw ASGI handlers: the affiliate and DSP
ones (/click, /imp, /viewable) and the sponsored ones (/sp/click, /sp/imp, /sp/viewable, see
docs/spend.md), which parse requests and answer alike.

They run before FastAPI (see `app.RootApp`): no routing table, no dependency injection, no
middleware, one journal append and one response per request. With SQLite the service runs on
the event loop (its lookups are cached, a miss reads a local file; a paid click's charge,
sponsored or affiliate CPC, is one short local write transaction, about 0.25 ms, as the
postbacks' writes are): less than a hop to the threadpool costs under load. With PostgreSQL in
the threadpool: a miss is a network round trip, and a charge may wait on its campaign's row lock.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.domain.fraud import RequestFacts
from auctera.services import sponsored
from auctera.services.clock import Clock
from auctera.services.tracking import UID_COOKIE, Logged, Redirect, TrackingRefused, TrackingRequest

# The smallest transparent 1x1 GIF: 43 bytes.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_UID_MAX_AGE = 365 * 86_400
NO_STORE = (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0")
PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    NO_STORE,
    (b"pragma", b"no-cache"),
]


class Visits(Protocol):
    """What the routes call: `TrackingService` (affiliate and DSP links) or `SponsoredService`."""

    def click(self, request: TrackingRequest) -> Redirect: ...

    def impression(self, request: TrackingRequest, *, viewable: bool = False) -> Logged: ...


@dataclass(frozen=True, slots=True)
class Routes:
    click: str
    impression: str
    viewable: str
    wrong_method: str


TRACKING = Routes("/click", "/imp", "/viewable", "Tracking links answer GET only.")
SPONSORED = Routes(
    sponsored.CLICK_PATH,
    sponsored.IMPRESSION_PATH,
    sponsored.VIEWABLE_PATH,
    "Sponsored links answer GET only.",
)
# A HEAD comes from link checkers and prefetchers, not visitors: a click is a GET, never charged
# otherwise. A pixel is an <img> (GET) or a beacon (navigator.sendBeacon POSTs).
_CLICK_METHODS = frozenset({"GET"})
_PIXEL_METHODS = frozenset({"GET", "POST"})
_ALLOW_GET, _ALLOW_PIXEL = b"GET", b"GET, POST"


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Where the visitor's address is read: the TCP peer, or the header the proxies in front of
    us set (`AUCTERA_CLIENT_IP_HEADER`). A list header (`X-Forwarded-For: client, proxy1, ...`)
    is read from the right, `hops` entries in (`AUCTERA_CLIENT_IP_HOPS`: the proxies that append
    to it): its left-most entry is whatever the client sent, and a bot that writes a new address
    there on each click would otherwise slip past every per-address fraud check."""

    header: str | None = None  # lower-case
    hops: int = 1

    def __call__(self, scope: Scope, headers: dict[str, str]) -> str:
        if self.header is not None:
            value = headers.get(self.header)
            if value:
                entries = value.split(",")
                return entries[max(len(entries) - self.hops, 0)].strip()
        client = scope.get("client")
        return client[0] if client else ""


def tracking_handlers(
    service: Visits,
    clock: Clock,
    *,
    routes: Routes = TRACKING,
    inline: bool,
    client_address: ClientAddress = ClientAddress(),
    grouped_click: Callable[[TrackingRequest], Awaitable[Redirect]] | None = None,
) -> dict[str, ASGIApp]:
    """The hot routes by path: the click redirect, the impression and the viewable pixel.
    `grouped_click`: the service's click on the event loop, when it writes in groups
    (`SponsoredService.click_grouped`, `TrackingService.click_grouped`), in place of `service.click`."""

    def request_of(scope: Scope) -> tuple[TrackingRequest, bool]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ip = client_address(scope, headers)
        uid = cookie(headers.get("cookie"), UID_COOKIE)
        facts = RequestFacts(
            ip=ip, user_agent=headers.get("user-agent", ""), headers=headers, at=clock(), device_id=uid
        )
        secure = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        query = scope["query_string"].decode("latin-1")
        return TrackingRequest(query, facts, headers.get("referer"), uid), secure

    async def click(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in _CLICK_METHODS:
            await page(send, 405, routes.wrong_method, _ALLOW_GET)
            return
        request, secure = request_of(scope)
        try:
            if grouped_click is not None:
                redirect = await grouped_click(request)
            elif inline:
                redirect = service.click(request)
            else:
                redirect = await run_in_threadpool(service.click, request)
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
            if scope["method"] not in _PIXEL_METHODS:
                await page(send, 405, "Pixels answer GET (and POST, for beacons) only.", _ALLOW_PIXEL)
                return
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

    return {routes.click: click, routes.impression: pixel(False), routes.viewable: pixel(True)}


def cookie(header: str | None, name: str) -> str | None:
    """Our visitor id from a Cookie header, parsed the way browsers write it (RFC 6265 5.4):
    `name=value` pairs separated by `;`, each on its own. The tracking host's other cookies
    (JSON, spaces, anything) cannot hide ours: the stdlib's SimpleCookie gives up on the whole
    header at the first pair it dislikes, and a returning visitor was then taken for a new one."""
    if not header:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value if value and len(value) <= 64 and value.isalnum() else None
    return None


# Third-party context (our pixel on a publisher's page) needs SameSite=None, which needs Secure.
_COOKIE_ATTRS = {
    secure: f"; Max-Age={_UID_MAX_AGE}; Path=/; HttpOnly; SameSite=" + ("None; Secure" if secure else "Lax")
    for secure in (True, False)
}


def uid_cookie(uid: str, secure: bool) -> tuple[bytes, bytes]:
    return b"set-cookie", f"{UID_COOKIE}={uid}{_COOKIE_ATTRS[secure]}".encode()


async def page(send: Send, status: int, message: str, allow: bytes | None = None) -> None:
    """A small HTML page for a person who followed a link (`allow`: a 405's Allow header)."""
    body = (
        "<!doctype html><html><head><meta charset=utf-8><title>Auctera</title></head>"
        f"<body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        NO_STORE,
    ]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
