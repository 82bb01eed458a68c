"""The bid sync under fault injection, end to end: 10k bids in 200 batches to the simulated
network with 5% failing items, timeouts and 5xx, and the `auctera bids work` process killed
with SIGKILL mid-batch, then restarted. Every bid ends in a stable status, and what we store
equals what the network holds for every bid (read back from it): zero divergence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from auctera.api.compat.bids import translate
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.bids import (
    BiddingSettings,
    BidFilter,
    BidRow,
    OptimizationType,
    PartnerBidKey,
    PartnerKind,
)
from auctera.partners.http import HttpBidPartner
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.bids import BidService
from auctera.store.database import make_engine
from auctera.store.tables import bid_batches, bid_operations

COUNTRIES = ("AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE",
             "IT", "NL", "NO", "PL", "PT", "SE", "US", "CA", "AU", "JP")  # fmt: skip
AD_SETS = 5
SOURCES = 100  # 5 ad sets x 20 countries x 100 source ids = 10k bids
BATCH = 50  # 200 batches
FAULTS = [
    {"kind": "fail-items", "match": [{"country": "FR"}]},  # one country in 20: 5% of the bids
    {"kind": "timeout", "seconds": 2, "times": 4},  # past the worker's 0.75 s partner timeout
    {"kind": "5xx", "status": 502, "times": 4},
]


def _worker(data_dir: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUCTERA_LOG_LEVEL": "warning", "AUCTERA_BID_PARTNER_TIMEOUT_SECONDS": "0.75"}
    command = [sys.executable, "-c", "from auctera.cli.main import app; app()", "bids", "work"]
    command += ["--data-dir", str(data_dir), "--lease-seconds", "3", "--threads", "8", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env=env)


def _counts(data_dir: Path) -> tuple[int, int]:
    """(operations settled, batches leased and open)."""
    engine = make_engine(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with engine.connect() as conn:
            o, b = bid_operations, bid_batches
            settled = conn.execute(select(func.count()).where(o.c.status != "pending")).scalar_one()
            leased = conn.execute(
                select(func.count()).where(b.c.phase != "done", b.c.locked_until.is_not(None))
            ).scalar_one()
            return int(settled), int(leased)
    finally:
        engine.dispose()


def test_10k_bids_with_faults_and_a_sigkill_end_with_zero_divergence(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "worker.log"
    c = build(Settings(data_dir=data_dir, bid_sync_worker=False))
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as served:
        assert httpx.put(f"{served.url}/_faults", json=FAULTS).status_code == 200
        try:
            principal = c.auth.authenticate(c.accounts.create_account("Acme", "advertiser").api_key)
            assert principal is not None
            service = BidService(c.uow, c.ids, c.clock)
            network = service.create_network(
                principal,
                replace(
                    translate.new_network(),
                    name="Sim",
                    kind=PartnerKind.SIMULATED,
                    base_url=served.url,
                    credentials={"token": "t0ken"},
                    settings=BiddingSettings(
                        enabled=True,
                        ad_set_bidding=True,
                        source_id_bidding=True,
                        decimal_precision=4,
                        batch_size=BATCH,
                        concurrency=4,
                        retry_backoff_ms=50,
                        retry_max_attempts=5,
                    ),
                ),
                trusted=True,  # registered by the operator (code on the host): on loopback
            )
            campaign = service.create_campaign(
                principal,
                network.id,
                replace(
                    translate.new_campaign(),
                    name="Spring",
                    countries=frozenset(COUNTRIES),
                    optimization_type=OptimizationType.CPI,
                ),
            )
            ad_sets = [
                service.create_ad_set(
                    principal, campaign.id, replace(translate.new_ad_set(), name=f"a{i}")
                ).id
                for i in range(AD_SETS)
            ]
            rows = [
                BidRow(campaign.id, a, country, f"app{s}", Decimal(f"0.{1000 + s}"))
                for a in ad_sets
                for country in COUNTRIES
                for s in range(SOURCES)
            ]
            assert service.upload(principal, rows).accepted == 10_000
        finally:
            c.close()

        worker = _worker(data_dir, log)
        try:
            while (progress := _counts(data_dir))[0] < 2_500:  # kill it a quarter of the way in
                assert worker.poll() is None, log.read_text()
                time.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            settled, leased = _counts(data_dir)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert settled < 10_000 and leased > 0, (progress, settled, leased)  # killed mid-batch

        restarted = _worker(data_dir, log, "--until-idle")
        assert restarted.wait(timeout=120) == 0, log.read_text()

        c = build(Settings(data_dir=data_dir, bid_sync_worker=False))
        try:
            service = BidService(c.uow, c.ids, c.clock)
            ours = []
            while page := service.bids(
                principal, BidFilter(network_id=network.id), offset=len(ours), limit=1000
            ):
                ours += page
        finally:
            c.close()
        with HttpBidPartner(served.url, token="t0ken") as partner:
            keys = {
                b.id: PartnerBidKey(str(campaign.id), str(b.ad_set_id), b.country, b.source_id) for b in ours
            }
            theirs: dict[PartnerBidKey, int | None] = {}
            values = list(keys.values())
            for i in range(0, len(values), 1000):
                theirs |= partner.read(values[i : i + 1000])
        held = httpx.get(f"{served.url}/_bids").json()["bids"]

    statuses = {b.status.value for b in ours}
    assert statuses <= {"success", "rollback-error", "error"}, statuses  # none left pending
    diverging = [b for b in ours if theirs[keys[b.id]] != b.value_micros]
    assert diverging == []
    assert len(held) == len(ours)  # the network holds no bid we do not
    # The failing country's new bids were refused and deleted on both sides; the rest applied.
    assert len(ours) == 9_500 and {b.country for b in ours} == set(COUNTRIES) - {"FR"}
    assert served.network.calls["apply"] >= 200
