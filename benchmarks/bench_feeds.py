"""Product feed import benchmark, beside pyarrow parsing the same file in the same run.

A Google-Merchant-style CSV of BENCH_FEED_ROWS products (default 100,000; about 1% invalid rows,
some descriptions with quoted newlines) is written to a temporary directory, then:

- baseline: `pyarrow.csv.read_csv` of the file with every column as a string (multi-threaded,
  pyarrow's defaults), best of 3: the time it takes pyarrow just to parse it. For reference, the streaming
  single-threaded reader with binary columns that the import uses (`open_csv`).
- read + validate: `auctera.feeds.read_feed` with the import's rules (the rows it can check a
  column at a time come as products) and `validate_row` over the other rows, no database; best
  of 3. Goal: <= 2x the baseline.
- full import: `CatalogService.import_feed` into a fresh SQLite database (5,000 rows per
  transaction), as `auctera feeds import` runs it; and a re-import of the same file (updates).
  For reference, the floor under it: the same products written by one bare `executemany` of
  the import's insert statement, 5,000 rows per transaction, into a fresh database.

Memory: the full import runs in a child process for BENCH_FEED_ROWS and 4x as many rows; each
reports its peak RSS growth over the RSS it had before the import began. Flat means the two agree.

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_feeds
Environment: BENCH_FEED_ROWS (default 100,000), BENCH_FEED_MEMORY (default 1; 0 skips the
memory runs), BENCH_SEED (default 2024).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pyarrow as pa
import pyarrow.csv as pacsv

from auctera.domain.accounts import Principal
from auctera.domain.catalog import FeedFormat, ProductColumns, ProductFields, RowRules, validate_row
from auctera.domain.ids import IdGenerator
from auctera.feeds import read_feed
from auctera.services.accounts import AccountService
from auctera.services.catalog import CURRENCIES, CatalogService
from auctera.services.clock import utcnow
from auctera.store.database import make_engine
from auctera.store.migrate import upgrade
from auctera.store.repositories.catalog import _SQLITE_INSERT
from auctera.store.tables import sqlite_text
from auctera.store.uow import SqlUnitOfWorkFactory

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "id", "title", "description", "price", "link", "image_link", "availability", "brand", "gtin", "mpn",
    "google_product_category", "min_bid",
]  # fmt: skip
BRANDS = ["Sony", "Samsung", "Apple", "Bosch", "Philips", "LEGO", "Nike", "Dyson"]
WORDS = ["pro", "max", "ultra", "mini", "wireless", "smart", "classic", "edition", "black", "silver"]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _gtin(rng: random.Random) -> str:
    body = "".join(str(rng.randrange(10)) for _ in range(12))
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def write_feed(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(COLUMNS) + "\n")
        for n in range(rows):
            brand = rng.choice(BRANDS)
            name = f"{brand} {' '.join(rng.sample(WORDS, 3))} {n % 997}"
            description = f"The {name}.\nFree delivery." if n % 10 == 0 else f"The {name}, in stock now."
            price = f"{rng.randrange(100, 200_000) / 100:.2f} USD"
            if n % 100 == 7:
                price = "call us"  # 1% invalid
            values = [
                f"sku-{n}", name, f'"{description}"', price, f"https://shop.example.com/p/{n}",
                f"https://cdn.example.com/{n}.jpg", rng.choice(["in stock", "in stock", "out of stock"]),
                brand, _gtin(rng), f"M{n:07d}", "Electronics > Gadgets", "0.25" if n % 3 == 0 else "",
            ]  # fmt: skip
            out.write(",".join(values) + "\n")


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def parse_with_pyarrow(path: Path) -> int:
    types = {c: pa.string() for c in COLUMNS}
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    return int(table.num_rows)


def stream_with_pyarrow(path: Path) -> int:
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.binary() for c in COLUMNS}),
    )
    return sum(batch.num_rows for batch in reader)


def read_and_validate(path: Path, keep: list[ProductColumns] | None = None) -> tuple[int, int]:
    rules = RowRules(CURRENCIES, "USD")
    valid = invalid = 0
    with path.open("rb") as f:
        for batch in read_feed(f, FeedFormat.CSV, rules):
            invalid += len(batch.errors)
            products = batch.products or ProductColumns.of([])
            for line, raw in batch.rows:
                result = validate_row(raw, line, rules)
                if isinstance(result, ProductFields):
                    products.extend([(line, result)])
                else:
                    invalid += 1
            valid += len(products)
            if keep is not None:
                keep.append(products)
    return valid, invalid


def bare_writes(data_dir: Path, batches: list[ProductColumns]) -> float:
    """Seconds to write the products with the import's insert statement alone, a transaction
    per batch (the rows built beforehand, untimed)."""
    importer = Importer(data_dir)
    now = sqlite_text(utcnow())
    head = (importer.retailer.id, importer.owner.account_id, 1, now, now)
    fields = ProductFields.__slots__
    rows = [
        [(n * 10_000 + i, *head, *values) for i, values in enumerate(zip(*columns, strict=True))]
        for n, columns in enumerate([getattr(b, f) for f in fields] for b in batches)
    ]
    started = time.perf_counter()
    for batch in rows:
        with importer.engine.begin() as conn:  # a transaction, as the import's unit of work
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.executemany(_SQLITE_INSERT, batch)
    seconds = time.perf_counter() - started
    importer.engine.dispose()
    return seconds


class Importer:
    """A catalog service on a fresh SQLite database, with one retailer."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(f"sqlite+pysqlite:///{data_dir / 'auctera.db'}")
        upgrade(self.engine)
        uow = SqlUnitOfWorkFactory(self.engine)
        ids = IdGenerator(1, lambda: int(utcnow().timestamp() * 1000))
        accounts = AccountService(uow, ids, utcnow, rotation_grace=timedelta(hours=1))
        a = accounts.create_account("Shop", "advertiser").account
        self.owner = Principal(a.id, a.kind, a.timezone, a.currency, None, "bench")
        self.catalog = CatalogService(uow, ids, utcnow, read_feed)
        self.retailer = self.catalog.create_retailer(self.owner, "Shop", "shop.example.com")

    def load(self, path: Path) -> Any:
        with path.open("rb") as f:
            return self.catalog.import_feed(self.owner, self.retailer.id, f, FeedFormat.CSV, source=path.name)


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kib() -> int:
    """This process's RSS high-water mark. Not `getrusage().ru_maxrss`: Linux carries that over a
    fork and exec, so a child of a big parent (`make bench` after the event-log benchmark) would
    report the parent's peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def child(path: Path, data_dir: Path) -> None:
    """Run one full import in this process and print its peak RSS growth (KiB) as JSON."""
    importer = Importer(data_dir)
    before = _rss_kib()
    seconds, report = timed(lambda: importer.load(path))
    peak = _peak_rss_kib()
    print(json.dumps({"growth_kib": peak - before, "seconds": seconds, "rows_valid": report.rows_valid}))


def measure_memory(path: Path, data_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_feeds", "--child", str(path), str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    rows = env_int("BENCH_FEED_ROWS", 100_000)
    seed = env_int("BENCH_SEED", 2024)
    with tempfile.TemporaryDirectory(prefix="auctera-bench-feeds-") as tmp:
        base = Path(tmp)
        path = base / "feed.csv"
        write_feed(path, rows, seed)
        size = path.stat().st_size / 1e6
        print(f"   feed: {rows:,} products, {size:.1f} MB CSV")

        # Best of 3 for both sides of the ratio: the first read of a file pays for the page cache.
        parse_s, parsed = min(timed(lambda: parse_with_pyarrow(path)) for _ in range(3))
        stream_s, streamed = timed(lambda: stream_with_pyarrow(path))
        assert parsed == streamed == rows, (parsed, streamed, rows)
        print(f"   baseline  pyarrow read_csv (all strings, threads, best of 3):  {parse_s * 1000:8.0f} ms")
        print(f"   reference pyarrow open_csv (streaming, 1 thread):   {stream_s * 1000:8.0f} ms")

        check_s, (valid, invalid) = min(timed(lambda: read_and_validate(path)) for _ in range(3))
        print(
            f"   read + validate, best of 3 ({valid:,} valid, {invalid:,} invalid): {check_s * 1000:8.0f} ms"
            f"   ratio {check_s / parse_s:5.1f}x the baseline (goal <= 2x)"
        )

        importer = Importer(base / "import")
        first_s, report = timed(lambda: importer.load(path))
        assert report.rows_valid == valid, (report.rows_valid, valid)
        again_s, again = timed(lambda: importer.load(path))
        assert again.rows_valid == valid and again.marked_out_of_stock == 0
        importer.engine.dispose()
        batches: list[ProductColumns] = []
        read_and_validate(path, batches)
        bare_s = bare_writes(base / "bare", batches)
        for label, seconds in (
            ("full import into SQLite", first_s),
            ("re-import (all updates)", again_s),
            ("reference: bare executemany", bare_s),
        ):
            print(
                f"   {label:<28} {seconds * 1000:8.0f} ms  ({rows / seconds:9,.0f} rows/s)"
                f"   ratio {seconds / parse_s:5.1f}x the baseline"
            )

        if env_int("BENCH_FEED_MEMORY", 1):
            large = base / "large.csv"
            write_feed(large, rows * 4, seed)
            small_m = measure_memory(path, base / "mem-small")
            large_m = measure_memory(large, base / "mem-large")
            print(
                f"   peak RSS growth of a full import: {rows:,} rows {small_m['growth_kib'] / 1024:6.1f} MiB,"
                f" {rows * 4:,} rows {large_m['growth_kib'] / 1024:6.1f} MiB"
                f"   ratio {large_m['growth_kib'] / max(small_m['growth_kib'], 1):4.2f} (flat: ~1)"
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
