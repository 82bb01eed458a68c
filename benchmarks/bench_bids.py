"""Bid upload benchmark, beside polars parsing the same rows in the same run.

A JSON upload body of BENCH_BIDS bids (default 100,000: one network campaign in every country,
20 ad sets, a source id per row group; values with 3 decimals) is built in memory, then:

- baseline: `polars.read_json` of the body (the time polars takes just to parse the rows).
- upload: what `POST /management/v0/bids/upload` does after reading the request: the body parsed
  with exact decimals, each row checked for shape, every bid validated against the hierarchy and
  the stored bids, and all stored `pending` with their operations, in one transaction, into a
  fresh SQLite database. Then the same body again with other values: 100k updates.
  Goal: <= 2x the baseline and <= 5 s.
- reference (the floor of storing them): the rows each upload wrote, written again into the same
  tables by a bare executemany of the driver, one statement a row, nothing else.

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_bids
Environment: BENCH_BIDS (default 100,000), BENCH_SYNC_BATCH (default 500), BENCH_SYNC_CONCURRENCY
(default 4).

Then the bid sync (services/bid_sync.py, jobs/bid_sync.py) applies the 100k pending bids on the
simulated network, served on loopback, in batches of BENCH_SYNC_BATCH with BENCH_SYNC_CONCURRENCY
batches in flight: bids/s from the first claim to the last settled status. Baseline, same run: the
partner's own ceiling, the same batches posted straight to a fresh simulated network by one client
(no database, no saga).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import orjson
import polars as pl
import pycountry

from auctera.api.compat.bids import translate
from auctera.api.json_body import parse_json
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.bids import (
    AdSet,
    BidChange,
    BiddingSettings,
    OptimizationType,
    PartnerBidKey,
    PartnerKind,
)
from auctera.domain.ids import IdGenerator
from auctera.jobs.bid_sync import BidSyncWorker, NetworkPartners, SyncWorkerOptions
from auctera.partners.http import HttpBidPartner
from auctera.partners.simulated import RunningNetwork
from auctera.services.accounts import AccountService
from auctera.services.bid_sync import BidSyncService, SyncOptions
from auctera.services.bids import BidService, paused_collector
from auctera.services.clock import utcnow
from auctera.store.database import make_engine
from auctera.store.migrate import upgrade
from auctera.store.uow import SqlUnitOfWorkFactory

AD_SETS = 20


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


class Setup:
    """A fresh SQLite database with an advertiser, a network and a campaign in every country."""

    def __init__(self, data_dir: Path) -> None:
        engine = make_engine(f"sqlite+pysqlite:///{data_dir / 'auctera.db'}")
        upgrade(engine)
        self.engine = engine
        self.uow = SqlUnitOfWorkFactory(engine)
        self.ids = ids = IdGenerator(1, lambda: int(time.time() * 1000))
        self.service = BidService(self.uow, ids, utcnow)
        accounts = AccountService(self.uow, ids, utcnow, rotation_grace=timedelta(0))
        account = accounts.create_account("Bench", "advertiser").account
        self.principal = Principal(account.id, AccountKind.ADVERTISER, "UTC", "USD", None, "bench")
        settings = BiddingSettings(
            enabled=True,
            ad_set_bidding=True,
            source_id_bidding=True,
            decimal_precision=3,
            min_bid_micros=1_000,
        )
        draft = replace(
            translate.new_network(),
            name="Bench network",
            kind=PartnerKind.SIMULATED,
            base_url="http://127.0.0.1:9",
            credentials={"token": "t"},
            settings=settings,
        )
        self.network = network = self.service.create_network(self.principal, draft)
        self.countries = sorted(c.alpha_2 for c in pycountry.countries)
        campaign = replace(
            translate.new_campaign(),
            name="Everywhere",
            countries=frozenset(self.countries),
            optimization_type=OptimizationType.CPI,
        )
        self.campaign = self.service.create_campaign(self.principal, network.id, campaign)
        blank: AdSet = translate.new_ad_set()
        self.ad_sets = [
            self.service.create_ad_set(
                self.principal, self.campaign.id, replace(blank, name=f"ad set {i}")
            ).id
            for i in range(AD_SETS)
        ]

    def body(self, rows: int, shift: int) -> bytes:
        """The upload body as a client sends it: unique dimensions, values like 0.123."""
        per_source = AD_SETS * len(self.countries)
        bids = [
            {
                "adSetId": self.ad_sets[i % AD_SETS],
                "campaign": {"id": self.campaign.id},
                "country": self.countries[(i // AD_SETS) % len(self.countries)],
                "sourceId": f"app-{i // per_source}",
                "optimalBidUsd": float(f"0.{(i + shift) % 900 + 100}"),
                "delete": False,
            }
            for i in range(rows)
        ]
        return orjson.dumps(bids)

    def upload(self, body: bytes) -> int:
        with paused_collector():  # as the route does
            rows = translate.upload_rows(parse_json(body))
            result = self.service.upload(self.principal, rows)
        assert not result.rejections, result.rejections[:3]
        return result.accepted

    def close(self) -> None:
        self.uow.close()
        self.engine.dispose()


def bench_sync(setup: Setup, rows: int) -> None:
    batch = env_int("BENCH_SYNC_BATCH", 500)
    concurrency = env_int("BENCH_SYNC_CONCURRENCY", 4)
    with setup.uow(read_only=True) as uow:
        stored = list(uow.bids.bids_of_campaigns([setup.campaign.id]).values())
    changes = [
        BidChange(PartnerBidKey(str(b.campaign_id), str(b.ad_set_id), b.country, b.source_id), b.value_micros)
        for b in sorted(stored, key=lambda b: b.operation_id)
    ]
    print(f"   sync: {len(changes):,} bids, batches of {batch}, {concurrency} in flight")
    with RunningNetwork() as alone, HttpBidPartner(alone.url, timeout=60) as client:

        def post_all() -> None:
            for i in range(0, len(changes), batch):
                result = client.apply(f"b{i}", changes[i : i + batch])
                assert all(item.ok for item in result.items)

        ceiling_s, _ = timed(post_all)
    print(
        f"   baseline partner alone (one client posts):  {ceiling_s * 1000:8.0f} ms"
        f"   {len(changes) / ceiling_s:10,.0f} bids/s"
    )
    with RunningNetwork() as served:
        settings = replace(setup.network.settings, batch_size=batch, concurrency=concurrency)
        setup.service.update_network(
            setup.principal, setup.network.id, lambda n: replace(n, base_url=served.url, settings=settings)
        )
        partners = NetworkPartners(setup.uow, utcnow, timeout=60)
        service = BidSyncService(setup.uow, setup.ids, utcnow, partners, SyncOptions())
        worker = BidSyncWorker(service, SyncWorkerOptions(threads=concurrency, idle=0.01))
        sync_s, _ = timed(lambda: worker.run(threading.Event(), until_idle=True))
        partners.close()
        assert worker.settled == rows and len(served.network.bids) == rows, (worker.settled, rows)
    print(
        f"   bid sync (claim, apply, settle; saga):      {sync_s * 1000:8.0f} ms"
        f"   {rows / sync_s:10,.0f} bids/s   {ceiling_s / sync_s:6.2f}x the partner alone"
    )


class Floor:
    """Reference, not a baseline: the rows an upload wrote, written again by a bare `executemany`
    (one statement a row, straight to the driver; no parse, no checks, no ids) into the same
    tables: what storing them costs at the least. Each upload's rows are read back right after it;
    at the end the tables are emptied and both written again, so they end as the uploads left them."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.created: tuple[list[Any], list[Any]] = ([], [])
        self.updated: tuple[list[Any], list[Any], list[Any]] = ([], [], [])

    def _rows(self, query: str, *args: Any) -> list[Any]:
        with self.setup.engine.connect() as conn:
            return list(conn.exec_driver_sql(query, args).fetchall())

    def _latest_upload(self) -> int:
        return int(self._rows("SELECT max(upload_id) FROM bid_operations")[0][0])

    def after_create(self) -> None:
        upload = self._latest_upload()
        self.created = (
            self._rows("SELECT * FROM bids"),
            self._rows("SELECT * FROM bid_operations WHERE upload_id = ?", upload),
        )

    def after_update(self) -> None:
        upload = self._latest_upload()
        changed = "value_micros, status, operation_id, updated_at, id"
        self.updated = (
            self._rows(f"SELECT {changed} FROM bids"),
            self._rows("SELECT * FROM bid_operations WHERE upload_id = ?", upload),
            self._rows("SELECT id FROM bid_operations WHERE status = 'superseded'"),
        )

    def write_again(self) -> tuple[float, float]:
        raw = self.setup.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("DELETE FROM bid_operations")
            cur.execute("DELETE FROM bids")
            bids, operations = self.created
            create_s, _ = timed(lambda: self._write(cur, [("bids", bids), ("bid_operations", operations)]))
            changed, new_operations, superseded = self.updated
            set_changed = (
                "UPDATE bids SET value_micros = ?, status = ?, operation_id = ?, updated_at = ? WHERE id = ?"
            )
            supersede = "UPDATE bid_operations SET status = 'superseded' WHERE id = ? AND batch_id IS NULL"
            update_s, _ = timed(
                lambda: self._write(
                    cur, [(set_changed, changed), ("bid_operations", new_operations), (supersede, superseded)]
                )
            )
        finally:
            raw.close()
        return create_s, update_s

    @staticmethod
    def _write(cur: Any, steps: list[tuple[str, list[Any]]]) -> None:
        cur.execute("BEGIN IMMEDIATE")
        for target, rows in steps:
            if target.startswith("UPDATE"):
                cur.executemany(target, rows)
            else:
                marks = ", ".join(["?"] * len(rows[0]))
                cur.executemany(f"INSERT INTO {target} VALUES ({marks})", rows)
        cur.execute("COMMIT")


def parse_with_polars(body: bytes) -> int:
    return pl.read_json(io.BytesIO(body)).height


def main() -> None:
    rows = env_int("BENCH_BIDS", 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp))
        try:
            first, second = setup.body(rows, 0), setup.body(rows, 7)
            print(f"   upload: {rows:,} bids, {len(first) / 1e6:.1f} MB JSON")
            parse_s = min(timed(lambda: parse_with_polars(first))[0] for _ in range(3))
            print(f"   baseline polars read_json:                  {parse_s * 1000:8.0f} ms")
            floor = Floor(setup)
            create_s, accepted = timed(lambda: setup.upload(first))
            assert accepted == rows
            floor.after_create()
            print(
                f"   upload, new bids (parse+validate+store):    {create_s * 1000:8.0f} ms"
                f"   {create_s / parse_s:6.1f}x polars   {rows / create_s:10,.0f} bids/s"
            )
            update_s, accepted = timed(lambda: setup.upload(second))
            assert accepted == rows
            floor.after_update()
            print(
                f"   upload, changed bids (100% updates):       {update_s * 1000:8.0f} ms"
                f"   {update_s / parse_s:6.1f}x polars   {rows / update_s:10,.0f} bids/s"
            )
            print("   goal: <= 2x polars and <= 5 s")
            floor_create_s, floor_update_s = floor.write_again()
            for name, floor_s, upload_s in (
                ("new    ", floor_create_s, create_s),
                ("changed", floor_update_s, update_s),
            ):
                print(
                    f"   reference: {name} rows, bare executemany:{floor_s * 1000:11.0f} ms"
                    f"   {floor_s / parse_s:6.1f}x polars   (the upload takes {upload_s / floor_s:.2f}x it)"
                )
            bench_sync(setup, rows)
        finally:
            setup.close()


if __name__ == "__main__":
    main()
