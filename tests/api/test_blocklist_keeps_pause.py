"""A blocklist rejection does not overwrite a pause: once the entry is removed (or the rejection
otherwise lifted), a campaign its advertiser had paused comes back paused, not serving, and one
paused for a deleted creative comes back paused for it; one that was active comes back active."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from auctera.app import create_app
from auctera.config import Settings
from auctera.domain.compliance import PAUSED_BEFORE
from support.creatives import banner

from .conftest import Api, error
from .test_creatives import BANNER, uploaded

BLOCKED = "destination_url: shop.gone-bad.example is on the network's blocklist (via gone-bad.example)"


def _paused(acme: Api, url: str = "https://shop.gone-bad.example/") -> str:
    campaign_id = acme.create(destination_url=url)
    assert (
        acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "paused"}).json()["status"] == "paused"
    )
    return campaign_id


def _status(acme: Api, campaign_id: str) -> tuple[str, list[str]]:
    got = acme.get(campaign_id)
    return got["status"], got["review"]["reasons"]


def test_unblocking_restores_the_status_before_the_rejection(acme: Api, network: Api) -> None:
    paused = _paused(acme)
    active = acme.create(destination_url="https://shop.gone-bad.example/other")
    blocked = network.call("POST", "/v2/network/blocklist", {"domain": "gone-bad.example"})
    assert blocked.json()["campaigns_rejected"] == 2
    # The rejection says the pause is kept.
    assert _status(acme, paused) == ("rejected", [BLOCKED, PAUSED_BEFORE])
    assert _status(acme, active) == ("rejected", [BLOCKED])

    assert network.call("DELETE", "/v2/network/blocklist/gone-bad.example").json()["removed"] is True
    assert _status(acme, paused) == ("paused", [])  # its advertiser's pause stands
    assert _status(acme, active) == ("active", [])
    # Its advertiser resumes it when it chooses to.
    assert acme.call("PATCH", f"/v2/campaigns/{paused}", {"status": "active"}).json()["status"] == "active"


def test_an_automatic_pause_comes_back_with_its_reason(acme: Api, network: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.gone-bad.example/")
    asset_id = uploaded(acme, BANNER, banner(), campaign_id=campaign_id)["asset_id"]
    acme.call("DELETE", f"/v2/creatives/{asset_id}")
    why = f"paused: creative {asset_id} was deleted and no approved creative is left"
    assert _status(acme, campaign_id) == ("paused", [why])

    network.call("POST", "/v2/network/blocklist", {"domain": "gone-bad.example"})
    assert _status(acme, campaign_id) == ("rejected", [BLOCKED, why, PAUSED_BEFORE])
    network.call("DELETE", "/v2/network/blocklist/gone-bad.example")
    assert _status(acme, campaign_id) == ("paused", [why])
    refused = error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}), 409, "status")
    assert "no approved creative" in refused["message"]  # it still needs one to serve


def test_other_approvals_restore_the_pause_too(acme: Api, network: Api) -> None:
    by_hand = _paused(acme)
    resubmitted = _paused(acme, "https://www.gone-bad.example/")
    network.call("POST", "/v2/network/blocklist", {"domain": "gone-bad.example"})

    # The operator approves by hand, overriding the blocklist.
    approved = network.call("POST", f"/v2/campaigns/{by_hand}/review", {"decision": "approve"})
    assert approved.json()["status"] == "paused"
    assert _status(acme, by_hand) == ("paused", [])
    # The advertiser moves the destination: resubmitted, reviewed, paused as it was.
    changed = {"destination_url": "https://good.example/"}
    assert acme.call("PATCH", f"/v2/campaigns/{resubmitted}", changed).json()["status"] == "pending_review"
    assert _status(acme, resubmitted) == ("paused", [])


def test_through_the_operators_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = create_app(Settings(data_dir=data_dir))
    try:
        with TestClient(app) as client:
            acme = Api(app, client)
            campaign_id = _paused(acme)
    finally:
        app.container.close()
    auctera = shutil.which("auctera", path=str(Path(sys.executable).parent)) or "auctera"

    def cli(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [auctera, "blocklist", *args, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    assert cli("add", "gone-bad.example")["campaigns_rejected"] == 1
    assert cli("remove", "gone-bad.example")["removed"] is True
    app = create_app(Settings(data_dir=data_dir))
    try:
        with TestClient(app) as client:
            acme.client = client
            assert _status(acme, campaign_id) == ("paused", [])
    finally:
        app.container.close()
