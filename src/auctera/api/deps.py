"""Reaching the composition root from a request (set on app.state by create_app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # the API never imports the composition root at run time
    from auctera.bootstrap import Container

P = ParamSpec("P")
T = TypeVar("T")


def container_of(request: HTTPConnection) -> Container:
    return cast("Container", request.app.state.container)


async def read(request: HTTPConnection, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a short read-only service method (one or two indexed SELECTs) from an async endpoint.

    With the embedded SQLite store it runs right here on the event loop: tens of microseconds of
    work, where a threadpool hop costs more than that and, under load, a wait for the GIL behind
    the busy loop (milliseconds). Otherwise (PostgreSQL: a network round trip) in the threadpool.
    Never for anything that can take long: that blocks every request this process serves.
    """
    if container_of(request).inline_reads:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)
