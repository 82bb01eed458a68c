"""Affiliate v3 benchmarks (seed 003): the real app served by uvicorn, each figure beside a
baseline measured in the same run.

(v1) `POST /v3/partner/products/feed` for a program with 100,000 and with 400,000 products
     (BENCH_V3_FEED_SIZES), and the XML and CSV files served at its signed feed URL:
     products/s and the server's peak memory, each from a freshly started server (VmHWM, and
     its growth over the RSS before the request). The catalog is imported again through
     `POST /v2/retailers/{id}/feeds` into a running server, whose worker then renders the
     default feed files in the background: the time from the import's answer until they are all
     there is printed on its own line. Then the first request of each format after the import
     (what a user now meets first; the JSON request is the default variant, setEpi false, as
     the signed URLs' epi=0), on that server; then warm ones (best of 3, each format from a
     freshly started server). Baseline, in a child
     process of its own: `orjson.dumps` of the same rows, already in memory as the product
     dicts the feed renders, in one call. Warm downloads and the `dumps` call are timed at
     their best of 3 (the machine is shared). Goal (issue 5 §6): streamed with memory flat, warm
     products/s within 2x of the baseline (ratio >= 0.5). Downloads send `Accept-Encoding:
     gzip`, as feed tools and httpx do, and read the compressed body (MB: as sent); for
     reference, warm downloads without it (the file as rendered). For reference, in that child too:
     one query + rendering every row + that one `dumps` (what a non-streaming endpoint would
     do), and its peak memory growth.
(v2) `POST /v3/partner/programs` over BENCH_V3_PROGRAMS programs (default 10,000) in one
     market, pages of 100 with their commissions, feeds and EPC: p50/p99 at concurrency 1,
     walking the pages and asking for the first one again and again, beside a trivial JSON
     route of the same app. Goal: p50 < 30 ms.

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_affiliate_v3
Environment: BENCH_V3_FEED_SIZES (default "100000,400000"; the first catalog's data dir also
serves (v2)), BENCH_V3_PROGRAMS (default 10,000), BENCH_SECONDS (default 3).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
from auctera.domain import ids as idfmt
from auctera.domain.campaigns import Campaign, CampaignType
from auctera.domain.catalog import FeedFormat
from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    Channel,
    ChannelType,
    CommissionType,
    Program,
    ProgramStatus,
    PromotionMethod,
    Rate,
    Segment,
    TrackingType,
)
from auctera.domain.tracking import click_url
from auctera.services.feed_formats import FeedItem, product_row
from auctera.services.partner_programs import product_link
from auctera.services.ports import ListedProgram
from auctera.store.repositories.campaigns import _values as campaign_row
from auctera.store.repositories.programs import _commission_values, _program_values
from auctera.store.tables import campaigns as campaigns_table
from auctera.store.tables import commission_types, program_segments, programs
from benchmarks.bench_api import TRIVIAL, baselines_first, serving
from benchmarks.loadgen import Result, load, raw_post

ROOT = Path(__file__).resolve().parents[1]
UNLIMITED = 1_000_000_000  # requests per minute: measure responses, not 429s
WARM_TRIES = 3  # warm downloads and dumps calls are timed at their best of this many
PAGE = 100
INSERT_BATCH = 5_000
M = 1_000_000
BRANDS = ["Sony", "Samsung", "Apple", "Bosch", "Philips", "LEGO", "Nike", "Dyson"]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# -- the server ----------------------------------------------------------------------------------


def serve(data_dir: str, port: int) -> None:
    """The subprocess: the real app plus the trivial baseline route, under uvicorn."""
    import uvicorn

    from auctera.app import create_app, tuned_for_serving

    app = tuned_for_serving(create_app(_settings(Path(data_dir))))

    @app.api.get(TRIVIAL, include_in_schema=False)
    async def trivial() -> Any:
        return {"success": True, "status": "ok"}

    baselines_first(app)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, log_level="warning", click_token_secret="bench-" + "0" * 32)


@contextlib.contextmanager
def server(data_dir: Path) -> Iterator[tuple[int, int]]:
    with serving("benchmarks.bench_affiliate_v3", data_dir, stop_timeout=15) as found:
        yield found


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))


# -- data ----------------------------------------------------------------------------------------


def _reviewed_affiliate(container: Container, key: str) -> Campaign:
    principal = container.auth.authenticate(key)
    body = CampaignCreate.model_validate(
        {
            "name": "Kitchentime SE",
            "type": "affiliate_cpa",
            "budget": 10_000,
            "payout": 5,
            "destination_url": "https://www.kitchentime.se/?cid={click_id}",
        }
    )
    created = container.campaigns.create(principal, CampaignType(body.type), body.patch())
    reviewed = container.campaigns.review(created.id)
    assert reviewed is not None and reviewed.status.value == "active", reviewed
    return reviewed


def _catalog_csv(count: int) -> bytes:
    rng = random.Random(2024)
    lines = ["id,title,description,price,currency,link,image_link,availability,brand,product_type,sku"]
    for n in range(count):
        brand = rng.choice(BRANDS)
        lines.append(
            f"p{n},{brand} kettle {n},The {brand} kettle {n} boils fast.,"
            f"{rng.randrange(100, 200_000) / 100:.2f},SEK,https://shop.example.com/p/{n}?ref=feed,"
            f"https://cdn.example.com/{n}.jpg,in stock,{brand},"
            f"Kitchen,sku-{n}"
        )
    return ("\n".join(lines) + "\n").encode()


def _program(campaign_id: int, account_id: int, feed_ids: tuple[int, ...], now: datetime) -> Program:
    return Program(
        id=campaign_id,
        account_id=account_id,
        market="SE",
        status=ProgramStatus.LIVE,
        cookie_duration_days=45,
        promotion_methods=frozenset({PromotionMethod.SOCIAL, PromotionMethod.EMAIL}),
        category_id=1,
        category_name="Home & kitchen",
        program_url="https://www.kitchentime.se",
        logo_url="https://cdn.example.com/logo.png",
        tracking_type=TrackingType.SERVER_TO_SERVER,
        feed_ids=feed_ids,
        created_at=now,
        updated_at=now,
    )


def prepare(data_dir: Path, products: int, count: int) -> dict[str, Any]:
    container = build(_settings(data_dir))
    try:
        started = time.perf_counter()
        adv = container.accounts.create_account("Kitchentime", "advertiser", rate_limit_per_minute=UNLIMITED)
        pub = container.accounts.create_account("John Doe", "publisher", rate_limit_per_minute=UNLIMITED)
        owner = container.auth.authenticate(adv.api_key)
        retailer = container.catalog.create_retailer(owner, "Kitchentime catalog", "shop.example.com")
        report = container.catalog.import_feed(
            owner, retailer.id, io.BytesIO(_catalog_csv(products)), FeedFormat.CSV
        )
        assert report.rows_valid == products, report.errors[:3]
        imported = time.perf_counter() - started
        # The other programs with feeds offer a small catalog of their own: an import of the big
        # one renders the files of the one program measured, not of a thousand copies.
        outlet = container.catalog.create_retailer(owner, "Kitchentime outlet", "outlet.example.com")
        container.catalog.import_feed(owner, outlet.id, io.BytesIO(_catalog_csv(10)), FeedFormat.CSV)

        started = time.perf_counter()
        template = _reviewed_affiliate(container, adv.api_key)
        now = datetime.now(UTC)
        channel = Channel(
            container.ids.next_id(), pub.account.id, "John's blog", ChannelType.BLOG, None, None, now, now
        )
        program_ids = [template.id]
        with container.engine.begin() as conn:
            rows = []
            for i in range(count - 1):
                copy = replace(template, id=container.ids.next_id(), name=f"Program {i:05d}")
                rows.append({"id": copy.id, **campaign_row(copy)})
                program_ids.append(copy.id)
                if len(rows) == INSERT_BATCH:
                    conn.execute(insert(campaigns_table), rows)
                    rows = []
            if rows:
                conn.execute(insert(campaigns_table), rows)
            program_rows, segment_rows, commission_rows = [], [], []
            for n, program_id in enumerate(program_ids):
                feeds = (retailer.id,) if n == 0 else (outlet.id,) if n % 10 == 0 else ()
                program_rows.append(
                    {"id": program_id, **_program_values(_program(program_id, adv.account.id, feeds, now))}
                )
                segment = Segment(container.ids.next_id(), program_id, "Standard", True, now)
                segment_rows.append(
                    {
                        "id": segment.id,
                        "program_id": program_id,
                        "name": "Standard",
                        "standard": True,
                        "created_at": now,
                    }
                )
                for event, rate in (("purchase", Rate(True, 4_500_000)), ("lead", Rate(False, 25 * M))):
                    terms = CommissionType(
                        container.ids.next_id(), program_id, segment.id, event, event, rate, created_at=now
                    )
                    commission_rows.append({"id": terms.id, **_commission_values(terms)})
            for table, batch in (
                (programs, program_rows),
                (program_segments, segment_rows),
                (commission_types, commission_rows),
            ):
                for lo in range(0, len(batch), INSERT_BATCH):
                    conn.execute(insert(table), batch[lo : lo + INSERT_BATCH])
        with container.uow() as uow:
            uow.channels.add(channel)
            for n, program_id in enumerate(program_ids):
                if n % 5 == 0:  # the publisher is approved on a fifth of them
                    uow.channels.add_application(
                        Application(container.ids.next_id(), program_id, adv.account.id, pub.account.id,
                                    channel.id, ApprovalStatus.APPROVED, now)
                    )  # fmt: skip
            uow.commit()
        made = time.perf_counter() - started
    finally:
        container.close()
    print(
        f"    (set-up: {products:,} products imported in {imported:.1f} s,"
        f" {count:,} programs in {made:.1f} s)"
    )
    return {
        "token": pub.api_key,
        "advertiser_token": adv.api_key,
        "program_id": template.id,
        "channel_id": channel.id,
        "retailer_id": retailer.id,
        "publisher_id": pub.account.id,
        "products": products,
        "programs": count,
    }


# -- (v1) the product feed -----------------------------------------------------------------------


def _feed_request(data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    body = {"programId": data["program_id"], "channelId": data["channel_id"], "setEpi": False}
    return "POST", "/v3/partner/products/feed", body


def _feed_url(client: httpx.Client, data: dict[str, Any], fmt: str) -> str:
    info = client.get(
        f"/v3/partner/products/feedinfo/{data['program_id']}/{data['channel_id']}"
    ).raise_for_status()
    url = httpx.URL(info.json()[0]["feedUrl"])
    return str(url.copy_set_param("format", fmt).copy_set_param("epi", "0"))


def _request(client: httpx.Client, data: dict[str, Any], what: str) -> tuple[str, str, Any]:
    if what == "json":
        return _feed_request(data)
    return "GET", _feed_url(client, data, what), None


def _measured(
    port: int,
    pid: int,
    data: dict[str, Any],
    request: tuple[str, str, Any],
    tries: int,
    encoding: str = "gzip",
) -> dict[str, float]:
    """The best time of `tries` downloads, the server's peak memory and that peak's growth over
    its RSS before."""
    before = _status_kib(pid, "VmRSS")
    seconds = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        count, size = _download(port, *request, data["token"], encoding)
        seconds = min(seconds, time.perf_counter() - started)
    peak = _status_kib(pid, "VmHWM")
    if count != data["products"]:
        raise SystemExit(f"FAILED: the feed at {request[1]} says {count} products, not {data['products']}")
    return {"seconds": seconds, "peak_kib": peak, "growth_kib": peak - before, "mb": size / 1e6}


def _client(port: int, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Token": token}, timeout=600)


def after_import(
    data_dir: Path, data: dict[str, Any]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Imports the catalog again into a running server (no feed files before it), waits for its
    worker to render the default files, then downloads each format once: the import's and the
    render's seconds, and each first download's figures."""
    files = _settings(data_dir).feed_files_dir
    shutil.rmtree(files, ignore_errors=True)
    retailer = f"ret_{idfmt.to_base36(data['retailer_id'])}"
    stem = f"{data['program_id']}-epi0-gt0."
    with server(data_dir) as (port, pid), _client(port, data["token"]) as client:
        client.post("/v3/partner/programs", json={"market": "SE", "pageSize": 1}).raise_for_status()  # warm
        started = time.perf_counter()
        client.post(
            f"/v2/retailers/{retailer}/feeds",
            content=_catalog_csv(data["products"]),
            headers={"Authorization": f"Bearer {data['advertiser_token']}", "Content-Type": "text/csv"},
        ).raise_for_status()
        answered = time.perf_counter()
        while len(rendered := _rendered(files, stem)) < 3:
            if time.perf_counter() - answered > 600:
                raise SystemExit(f"FAILED: the feed files were not rendered within 600 s: {rendered}")
            time.sleep(0.01)  # polling the directory, not part of any figure's precision
        times = {"import": answered - started, "render": time.perf_counter() - answered}
        first = {
            what: _measured(port, pid, data, _request(client, data, what), 1)
            for what in ("json", "xml", "csv")
        }
    return times, first


def _rendered(files: Path, stem: str) -> list[Path]:
    """The feed files of `stem` written so far (not their lock, nor one being written)."""
    return [p for p in files.rglob(f"{stem}*") if p.suffix != ".lock" and not p.name.startswith(".")]


def warm(data_dir: Path, data: dict[str, Any], what: str, encoding: str = "gzip") -> dict[str, float]:
    """Downloads from a freshly started server, the files there: the best of WARM_TRIES."""
    with server(data_dir) as (port, pid), _client(port, data["token"]) as client:
        client.post("/v3/partner/programs", json={"market": "SE", "pageSize": 1}).raise_for_status()  # warm
        return _measured(port, pid, data, _request(client, data, what), WARM_TRIES, encoding)


def _download(
    port: int, method: str, path: str, body: Any, token: str, encoding: str = "gzip"
) -> tuple[int, int]:
    """One response read into a reused buffer with http.client (httpx's per-chunk work would be
    what is measured), asking for `encoding` as feed tools do (httpx too) ("gzip": the body
    stays compressed, its decompression is the client's work): its count header and its body's
    size as sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        headers = {"X-Token": token, "Content-Type": "application/json", "Accept-Encoding": encoding}
        conn.request(method, path, body=None if body is None else orjson.dumps(body), headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise SystemExit(f"FAILED: {method} {path} answered {response.status}: {response.read()[:300]!r}")
        buffer = bytearray(1 << 20)
        size = 0
        while read := response.readinto(buffer):
            size += read
        return int(response.headers["count"]), size
    finally:
        conn.close()


def baseline_child(
    data_dir: str, program_id: int, channel_id: int, publisher_id: int, retailer_id: int
) -> None:
    """The baseline, in this process: every row in one query, rendered, one orjson.dumps."""
    container = build(_settings(Path(data_dir)))
    try:
        with container.uow(read_only=True) as uow:
            program = uow.programs.get(program_id)
            assert program is not None
            before = _status_kib(os.getpid(), "VmRSS")
            started = time.perf_counter()
            rows = uow.products.after(retailer_id, None, 10**9)
        listed = ListedProgram(program, "Kitchentime SE", "SEK")
        prefix = click_url(container.settings.tracking_url, program_id, publisher_id, channel_id)
        items = [
            product_row(FeedItem(p, product_link(prefix, p, set_epi=False, gt=False)), listed) for p in rows
        ]
        dumped = time.perf_counter()
        body = orjson.dumps(items)
        finished = time.perf_counter()
        peak = _status_kib(os.getpid(), "VmHWM")
        dumps_seconds = finished - dumped
        for _ in range(WARM_TRIES - 1):  # the best of as many tries as the warm downloads get
            dumped = time.perf_counter()
            orjson.dumps(items)
            dumps_seconds = min(dumps_seconds, time.perf_counter() - dumped)
    finally:
        container.close()
    result = {"seconds": finished - started, "dumps_seconds": dumps_seconds, "growth_kib": peak - before}
    print(json.dumps({**result, "mb": len(body) / 1e6, "products": len(rows)}))


def baseline(data_dir: Path, data: dict[str, Any]) -> dict[str, float]:
    args = [str(data[k]) for k in ("program_id", "channel_id", "publisher_id", "retailer_id")]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_affiliate_v3", "--baseline", str(data_dir), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_feed(data_dir: Path, data: dict[str, Any]) -> None:
    n = data["products"]
    base = baseline(data_dir, data)
    dumps_rate = n / base["dumps_seconds"]
    print(
        f"(v1) a program's product feed, {n:,} products{'':<24}products/s"
        "   peak RSS   growth   (vs the baseline's rate)"
    )
    print(f"    {'baseline: orjson.dumps of the rows alone':<68}{dumps_rate:>10,.0f}")
    print(
        f"    {'reference: one query + render + one dumps':<68}{n / base['seconds']:>10,.0f}"
        f"             {base['growth_kib'] / 1024:5.0f} MiB"
    )
    times, first = after_import(data_dir, data)
    print(
        f"    {'import through POST /v2/retailers/{id}/feeds (its answer)':<68}{n / times['import']:>10,.0f}"
        f"   ({times['import']:.2f} s)"
    )
    print(
        f"    {'background render after it: JSON, XML, CSV default files':<68}{n / times['render']:>10,.0f}"
        f"   ({times['render']:.2f} s until all three are there)"
    )
    for what, label in (
        ("json", "POST /v3/partner/products/feed"),
        ("xml", "feed file, XML"),
        ("csv", "feed file, CSV"),
    ):
        for case, got in (
            ("first request after import+render", first[what]),
            ("warm", warm(data_dir, data, what)),
            ("warm, no Accept-Encoding: gzip", warm(data_dir, data, what, "identity")),
        ):
            rate = n / got["seconds"]
            print(
                f"    {label:<32}{case:<36}{rate:>10,.0f}"
                f"   {got['peak_kib'] / 1024:4.0f} MiB {got['growth_kib'] / 1024:4.0f} MiB"
                f"   ({rate / dumps_rate:.2f}x; {got['mb']:.0f} MB)"
            )


# -- (v2) the programs listing -------------------------------------------------------------------


def run(port: int, requests: list[bytes], what: str, seconds: float) -> Result:
    result = load(port, requests, seconds=seconds, connections=1)
    if result.errors:
        raise SystemExit(f"FAILED: {result.errors:,} of {result.requests:,} responses to {what} were not 2xx")
    return result


def bench_programs(data_dir: Path, data: dict[str, Any], seconds: float) -> None:
    headers = {"X-Token": data["token"], "Content-Type": "application/json"}
    pages = -(-data["programs"] // PAGE)

    def page(n: int) -> bytes:
        return raw_post(
            "/v3/partner/programs", headers, orjson.dumps({"market": "SE", "page": n, "pageSize": PAGE})
        )

    walk = [page(n) for n in range(pages)]
    with server(data_dir) as (port, _):
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-Token": data["token"]}, timeout=30
        ) as client:
            first = client.post(
                "/v3/partner/programs", json={"market": "SE", "pageSize": PAGE}
            ).raise_for_status()
            assert first.headers["count"] == str(data["programs"]), first.headers
            shown = first.json()
            assert len(shown) == PAGE and all(p["commissions"] for p in shown), "the first page is not full"
            assert any(p["feeds"] for p in shown) and any(p["trackingURL"] for p in shown)
        run(port, walk[:20], "program pages", 0.5)  # warm-up
        trivial = [f"GET {TRIVIAL} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()]
        run(port, trivial, "trivial", 0.5)
        base = run(port, trivial, "trivial", seconds)
        walked = run(port, walk, "program pages", seconds * 3)
        repeated = run(port, walk[:1], "first page", seconds)
    print(
        f"(v2) POST /v3/partner/programs, pages of {PAGE} over {data['programs']:,} programs,"
        " concurrency 1, latency in ms"
    )
    print("                                                   p50      p99   requests")
    print(
        f"    baseline: trivial FastAPI JSON route      {base.p50:8.2f} {base.p99:8.2f} {base.requests:>9,}"
    )
    print(
        f"    walking the pages                         {walked.p50:8.2f} {walked.p99:8.2f}"
        f" {walked.requests:>9,}   (goal p50 < 30 ms)"
    )
    print(
        f"    the first page, again and again           {repeated.p50:8.2f} {repeated.p99:8.2f} "
        f"{repeated.requests:>9,}   (goal p50 < 30 ms)"
    )


def main() -> None:
    sizes = [int(n) for n in os.environ.get("BENCH_V3_FEED_SIZES", "100000,400000").split(",")]
    count = env_int("BENCH_V3_PROGRAMS", 10_000)
    seconds = env_float("BENCH_SECONDS", 3.0)
    with tempfile.TemporaryDirectory(prefix="bench-v3-") as scratch:
        first: tuple[Path, dict[str, Any]] | None = None
        for n, products in enumerate(sizes):
            data_dir = Path(scratch) / f"data-{n}"
            data = prepare(data_dir, products, count if n == 0 else 1)
            bench_feed(data_dir, data)
            first = first or (data_dir, data)
        assert first is not None, "BENCH_V3_FEED_SIZES names no size"
        bench_programs(*first, seconds)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--baseline"]:
        baseline_child(sys.argv[2], *(int(a) for a in sys.argv[3:7]))
    else:
        main()
