"""Publisher postback deliveries per second to a loopback receiver, beside a same-run baseline.

The receiver is a raw-ASGI app in a uvicorn subprocess (answers 204 and counts). The baseline
is the same httpx.AsyncClient, with the same concurrency, POSTing the same signed payloads to
it directly, without the outbox. The figure is `WebhookWorker` draining an outbox of
BENCH_WEBHOOKS (default 20,000) queued deliveries (POST postbacks, queued by conversions through
ConversionService.record_many): claim with a lease, send, record each outcome in the state store
(SQLite). Goal: >= 1,000 deliveries/s.

    BENCH_WEBHOOKS=20000 BENCH_WEBHOOK_CONCURRENCY=64 .venv/bin/python -m benchmarks webhooks
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.events import Event, EventType
from auctera.domain.ids import render
from auctera.domain.webhooks import sign
from auctera.jobs.webhooks import SHARD, WebhookWorker, WorkerOptions
from auctera.services.conversions import Postback, PostbackRequest
from auctera.store.tables import webhook_deliveries
from benchmarks.bench_api import env_int, serving

_received = 0


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """204 to every request (its body read); /count answers how many it has received."""
    global _received
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    path = scope["path"]
    body = b""
    status = 204
    if path == "/healthz":
        status, body = 200, b"ok"
    elif path == "/count":
        status, body = 200, str(_received).encode()
    else:
        _received += 1
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _serve(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _baseline(url: str, payloads: list[bytes], secret: str, concurrency: int, shard: int) -> float:
    """The payloads POSTed straight to the receiver, signed, `concurrency` at a time, over clients
    of `shard` connections each (the worker's spread; `shard=concurrency`: one client)."""
    limits = httpx.Limits(max_connections=shard, max_keepalive_connections=shard)
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for i, p in enumerate(payloads):
        queue.put_nowait((i, p))

    async def one(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i, body = queue.get_nowait()
            stamp = int(time.time())
            msg = render("msg", i + 1)
            headers = {
                "webhook-id": msg,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(secret, msg, stamp, body),
                "content-type": "application/json",
            }
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == 204, response.status_code

    clients = [httpx.AsyncClient(limits=limits, timeout=10) for _ in range(-(-concurrency // shard))]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(clients[i % len(clients)]) for i in range(concurrency)))
        return len(payloads) / (time.perf_counter() - started)
    finally:
        for client in clients:
            await client.aclose()


def main() -> None:
    n = env_int("BENCH_WEBHOOKS", 20_000)
    concurrency = env_int("BENCH_WEBHOOK_CONCURRENCY", 64)
    with tempfile.TemporaryDirectory() as tmp, serving("benchmarks.bench_webhooks", Path(tmp)) as (port, _):
        receiver = f"http://127.0.0.1:{port}"
        settings = Settings(data_dir=Path(tmp) / "data", webhook_allow_private=True, webhook_worker=False)
        c = build(settings)
        try:
            adv_key = c.accounts.create_account("Acme", "advertiser").api_key
            pub_key = c.accounts.create_account("Pub", "publisher").api_key
            adv, pub = c.auth.authenticate(adv_key), c.auth.authenticate(pub_key)
            assert adv is not None and pub is not None
            patch = CampaignPatch(
                name="Offer",
                budget=BudgetPatch(total_micros=10**15),
                payout_micros=2_000_000,
                destination_url="https://shop.example.com/?cid={click_id}",
            )
            offer = c.campaigns.create(adv, CampaignType.AFFILIATE_CPA, patch).id
            c.campaigns.review(offer)
            url = receiver + "/pb?cid={click_id}&txn={transaction_id}&p={payout}&g={geo}"
            postback = c.webhooks.create(pub, "purchase", url, "POST")

            requests = []
            for i in range(n):
                click = Event(
                    id=c.ids.next_id(),
                    type=EventType.CLICK,
                    at=c.clock(),
                    account_id=adv.account_id,
                    campaign_id=offer,
                    publisher_id=pub.account_id,
                    country="DE",
                )
                c.events.append(click)
                c.tracking.recent_clicks.add(click)  # as the click redirect leaves it
                requests.append(
                    PostbackRequest(
                        adv,
                        Postback(render("auc", click.id), "purchase", 1_000_000, None, order_id=str(i)),
                        None,
                    )
                )
            began = time.perf_counter()
            for start in range(0, n, 500):
                c.conversions.record_many(requests[start : start + 500])
            enqueue = n / (time.perf_counter() - began)

            with c.uow(read_only=True) as uow:
                queued = uow.webhooks.deliveries(None, limit=n)
            payloads = [orjson.dumps(d.payload) for d in queued]
            assert len(payloads) == n, f"{len(payloads)} queued of {n}"
            baseline = asyncio.run(
                _baseline(receiver + "/direct", payloads, postback.secret, concurrency, SHARD)
            )
            single = asyncio.run(
                _baseline(receiver + "/direct", payloads[: n // 4], postback.secret, concurrency, concurrency)
            )

            worker = WebhookWorker(
                c.webhooks, WorkerOptions(concurrency=concurrency, timeout=10, lease=timedelta(seconds=60))
            )
            began = time.perf_counter()
            worker.run_forever(threading.Event(), until_idle=True)
            rate = n / (time.perf_counter() - began)
            with c.uow(read_only=True) as uow:
                delivered = uow.webhooks.count_by_state().get("delivered", 0)
            with c.engine.connect() as conn:
                rows = conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar()
            received = int(httpx.get(receiver + "/count").text)
        finally:
            c.close()
    print(f"    ({n:,} conversions queued {n:,} deliveries, {enqueue:,.0f} conversions/s with the outbox)")
    print(
        f"    baseline: same httpx clients straight to the receiver  {baseline:9,.0f} req/s"
        f"   (concurrency {concurrency}, {SHARD} per client, as the worker)"
    )
    print(f"    for reference, one httpx client for all connections    {single:9,.0f} req/s")
    print(f"    outbox worker: claim, sign, send, record              {rate:9,.0f} deliveries/s")
    print(f"        ratio {rate / baseline:.2f}   ({rate / 1000:.2f}x the goal of 1,000/s)")
    print(
        f"    after the run: {delivered:,} of {rows:,} rows delivered; the receiver got {received:,}"
        f" ({n + n // 4:,} direct + {n:,} via the outbox)"
    )
    if delivered != n or received != 2 * n + n // 4:
        raise SystemExit("deliveries and receipts disagree")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[3]))
    else:
        main()
