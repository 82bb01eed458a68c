"""Reports and exports over a large generated log, each beside plain DuckDB on the same files.

    .venv/bin/python -m benchmarks.bench_reports

(r1) the daily report (30 local days, one account): plain DuckDB running the same aggregate
     over the raw Parquet files; the store reading raw events (like for like, goal <= 1.25x);
     the store from rollups (goal < 0.2 s); and the whole report service (rollups, plus the
     restatement check of final days).
(r2) the publisher report of one campaign (per publisher, SSP, domain, app bundle): plain
     DuckDB, the store raw (goal <= 1.5x), the store from rollups.
(r4) what the fraud filter's flooding watch runs every 5 minutes per server process: every
     advertiser's conversions of 30 days joined to their clicks, per publisher (beside plain
     DuckDB running the same query), and its share of the interval.
(r3) a log-level Parquet export of BENCH_EXPORT_ROWS impressions (default 10M), zipped, beside
     DuckDB's own COPY of the same rows and columns; each in a child process whose peak memory
     (VmHWM) is reported (goal: <= 2x the time, under 500 MB).

BENCH_REPORT_EVENTS (default 50,000,000) events are generated with DuckDB straight into the
store's Parquet layout, in time order as compaction writes segments, with Snowflake ids of
their own time (a log kept in BENCH_REPORT_DIR from before r4 has no click ids: generate anew);
one timed `compact()` then builds their rollups. BENCH_REPORT_DIR keeps the
generated log between runs; BENCH_ROUNDS (default 5) rounds per figure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from auctera.domain.ids import EPOCH_MS
from auctera.events import DuckDBEventStore
from auctera.events.click_delays import CLICK_DELAYS_SQL, EventLogClickDelays
from auctera.events.codec import COLUMNS, to_micros
from auctera.events.layout import PARQUET, Layout, Segment
from auctera.events.report_queries import export_select
from auctera.events.report_rollups import DIMENSIONS, raw_report_aggregates
from auctera.events.sql import daily_totals_query
from auctera.services.fraud import FloodingWatch
from auctera.services.reports import ReportService
from benchmarks.bench_events import env_int, interleaved, ratio, timed

ROOT = Path(__file__).resolve().parent.parent
ROWS_PER_FILE = 250_000  # about what one 64 MiB journal segment compacts to
START = date(2026, 9, 1)
DAYS = 30
TZ = "America/New_York"
CAMPAIGN = 7
PUBLISHER_KEYS = ("publisher_id", "ssp", "domain", "app_bundle")


def generate(directory: Path, count: int) -> None:
    """`count` events over DAYS days: 80 % impressions, clicks, conversions, reversals; 100
    campaigns with 2 creatives (variants a and b) each, 1,000 publishers on 500 domains, 200 app
    bundles (through 5 SSPs) and affiliate traffic."""
    layout = Layout(directory)
    start_us = int(datetime.combine(START, datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000
    step = DAYS * 86_400 * 1_000_000 // count
    kind = "hash(i) % 1000"
    # Traffic concentrates on few publishers (a cube of a uniform draw), and dimensions go together
    # as they do in real logs: a publisher is one site or app, a campaign has two creatives.
    publisher = "(1 + floor(1000 * pow((hash(i * 13) % 1000000) / 1000000.0, 3)))::BIGINT"
    campaign = "(1 + hash(i * 17) % 100)::BIGINT"
    select = f"""
        SELECT *, ((({start_us} + i * {step}) // 1000 - {EPOCH_MS}) << 22) + (i & 4194303) AS id,
          (CASE WHEN publisher_id % 10 < 6 THEN '{{"referrer":"https://www.site' || (publisher_id % 500)
                  || '.com/p","variant":"' || (CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END) || '"}}'
                WHEN publisher_id % 10 < 8 THEN '{{"app_bundle":"com.app' || (publisher_id % 200)
                  || '","ssp":"ssp' || (publisher_id % 5) || '","variant":"'
                  || (CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END) || '"}}'
                ELSE NULL END)::JSON AS attrs
        FROM (
        SELECT i,
          CASE WHEN {kind} < 800 THEN 'impression' WHEN {kind} < 960 THEN 'click'
               WHEN {kind} < 985 THEN 'auction' WHEN {kind} < 997 THEN 'conversion'
               ELSE 'reversal' END AS type,
          ({start_us} + i * {step})::BIGINT AS at,
          (CASE WHEN hash(i * 3) % 20 = 0 THEN 2 ELSE 1 END)::BIGINT AS account_id,
          {campaign} AS campaign_id,
          {publisher} AS publisher_id,
          NULL::BIGINT AS line_item_id, ({campaign} * 2 + i % 2)::BIGINT AS creative_id,
          -- A click names itself; a conversion names an event up to 50,000 before it (a click
          -- one time in six: the others find none, as conversions from impressions do).
          (CASE WHEN {kind} BETWEEN 800 AND 959 THEN 'auc_' || i
                WHEN {kind} BETWEEN 985 AND 996 THEN 'auc_' || (i - 1 - hash(i * 11) % 50000)
           END)::VARCHAR AS click_id, 'US' AS country, 'mobile' AS device_type,
          (CASE WHEN {kind} < 800 THEN 1500 + hash(i * 5) % 1000
                WHEN {kind} BETWEEN 800 AND 959 THEN 200000 + hash(i * 5) % 100000 ELSE 0 END)::BIGINT
            AS cost_micros,
          (CASE WHEN {kind} BETWEEN 985 AND 996 THEN 50000000
                WHEN {kind} >= 997 THEN -50000000 ELSE 0 END)::BIGINT AS revenue_micros,
          (CASE WHEN {kind} < 800 THEN 1000 + hash(i * 5) % 800
                WHEN {kind} BETWEEN 985 AND 996 THEN 5000000
                WHEN {kind} >= 997 THEN -5000000 ELSE 0 END)::BIGINT AS payout_micros,
          'USD' AS currency,
          hash(i * 7) % 50 = 0 AS ivt
        FROM range($lo, $hi) t(i))
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


def prepare(directory: Path, count: int) -> None:
    parquet_dir = directory / PARQUET
    if not (parquet_dir.exists() and any(parquet_dir.glob("bench-*.parquet"))):
        took = timed(lambda: generate(directory, count))
        print(f"    (generated {count:,} events in {took:.1f} s)")
    with DuckDBEventStore(directory, "bench-compactor", compact_interval=None) as compactor:
        took = timed(compactor.compact)
        files = len(list(parquet_dir.glob("*.parquet")))
        print(f"    (rollups of {files} segments, report grain included, ready in {took:.1f} s)")


def table(times: dict[str, list[float]], rows: list[tuple[str, str]]) -> None:
    print("                                                   median       best")
    for label, key in rows:
        print(
            f"    {label:<46} {statistics.median(times[key]) * 1000:8.1f} ms {min(times[key]) * 1000:8.1f} ms"
        )


def bench_daily(directory: Path, rounds: int) -> None:
    files = f"read_parquet('{directory / PARQUET}/*.parquet')"
    end = START + timedelta(days=DAYS - 1)
    plain_sql, params = daily_totals_query(f"SELECT * FROM {files}", 1, START, end, TZ, by_campaign=False)
    plain = duckdb.connect()
    now = datetime.combine(end + timedelta(days=5), datetime.min.time(), tzinfo=UTC)
    with (
        DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store,
        DuckDBEventStore(directory, "bench-raw", compact_interval=None, use_rollups=False) as raw,
    ):
        # No state store needed.
        service = ReportService(None, store, lambda: now, EventLogClickDelays(store))  # type: ignore[arg-type]

        def run_plain() -> Any:
            return plain.execute(plain_sql, params).fetchall()

        def run_raw() -> Any:
            return raw.daily_totals(1, START, end, TZ, by_campaign=False)

        def run_rollups() -> Any:
            return store.daily_totals(1, START, end, TZ, by_campaign=False)

        def run_service() -> Any:
            return service.daily_of_account(1, TZ, START, end)

        expected = [(day, cost) for day, _, *_, cost, _, _ in run_plain()]
        assert [(r.day, r.totals.cost_micros) for r in run_rollups()] == expected
        assert run_raw() == run_rollups()
        report = run_service()
        assert sum(r.totals.cost_micros for r in report.rows) == sum(cost for _, cost in expected)
        times = interleaved(
            rounds, {"plain": run_plain, "raw": run_raw, "rollups": run_rollups, "service": run_service}
        )
    print(f"(r1) daily report, {DAYS} {TZ} days, one account, {rounds} rounds")
    table(
        times,
        [
            ("plain DuckDB, the same aggregate, raw events", "plain"),
            ("store.daily_totals, raw events", "raw"),
            ("store.daily_totals, rollups", "rollups"),
            ("ReportService.daily (rollups + restatements)", "service"),
        ],
    )
    raw_ratio = ratio(times, "raw", "plain", statistics.median)
    print(f"    ratio store (raw events) / plain DuckDB  {raw_ratio:8.2f}      (target <= 1.25)")
    best = statistics.median(times["service"])
    print(f"    report from rollups                      {best * 1000:8.1f} ms  (target < 200 ms)")


def bench_publishers(directory: Path, rounds: int) -> None:
    files = f"read_parquet('{directory / PARQUET}/*.parquet')"
    keys = ", ".join(f"{DIMENSIONS[k]} AS {k}" for k in PUBLISHER_KEYS)
    plain_sql = (
        f"SELECT {keys}, {raw_report_aggregates()} FROM {files} "
        f"WHERE account_id = 1 AND campaign_id = {CAMPAIGN} GROUP BY ALL"
    )
    plain = duckdb.connect()
    filters = {"campaign_id": CAMPAIGN}
    with (
        DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store,
        DuckDBEventStore(directory, "bench-raw", compact_interval=None, use_rollups=False) as raw,
    ):

        def run_plain() -> Any:
            return plain.execute(plain_sql).fetchall()

        def run_raw() -> Any:
            return raw.report_totals(1, PUBLISHER_KEYS, filters=filters)

        def run_rollups() -> Any:
            return store.report_totals(1, PUBLISHER_KEYS, filters=filters)

        rows = run_rollups()
        assert len(rows) == len(run_plain()) and sorted(map(repr, rows)) == sorted(map(repr, run_raw()))
        times = interleaved(rounds, {"plain": run_plain, "raw": run_raw, "rollups": run_rollups})
    print(f"(r2) publisher report of one campaign, {len(rows):,} placements, {rounds} rounds")
    table(
        times,
        [
            ("plain DuckDB, the same aggregate, raw events", "plain"),
            ("store.report_totals, raw events", "raw"),
            ("store.report_totals, rollups", "rollups"),
        ],
    )
    raw_ratio = ratio(times, "raw", "plain", statistics.median)
    rolled_ratio = ratio(times, "rollups", "plain", statistics.median)
    print(f"    ratio store (raw events) / plain DuckDB  {raw_ratio:8.2f}      (target <= 1.5)")
    print(f"    ratio store (rollups) / plain DuckDB     {rolled_ratio:8.2f}")


def bench_flooding(directory: Path, rounds: int) -> None:
    """(r4) what the fraud filter's `FloodingWatch` runs every 5 minutes in each server process:
    every advertiser's conversions over 30 days joined to their clicks, per publisher."""
    files = f"read_parquet('{directory / PARQUET}/*.parquet')"
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=DAYS)
    late = timedelta(hours=24)
    params = {
        "account": None,
        "campaign": None,
        "lo": to_micros(start),
        "hi": to_micros(end),
        "clicks_from": to_micros(start - timedelta(days=120)),
        "late": late.total_seconds(),
    }
    plain_sql = f"WITH events AS (SELECT * FROM {files})\n{CLICK_DELAYS_SQL}"
    plain = duckdb.connect()
    with DuckDBEventStore(directory, "bench-reader", compact_interval=None) as store:
        delays = EventLogClickDelays(store)
        watch = FloodingWatch(delays, lambda: end, late_after=late)

        def run_plain() -> Any:
            return plain.execute(plain_sql, params).fetchall()

        def run_store() -> Any:
            return delays.click_delays(None, None, start, end, late)

        found = run_store()
        assert len(found) == len(run_plain())
        conversions = sum(d.conversions for d in found.values())
        times = interleaved(rounds, {"plain": run_plain, "store": run_store, "watch": watch.refresh})
    print(f"(r4) click-to-conversion times, {conversions:,} conversions with their clicks, {rounds} rounds")
    table(
        times,
        [
            ("plain DuckDB, the same query, raw events", "plain"),
            ("EventLogClickDelays.click_delays", "store"),
            ("FloodingWatch.refresh (query + tests)", "watch"),
        ],
    )
    slower = ratio(times, "store", "plain", statistics.median)
    print(f"    ratio store / plain DuckDB               {slower:8.2f}")
    share = statistics.median(times["watch"]) / 300
    print(f"    share of the 300 s refresh interval      {share:8.2%}  (one core, per server process)")


def export_window(count: int, rows: int) -> tuple[datetime, datetime]:
    """A window from START holding about `rows` impressions of account 1 (76 % of the events)."""
    share = min(1.0, rows / (count * 0.76))
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    # Whole seconds: the plain DuckDB side takes the window in seconds, the store in micros.
    return start, start + timedelta(seconds=int(DAYS * 86_400 * share))


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def child(mode: str, directory: Path, target: Path, start: str, end: str) -> None:
    """One export in this process; prints seconds, rows and peak RSS growth (KiB) as JSON."""
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    before = _rss_kib()
    started = time.perf_counter()
    if mode == "store":
        with DuckDBEventStore(directory, f"bench-export-{os.getpid()}", compact_interval=None) as store:
            rows = store.export_events(1, ("impression",), lo, hi, target, "parquet")
        with zipfile.ZipFile(target.with_suffix(".zip"), "w", zipfile.ZIP_STORED, allowZip64=True) as out:
            out.write(target, arcname=target.name)  # as the export runner does
    else:
        con = duckdb.connect()
        window = (int(lo.timestamp()) * 1_000_000, int(hi.timestamp()) * 1_000_000)
        select = export_select(f"SELECT * FROM read_parquet('{directory / PARQUET}/*.parquet')", 1,
                               ("impression",), window, None)  # fmt: skip
        row = con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)").fetchone()
        rows = int(row[0]) if row else 0
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows, "growth_kib": _peak_rss_kib() - before}))


def measure(mode: str, directory: Path, target: Path, window: tuple[datetime, datetime]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_reports", "--child", mode, str(directory), str(target),
         window[0].isoformat(), window[1].isoformat()],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    target.unlink(missing_ok=True)
    target.with_suffix(".zip").unlink(missing_ok=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_export(directory: Path, scratch: Path, count: int, rows: int, rounds: int) -> None:
    window = export_window(count, rows)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "store": []}
    for round_ in range(max(1, rounds // 2)):
        for mode in ("plain", "store") if round_ % 2 == 0 else ("store", "plain"):
            runs[mode].append(measure(mode, directory, scratch / f"{mode}.parquet", window))
    written = runs["store"][0]["rows"]
    assert written == runs["plain"][0]["rows"]
    print(f"(r3) log-level Parquet export of {written:,} impressions, zipped; child processes")
    for label, mode in (
        ("DuckDB COPY of the same rows and columns", "plain"),
        ("store.export_events + zip", "store"),
    ):
        seconds = statistics.median(r["seconds"] for r in runs[mode])
        peak = max(r["growth_kib"] for r in runs[mode]) / 1024
        print(f"    {label:<46} {seconds:8.2f} s   peak memory growth {peak:7.0f} MB")
    slower = statistics.median(r["seconds"] for r in runs["store"]) / statistics.median(
        r["seconds"] for r in runs["plain"]
    )
    print(f"    ratio store / DuckDB COPY               {slower:8.2f}      (target <= 2; memory < 500 MB)")


def main() -> None:
    count = env_int("BENCH_REPORT_EVENTS", 50_000_000)
    rows = env_int("BENCH_EXPORT_ROWS", 10_000_000)
    rounds = env_int("BENCH_ROUNDS", 5)
    print(f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, {count:,} events")
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as scratch:
        keep = os.environ.get("BENCH_REPORT_DIR")
        directory = Path(keep) if keep else Path(scratch) / "log"
        prepare(directory, count)
        bench_daily(directory, rounds)
        bench_publishers(directory, rounds)
        bench_flooding(directory, rounds)
        bench_export(directory, Path(scratch), count, rows, rounds)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        mode, directory, target, start, end = sys.argv[2:7]
        child(mode, Path(directory), Path(target), start, end)
    else:
        main()
