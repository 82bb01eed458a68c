"""Middleware of the FastAPI application (the hot routes in app.py bypass it), outermost first:

    RequestContextMiddleware   request id, X-RateLimit-* headers, access log line, metrics
    HttpsOnlyMiddleware        only when settings.require_https: plain HTTP gets 403 https_required

Both are plain ASGI callables rather than BaseHTTPMiddleware, which runs the app in an extra task and
pipes every response through a memory stream: a cost on each request that a pure send() wrapper avoids.
`rate_limit_headers` and `observe_request` serve the hot routes too, which bypass all of this.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auctera.api.errors import v2_envelope
from auctera.api.observability import UNMATCHED_ROUTE, observe_request
from auctera.domain.accounts import Principal, render_account_id
from auctera.errors import AucteraError, Forbidden
from auctera.services.ports import RateDecision

if TYPE_CHECKING:  # the API never imports the composition root at run time
    from auctera.bootstrap import Container

REQUEST_ID_HEADER = b"x-request-id"
# What we accept from a caller as its request id: short and harmless in headers and log lines.
_sane_request_id = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}").fullmatch

_access_log = structlog.get_logger("auctera.access")


class InternalError(AucteraError):
    status_code = 500
    code = "internal_error"


def rate_limit_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    """The X-RateLimit-* headers (raw ASGI form); X-RateLimit-Reset is in unix epoch seconds."""
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.reset_at).encode()),
    ]


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v2/campaigns/{campaign_id}`), for bounded metric labels."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    # Inside a mount, root_path has grown by the part of the path the mount consumed.
    prefix = scope["root_path"][len(scope["app_root_path"]) :] if "app_root_path" in scope else ""
    if isinstance(route, Mount):  # the mounted app is not a router, or found nothing
        return prefix + "/{path}"
    path_format = getattr(route, "path_format", None)
    return prefix + path_format if isinstance(path_format, str) else UNMATCHED_ROUTE


def is_https(scope: Scope) -> bool:
    """Over TLS, directly or (X-Forwarded-Proto) as far as the first proxy."""
    if scope.get("scheme") == "https":
        return True
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            # "https, http" after several proxies: the first one faced the client.
            first_hop: bytes = value.split(b",", 1)[0]
            return first_hop.strip().lower() == b"https"
    return False


async def send_error(app: Any, scope: Scope, receive: Receive, send: Send, exc: AucteraError) -> None:
    """Answer with `exc` the way the app's own AucteraError handler would (the path's error envelope)."""
    request = Request(scope, receive)
    handler = getattr(app, "exception_handlers", {}).get(AucteraError)
    if handler is None:  # an app without our error handlers
        body = orjson.dumps(v2_envelope(exc.status_code, exc.code, exc.message, exc.field))
        response: Any = Response(body, exc.status_code, media_type="application/json")
    else:
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
    await response(scope, receive, send)


class RequestContextMiddleware:
    """Per request: an id (the caller's X-Request-ID if sane, else a new one) echoed in X-Request-ID
    and bound to every log line; the X-RateLimit-* headers once auth has counted the request; one
    access log line and the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        # Each request runs in its own task (a copy of the server's context): bindings end with it,
        # and stay visible to the server's own error log should the app raise.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        app = scope.get("app")  # before any mounted sub-app replaces it
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: the response object may reuse its own.
                headers = [*message.get("headers", ()), id_header]
                decision = _rate_decision(scope)
                if decision is not None:
                    headers += rate_limit_headers(decision)
                    if status == 429 and not any(k.lower() == b"retry-after" for k, _ in headers):
                        headers.append((b"retry-after", str(decision.retry_after).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if status == 0:
                # Answer here rather than in Starlette's ServerErrorMiddleware (outside us), so the
                # 500 carries the request id and the envelope. Re-raised for the server's error log.
                await send_error(
                    app, scope, receive, _closing(send_with_headers), InternalError("internal server error")
                )
            status = status or 500
            raise
        finally:
            # status 0: cancelled (the client went away) before any answer; 499 as nginx logs it.
            _finish(scope, status or 499, time.perf_counter() - started)


def _closing(send: Send) -> Send:
    """`send`, with `Connection: close` on the answer: an error re-raised after it makes the server
    drop the connection once the answer is sent, so a keep-alive client is told not to send its
    next request on it (it could not tell whether that one was served)."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
        await send(message)

    return closing


class HttpsOnlyMiddleware:
    """Refuses plain-HTTP requests, as the /v2 document says ("calls made over plain HTTP will fail").

    403 in the path's error envelope, code `https_required`; not a redirect, which would have the
    client resend its key (and a POST body) without noticing. Behind a TLS-terminating proxy, the
    proxy's X-Forwarded-Proto is believed: this protects callers from their own mistakes; a caller
    who lies about it only exposes itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_https(scope):
            await self.app(scope, receive, send)
            return
        refusal = Forbidden("HTTPS is required: this API refuses plain-HTTP calls", code="https_required")
        await send_error(scope.get("app"), scope, receive, send, refusal)


def install_middleware(app: FastAPI, container: Container) -> None:
    # add_middleware puts each one outside those added before it.
    if container.settings.require_https:
        app.add_middleware(HttpsOnlyMiddleware)
    app.add_middleware(RequestContextMiddleware)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _sane_request_id(value) else None
    return None


def _rate_decision(scope: Scope) -> RateDecision | None:
    # Written by the auth dependencies through request.state, which is this dict.
    state = scope.get("state")
    decision = state.get("rate_limit") if state else None
    return decision if isinstance(decision, RateDecision) else None


def _finish(scope: Scope, status: int, seconds: float) -> None:
    method: str = scope["method"]
    observe_request(method, route_template(scope), status, seconds)
    # Bound now, under the current configuration; at log level warning the line is not built at all.
    log = _access_log.bind()
    if status < 500 and not log.is_enabled_for(logging.INFO):
        return
    fields: dict[str, Any] = {
        "method": method,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    state = scope.get("state")
    principal = state.get("principal") if state else None
    if isinstance(principal, Principal):
        # As the API and CLI show it (adv_…): a 64-bit integer loses digits in JSON tools using doubles.
        fields["account_id"] = render_account_id(principal.kind, principal.account_id)
    if status >= 500:
        log.error("request", **fields)
    else:
        log.info("request", **fields)
