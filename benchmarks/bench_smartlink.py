"""SmartLink auction hot path: the real app served by uvicorn, beside a trivial JSON route of the
same server.

Data: BENCH_LINE_ITEMS (default 10,000) active line items and BENCH_PRODUCTS (default 100,000)
in-stock products over 1,000 merchants (100 products each; every GTIN sold by 20 merchants), each
line item promoting 10 of its merchant's products; half the merchants also run a SmartLink CPC
campaign on all their products. A publisher has BENCH_LINKS (default 1,000) SmartLinks on
distinct GTINs, so one auction has about 30 candidates (20 line items, 10 CPC campaigns). Rows
are written by bulk Core INSERTs shaped as the repositories write them (retail-media campaigns and
SmartLink CPC campaigns are copies of one made through the service).

(i) `GET /api/v1/auction/?a=<link>&t=<n>&uuid=<new page session>`: every request a new page
    session (a real auction, logged), the links taken in turn, visitors from 200,000 addresses
    behind a proxy (as in bench_tracking: the fraud filter sees ordinary traffic). Against a
    trivial FastAPI JSON route of the same app (bench_api's baseline; goal: ratio >= 0.5 with one
    worker), and for reference a trivial raw-ASGI route added to `RootApp.hot` answering a JSON
    body of the auction's size (the floor any hot route pays for uvicorn and the loopback).
(ii) Latency at half of (i)'s rate: requests sent on a fixed schedule (open loop, so a slow
    answer delays nothing after it; latency counts from the scheduled instant). Goal: p99 <= 10 ms.

Run from the repository root: `.venv/bin/python -m benchmarks.bench_smartlink`. Environment:
BENCH_SECONDS (default 3), BENCH_CONNECTIONS (default 16), and the sizes above. The server is
tuned as `auctera serve` tunes it (`app.tuned_for_serving`: full garbage collections made rare;
with the caches of 1,000 SmartLinks and the fraud filter's counters of 200,000 visitors the
process holds about 500,000 objects, and a full collection pauses every request 100-200 ms).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
import orjson
from sqlalchemy import insert

from auctera.api.v2.schemas import CampaignCreate
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain.campaigns import Bidding, BidStrategy, Campaign, CampaignType
from auctera.domain.catalog import match_key
from auctera.store.repositories.campaigns import _values as campaign_row
from auctera.store.tables import campaigns, line_item_products, line_items, products, retailers, smartlinks
from benchmarks.bench_api import baselines_first, env_float, env_int, serving
from benchmarks.bench_tracking import BROWSER, Measured, Server, Visitors
from benchmarks.loadgen import _read_response

TRIVIAL_JSON = "/bench/json"
TRIVIAL_FASTAPI = "/bench/fastapi-json"
BASE = "https://trk.example.com"
UNLIMITED = 1_000_000_000
MERCHANTS = 1_000
SELLERS_PER_GTIN = 20
PRODUCTS_PER_LINE_ITEM = 10
BATCH = 5_000


# -- the server --------------------------------------------------------------------------------


def serve(data_dir: str, port: int) -> None:
    """The subprocess: the real app plus the trivial JSON route, under uvicorn. The trivial route
    answers `?<n>` with a JSON body of n bytes (built once per size)."""
    import uvicorn
    from starlette.types import Receive, Scope, Send

    from auctera.app import create_app, tuned_for_serving

    settings = Settings(
        data_dir=Path(data_dir),
        log_level="warning",
        log_json=True,
        tracking_url=BASE,
        client_ip_header="X-Forwarded-For",
        smartlink_rate_limit_per_minute=UNLIMITED,
    )
    app = tuned_for_serving(create_app(settings))
    bodies: dict[bytes, bytes] = {}

    async def trivial(scope: Scope, receive: Receive, send: Send) -> None:
        body = bodies.get(scope["query_string"])
        if body is None:
            empty = orjson.dumps({"info": {"error": False, "status": 200}, "data": [{"pad": ""}]})
            pad = "x" * max(int(scope["query_string"] or 0) - len(empty), 0)
            body = bodies[scope["query_string"]] = orjson.dumps(
                {"info": {"error": False, "status": 200}, "data": [{"pad": pad}]}
            )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    app.hot[TRIVIAL_JSON] = trivial

    @app.api.get(TRIVIAL_FASTAPI, include_in_schema=False)
    async def trivial_fastapi() -> Any:
        return {"info": {"error": False, "status": 200}, "data": []}

    baselines_first(app)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


# -- data ----------------------------------------------------------------------------------------


def gtin_of(group: int) -> str:
    """A valid GTIN-14 per product group (GS1 check digit)."""
    body = f"{4_000_000_000_000 + group:013d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def template(container: Container, key: str, type: CampaignType, bid: str | None) -> Campaign:
    principal = container.auth.authenticate(key)
    fields: dict[str, Any] = {"name": type.value, "type": type.value, "budget": 1_000_000}
    if bid is not None:
        fields["bidding"] = {"strategy": "manual_cpc", "target_amount": bid}
    campaign = container.campaigns.create(principal, type, CampaignCreate.model_validate(fields).patch())
    reviewed = container.campaigns.review(campaign.id)
    assert reviewed is not None and reviewed.status.value == "active", reviewed
    return reviewed


def prepare(data_dir: Path, line_item_count: int, product_count: int, link_count: int) -> list[str]:
    """The catalog, bidders and SmartLinks; returns the SmartLinks' auction ids."""
    container = build(Settings(data_dir=data_dir, log_level="warning", tracking_url=BASE))
    c = container
    try:
        now = datetime.now(UTC)
        per_merchant = product_count // MERCHANTS
        groups = product_count // SELLERS_PER_GTIN
        owners = [c.accounts.create_account(f"Merchant {m}", "advertiser") for m in range(MERCHANTS)]
        retail = template(c, owners[0].api_key, CampaignType.RETAIL_MEDIA, None)
        cpc = template(c, owners[0].api_key, CampaignType.SMARTLINK_CPC, "0.40")
        rows: dict[str, list[dict[str, Any]]] = {n: [] for n in ("r", "p", "c", "l", "lp", "s")}
        product_ids: list[list[int]] = []
        for m, owner in enumerate(owners):
            account = owner.account.id
            retailer = c.ids.next_id()
            domain = f"merchant{m}.example.com"
            rows["r"].append(
                {
                    "id": retailer,
                    "account_id": account,
                    "name": f"Merchant {m}",
                    "domain": domain,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            mine = []
            for k in range(per_merchant):
                group = (m * per_merchant + k) % groups
                name, brand = f"Product {group}", f"Brand {group % 50}"
                pid = c.ids.next_id()
                mine.append(pid)
                rows["p"].append(
                    {
                        "id": pid,
                        "retailer_id": retailer,
                        "account_id": account,
                        "external_id": f"p{k}",
                        "name": name,
                        "description": None,
                        "price_micros": 10_000_000 + group * 1_000,
                        "currency": "USD",
                        "url": f"https://{domain}/p/{k}",
                        "image_url": f"https://{domain}/i/{k}.jpg",
                        "in_stock": True,
                        "category": "Things",
                        "brand": brand,
                        "gtin": gtin_of(group),
                        "sku": None,
                        "min_bid_micros": 10_000,
                        "match_key": match_key(brand, name),
                        "import_id": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            product_ids.append(mine)
            campaign = replace(retail, id=c.ids.next_id(), account_id=account)
            rows["c"].append({"id": campaign.id, **campaign_row(campaign)})
            if m % 2 == 0:
                bid = 300_000 + (m % 7) * 50_000
                smart = replace(
                    cpc, id=c.ids.next_id(), account_id=account, bidding=Bidding(BidStrategy.MANUAL_CPC, bid)
                )
                rows["c"].append({"id": smart.id, **campaign_row(smart)})
            for j in range(line_item_count // MERCHANTS):
                li = c.ids.next_id()
                rows["l"].append(
                    {
                        "id": li,
                        "account_id": account,
                        "campaign_id": campaign.id,
                        "name": f"LI {j}",
                        "target_retailer_id": retailer,
                        "start_date": now.date(),
                        "end_date": None,
                        "budget_micros": None,
                        "monthly_pacing_micros": None,
                        "daily_pacing_micros": None,
                        "is_auto_daily_pacing": False,
                        "bid_strategy": "clicks",
                        "target_bid_micros": 200_000 + (j * 37 + m) % 40 * 10_000,
                        "max_bid_micros": None,
                        "user_status": "active",
                        "created_at": now,
                        "updated_at": now,
                        "archived_at": None,
                    }
                )
                first = j * PRODUCTS_PER_LINE_ITEM % per_merchant
                for k in range(first, first + PRODUCTS_PER_LINE_ITEM):
                    rows["lp"].append({"line_item_id": li, "product_id": mine[k % per_merchant]})
        publisher = c.accounts.create_account("Bench publisher", "publisher").account.id
        links = []
        for n in range(link_count):
            group = n * (groups // link_count or 1) % groups
            link = c.ids.next_id()
            links.append(str(link))
            rows["s"].append(
                {
                    "id": link,
                    "account_id": publisher,
                    "name": None,
                    "product_id": None,
                    "product_url": None,
                    "gtin": gtin_of(group),
                    "match_key": match_key(f"Brand {group % 50}", f"Product {group}"),
                    "fallback_url": "https://blog.example.com/",
                    "created_at": now,
                    "archived_at": None,
                }
            )
        with c.engine.begin() as conn:
            for table, name in (
                (retailers, "r"),
                (products, "p"),
                (campaigns, "c"),
                (line_items, "l"),
                (line_item_products, "lp"),
                (smartlinks, "s"),
            ):
                for lo in range(0, len(rows[name]), BATCH):
                    conn.execute(insert(table), rows[name][lo : lo + BATCH])
        print(
            f"    data: {len(rows['l']):,} active line items, {len(rows['p']):,} products at {MERCHANTS:,}"
            f" merchants, {sum(1 for r in rows['c'] if r['type'] == 'smartlink_cpc'):,} SmartLink CPC"
            f" campaigns, {len(links):,} SmartLinks"
        )
        return links
    finally:
        container.close()


# -- measurements --------------------------------------------------------------------------------


def auction_requests(links: list[str], visitors: Visitors) -> Any:
    """Request builder: the links in turn, a new page session (uuid) and visitor each."""
    heads = [f"/api/v1/auction/?a={link}&t=" for link in links]
    browser = "".join(f"{k}: {v}\r\n" for k, v in BROWSER.items()).encode()
    turn = itertools.count()

    def build(i: int) -> bytes:
        n = next(turn)
        session = f"{n:032x}"
        uuid = f"{session[:8]}-{session[8:12]}-4{session[13:16]}-8{session[17:20]}-{session[20:]}"
        path = f"{heads[n % len(heads)]}{n}&uuid={uuid}"
        address = visitors.new[n % len(visitors.new)]
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + browser + address + b"\r\n"

    return build


async def _paced(port: int, build: Any, rate: float, seconds: float, connections: int) -> list[float]:
    """Latencies (ms) of requests sent on a fixed schedule at `rate` per second, counted from the
    instant each was due (so queueing behind a slow answer counts)."""
    latencies: list[float] = []
    start = time.perf_counter() + 0.05
    interval = connections / rate

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        due = start + k * interval / connections
        try:
            while due < start + seconds:
                request = build(0)
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(request)
                status = await _read_response(reader)
                if status != 200:
                    raise SystemExit(f"FAILED: an auction answered {status}")
                latencies.append((time.perf_counter() - due) * 1000)
                due += interval
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return latencies


def main() -> None:
    seconds = env_float("BENCH_SECONDS", 3.0)
    connections = env_int("BENCH_CONNECTIONS", 16)
    line_item_count = env_int("BENCH_LINE_ITEMS", 10_000)
    product_count = env_int("BENCH_PRODUCTS", 100_000)
    link_count = env_int("BENCH_LINKS", 1_000)
    visitors = Visitors()
    with tempfile.TemporaryDirectory(prefix="bench-smartlink-") as scratch:
        data_dir = Path(scratch) / "data"
        started = time.perf_counter()
        links = prepare(data_dir, line_item_count, product_count, link_count)
        print(f"    (set-up took {time.perf_counter() - started:.0f} s)")
        build_auction = auction_requests(links, visitors)
        sample_path = build_auction(0).split(b" ")[1].decode()
        with serving("benchmarks.bench_smartlink", data_dir) as (port, pid):
            headers = {**BROWSER, "X-Forwarded-For": "10.9.9.9"}
            sample = httpx.get(f"http://127.0.0.1:{port}{sample_path}", headers=headers, timeout=10)
            assert sample.status_code == 200 and sample.json()["data"], sample.text
            size = len(sample.content)
            warmed = time.perf_counter()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for n, link in enumerate(links):  # every SmartLink's inventory loaded once
                    address = f"10.8.{n >> 8 & 255}.{n & 255}"
                    client.get(
                        "/api/v1/auction/",
                        params={"a": link},
                        headers={**BROWSER, "X-Forwarded-For": address},
                    )
            took = time.perf_counter() - warmed
            print(f"    (first auction of each SmartLink, loading its inventory: {took:.1f} s)")
            srv = Server(port, pid)
            routes = {
                "fastapi": visitors.requests(TRIVIAL_FASTAPI),
                "raw": visitors.requests(f"{TRIVIAL_JSON}?{size}"),
                "auction": build_auction,
            }
            m = Measured(srv, routes, seconds, connections, expect=200)
            print(m.header("(i) SmartLink auction"))
            print(m.line(f"baseline: trivial FastAPI JSON route ({TRIVIAL_FASTAPI})", "fastapi"))
            print(m.line(f"reference: raw-ASGI JSON, {size} bytes ({TRIVIAL_JSON})", "raw"))
            print(m.line("GET /api/v1/auction/?a=..&t=..&uuid=.. (new page sessions)", "auction"))
            print(f"        {m.ratios('auction', 'fastapi')}   (goal: ratio >= 0.5)")
            print(f"        against the raw-ASGI route: {m.ratios('auction', 'raw')}")
            half = m.rps("auction") / 2
            print(
                f"(ii) at half that rate, {half:,.0f} requests/s on a fixed schedule, {seconds * 2:g} s each"
            )
            trivial = visitors.requests(f"{TRIVIAL_JSON}?{size}")
            for label, build in (
                ("baseline: the raw-ASGI JSON route", trivial),
                ("SmartLink auction", build_auction),
            ):
                latencies = asyncio.run(_paced(port, build, half, seconds * 2, connections))
                p50 = statistics.median(latencies)
                p99 = statistics.quantiles(latencies, n=100)[98]
                print(
                    f"    {label:<46} {len(latencies):>7,} requests   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
                )
            print("        (goal: the auction's p99 <= 10 ms)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
