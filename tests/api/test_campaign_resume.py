"""Resuming a campaign that paused itself (its last approved creative deleted): the review runs
again, and a campaign that would serve empty slots stays paused."""

from __future__ import annotations

from support.creatives import banner

from .conftest import Api, error
from .test_creatives import BANNER, uploaded


def test_a_campaign_paused_for_its_deleted_creative_resumes_only_with_a_new_one(acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    asset_id = uploaded(acme, BANNER, banner(), campaign_id=campaign_id)["asset_id"]
    assert acme.call("DELETE", f"/v2/creatives/{asset_id}").json()["paused_campaigns"] == [campaign_id]

    refused = error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}), 409, "status")
    assert "no approved creative" in refused["message"]
    # A change that passes the review does not forget why the campaign is paused.
    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"budget": {"daily": 80}}).status_code == 200
    error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}), 409, "status")
    paused = acme.get(campaign_id)
    assert paused["status"] == "paused"
    assert paused["review"]["reasons"] == [
        f"paused: creative {asset_id} was deleted and no approved creative is left"
    ]

    uploaded(acme, "leader_728x90.jpg", banner(728, 90), campaign_id=campaign_id)
    resumed = acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"})
    assert resumed.status_code == 200, resumed.text
    active = acme.get(campaign_id)
    assert (active["status"], active["review"]["reasons"]) == ("active", [])  # the stale reason went


def test_a_plain_pause_and_resume_is_unaffected(acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "paused"}).status_code == 200
    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}).status_code == 200
    assert acme.get(campaign_id)["status"] == "active"
