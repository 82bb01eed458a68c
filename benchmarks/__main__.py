"""`make bench`: every benchmark in order, each figure beside a baseline measured in the same run.

    .venv/bin/python -m benchmarks              all of them
    .venv/bin/python -m benchmarks events       only some: api (a, b), events (c, d, e),
                                                tracking (f, g, h), attribution, webhooks

Benchmarks are not tests: they print figures and ratios, and stop only when something is broken
(a request that did not succeed, results that disagree). Each module documents its environment
variables; BENCH_EVENTS (default 10,000,000) sizes (d).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable

from benchmarks import (
    bench_affiliate_v3,
    bench_api,
    bench_attribution,
    bench_auction,
    bench_audiences,
    bench_bids,
    bench_creatives,
    bench_events,
    bench_feeds,
    bench_reports,
    bench_retail_media,
    bench_smartlink,
    bench_spend,
    bench_tracking,
    bench_webhooks,
)

BENCHMARKS: dict[str, tuple[str, Callable[[], None]]] = {
    "api": ("(a) GET one campaign, (b) list 100k campaigns", bench_api.main),
    "events": ("(c) event appends, (d) daily aggregate", bench_events.main),
    "tracking": ("(f) click redirect, (g) impression pixel, (h) signed postbacks", bench_tracking.main),
    "attribution": ("data-driven attribution fitted over 1M paths", bench_attribution.main),
    "feeds": ("product feed import of 100k products vs pyarrow parsing it", bench_feeds.main),
    "auction": ("the auction core over 5,000 candidates, per auction", bench_auction.main),
    "spend": ("(i) sponsored click redirect, charged", bench_spend.main),
    "smartlink": ("SmartLink auction: 10k line items, 100k products", bench_smartlink.main),
    "retail-media": ("(r1) GET one line item, (r2) pages of line items", bench_retail_media.main),
    "webhooks": ("publisher postback deliveries to a loopback receiver", bench_webhooks.main),
    "bids": ("100k bids: upload vs polars parsing them; sync vs the partner alone", bench_bids.main),
    "creatives": ("(c1) upload and audit of a 150 KB image vs a POST storing it", bench_creatives.main),
    "affiliate-v3": ("(v1) 100k-product feed streamed, (v2) 10k programs listed", bench_affiliate_v3.main),
    "reports": ("(r1-r2) reports, (r4) flooding watch, (r3) 10M-row export vs DuckDB", bench_reports.main),
    "audiences": ("(s1) 1M raw emails synced, (s2) 10M-user overlap, (s3) lookalike", bench_audiences.main),
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    os.environ.setdefault("BENCH_EVENTS", "10000000")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # in order with the servers'
    print(f"auctera benchmarks: python {platform.python_version()}, {os.cpu_count()} CPUs")
    started = time.perf_counter()
    for name in names:
        title, run = BENCHMARKS[name]
        print(f"\n== {name}: {title}", flush=True)
        began = time.perf_counter()
        run()
        print(f"   ({name} took {time.perf_counter() - began:.0f} s)", flush=True)
    print(f"\nall done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
