"""A minimal HTTP/1.1 keep-alive load generator over asyncio streams.

Far cheaper per request than an HTTP client library, so on a shared 2-core machine it
measures the server, not itself. Every figure is compared with a baseline route served by
the same process in the same run, which cancels most of the machine's own variance.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int  # responses that were not 2xx

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


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(port: int, requests: list[bytes], deadline: float, out: Result, start: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            out.latencies_ms.append((time.perf_counter() - t0) * 1000)
            out.requests += 1
            if not 200 <= status < 300:
                out.errors += 1
            i += 1
    finally:
        writer.close()


async def _run(port: int, requests: list[bytes], seconds: float, connections: int) -> Result:
    out = Result(0, 0.0, [], 0)
    start = time.perf_counter()
    deadline = start + seconds
    # Each connection starts at its own place in `requests`, so they do not ask for the same thing at once.
    starts = [k * len(requests) // connections for k in range(connections)]
    await asyncio.gather(*(_worker(port, requests, deadline, out, start) for start in starts))
    out.seconds = time.perf_counter() - start
    return out


def load(port: int, requests: list[bytes], *, seconds: float = 5.0, connections: int = 16) -> Result:
    return asyncio.run(_run(port, requests, seconds, connections))
