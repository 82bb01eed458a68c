"""Event log benchmarks, each figure beside a baseline measured in the same run.

(c) durable appends/s through DuckDBEventStore (`append`, `append_many`), against raw
    `os.write` of the same pre-encoded lines to an O_APPEND file (the floor: same syscalls,
    no encoding, no locking). Target: >= 50k events/s.
(d) a daily per-campaign aggregate over BENCH_EVENTS events (default 10,000,000) through
    `daily_totals`, against the identical SQL run in plain DuckDB over the same Parquet
    files. Target: ratio <= 1.25.

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_events      (or .venv/bin/python benchmarks/bench_events.py)
Environment: BENCH_EVENTS, BENCH_APPENDS (default 200,000), BENCH_ROUNDS (default 7),
BENCH_DIR (keep the generated data there instead of a temporary directory).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import duckdb

from auctera.domain.events import Event, EventType
from auctera.events import DuckDBEventStore
from auctera.events.codec import COLUMNS, encode_event
from auctera.events.layout import PARQUET, Layout, Segment
from auctera.events.sql import AGGREGATES, daily_totals_query

BATCH = 100
ROWS_PER_FILE = 250_000  # about what one 64 MiB journal segment compacts to
START = date(2024, 1, 1)
DAYS = 90
TZ = "America/New_York"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} events/s"


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# -- (c) appends -----------------------------------------------------------------------------


def sample_events(count: int) -> list[Event]:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    kinds = [EventType.IMPRESSION] * 8 + [EventType.CLICK, EventType.CONVERSION]
    return [
        Event(
            id=i,
            type=kinds[i % len(kinds)],
            at=t0 + timedelta(microseconds=i * 1_000),
            account_id=1 + i % 7,
            campaign_id=100 + i % 300,
            publisher_id=5 + i % 40,
            click_id=f"clk_{i}",
            country="SE",
            device_type="mobile",
            cost_micros=1_500 + i % 1_000,
            attrs={"sub_id": "abc"},
        )
        for i in range(count)
    ]


def bench_appends(workdir: Path, count: int) -> None:
    events = sample_events(count)
    lines = [encode_event(e) for e in events]
    batches = [events[i : i + BATCH] for i in range(0, count, BATCH)]
    line_batches = [b"".join(lines[i : i + BATCH]) for i in range(0, count, BATCH)]
    gc.collect()
    gc.freeze()  # the samples are the benchmark's own; a server does not hold 200k events alive

    def raw_writes(chunks: list[bytes]) -> float:
        path = workdir / f"raw-{len(chunks)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            return timed(lambda: [os.write(fd, chunk) for chunk in chunks])
        finally:
            os.close(fd)
            path.unlink()

    def store_run(name: str, fn: Callable[[DuckDBEventStore], None], fsync_interval: float = 1.0) -> float:
        with DuckDBEventStore(workdir / name, "bench", fsync_interval, compact_interval=None) as store:
            return timed(lambda: fn(store))

    def append_each(store: DuckDBEventStore) -> None:
        for e in events:
            store.append(e)

    def append_batches(store: DuckDBEventStore) -> None:
        for batch in batches:
            store.append_many(batch)

    raw_single, raw_batched = raw_writes(lines), raw_writes(line_batches)
    single, batched = store_run("single", append_each), store_run("batched", append_batches)
    fsync_count = min(count, 2_000)

    def append_each_fsynced(store: DuckDBEventStore) -> None:
        for e in events[:fsync_count]:
            store.append(e)

    fsync_each = store_run("fsync", append_each_fsynced, fsync_interval=0)

    print(f"(c) durable appends, {count:,} events of ~{sum(map(len, lines)) // count} bytes, fsync every 1 s")
    print(f"    baseline os.write, one line per write      {rate(count, raw_single)}")
    print(
        f"    DuckDBEventStore.append                     {rate(count, single)}"
        f"   (store/baseline {raw_single / single:.2f})"
    )
    print(f"    baseline os.write, {BATCH} lines per write     {rate(count, raw_batched)}")
    print(
        f"    DuckDBEventStore.append_many({BATCH})          {rate(count, batched)}"
        f"   (store/baseline {raw_batched / batched:.2f})"
    )
    print(
        f"    for reference, append with fsync_interval=0 {rate(fsync_count, fsync_each)}  (fdatasync each)"
    )


# -- (d) daily per-campaign aggregate --------------------------------------------------------


def generate(directory: Path, count: int) -> None:
    """`count` events as Parquet segments in the store's layout (as compaction writes them)."""
    layout = Layout(directory)
    start_us = int(datetime.combine(START, datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000
    span_us = DAYS * 86_400 * 1_000_000
    kind = "hash(i) % 1000"
    select = f"""
        SELECT i AS id,
          CASE WHEN {kind} < 800 THEN 'impression' WHEN {kind} < 860 THEN 'viewable_impression'
               WHEN {kind} < 960 THEN 'click' WHEN {kind} < 985 THEN 'auction'
               WHEN {kind} < 997 THEN 'conversion' ELSE 'reversal' END AS type,
          ({start_us} + hash(i * 31 + 7) % {span_us})::BIGINT AS at,
          1::BIGINT AS account_id,
          (1 + hash(i * 17) % 200)::BIGINT AS campaign_id,
          (1 + hash(i * 13) % 50)::BIGINT AS publisher_id,
          NULL::BIGINT AS line_item_id, NULL::BIGINT AS creative_id, NULL::VARCHAR AS click_id,
          'US' AS country, 'mobile' AS device_type,
          (CASE WHEN {kind} < 800 THEN 1500 + hash(i * 5) % 1000
                WHEN {kind} BETWEEN 860 AND 959 THEN 200000 + hash(i * 5) % 100000 ELSE 0 END)::BIGINT
            AS cost_micros,
          (CASE WHEN {kind} BETWEEN 985 AND 996 THEN 50000000
                WHEN {kind} >= 997 THEN -50000000 ELSE 0 END)::BIGINT AS revenue_micros,
          (CASE WHEN {kind} BETWEEN 985 AND 996 THEN 5000000
                WHEN {kind} >= 997 THEN -5000000 ELSE 0 END)::BIGINT AS payout_micros,
          'USD' AS currency,
          hash(i * 7) % 50 = 0 AS ivt,
          NULL::JSON AS attrs
        FROM range($lo, $hi) t(i)
    """
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    con = duckdb.connect()
    for seq, lo in enumerate(range(0, count, ROWS_PER_FILE), start=1):
        target = layout.path(PARQUET, Segment("bench", seq))
        con.execute(
            f'COPY (SELECT {columns} FROM ({select}) ORDER BY account_id, campaign_id, "at") '
            f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)",
            {"lo": lo, "hi": min(lo + ROWS_PER_FILE, count)},
        )
    con.close()


def bench_aggregate(directory: Path, count: int, rounds: int) -> None:
    parquet_dir = directory / PARQUET
    if not any(parquet_dir.glob("bench-*.parquet")) if parquet_dir.exists() else True:
        took = timed(lambda: generate(directory, count))
        print(f"    (generated {count:,} events in {took:.1f} s)")
    end = START + timedelta(days=DAYS - 1)
    files = f"read_parquet('{parquet_dir}/*.parquet')"
    plain_sql, params = daily_totals_query(f"SELECT * FROM {files}", 1, START, end, TZ)
    # What one would write by hand in DuckDB: ICU's timezone() on every row (for reference).
    by_hand_sql = (
        'SELECT CAST(timezone($tz, make_timestamptz("at")) AS DATE) AS day, campaign_id, '
        f"{AGGREGATES}\nFROM {files} WHERE account_id = 1 "
        "GROUP BY 1, 2 HAVING day BETWEEN $start AND $end ORDER BY 1, 2"
    )
    by_hand_params = {"tz": TZ, "start": START, "end": end}
    plain = duckdb.connect()

    with DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store:

        def via_store() -> Any:
            return store.daily_totals(1, START, end, TZ)

        def via_plain() -> Any:
            return plain.execute(plain_sql, params).fetchall()

        def by_hand() -> Any:
            return plain.execute(by_hand_sql, by_hand_params).fetchall()

        stored_rows, plain_rows = via_store(), via_plain()  # warm-up (page cache), and a sanity check
        total = plain.execute(f"SELECT count(*) FROM read_parquet('{parquet_dir}/*.parquet')").fetchone()
        assert len(stored_rows) == len(plain_rows) and total is not None
        assert [(r.day, r.campaign_id, r.totals.cost_micros) for r in stored_rows] == [
            (day, campaign, cost) for day, campaign, *_, cost, _, _ in plain_rows
        ]
        assert by_hand() == plain_rows
        store_times: list[float] = []
        plain_times: list[float] = []
        by_hand_times: list[float] = []
        for round_ in range(rounds):  # interleaved, order alternating: load drift hits all alike
            pair = [(store_times, via_store), (plain_times, via_plain)]
            for times, fn in pair if round_ % 2 == 0 else pair[::-1]:
                times.append(timed(fn))
            by_hand_times.append(timed(by_hand))

    store_median, plain_median = statistics.median(store_times), statistics.median(plain_times)
    size = sum(p.stat().st_size for p in parquet_dir.glob("*.parquet")) / 2**20
    print(
        f"(d) daily per-campaign totals over {total[0]:,} events ({size:,.0f} MiB Parquet), "
        f"{len(stored_rows):,} rows out, {TZ} days, {rounds} rounds"
    )
    print("                                        median       best")
    for label, median, best in [
        ("plain DuckDB, identical SQL  ", plain_median, min(plain_times)),
        ("DuckDBEventStore.daily_totals", store_median, min(store_times)),
    ]:
        print(f"    {label}     {median * 1000:8.1f} ms {best * 1000:8.1f} ms")
    print(
        f"    ratio store / plain               {store_median / plain_median:8.2f}    "
        f"{min(store_times) / min(plain_times):8.2f}      (target <= 1.25)"
    )
    by_hand_median = statistics.median(by_hand_times)
    print(
        f"    for reference, plain DuckDB with timezone() per row {by_hand_median * 1000:.1f} ms"
        f" (store / that = {store_median / by_hand_median:.2f})"
    )


def main() -> None:
    count = env_int("BENCH_EVENTS", 10_000_000)
    appends = env_int("BENCH_APPENDS", 200_000)
    rounds = env_int("BENCH_ROUNDS", 7)
    print(f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
        bench_appends(Path(scratch), appends)
        keep = os.environ.get("BENCH_DIR")
        bench_aggregate(Path(keep) if keep else Path(scratch) / "aggregate", count, rounds)


if __name__ == "__main__":
    main()
