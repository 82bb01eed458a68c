"""The advertiser's side: POST /v3/client/channels (the channels that applied to its programs)
and PUT /v3/client/channels (approve or reject), and what a decision changes for the partner."""

from __future__ import annotations

from typing import Any

import pytest

from auctera.domain.programs import ApprovalStatus

from .conftest import Network, World


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def channels(world: World, **body: Any) -> list[dict[str, Any]]:
    response = world.advertiser.post("/v3/client/channels", body)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_filters_by_channel_affiliate_and_status(world: World) -> None:
    net = world.net
    other_pub = net.account("Jane Roe", "publisher")
    jane = net.channel(other_pub, "Jane's deals")
    net.apply(world.program_id, other_pub, jane, ApprovalStatus.PENDING)
    assert {c["channelId"] for c in channels(world)} == {world.channel_id, jane}
    assert [c["channelId"] for c in channels(world, channelId=jane)] == [jane]
    assert [c["affiliateName"] for c in channels(world, affiliateId=other_pub.id)] == ["Jane Roe"]
    assert [c["channelId"] for c in channels(world, approvalStatus=2)] == [jane]
    assert [c["channelId"] for c in channels(world, approvalStatus=1)] == [world.channel_id]
    assert channels(world, approvalStatus=0) == []
    # Another advertiser sees none of them.
    stranger = net.account("Stranger", "advertiser")
    assert stranger.post("/v3/client/channels", {}).json() == []


def test_pages(world: World) -> None:
    for i in range(3):
        pub = world.net.account(f"Pub {i}", "publisher")
        world.net.apply(world.program_id, pub, world.net.channel(pub, f"Site {i}"))
    first = world.advertiser.post("/v3/client/channels", {"pageSize": 3})
    second = world.advertiser.post("/v3/client/channels", {"page": 1, "pageSize": 3})
    assert first.headers["count"] == second.headers["count"] == "4"
    assert len(first.json()) == 3 and len(second.json()) == 1


def test_a_page_past_any_table_is_400(world: World) -> None:
    """page * pageSize is the query's OFFSET, a 64-bit integer in the database."""
    huge = world.advertiser.post("/v3/client/channels", {"page": 2**62, "pageSize": 1000})
    assert huge.status_code == 400 and huge.json()["field"] == "page", huge.text
    assert channels(world, page=(2**63 - 1) // 1000 - 1, pageSize=1000) == []


def _program(world: World) -> dict[str, Any]:
    response = world.publisher.post(
        "/v3/partner/programs", {"market": "SE", "programId": world.program_id, "channelId": world.channel_id}
    )
    [program] = response.json()
    return dict(program)


def test_rejecting_takes_the_tracking_link_away_and_approving_gives_it_back(world: World) -> None:
    assert _program(world)["trackingURL"] is not None
    reject = {"channelId": world.channel_id, "approvalStatus": 0, "rejectReason": 6, "reasonText": "Gambling"}
    assert world.advertiser.put("/v3/client/channels", reject).json() == {"success": True}
    program = _program(world)
    assert program["approvalStatus"] == 0 and program["trackingURL"] is None
    assert program["feeds"][0]["feedUrl"] is None
    [listed] = channels(world)
    assert listed["rejectReason"] == 6 and listed["reasonText"] == "Gambling"
    feed = world.publisher.post(
        "/v3/partner/products/feed", {"programId": world.program_id, "channelId": world.channel_id}
    )
    assert feed.status_code == 403
    approve = {"channelId": world.channel_id, "approvalStatus": 1}
    assert world.advertiser.put("/v3/client/channels", approve).status_code == 200
    program = _program(world)
    assert program["approvalStatus"] == 1 and program["trackingURL"] is not None
    [listed] = channels(world)
    assert listed["rejectReason"] is None and listed["reasonText"] is None


def test_rejecting_needs_a_reason_and_the_status_is_0_or_1(world: World) -> None:
    no_reason = world.advertiser.put(
        "/v3/client/channels", {"channelId": world.channel_id, "approvalStatus": 0}
    )
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "rejectReason"
    pending = world.advertiser.put(
        "/v3/client/channels", {"channelId": world.channel_id, "approvalStatus": 2}
    )
    assert pending.status_code == 400 and pending.json()["field"] == "approvalStatus"
    unknown_reason = {"channelId": world.channel_id, "approvalStatus": 0, "rejectReason": 13}
    assert world.advertiser.put("/v3/client/channels", unknown_reason).json()["field"] == "rejectReason"
    assert channels(world)[0]["approvalStatus"] == 1  # nothing changed


def test_a_reason_text_that_is_not_unicode_is_400_and_changes_nothing(world: World) -> None:
    """JSON can spell a lone UTF-16 surrogate ("\\ud800"); no database or answer can hold it."""
    reject = f'"channelId": {world.channel_id}, "approvalStatus": 0, "rejectReason": 6'
    body = f'{{{reject}, "reasonText": "\\ud800"}}'
    response = world.net.client.put(
        "/v3/client/channels",
        content=body.encode(),
        headers={"X-Token": world.advertiser.token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["field"] == "reasonText", response.text
    assert channels(world)[0]["approvalStatus"] == 1


def test_a_channel_that_applied_to_several_programs_needs_the_program_id(world: World) -> None:
    second = world.net.program(world.advertiser, "Second")
    world.net.apply(second, world.publisher, world.channel_id, ApprovalStatus.PENDING)
    body = {"channelId": world.channel_id, "approvalStatus": 1}
    ambiguous = world.advertiser.put("/v3/client/channels", body)
    assert ambiguous.status_code == 409 and ambiguous.json()["field"] == "programId"
    assert world.advertiser.put("/v3/client/channels", {**body, "programId": second}).status_code == 200
    assert {c["programId"]: c["approvalStatus"] for c in channels(world)} == {world.program_id: 1, second: 1}


def test_another_advertisers_channel_or_program_is_404(world: World) -> None:
    stranger = world.net.account("Stranger", "advertiser")
    body = {"channelId": world.channel_id, "approvalStatus": 0, "rejectReason": 1}
    missing = stranger.put("/v3/client/channels", body)
    assert missing.status_code == 404 and missing.json()["field"] == "channelId"
    theirs = stranger.put("/v3/client/channels", {**body, "programId": world.program_id})
    assert theirs.status_code == 404 and theirs.json()["field"] == "programId"
    assert channels(world)[0]["approvalStatus"] == 1
