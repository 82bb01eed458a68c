"""The webhook delivery worker: drains the postback outbox (services/webhooks.py).

It claims due deliveries with a lease, sends them with httpx (asyncio, at most `concurrency` in
flight, each attempt bounded by `timeout`), signed with the Standard Webhooks scheme, and writes
the outcomes in small groups. Claims are refilled as slots free up. A publisher has at most
`per_publisher` of them in flight and twice that claimed (D60): a receiver that hangs until the
timeout holds only its publisher's share, its backlog stays due in the outbox, and the other
slots go to the other publishers, in turns. Runs in the server's lifespan (a thread with its own
event loop) or as `auctera webhooks work`, its own process: a worker killed mid-delivery leaves
its leased rows to be claimed again once the lease runs out (at least once; same `webhook-id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta

import httpx
import orjson

from auctera.domain.webhooks import Delivery, parse_retry_after, sign
from auctera.services.webhooks import Outcome, WebhookService

log = logging.getLogger(__name__)

USER_AGENT = "Auctera-Webhooks/1"
MAX_ERROR = 500  # characters of an error kept in the delivery log
FLUSH_EVERY = 0.05  # seconds: outcomes are written at least this often while deliveries run
# Connections per httpx client: its pool's bookkeeping grows with the connections it holds (on
# loopback one client at 64 connections sends ~380 req/s, sixteen clients of 4 ~1,500), so the
# worker's concurrency is spread over several small clients, each request to the least busy.
SHARD = 4


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    concurrency: int = 64
    timeout: float = 10.0  # seconds per attempt, connect to last byte
    batch: int = 256  # deliveries claimed at most per claim
    lease: timedelta = timedelta(seconds=60)  # a claimed row is left alone this long (> 3 timeouts)
    idle: float = 0.2  # seconds between looks at the outbox when nothing is due
    per_publisher: int = 8  # deliveries in flight per publisher (twice that claimed)


class WebhookWorker:
    def __init__(self, service: WebhookService, options: WorkerOptions | None = None) -> None:
        self._service = service
        self._options = options or WorkerOptions()
        if self._options.lease.total_seconds() <= 3 * self._options.timeout:
            raise ValueError("the lease must outlast three attempts' timeouts")
        if self._options.per_publisher < 1:
            raise ValueError("per_publisher must be at least 1")
        self.sent = 0

    async def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Deliver until `stop` is set (or, with `until_idle`, until nothing is in flight or due)."""
        opts = self._options
        shards = -(-opts.concurrency // SHARD)
        limits = httpx.Limits(max_connections=SHARD, max_keepalive_connections=SHARD)
        inflight: set[asyncio.Task[tuple[Delivery, Outcome]]] = set()
        done: list[tuple[Delivery, Outcome]] = []
        busy = [0] * shards
        ready: deque[Delivery] = deque()
        flying: Counter[int] = Counter()  # publisher (account id) -> its deliveries in flight
        last_flush = time.monotonic()
        # After a claim that got less than it asked (the outbox had no more it may take now), the
        # next waits for a publisher's share of freed slots or `idle`: not a claim per freed slot.
        freed, next_look = 0, 0.0
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(limits=limits, timeout=opts.timeout, follow_redirects=False)
                )
                for _ in range(shards)
            ]
            while not stop.is_set():
                # Claimed ahead, up to one more round than is in flight (per publisher too): a
                # claim (a write transaction) per many deliveries, not one per freed slot. The
                # lease covers the wait: at most two rounds of timeouts before a claimed row is sent.
                room = 2 * opts.concurrency - len(inflight) - len(ready)
                claimed: list[Delivery] = []
                if (not inflight and not ready) or (
                    room >= max(opts.concurrency // 2, 1)
                    and (freed >= opts.per_publisher or time.monotonic() >= next_look)
                ):
                    held = flying + Counter(d.account_id for d in ready)
                    asked = min(room, opts.batch)
                    claimed = await asyncio.to_thread(
                        self._service.claim, asked, opts.lease, share=2 * opts.per_publisher, held=held
                    )
                    ready.extend(claimed)
                    freed = 0
                    next_look = time.monotonic() + (opts.idle if len(claimed) < asked else 0.0)
                waiting: deque[Delivery] = deque()  # of publishers with their share in flight
                while ready and len(inflight) < opts.concurrency:
                    d = ready.popleft()
                    if flying[d.account_id] >= opts.per_publisher:
                        waiting.append(d)
                        continue
                    flying[d.account_id] += 1
                    shard = busy.index(min(busy))
                    busy[shard] += 1
                    task = asyncio.create_task(self._send(clients[shard], d))
                    task.add_done_callback(lambda _, s=shard: _release(busy, s))
                    inflight.add(task)
                waiting.extend(ready)  # in the order claimed: each publisher's oldest first
                ready = waiting
                if inflight:
                    finished, _ = await asyncio.wait(
                        inflight, timeout=FLUSH_EVERY, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in finished:
                        inflight.discard(task)
                        done.append(task.result())
                        account = task.result()[0].account_id
                        flying[account] -= 1
                        if not flying[account]:
                            del flying[account]
                        freed += 1
                if done and (not inflight or time.monotonic() - last_flush >= FLUSH_EVERY):
                    await self._flush(done)
                    last_flush = time.monotonic()
                if not claimed and not inflight and not ready:
                    # Idle means nothing in flight here and nothing due now: retries scheduled
                    # later (the backoff runs for up to 72 hours) or leased to another worker are
                    # left for later runs, or `until_idle` would practically never return.
                    if until_idle and not await asyncio.to_thread(self._service.due):
                        break
                    await asyncio.sleep(opts.idle)
            if inflight:  # stopping: finish what is in flight (bounded by the timeout)
                for task in asyncio.as_completed(inflight):
                    done.append(await task)
            if done:
                await self._flush(done)

    def run_forever(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        asyncio.run(self.run(stop, until_idle=until_idle))

    async def _flush(self, done: list[tuple[Delivery, Outcome]]) -> None:
        batch = list(done)
        done.clear()
        await asyncio.to_thread(self._service.record, [d for d, _ in batch], [o for _, o in batch])
        self.sent += len(batch)

    async def _send(self, client: httpx.AsyncClient, d: Delivery) -> tuple[Delivery, Outcome]:
        start = time.perf_counter()
        if not self._service.allow_private:  # DNS may have changed since the postback was made
            refused = await asyncio.to_thread(self._service.target_refused, d.url)
            if refused is not None:
                return d, Outcome(d.id, None, f"refused: {refused}"[:MAX_ERROR], _ms(start))
        now = self._service.now()
        body = orjson.dumps(d.payload) if d.method == "POST" else b""
        # The wall clock, not the service's: receivers reject a timestamp more than minutes off.
        stamp = int(time.time())
        headers = {
            "user-agent": USER_AGENT,
            "webhook-id": d.webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(d.secret, d.webhook_id, stamp, body),
        }
        if d.method == "POST":
            headers["content-type"] = "application/json"
        try:
            response = await asyncio.wait_for(
                _status(client, d.method, d.url, body, headers), self._options.timeout
            )
        except Exception as exc:  # any failure is this attempt's, never the worker's: it records it
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return d, Outcome(d.id, None, error[:MAX_ERROR], _ms(start))
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        return d, Outcome(d.id, response.status_code, None, _ms(start), retry_after)


async def _status(
    client: httpx.AsyncClient, method: str, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """The receiver's answer without its body: we need its status and headers only, and a
    receiver must not make the server hold whatever it sends back."""
    async with client.stream(method, url, content=body or None, headers=headers) as response:
        return response


def _release(busy: list[int], shard: int) -> None:
    busy[shard] -= 1


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class WorkerThread:
    """The worker on a daemon thread with its own event loop (the server's lifespan)."""

    def __init__(self, worker: WebhookWorker) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(worker,), name="webhook-worker", daemon=True)
        self._thread.start()

    def _run(self, worker: WebhookWorker) -> None:
        while not self._stop.is_set():
            try:
                worker.run_forever(self._stop)
            except Exception:
                log.exception("webhook worker failed; restarting")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
