"""`auctera bids sync` and `auctera bids status`, run as an operator would."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from auctera.api.compat.bids import translate
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.accounts import Principal, parse_account_id, render_account_id
from auctera.domain.bids import BiddingSettings, BidRow, OptimizationType, PartnerKind
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.bids import BidService

from .test_cli import run_json


def test_sync_applies_what_is_pending_and_status_counts_it(tmp_path: Path) -> None:
    with RunningNetwork(SimulatedNetwork(token="t")) as served:
        c = build(Settings(data_dir=tmp_path, bid_sync_worker=False))
        try:
            account = c.accounts.create_account("Acme", "advertiser").account
            principal = Principal(account.id, account.kind, "UTC", "USD", None, "test")
            service = BidService(c.uow, c.ids, c.clock)
            network = service.create_network(
                principal,
                replace(
                    translate.new_network(),
                    name="Sim",
                    kind=PartnerKind.SIMULATED,
                    base_url=served.url,
                    credentials={"token": "t"},
                    settings=BiddingSettings(enabled=True),
                ),
                trusted=True,  # registered by the operator (code on the host): on loopback
            )
            campaign = service.create_campaign(
                principal,
                network.id,
                replace(
                    translate.new_campaign(),
                    name="Spring",
                    countries=frozenset({"DE", "US"}),
                    optimization_type=OptimizationType.CPI,
                ),
            )
            rows = [BidRow(campaign.id, None, country, None, Decimal("0.5")) for country in ("DE", "US")]
            assert service.upload(principal, rows).accepted == 2
        finally:
            c.close()
        before = run_json("bids", "status", data_dir=tmp_path)
        assert before == {"operations": {"pending": 2, "stuck": 0}, "stuck": []}
        assert run_json("bids", "sync", data_dir=tmp_path) == {"steps": 1, "settled": 2}
        after = run_json(
            "bids", "status", "--account", render_account_id(account.kind, account.id), data_dir=tmp_path
        )
        assert after == {"operations": {"success": 2, "stuck": 0}, "stuck": []}
        assert sorted(served.network.bids.values()) == [500_000, 500_000]


def test_status_for_one_account_counts_only_its_operations_and_refuses_an_unknown_one(
    tmp_path: Path,
) -> None:
    from .test_bids import hierarchy
    from .test_cli import run

    account, _, campaign_id = hierarchy(tmp_path)  # Acme, with a campaign
    c = build(Settings(data_dir=tmp_path, bid_sync_worker=False))
    try:
        other = c.accounts.create_account("Other", "advertiser").account
        acme_id = parse_account_id(account)
        assert acme_id is not None
        a = c.accounts.get_account(acme_id)
        principal = Principal(a.id, a.kind, "UTC", "USD", None, "test")
        rows = [BidRow(campaign_id, None, country, None, Decimal("0.5")) for country in ("DE", "US")]
        assert BidService(c.uow, c.ids, c.clock).upload(principal, rows).accepted == 2
    finally:
        c.close()
    everyone = run_json("bids", "status", data_dir=tmp_path)
    assert everyone["operations"] == {"pending": 2, "stuck": 0}
    theirs = run_json(
        "bids", "status", "--account", render_account_id(other.kind, other.id), data_dir=tmp_path
    )
    assert theirs == {"operations": {"stuck": 0}, "stuck": []}  # none of Acme's
    unknown = run(
        "bids", "status", "--account", render_account_id(other.kind, other.id + 1), data_dir=tmp_path
    )
    assert unknown.returncode == 2 and "account not found" in unknown.stderr
