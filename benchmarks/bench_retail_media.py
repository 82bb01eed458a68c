"""Retail-media reads (seed 004): the real app served by uvicorn, each figure beside a trivial
route of the same server (same middleware, same OAuth2 token check).

(r1) `GET /2025-10/retail-media/auction-line-items/{id}` requests/s: one line item whose status
     and caps are derived on every read (its spend for three periods, its products, the
     account's balance, its campaign), against the trivial route. Goal: ratio >= 0.3.
(r2) `GET /2025-10/retail-media/campaigns/{id}/auction-line-items?pageSize=100` over a campaign
     of BENCH_LINE_ITEMS (default 2,000) line items with spend and products: p50/p99 at
     concurrency 1, walking every page, against the trivial route's. Goal: p50 < 20 ms.

Run from the repository root: `.venv/bin/python -m benchmarks.bench_retail_media`.
Environment: BENCH_SECONDS (default 3), BENCH_LINE_ITEMS (default 2,000).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.pricing import BidStrategy
from auctera.store.tables import spend_periods
from benchmarks import fixtures
from benchmarks.bench_api import TRIVIAL, UNLIMITED, env_float, env_int, run, serving
from benchmarks.loadgen import Result, raw_get

PAGE = 100
VERSION = "2025-10"
KETTLE = fixtures.Product("SKU-1", "Kettle", "25.00", "https://shop.example.com/k", min_bid="0.10")


def prepare(data_dir: Path, count: int) -> dict[str, Any]:
    container = build(Settings(data_dir=data_dir, log_level="warning"))
    try:
        new = container.accounts.create_account(
            "Bench brand", "advertiser", timezone="America/New_York", rate_limit_per_minute=UNLIMITED
        )
        token = container.auth.issue_token(new.client_id, new.client_secret).access_token
        principal = container.auth.authenticate(token)
        campaign_id = fixtures.retail_campaign(container, principal, name="Bench", budget={"total": 10**6})
        site = container.accounts.create_account("Bench retail site", "publisher")  # D19: a publisher's
        retailer_id = fixtures.retailer(
            container, fixtures.principal(container, site.api_key), [KETTLE], domain="shop.example.com"
        )
        started = time.perf_counter()
        ids = []
        today = datetime.now(UTC).date()
        for n in range(count):
            item_id, _ = fixtures.line_item(
                container,
                principal,
                campaign_id,
                retailer_id,
                [KETTLE.sku],
                name=f"Line {n:05d}",
                start_date=date(2026, 1, 1),
                budget_micros=1_000_000_000,
                monthly_pacing_micros=300_000_000,
                is_auto_daily_pacing=True,
                bid_strategy=BidStrategy.CONVERSION,
                target_bid_micros=500_000,
            )
            ids.append(item_id)
        # Spend written as the spend service records it, a row per line item and period. The
        # service makes spend only by charging clicks, and charged clicks with no click event
        # behind them would be logged by the server's sweep in the middle of the measurement;
        # the reads measured here need the spend figures, not the clicks.
        with container.engine.begin() as conn:
            periods = ["total", today.isoformat()[:7], today.isoformat()]
            rows = [{"subject_id": i, "period": p, "spent_micros": 1_234_567} for i in ids for p in periods]
            conn.execute(insert(spend_periods), rows)
        took = time.perf_counter() - started
        print(f"    (set-up: {count:,} line items created through the service in {took:.1f} s)")
    finally:
        container.close()
    return {"token": token, "campaign": campaign_id, "one": ids[0], "count": count}


def main() -> None:
    seconds = env_float("BENCH_SECONDS", 3.0)
    count = env_int("BENCH_LINE_ITEMS", 2_000)
    with tempfile.TemporaryDirectory(prefix="bench-rm-") as scratch:
        data_dir = Path(scratch) / "data"
        data = prepare(data_dir, count)
        with serving("benchmarks.bench_api", data_dir, stop_timeout=15) as (port, _):
            auth = {"Authorization": f"Bearer {data['token']}"}
            base = f"/{VERSION}/retail-media"
            trivial = [raw_get(TRIVIAL, auth)]
            one = [raw_get(f"{base}/auction-line-items/{data['one']}", auth)]
            for requests, what in ((trivial, "trivial"), (one, "line item")):  # warm-up
                run(port, requests, what, 0.5, 16)
            figures: dict[str, list[Result]] = {"trivial": [], "line item": []}
            for round_ in range(3):
                order = [(trivial, "trivial"), (one, "line item")]
                for requests, what in order if round_ % 2 == 0 else order[::-1]:
                    figures[what].append(run(port, requests, what, seconds, 16))
            rps = {k: statistics.median(r.rps for r in v) for k, v in figures.items()}
            print(
                f"(r1) GET one line item, requests/s, 16 keep-alive connections, median of 3 x {seconds:g} s"
            )
            print(f"    baseline: trivial FastAPI JSON route ({TRIVIAL})  {rps['trivial']:>9,.0f} req/s")
            print(
                f"    GET {base}/auction-line-items/{{id}}  {rps['line item']:>9,.0f} req/s"
                f"   ratio {rps['line item'] / rps['trivial']:.2f}   (goal >= 0.3)"
            )

            pages = [
                raw_get(
                    f"{base}/campaigns/{data['campaign']}/auction-line-items?pageIndex={i}&pageSize={PAGE}",
                    auth,
                )
                for i in range((data["count"] + PAGE - 1) // PAGE)
            ]
            run(port, pages, "pages", 0.5, 1)
            baseline = run(port, trivial, "trivial", seconds, 1)
            walked = run(port, pages, "pages", seconds * 2, 1)
            print(f"(r2) GET a page of {PAGE} line items of {data['count']:,}, concurrency 1, latency in ms")
            print("                                                   p50      p99   requests")
            print(
                f"    baseline: trivial FastAPI JSON route      {baseline.p50:8.2f} {baseline.p99:8.2f} "
                f"{baseline.requests:>9,}"
            )
            print(
                f"    walking the pages                         {walked.p50:8.2f} {walked.p99:8.2f} "
                f"{walked.requests:>9,}   (goal p50 < 20 ms)"
            )


if __name__ == "__main__":
    sys.exit(main())
