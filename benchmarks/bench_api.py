"""HTTP API benchmarks: the real app served by uvicorn, each figure beside a route of the same server.

(a) `GET /v2/campaigns/{id}` requests/s, one campaign asked for again and again, against a
    trivial JSON route added to the same FastAPI app (so it passes the same middleware). Goal:
    ratio >= 0.5. For reference: the raw-ASGI /healthz (no FastAPI at all), and GETs spread over
    the 100,000 campaigns of (b) in random order, which the API has not read or rendered lately.
(b) `GET /v2/campaigns?limit=100` over an account with 100,000 campaigns and events in the event
    log for them: p50/p99 at concurrency 1, walking the pages with the cursor and asking for the
    first page again and again, against the trivial route's p50 at concurrency 1. Goal: p50 < 20 ms.

The server is `auctera.app.create_app` in a uvicorn subprocess (one worker, log level warning) on
a free loopback port over a temporary data directory; the load generator (`loadgen`) runs in
this process, on the same machine, so the figures are for the pair, which is why each has its
baseline. Run from the repository root:
    .venv/bin/python -m benchmarks.bench_api
Environment: BENCH_SECONDS (default 3: one round of (a)), BENCH_CAMPAIGNS (default 100,000),
BENCH_LIST_EVENTS (default 1,000,000 events for (b)).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from sqlalchemy import insert

from auctera.api.v2.schemas import CampaignCreate
from auctera.app import RootApp
from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.campaigns import Campaign, CampaignType
from auctera.domain.events import Event, EventType
from auctera.events import DuckDBEventStore
from auctera.services.campaigns import encode_cursor
from auctera.store.repositories.campaigns import _values as campaign_row
from auctera.store.tables import campaigns as campaigns_table
from benchmarks.loadgen import Result, load, raw_get

ROOT = Path(__file__).resolve().parents[1]
TRIVIAL = "/bench/trivial"
UNLIMITED = 1_000_000_000  # requests per minute: measure responses, not 429s
PAGE = 100
INSERT_BATCH = 5_000
SPREAD = 100_000  # campaigns to GET in turn for a reference figure of (a): more than the API keeps

FULL = {
    "name": "Q4 Retargeting - US",
    "type": "dsp_retargeting",
    "budget": {"daily": 5000, "total": "150000.25", "currency": "USD"},
    "targeting": {
        "geo": ["US", "CA"],
        "zip_codes": ["10001", "94105-1234"],
        "dmas": ["501", "807"],
        "device_types": ["mobile", "tablet"],
    },
    "bid_multipliers": {"device_type": {"mobile": "1.25", "tablet": "0.8"}},
    "pacing": "asap",
    "bidding": {"strategy": "target_cpa", "target_amount": "35.5"},
    "destination_url": "https://shop.example.com/q4?cid={click_id}&src={sub_id1}",
    "start_date": "2026-12-01",
    "end_date": "2026-12-31",
}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# -- the server --------------------------------------------------------------------------------


def serve(data_dir: str, port: int) -> None:
    """The subprocess: the real app plus the trivial baseline route, under uvicorn."""
    import uvicorn

    from auctera.app import create_app, tuned_for_serving

    app = tuned_for_serving(create_app(Settings(data_dir=Path(data_dir), log_level="warning", log_json=True)))

    @app.api.get(TRIVIAL, include_in_schema=False)
    async def trivial() -> Any:
        return {"success": True, "status": "ok"}

    baselines_first(app)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def baselines_first(app: RootApp) -> RootApp:
    """Move the baseline routes (`/bench/...`) to the front of FastAPI's route table. FastAPI tries
    its routes in order, 143 here at about 1.4 us each: a baseline left at the end would measure a
    scan of the whole table (200 us a request) rather than the stack, and flatter whatever is
    compared with it."""
    app.api.router.routes.sort(key=lambda route: not getattr(route, "path", "").startswith("/bench/"))
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(module: str, data_dir: Path, stop_timeout: float = 30) -> Iterator[tuple[int, int]]:
    """`python -m <module> --serve <data_dir> <port>` in a subprocess, once its /healthz answers:
    (port, pid). Stopped cleanly (SIGINT: the lifespan closes the event log) on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, "--serve", str(data_dir), str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready within 60 s")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def server(data_dir: Path) -> Iterator[int]:
    with serving("benchmarks.bench_api", data_dir, stop_timeout=15) as (port, _):
        yield port


# -- data ----------------------------------------------------------------------------------------


def create_reviewed(container: Container, account_id: int, principal_key: str) -> Campaign:
    """One campaign through the service (validated, reviewed), as POST /v2/campaigns makes it."""
    principal = container.auth.authenticate(principal_key)
    body = CampaignCreate.model_validate(FULL)
    campaign = container.campaigns.create(principal, CampaignType(body.type), body.patch())
    reviewed = container.campaigns.review(campaign.id)
    assert reviewed is not None and reviewed.status.value == "active", reviewed
    assert reviewed.account_id == account_id
    return reviewed


def insert_copies(container: Container, template: Campaign, count: int) -> list[int]:
    """`count` copies of a reviewed campaign under new ids, by bulk Core INSERTs in batches.

    The rows are the repository's own mapping of valid domain objects, so the API reads them
    exactly like campaigns created through it. Returns the ids, oldest first.
    """
    ids: list[int] = []
    types = list(CampaignType)
    now = datetime.now(UTC)
    with container.engine.begin() as conn:
        for lo in range(0, count, INSERT_BATCH):
            rows = []
            for i in range(lo, min(lo + INSERT_BATCH, count)):
                campaign_type = types[i % len(types)]
                copy = replace(
                    template,
                    id=container.ids.next_id(),
                    name=f"Campaign {i:06d}",
                    type=campaign_type,
                    payout_micros=45_000_000 if campaign_type.value.startswith("affiliate") else None,
                    created_at=now,
                    updated_at=now,
                )
                rows.append({"id": copy.id, **campaign_row(copy)})
                ids.append(copy.id)
            conn.execute(insert(campaigns_table), rows)
    return ids


def add_events(container: Container, account_id: int, campaign_ids: list[int], count: int) -> None:
    """`count` events spread over the campaigns and the last 7 days (some today), then compacted
    to Parquet the way the server's background compaction leaves them."""
    now = datetime.now(UTC)
    kinds = [EventType.IMPRESSION] * 8 + [EventType.CLICK, EventType.CONVERSION]
    batch: list[Event] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        batch.append(
            Event(
                id=container.ids.next_id(),
                type=kind,
                at=now - timedelta(seconds=(i * 7919) % (7 * 86_400)),
                account_id=account_id,
                campaign_id=campaign_ids[(i * 104_729) % len(campaign_ids)],
                publisher_id=1 + i % 50,
                country="US",
                device_type="mobile",
                cost_micros=1_500_000 if kind is EventType.IMPRESSION else 0,
                revenue_micros=60_000_000 if kind is EventType.CONVERSION else 0,
            )
        )
        if len(batch) == 10_000:
            container.events.append_many(batch)
            batch = []
    container.events.append_many(batch)


def prepare(data_dir: Path, campaigns: int, events: int) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, log_level="warning")
    container = build(settings)
    try:
        single = container.accounts.create_account("Bench (a)", "advertiser", rate_limit_per_minute=UNLIMITED)
        one = create_reviewed(container, single.account.id, single.api_key)
        many = container.accounts.create_account("Bench (b)", "advertiser", rate_limit_per_minute=UNLIMITED)
        template = create_reviewed(container, many.account.id, many.api_key)
        started = time.perf_counter()
        ids = [*insert_copies(container, template, campaigns - 1), template.id]
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        add_events(container, many.account.id, ids, events)
        appended = time.perf_counter() - started
    finally:
        container.close()  # seals the journal segment; frees the node slot for the server
    started = time.perf_counter()
    with DuckDBEventStore(settings.events_dir, "bench-setup", compact_interval=None) as store:
        store.compact()
    compacted = time.perf_counter() - started
    print(
        f"    (set-up: {campaigns:,} campaigns inserted in {inserted:.1f} s, {events:,} events appended"
        f" in {appended:.1f} s and compacted in {compacted:.1f} s)"
    )
    newest_first = sorted(ids, reverse=True)
    return {
        "one": idfmt.render("cmp", one.id),
        "one_key": single.api_key,
        "many_key": many.api_key,
        # The cursor of page n+1 is the id of the last campaign of page n.
        "cursors": [encode_cursor(newest_first[i - 1]) for i in range(PAGE, len(ids), PAGE)],
        "count": len(ids),
        "spread": [idfmt.render("cmp", i) for i in ids[:: max(1, len(ids) // SPREAD)][:SPREAD]],
    }


# -- measurements --------------------------------------------------------------------------------


def checked(result: Result, what: str) -> Result:
    if result.errors:
        raise SystemExit(f"FAILED: {result.errors:,} of {result.requests:,} responses to {what} were not 2xx")
    return result


def run(port: int, requests: list[bytes], what: str, seconds: float, connections: int) -> Result:
    return checked(load(port, requests, seconds=seconds, connections=connections), what)


def bench_get(port: int, data: dict[str, Any], seconds: float, rounds: int = 3) -> None:
    auth = {"Authorization": f"Bearer {data['one_key']}"}
    many = {"Authorization": f"Bearer {data['many_key']}"}
    routes = {
        "trivial": [raw_get(TRIVIAL, auth)],
        "campaign": [raw_get(f"/v2/campaigns/{data['one']}", auth)],
        "healthz": [raw_get("/healthz", {})],
        "spread": [raw_get(f"/v2/campaigns/{c}", many) for c in data["spread"]],
    }
    for name, requests in routes.items():  # warm-up: connections, caches, the auth lookup
        run(port, requests, name, 0.5, 16)
    figures: dict[str, list[Result]] = {name: [] for name in routes}
    for round_ in range(rounds):  # interleaved, order alternating: load drift hits all alike
        order = list(routes) if round_ % 2 == 0 else list(routes)[::-1]
        random.shuffle(routes["spread"])  # another order each round: nothing was rendered lately
        for name in order:
            figures[name].append(run(port, routes[name], name, seconds, 16))

    def rps(name: str) -> float:
        return statistics.median(r.rps for r in figures[name])

    def p50(name: str) -> float:
        return statistics.median(r.p50 for r in figures[name])

    total = sum(r.requests for results in figures.values() for r in results)
    print(
        f"(a) GET one campaign, requests/s, 16 keep-alive connections, median of {rounds} x {seconds:g} s"
        f" ({total:,} requests, 0 errors)"
    )
    print(
        f"    baseline: trivial FastAPI JSON route ({TRIVIAL})  {rps('trivial'):>9,.0f} req/s"
        f"   p50 {p50('trivial'):6.2f} ms"
    )
    print(
        f"    GET /v2/campaigns/{{id}}                       {rps('campaign'):>9,.0f} req/s"
        f"   p50 {p50('campaign'):6.2f} ms   ratio {rps('campaign') / rps('trivial'):.2f}"
        "   (goal >= 0.5)"
    )
    print(
        f"    for reference, raw-ASGI /healthz              {rps('healthz'):>9,.0f} req/s"
        f"   p50 {p50('healthz'):6.2f} ms"
    )
    print(
        f"    for reference, GET {len(data['spread']):,} campaigns in turn      {rps('spread'):>9,.0f} req/s"
        f"   p50 {p50('spread'):6.2f} ms   ratio {rps('spread') / rps('trivial'):.2f}"
        "   (each rendered afresh)"
    )


def bench_list(port: int, data: dict[str, Any], seconds: float) -> None:
    auth = {"Authorization": f"Bearer {data['many_key']}"}
    first = f"/v2/campaigns?limit={PAGE}"
    walk = [raw_get(first, auth)] + [raw_get(f"{first}&cursor={c}", auth) for c in data["cursors"]]

    # The pages are what they should be: full, chained by the cursors computed above, with figures.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as client:
        page = client.get(first).raise_for_status().json()
        assert len(page["data"]) == PAGE, "the first page is not full"
        assert page["pagination"]["next_cursor"] == data["cursors"][0], "unexpected cursor"
        assert any(item["performance"]["spend"] for item in page["data"]), "no figures on the first page"
        last = client.get(f"{first}&cursor={data['cursors'][-1]}").raise_for_status().json()
        assert last["pagination"]["next_cursor"] is None and last["data"], "the last page is not the last"

    run(port, walk[:20], "list pages", 0.5, 1)  # warm-up
    run(port, [raw_get(TRIVIAL, auth)], "trivial", 0.5, 1)
    baseline = run(port, [raw_get(TRIVIAL, auth)], "trivial", seconds, 1)
    walked = run(port, walk, "list pages", seconds * 3, 1)
    repeated = run(port, walk[:1], "first page", seconds, 1)
    print(
        f"(b) GET /v2/campaigns?limit={PAGE} over {data['count']:,} campaigns, concurrency 1, latency in ms"
    )
    print("                                                   p50      p99   requests")
    print(
        f"    baseline: trivial FastAPI JSON route      {baseline.p50:8.2f} {baseline.p99:8.2f} "
        f"{baseline.requests:>9,}"
    )
    pages = min(walked.requests, len(walk))
    print(
        f"    walking pages with the cursor             {walked.p50:8.2f} {walked.p99:8.2f} "
        f"{walked.requests:>9,}   ({pages:,} of {len(walk):,} pages; goal p50 < 20 ms)"
    )
    print(
        f"    the first page, again and again           {repeated.p50:8.2f} {repeated.p99:8.2f} "
        f"{repeated.requests:>9,}   (goal p50 < 20 ms)"
    )


def main() -> None:
    seconds = env_float("BENCH_SECONDS", 3.0)
    campaigns = env_int("BENCH_CAMPAIGNS", 100_000)
    events = env_int("BENCH_LIST_EVENTS", 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        data_dir = Path(scratch) / "data"
        data = prepare(data_dir, campaigns, events)
        with server(data_dir) as port:
            bench_get(port, data, seconds)
            bench_list(port, data, seconds)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
