"""`auctera bids upload|list` and `auctera partners simulate`, run as a user would."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.accounts import render_account_id
from auctera.domain.bids import BiddingSettings, OptimizationType, PartnerKind
from auctera.partners.http import HttpBidPartner
from auctera.services.bids import BidService
from auctera.services.ports import PartnerUnavailable

from .test_cli import AUCTERA, run, run_json


def hierarchy(tmp_path: Path) -> tuple[str, int, int]:
    """An advertiser with a network (bidding on, 3 decimals) and a campaign in DE and US."""
    from auctera.api.compat.bids import translate
    from auctera.domain.accounts import Principal

    container = build(Settings(data_dir=tmp_path))
    try:
        account = container.accounts.create_account("Acme", "advertiser").account
        principal = Principal(account.id, account.kind, "UTC", "USD", None, "test")
        service = BidService(container.uow, container.ids, container.clock)
        settings = BiddingSettings(
            enabled=True, ad_set_bidding=True, decimal_precision=3, min_bid_micros=10_000
        )
        draft = replace(
            translate.new_network(),
            name="Unity",
            kind=PartnerKind.SIMULATED,
            base_url="http://127.0.0.1:9",
            credentials={"token": "t"},
            settings=settings,
        )
        network = service.create_network(principal, draft, trusted=True)  # the operator's: on loopback
        campaign = replace(
            translate.new_campaign(),
            name="Spring",
            countries=frozenset({"DE", "US"}),
            optimization_type=OptimizationType.CPI,
        )
        made = service.create_campaign(principal, network.id, campaign)
    finally:
        container.close()
    return render_account_id(account.kind, account.id), network.id, made.id


def test_upload_a_csv_then_list_it(tmp_path: Path) -> None:
    account, network_id, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    sheet.write_text(
        "adSetId,campaign.id,country,sourceId,optimalBidUsd,delete\n"
        f",{campaign_id},DE,,0.1,false\n"
        f",{campaign_id},us,,0.125,\n"
    )
    uploaded = run_json("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    assert (uploaded["accepted"], uploaded["status"]) == (2, "pending")
    listed = run_json("bids", "list", "--account", account, "--campaign", str(campaign_id), data_dir=tmp_path)
    assert [(b["country"], b["value"], b["status"]) for b in listed["data"]] == [
        ("DE", 0.1, "pending"),
        ("US", 0.125, "pending"),
    ]
    assert {b["networkId"] for b in listed["data"]} == {network_id}


def test_a_rejected_row_stores_nothing_and_exits_1(tmp_path: Path) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    sheet.write_text(f"campaignId,country,optimalBidUsd\n{campaign_id},DE,0.5\n{campaign_id},FR,0.5\n")
    done = run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    [entry] = report["bidsValidation"]
    assert entry["country"]["iso2"] == "FR"
    assert entry["message"] == "countries of the campaign doesn't contain the bid's specified country"
    assert "FR" in done.stderr  # the table of rejected rows
    listed = run_json("bids", "list", "--account", account, "--campaign", str(campaign_id), data_dir=tmp_path)
    assert listed["data"] == []


def test_bad_csv_and_bad_filter_exit_2(tmp_path: Path) -> None:
    account, _, campaign_id = hierarchy(tmp_path)
    sheet = tmp_path / "bids.csv"
    sheet.write_text(f"campaignId,country,optimalBidUsd,colour\n{campaign_id},DE,0.5,red\n")
    done = run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    assert done.returncode == 2 and "colour" in done.stderr
    sheet.write_text(f"campaignId,country,optimalBidUsd\n{campaign_id},DE,cheap\n")
    done = run("bids", "upload", "--account", account, str(sheet), data_dir=tmp_path)
    assert done.returncode == 2 and "cheap" in done.stderr
    done = run("bids", "list", "--account", account, "--country", "DE", data_dir=tmp_path)
    assert done.returncode == 2 and "networkId" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_partners_simulate_serves_the_bid_protocol(tmp_path: Path) -> None:
    from auctera.domain.bids import BidChange, PartnerBidKey

    port = _free_port()
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([{"kind": "fail-items", "match": [{"country": "FR"}]}]))
    command = [AUCTERA, "partners", "simulate", "--port", str(port), "--token", "t", "--faults", str(faults)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        de, fr = PartnerBidKey("c1", None, "DE", None), PartnerBidKey("c1", None, "FR", None)
        with HttpBidPartner(f"http://127.0.0.1:{port}", token="t", timeout=2.0) as partner:
            deadline = time.monotonic() + 30
            while True:
                try:
                    result = partner.apply("b1", [BidChange(de, 100_000), BidChange(fr, 200_000)])
                    break
                except PartnerUnavailable:
                    assert time.monotonic() < deadline and server.poll() is None, server.stderr
                    time.sleep(0.1)
            assert [i.ok for i in result.items] == [True, False]
            assert partner.read([de, fr]) == {de: 100_000, fr: None}
    finally:
        server.terminate()
        server.wait(10)
