"""A minimal HTTP/1.1 keep-alive load generator over asyncio streams.

Far cheaper per request than an HTTP client library, so on a shared 2-core machine it
measures the server, not itself. Every figure is compared with a baseline route served by
the same process in the same run, which cancels most of the machine's own variance.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# What to send: a list of ready requests, taken in turn (each connection from its own place), or
# a function building request number i when it is sent (every i once across all connections:
# for requests that must be distinct, or carry a fresh timestamp).
Requests = list[bytes] | Callable[[int], bytes]
# Called with the status and the response head (status line and headers) of every response.
OnResponse = Callable[[int, bytes], None]


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int  # responses that were not 2xx (or not the status expected)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98]


def raw_get(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def raw_post(path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A POST of `body` as is (set its Content-Type in `headers`); Content-Length is added."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader, on_response: OnResponse | None = None) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    if on_response is not None:
        on_response(status, head)
    return status


async def _worker(
    port: int,
    requests: Requests,
    deadline: float,
    out: Result,
    start: int,
    numbers: Iterator[int],
    on_response: OnResponse | None,
    expect: int | None,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while time.perf_counter() < deadline:
            if callable(requests):
                request = requests(next(numbers))  # built before the clock starts for it
                t0 = time.perf_counter()
                writer.write(request)
            else:
                t0 = time.perf_counter()
                writer.write(requests[i % len(requests)])
            status = await _read_response(reader, on_response)
            out.latencies_ms.append((time.perf_counter() - t0) * 1000)
            out.requests += 1
            succeeded = status == expect if expect is not None else 200 <= status < 300
            if not succeeded:
                out.errors += 1
            i += 1
    finally:
        writer.close()


async def _run(
    port: int,
    requests: Requests,
    seconds: float,
    connections: int,
    on_response: OnResponse | None,
    expect: int | None,
) -> Result:
    out = Result(0, 0.0, [], 0)
    start = time.perf_counter()
    deadline = start + seconds
    # Each connection starts at its own place in `requests`, so they do not ask for the same thing at once.
    starts = (
        [0] * connections
        if callable(requests)
        else [k * len(requests) // connections for k in range(connections)]
    )
    numbers = itertools.count()  # shared: a built request is sent once, on one connection
    await asyncio.gather(
        *(_worker(port, requests, deadline, out, start, numbers, on_response, expect) for start in starts)
    )
    out.seconds = time.perf_counter() - start
    return out


def load(
    port: int,
    requests: Requests,
    *,
    seconds: float = 5.0,
    connections: int = 16,
    on_response: OnResponse | None = None,
    expect: int | None = None,
) -> Result:
    """Send `requests` over `connections` keep-alive connections for `seconds`; each connection
    waits for a response before its next request. A response is an error unless its status is
    `expect`, or any 2xx when `expect` is None."""
    return asyncio.run(_run(port, requests, seconds, connections, on_response, expect))
