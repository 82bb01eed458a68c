"""The SmartLink hot routes as raw ASGI handlers (seed 002).

`GET /api/v1/auction/?a=<auction id>&t=<cache buster>&uuid=<page session>`: no authentication,
rate limited per request origin (the client's address); runs the SmartLink's
auction and answers the seed's envelope `{"info": {"error", "status"}, "data": [...]}`, errors
included (`"message"` says what is wrong). Publishers call it from their own pages' JavaScript
(seed 002: "write your own custom publisher Javascript tags"), so every answer allows any origin
(CORS, without credentials: the API has none) and a preflight `OPTIONS` is answered.
`GET /s/<auction id>`: the SmartLink itself, a 302 to the winner's click URL, or to the link's
fallback URL when nobody bids.

With SQLite the service runs on the event loop (a warm auction reads no database); with
PostgreSQL in the threadpool, since a cache miss is a network round trip.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.domain.compliance import redirect_problem
from auctera.domain.fraud import RequestFacts
from auctera.domain.ids import from_decimal
from auctera.services.auctions import AuctionService, SmartLinkAnswer, SmartLinkArchived, SmartLinkNotFound
from auctera.services.clock import Clock
from auctera.services.ports import RateLimiter
from auctera.tracking.handlers import NO_STORE, ClientAddress, page

AUCTION_PATH = "/api/v1/auction/"
SMARTLINK_PREFIX = "/s/"  # RootApp hands every path under it to the handler registered here
_JSON = (b"content-type", b"application/json")
_ALLOW = (b"allow", b"GET, HEAD, OPTIONS")
# CORS: any page may read the auction's answers; no credentials (the API has no authentication).
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_EXPOSE_RETRY_AFTER = (b"access-control-expose-headers", b"retry-after")  # not CORS-safelisted
_PREFLIGHT = [
    _ANY_ORIGIN,
    (b"access-control-allow-methods", b"GET, HEAD"),
    (b"access-control-max-age", b"86400"),
]
# What a preflight may echo as Access-Control-Allow-Headers: a plain list of header names.
_HEADER_NAMES = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")
_MAX_REQUEST_HEADERS = 1024

T = TypeVar("T")


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def smartlink_handlers(
    service: AuctionService,
    rate_limiter: RateLimiter,
    clock: Clock,
    *,
    inline: bool,
    limit_per_minute: int,
    client_address: ClientAddress = ClientAddress(),
) -> dict[str, ASGIApp]:
    """The hot routes by path: the auction API (with and without its trailing slash) and /s/."""

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return fn(*args) if inline else await run_in_threadpool(fn, *args)

    def facts_of(scope: Scope) -> RequestFacts:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ip = client_address(scope, headers)
        return RequestFacts(ip=ip, user_agent=headers.get("user-agent", ""), headers=headers, at=clock())

    async def auction(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            await _preflight(scope, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _envelope(send, 405, "the auction API answers GET only", [_ALLOW])
            return
        facts = facts_of(scope)
        # Per client address, not per Origin header: a tag runs in every visitor's browser, so a
        # popular publisher's page sends its Origin from thousands of addresses (and a script
        # can send any Origin it likes).
        decision = rate_limiter.hit(f"smartlink:{facts.ip}", limit_per_minute)
        if not decision.allowed:
            wait = decision.retry_after
            message = f"rate limit of {decision.limit} auctions per minute exceeded; retry in {wait}s"
            retry_after = (b"retry-after", str(decision.retry_after).encode())
            await _envelope(send, 429, message, [retry_after, _EXPOSE_RETRY_AFTER])
            return
        try:
            link_id, page_session = _params(scope["query_string"].decode("latin-1"))
            answer = await call(service.smartlink_auction, link_id, facts, page_session)
        except BadRequest as bad:
            await _envelope(send, 400, bad.message)
            return
        except SmartLinkNotFound:
            await _envelope(send, 404, "no SmartLink has this auction id")
            return
        except SmartLinkArchived:
            await _json(send, 200, {"info": {"error": False, "status": 200}, "data": []})
            return
        await _json(send, 200, {"info": {"error": False, "status": 200}, "data": _data(answer)})

    async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await page(send, 405, "SmartLinks answer GET only.", allow=b"GET, HEAD")
            return
        text = scope["path"][len(SMARTLINK_PREFIX) :].rstrip("/")
        link_id = from_decimal(text)
        if link_id is None:
            await page(send, 404, "This SmartLink does not exist.")
            return
        facts = facts_of(scope)
        try:
            answer = await call(service.smartlink_auction, link_id, facts, None)
            location = answer.winner.urls.click if answer.winner else answer.link.fallback_url
            fallback = answer.winner is None
        except SmartLinkNotFound:
            await page(send, 404, "This SmartLink does not exist.")
            return
        except SmartLinkArchived as archived:
            location, fallback = archived.link.fallback_url, True
        # A fallback stored before the create refused what no redirect may carry (a CR/LF breaks
        # the response, a backslash host leads elsewhere): a page, not a dropped connection.
        if fallback and redirect_problem(location) is not None:
            await page(send, 404, "This SmartLink has no valid page to send visitors to.")
            return
        headers = [(b"location", location.encode()), NO_STORE, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return {AUCTION_PATH: auction, AUCTION_PATH.rstrip("/"): auction, SMARTLINK_PREFIX: redirect}


def _params(query: str) -> tuple[int, str | None]:
    """(the SmartLink's auction id, the page session uuid) from `a`, `t` and `uuid`."""
    params = parse_qs(query, keep_blank_values=True)
    a = params.get("a", [""])[0]
    if not a:
        raise BadRequest("a (the auction id) is required")
    link_id = from_decimal(a)
    if link_id is None:
        raise BadRequest("a must be the auction id: the number at the end of the SmartLink")
    t = params.get("t", [""])[0]
    if t and not re.fullmatch(r"-?[0-9]+", t):
        raise BadRequest("t must be an integer (a random cache buster)")
    page_session = params.get("uuid", [""])[0] or None
    if page_session is not None:
        try:
            page_session = str(uuidlib.UUID(page_session))
        except ValueError:
            raise BadRequest("uuid must be a UUID (the page session's UUID v4)") from None
    return int(a), page_session


def _data(answer: SmartLinkAnswer) -> list[dict[str, Any]]:
    """The seed's `data`: one auction result, or none when no merchant bids."""
    won = answer.winner
    if won is None:
        return []
    product, merchant = won.product, won.merchant
    return [
        {
            "auction_result": {
                "id": str(answer.result_id),
                "auction_id": str(answer.link.id),
                "redirect_url": won.urls.click,
                "product": {
                    "merchant": {
                        "url": f"https://{merchant.domain}/",
                        "canonical_host": merchant.domain,
                        "id": merchant.id,
                        "name": merchant.name,
                    },
                    "name": product.name,
                    "url": product.url,
                    "image_url": product.image_url or "",
                    "is_in_stock": product.in_stock,
                    "price": str(answer.usd_price),
                    "id": product.id,
                },
                # Third-party trackers: none of ours; our own impression is `impression_pixel_url`,
                # listed once so that a client firing both does not count it twice.
                "tracker_urls": {"viewable_impression": [won.urls.viewable], "impression": []},
            },
            "impression_pixel_url": won.urls.impression,
        }
    ]


async def _preflight(scope: Scope, send: Send) -> None:
    """A browser's CORS preflight: 204 allowing GET from any origin. The headers it asks for are
    allowed as asked (the API reads none that could matter), when they are a list of names."""
    headers = list(_PREFLIGHT)
    for name, value in scope["headers"]:
        if name == b"access-control-request-headers":
            asked = value.decode("latin-1").strip()
            if len(asked) <= _MAX_REQUEST_HEADERS and _HEADER_NAMES.fullmatch(asked):
                headers.append((b"access-control-allow-headers", asked.encode("latin-1")))
            break
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _json(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = orjson.dumps(body)
    headers = [_JSON, (b"content-length", str(len(payload)).encode()), NO_STORE, _ANY_ORIGIN, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _envelope(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _json(
        send, status, {"info": {"error": True, "status": status, "message": message}, "data": []}, extra
    )
