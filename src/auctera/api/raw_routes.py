"""Documented API routes served without FastAPI's routing and dependency solving.

FastAPI tries its routes in order, about 1.4 µs each (D43), then solves each endpoint's
dependencies: 100-250 µs a request before the endpoint runs. The busiest routes are served
raw instead, by `app.RootApp`, with what the FastAPI stack would give them all the same: the
request id, rate-limit headers, access log and metrics (`RequestContextMiddleware`), the HTTPS
rule, and errors in the surface's envelope. Their documentation stays FastAPI's: the route is
still declared there, and it answers every method the raw handler does not take (405 with its
Allow header, for one).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.api.middleware import HttpsOnlyMiddleware, RequestContextMiddleware


def served_raw(
    api: FastAPI, documented: APIRoute, method: str, handler: ASGIApp, *, require_https: bool
) -> ASGIApp:
    """`handler` for `method` requests to `documented`'s path; other methods go to FastAPI."""
    inner: ASGIApp = HttpsOnlyMiddleware(handler) if require_https else handler
    wrapped = RequestContextMiddleware(inner)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != method:
            await api(scope, receive, send)
            return
        scope["app"] = api  # what auth, error rendering and the middleware look the container up on
        scope["route"] = documented  # the metrics label
        await wrapped(scope, receive, send)

    return route


def documented_route(routes: list[object], path: str, method: str) -> APIRoute:
    """The APIRoute of a router for `method` on `path` (as the router spells it)."""
    return next(r for r in routes if isinstance(r, APIRoute) and r.path == path and method in r.methods)
