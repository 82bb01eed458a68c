"""Logging and Prometheus metrics.

Logging: structlog, one line per event on stdout, JSON (`AUCTERA_LOG_JSON=true`, the default) or a
console format for people. Records of the standard library's loggers (uvicorn, SQLAlchemy, alembic)
are rendered the same way, so every line on stdout has one shape, and those written during a request
carry the `request_id` the request middleware binds.

Metrics: module-level collectors, exposed by `metrics_app()` (a hot route at /metrics). With several
worker processes, each keeps its own counters; prometheus_client's multiprocess mode sums them at
scrape time. It is switched on by the `PROMETHEUS_MULTIPROC_DIR` environment variable, which must be
set (to an empty directory: stale files from an earlier run would be added in) before the worker
processes import prometheus_client; `auctera serve --workers N` does that (docs/operations.md).

The raw hot routes (`RootApp.hot`: click, pixels, SmartLink, sponsored links) bypass the middleware
and count themselves into plain integers (`HOT_REQUESTS`), which `flush_hot_requests` adds to the
same request counter at each scrape (and every few seconds in multiprocess mode).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Protocol, TextIO

import structlog
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    make_asgi_app,
    multiprocess,
    values,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.api.responses import dumps_text_safe


class LoggingSettings(Protocol):
    log_level: str
    log_json: bool


# --- logging -------------------------------------------------------------------------------------

_HANDLER_MARK = "_auctera_handler"


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return dumps_text_safe(obj, default=default).decode()


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's fastest line writer, with the name given to `get_logger(name)` for the log line."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def configure_logging(settings: LoggingSettings) -> None:
    """Idempotent: calling it again replaces our handler and configuration, never stacks them."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper())
    if level is None:
        raise ValueError(f"unknown log level {settings.log_level!r}")
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=_orjson_dumps)]
        if settings.log_json
        else [structlog.dev.ConsoleRenderer()]
    )
    stream = sys.stdout

    def logger_factory(name: str = "", *_: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(stream, name)

    # structlog events are rendered and written directly (a third of the cost of going through the
    # stdlib's handlers; the access log writes one per request). Both writers write whole lines.
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        # Not cached: a later configure_logging (another level, tests capturing logs) must take effect.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers; send its records through ours instead. Its access log is
    # replaced by the middleware's (run uvicorn with access_log=False to skip formatting it at all).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every request's full URL at info: a publisher's postback URL or a partner's may
    # carry a credential in its query string (`?api_key=`), and logs are no place for it.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- metrics -------------------------------------------------------------------------------------

# Latency buckets in seconds, finer at the low end where the API lives.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "auctera_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
# No status label: it would multiply the bucket series; the counter above has the statuses.
HTTP_LATENCY = Histogram(
    "auctera_http_request_duration_seconds",
    "Time from request to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=_BUCKETS,
)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"  # 404s and the like: never the raw path, which is unbounded

_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request. Also for hot routes, which bypass the FastAPI middleware."""
    if method not in KNOWN_METHODS:
        method = "OTHER"  # a client must not be able to mint label values
    key = (method, route, str(status))
    children = _children.get(key)
    if children is None:  # labels() validates and locks on every call: look it up once per series
        children = _children[key] = (HTTP_REQUESTS.labels(*key), HTTP_LATENCY.labels(method, route))
    children[0].inc()
    children[1].observe(seconds)


# The hot routes' counts: (method, route label, status) -> requests answered, since the process
# started. A click costs ~30 µs of Python: a Counter child's inc() (a lock) and a histogram
# observation per request would be a noticeable share, a dict increment is ~0.1 µs. Incremented by
# `app.RootApp` on the event loop only; no latency histogram for these routes.
HOT_REQUESTS: dict[tuple[str, str, int], int] = {}
_hot_added: dict[tuple[str, str, int], int] = {}  # how much of each count HTTP_REQUESTS holds
_hot_lock = threading.Lock()  # a scrape and the periodic flush may run at once


def flush_hot_requests() -> None:
    """Add the hot routes' new counts to `auctera_http_requests` (labels as for every other route).
    Run before each scrape, and periodically in multiprocess mode, where a scrape served by another
    worker reads this one's counts from its files."""
    with _hot_lock:
        for key, total in HOT_REQUESTS.copy().items():  # copy(): atomic against the event loop's writes
            added = total - _hot_added.get(key, 0)
            if added:
                method, route, status = key
                HTTP_REQUESTS.labels(method, route, str(status)).inc(added)
                _hot_added[key] = total


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in files (it decides once, when it is imported)."""
    return values.ValueClass is not values.MutexValue


def metrics_app() -> ASGIApp:
    registry = REGISTRY
    if multiprocess_mode():
        registry = CollectorRegistry()
        # Reads every worker's files at each scrape.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    exposition = make_asgi_app(registry)

    async def scrape(scope: Scope, receive: Receive, send: Send) -> None:
        flush_hot_requests()  # this process's hot-route requests, up to this one
        await exposition(scope, receive, send)

    return scrape
