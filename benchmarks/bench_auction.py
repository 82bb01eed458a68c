"""The auction core alone (`run_auction`), beside baselines measured in the same run.

One `CandidateSet` of BENCH_CANDIDATES (default 5,000) candidates, every one past the fixed
eligibility checks (bid >= minBid, budget covers the bid, click rate > 0), is built once, as the
auction service does, and auctioned BENCH_AUCTIONS times (default 20,000), each with its own
pacing draw, on a 3-slot second-price placement whose reserve excludes a few candidates (so the
reserve mask runs) with a tenth of the line items throttled by even pacing (so the pacing mask
runs too): the slowest path. Goal: median and p99 <= 100 µs per auction.

Baselines, timed in the same loop (one of each per auction, in turn, so load drift hits all
alike), over the same 5,000 precomputed scores: Python's `max()` over a list, and numpy's
`argmax` over an array (the floor for any vectorised pass over the candidates).
For reference: building the set, and the full explanation (a record per candidate) of one auction.

Candidates: 1,000 line items of 5 products each, drawn from 2,500 products (so some products are
promoted by several line items), strategies mixed, all generated from random.Random(BENCH_SEED).

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_auction  (or .venv/bin/python benchmarks/bench_auction.py)
Environment: BENCH_CANDIDATES, BENCH_AUCTIONS, BENCH_SEED (default 2024).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from auctera.domain.auction import BidStrategy, Candidate, CandidateSet, LossReason, Placement, run_auction

PRODUCTS_PER_LINE_ITEM = 5
PLACEMENT = Placement(slots=3, reserve_micros=60_000)
# reason_codes(): 0 won, 1 + the LossReason's position otherwise. These took part in the auction.
TOOK_PART = [0] + [
    1 + list(LossReason).index(r) for r in (LossReason.DUPLICATE_PRODUCT, LossReason.OUTRANKED)
]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def generate(count: int, seed: int) -> list[Candidate]:
    rng = random.Random(seed)
    line_items = max(1, count // PRODUCTS_PER_LINE_ITEM)
    products = max(PRODUCTS_PER_LINE_ITEM, count // 2)
    candidates = []
    for line_item in range(line_items):
        strategy = rng.choice(list(BidStrategy))
        target = rng.randrange(50_000, 2_000_000, 10_000)
        paced = rng.random() < 0.1
        for product in rng.sample(range(products), PRODUCTS_PER_LINE_ITEM):
            if len(candidates) == count:
                break
            candidates.append(
                Candidate(
                    line_item_id=1_000_000 + line_item,
                    product_id=5_000_000 + product,
                    strategy=strategy,
                    target_bid_micros=target,
                    max_bid_micros=rng.choice([None, 2 * target]),
                    min_bid_micros=1_000,
                    remaining_micros=rng.choice([None, 50_000_000]),
                    p_click=rng.uniform(0.002, 0.05),
                    p_conversion=rng.uniform(0.02, 0.08),
                    avg_conversion=0.05,
                    order_value_micros=rng.randrange(20_000_000, 200_000_000),
                    avg_order_value_micros=60_000_000,
                    participation=rng.uniform(0.3, 0.9) if paced else 1.0,
                )
            )
    return candidates


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    count = env_int("BENCH_CANDIDATES", 5_000)
    auctions = env_int("BENCH_AUCTIONS", 20_000)
    seed = env_int("BENCH_SEED", 2024)
    candidates = generate(count, seed)
    builds = [timed(lambda: CandidateSet.from_candidates(candidates)) for _ in range(5)]
    cs = builds[-1][1]
    first = run_auction(cs, PLACEMENT, 0.5).explain()
    ready = sum(e.reason not in ("below_min_bid", "budget_exhausted", "zero_score") for e in first)
    assert ready == count, f"only {ready:,} of {count:,} candidates pass the fixed checks"
    scores_list = [e.score for e in first]
    scores = np.array(scores_list)
    rng = random.Random(seed + 1)
    draws = [rng.random() for _ in range(auctions)]
    print(
        f"auction over {count:,} candidates ({count // PRODUCTS_PER_LINE_ITEM:,} line items), "
        f"{PLACEMENT.slots} slots, second price, reserve {PLACEMENT.reserve_micros:,} micros, "
        f"{auctions:,} auctions"
    )

    perf = time.perf_counter_ns
    python_max: list[int] = []
    numpy_argmax: list[int] = []
    auction: list[int] = []
    taking_part = 0
    gc.collect()
    gc.freeze()
    gc.disable()  # a collection inside one timed call would be the benchmark's, not the auction's
    try:
        for draw in draws:
            began = perf()
            max(scores_list)
            python_max.append(perf() - began)
            began = perf()
            int(np.argmax(scores))
            numpy_argmax.append(perf() - began)
            began = perf()
            result = run_auction(cs, PLACEMENT, draw)
            auction.append(perf() - began)
            if len(result.winners) != PLACEMENT.slots:
                raise SystemExit(f"draw {draw}: {len(result.winners)} winners for {PLACEMENT.slots} slots")
            if any(not PLACEMENT.reserve_micros <= w.price_micros <= w.bid_micros for w in result.winners):
                raise SystemExit(f"draw {draw}: a price outside [reserve, bid]: {result.winners}")
    finally:
        gc.enable()
    for draw in draws[:200]:
        codes = run_auction(cs, PLACEMENT, draw).reason_codes()
        taking_part += int(np.isin(codes, TOOK_PART).sum())
    if run_auction(cs, PLACEMENT, draws[0]).winners != run_auction(cs, PLACEMENT, draws[0]).winners:
        raise SystemExit("the same inputs gave different winners")

    label = 58
    print(f"    {'':<{label}} {'median':>9}   {'p99':>9}")
    print(f"    {f'baseline: Python max() over {count:,} scores (list)':<{label}} {row(python_max)}")
    print(f"    {f'baseline: numpy argmax over {count:,} scores (array)':<{label}} {row(numpy_argmax)}")
    print(f"    {'run_auction':<{label}} {row(auction)}")
    print(
        f"        auction/max() {ratio(auction, python_max)}, auction/argmax {ratio(auction, numpy_argmax)}"
        f"   (goal: median and p99 <= 100 µs)"
    )
    print(
        f"    {taking_part / 200:,.0f} candidates on average took part (the rest paced or under the reserve)"
    )
    build = statistics.median(took for took, _ in builds)
    explain = statistics.median(
        timed(lambda: run_auction(cs, PLACEMENT, 0.25).explain())[0] for _ in range(5)
    )
    codes = statistics.median(
        timed(lambda: run_auction(cs, PLACEMENT, 0.25).reason_codes())[0] for _ in range(20)
    )
    print(f"    for reference: CandidateSet.from_candidates {build * 1000:.1f} ms, ", end="")
    print(f"reason_codes() {codes * 1e6:.0f} µs, explain() {explain * 1000:.1f} ms")


def row(times_ns: list[int]) -> str:
    ordered = sorted(times_ns)
    median = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return f"{median:7.1f} µs {p99:7.1f} µs"


def ratio(times: list[int], baseline: list[int]) -> str:
    return f"{statistics.median(times) / statistics.median(baseline):.2f}"


if __name__ == "__main__":
    main()
