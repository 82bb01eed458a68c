"""Event log benchmarks, each figure beside a baseline measured in the same run.

(c) durable appends/s through DuckDBEventStore (`append`, `append_many`), against raw
    `os.write` of the same pre-encoded lines to an O_APPEND file (the floor: same syscalls,
    no encoding, no locking). Target: >= 50k events/s.
(d) a daily per-campaign aggregate over BENCH_EVENTS events (default 10,000,000) through
    `daily_totals`, against the identical SQL run in plain DuckDB over the same Parquet
    files. Target: ratio <= 1.25. The store answers from rollups, so the same figure is
    also given for the store reading raw events (`use_rollups=False`), the like-for-like
    comparison with plain DuckDB.
(e) lifetime `campaign_totals` for 100 campaigns of one account over the same log, from
    rollups, against the same totals computed by a raw scan in plain DuckDB. Target: p50
    well under 20 ms (a campaigns list page).

The generated files go straight into `parquet/`, as older versions of the store left them,
so the rollups are built first by one `compact()` (timed), as the background compactor
would.

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
from dataclasses import astuple
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
from auctera.events.codec import COLUMNS, encode_event, to_micros
from auctera.events.layout import PARQUET, Layout, Segment
from auctera.events.sql import AGGREGATES, daily_totals_query

LIFETIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))  # as the campaigns list
CAMPAIGNS = list(range(1, 101))

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


def generate(directory: Path, count: int, *, in_time_order: bool = False) -> None:
    """`count` events as Parquet segments in the store's layout (as compaction writes them).

    Each file holds events from all DAYS, unless `in_time_order`: then each holds the next
    slice of time (give or take a minute), as segments compacted from a journal do.
    """
    layout = Layout(directory)
    start_us = int(datetime.combine(START, datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000
    span_us = DAYS * 86_400 * 1_000_000
    offset = (
        f"i * {span_us // count} + hash(i * 31 + 7) % 60000000"
        if in_time_order
        else f"hash(i * 31 + 7) % {span_us}"
    )
    kind = "hash(i) % 1000"
    select = f"""
        SELECT i AS id,
          CASE WHEN {kind} < 800 THEN 'impression' WHEN {kind} < 860 THEN 'viewable_impression'
               WHEN {kind} < 960 THEN 'click' WHEN {kind} < 985 THEN 'auction'
               WHEN {kind} < 997 THEN 'conversion' ELSE 'reversal' END AS type,
          ({start_us} + {offset})::BIGINT AS at,
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


def prepare(directory: Path, count: int, *, in_time_order: bool = False) -> None:
    """Generate the log unless kept from an earlier run, and build the rollups it lacks."""
    parquet_dir = directory / PARQUET
    if not any(parquet_dir.glob("bench-*.parquet")) if parquet_dir.exists() else True:
        took = timed(lambda: generate(directory, count, in_time_order=in_time_order))
        print(f"    (generated {count:,} events{' in time order' if in_time_order else ''} in {took:.1f} s)")
    with DuckDBEventStore(directory, "bench-compactor", compact_interval=None) as compactor:
        took = timed(compactor.compact)  # as the background compactor would
        print(f"    (rollups of {len(list(parquet_dir.glob('*.parquet')))} segments ready in {took:.1f} s)")


def bench_aggregate(directory: Path, count: int, rounds: int) -> None:
    parquet_dir = directory / PARQUET
    prepare(directory, count)
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

    with (
        DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store,
        DuckDBEventStore(directory, "bench-raw-reader", compact_interval=None, use_rollups=False) as raw,
    ):

        def via_store() -> Any:
            return store.daily_totals(1, START, end, TZ)

        def via_raw_store() -> Any:
            return raw.daily_totals(1, START, end, TZ)

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
        assert via_raw_store() == stored_rows
        assert by_hand() == plain_rows
        times = interleaved(rounds, {"store": via_store, "raw store": via_raw_store, "plain": via_plain})
        by_hand_times = [timed(by_hand) for _ in range(rounds)]

    size = sum(p.stat().st_size for p in parquet_dir.glob("*.parquet")) / 2**20
    print(
        f"(d) daily per-campaign totals over {total[0]:,} events ({size:,.0f} MiB Parquet), "
        f"{len(stored_rows):,} rows out, {TZ} days, {rounds} rounds"
    )
    print("                                                   median       best")
    for label, key in [
        ("plain DuckDB, identical SQL over raw events", "plain"),
        ("DuckDBEventStore.daily_totals, raw events  ", "raw store"),
        ("DuckDBEventStore.daily_totals, rollups     ", "store"),
    ]:
        print(f"    {label} {statistics.median(times[key]) * 1000:8.1f} ms {min(times[key]) * 1000:8.1f} ms")
    for label, key in [("raw events", "raw store"), ("rollups   ", "store")]:
        print(
            f"    ratio store ({label}) / plain          {ratio(times, key, 'plain', statistics.median):8.2f}"
            f"    {ratio(times, key, 'plain', min):8.2f}      (target <= 1.25)"
        )
    by_hand_median = statistics.median(by_hand_times)
    print(
        f"    for reference, plain DuckDB with timezone() per row {by_hand_median * 1000:.1f} ms"
        f" (store / that = {statistics.median(times['store']) / by_hand_median:.2f})"
    )


# -- (e) lifetime campaign totals --------------------------------------------------------------


def bench_lifetime(directory: Path, in_time_order: Path, count: int, rounds: int) -> None:
    parquet_dir = directory / PARQUET
    ids = ", ".join(map(str, CAMPAIGNS))
    # The raw scan as one would write it in plain DuckDB (the store's SQL before rollups).
    plain_sql = (
        f"SELECT campaign_id, {AGGREGATES}\nFROM read_parquet('{parquet_dir}/*.parquet')\n"
        f'WHERE account_id = 1 AND campaign_id IN ({ids}) AND "at" >= $start AND "at" < $end\n'
        "GROUP BY campaign_id ORDER BY campaign_id"
    )
    plain_params = {"start": to_micros(LIFETIME[0]), "end": to_micros(LIFETIME[1])}
    plain = duckdb.connect()
    last_day = datetime.combine(START + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=UTC)
    # A list page at the end of the generated data: today, the last 7 days, lifetime.
    page = {
        "today": (last_day, last_day + timedelta(days=1)),
        "period": (last_day - timedelta(days=6), last_day + timedelta(days=1)),
        "lifetime": LIFETIME,
    }

    with (
        DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store,
        DuckDBEventStore(directory, "bench-raw-reader", compact_interval=None, use_rollups=False) as raw,
    ):

        def via_store() -> Any:
            return store.campaign_totals(1, CAMPAIGNS, *LIFETIME)

        def via_plain() -> Any:
            return plain.execute(plain_sql, plain_params).fetchall()

        first_call = timed(via_store)  # loads the per-segment totals into memory
        answer = via_store()
        assert [(c, *astuple(t)) for c, t in answer.items()] == via_plain()
        assert raw.campaign_totals(1, CAMPAIGNS, *LIFETIME) == answer
        times = interleaved(
            rounds,
            {
                "plain": via_plain,
                "raw store": lambda: raw.campaign_totals(1, CAMPAIGNS, *LIFETIME),
                "page": lambda: store.campaign_totals_windows(1, CAMPAIGNS, page),
                "raw page": lambda: raw.campaign_totals_windows(1, CAMPAIGNS, page),
            },
        )
        times["store"] = [timed(via_store) for _ in range(10 * rounds)]  # fast: more samples for its p50
    prepare(in_time_order, count, in_time_order=True)
    with DuckDBEventStore(in_time_order, "bench-reader", compact_interval=None) as store:
        page_answer = store.campaign_totals_windows(1, CAMPAIGNS, page)
        with DuckDBEventStore(
            in_time_order, "bench-raw-reader", compact_interval=None, use_rollups=False
        ) as raw:
            assert raw.campaign_totals_windows(1, CAMPAIGNS, page) == page_answer
        times["ordered page"] = [
            timed(lambda: store.campaign_totals_windows(1, CAMPAIGNS, page)) for _ in range(10 * rounds)
        ]

    def p50(key: str) -> float:
        return statistics.median(times[key]) * 1000

    print(f"(e) lifetime campaign_totals, {len(CAMPAIGNS)} campaigns of account 1, {rounds} rounds")
    print(f"    plain DuckDB, raw scan of the Parquet files     p50 {p50('plain'):8.1f} ms")
    print(f"    DuckDBEventStore.campaign_totals, raw events   p50 {p50('raw store'):8.1f} ms")
    print(
        f"    DuckDBEventStore.campaign_totals, rollups      p50 {p50('store'):8.1f} ms"
        f"   (first call {first_call * 1000:.0f} ms: loads the per-segment totals)"
    )
    print(f"    ratio store (rollups) / plain                      {p50('store') / p50('plain'):8.3f}")
    print("    for reference, a list page: today, the last 7 days and lifetime at the end of the data,")
    print("    in one campaign_totals_windows call")
    print(f"      rollups    p50 {p50('page'):8.1f} ms   (every file spans all {DAYS} days: all are cut,")
    print("                                  and their 15-minute rows in the 7 days are read)")
    print(f"      raw events p50 {p50('raw page'):8.1f} ms")
    print(f"      rollups    p50 {p50('ordered page'):8.1f} ms   the same events, files in time order as")
    print("                                  compaction writes them: only the last cut")


def interleaved(rounds: int, runs: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Seconds per call, the runs interleaved with alternating order: load drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for round_ in range(rounds):
        for name in order if round_ % 2 == 0 else order[::-1]:
            times[name].append(timed(runs[name]))
    return times


def ratio(
    times: dict[str, list[float]], top: str, bottom: str, stat: Callable[[list[float]], float]
) -> float:
    return stat(times[top]) / stat(times[bottom])


def main() -> None:
    count = env_int("BENCH_EVENTS", 10_000_000)
    appends = env_int("BENCH_APPENDS", 200_000)
    rounds = env_int("BENCH_ROUNDS", 7)
    print(f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
        bench_appends(Path(scratch), appends)
        keep = os.environ.get("BENCH_DIR")
        directory = Path(keep) if keep else Path(scratch) / "aggregate"
        bench_aggregate(directory, count, rounds)
        bench_lifetime(directory, directory.with_name(directory.name + "-in-time-order"), count, rounds)


if __name__ == "__main__":
    main()
