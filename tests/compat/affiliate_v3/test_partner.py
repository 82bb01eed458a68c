"""POST /v3/partner/programs and the commissions endpoint: which programs a partner sees, how
its standing renders, the filters and pagination."""

from __future__ import annotations

from typing import Any

import pytest

from auctera.domain import ids as idfmt
from auctera.domain.programs import ApprovalStatus, ProgramStatus, Rate

from .conftest import M, Network, World


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def listed(world: World, caller: Any = None, **body: Any) -> list[dict[str, Any]]:
    response = (caller or world.publisher).post("/v3/partner/programs", {"market": "SE", **body})
    assert response.status_code == 200, response.text
    return list(response.json())


def ids(programs: list[dict[str, Any]]) -> list[int]:
    return [p["programId"] for p in programs]


def test_a_partner_sees_live_public_programs_and_the_private_ones_it_was_approved_for(world: World) -> None:
    net, pub = world.net, world.net.account("Newcomer", "publisher")
    private = net.program(world.advertiser, "Private", visibility="private")
    paused = net.program(world.advertiser, "Paused")
    world.advertiser.v2("PATCH", f"/v2/campaigns/cmp_{_b36(paused)}", {"status": "paused"})
    norway = net.program(world.advertiser, "Norway", market="NO")
    assert ids(listed(world, pub)) == [world.program_id]
    assert ids(listed(world, pub, market="NO")) == [norway]
    # A private program is its approved publishers' alone: not a pending or refused applicant's.
    net.apply(private, pub, net.channel(pub))
    net.apply(private, pub, net.channel(pub, "Refused"), ApprovalStatus.REJECTED)
    assert ids(listed(world, pub)) == [world.program_id]
    assert pub.get(f"/v3/partner/programs/commissions/{private}").status_code == 404
    net.apply(private, pub, net.channel(pub, "Approved"), ApprovalStatus.APPROVED)
    assert ids(listed(world, pub)) == [world.program_id, private]
    # A paused campaign's program is gone, its terms too.
    assert pub.get(f"/v3/partner/programs/commissions/{paused}").status_code == 404


def _b36(value: int) -> str:
    return idfmt.to_base36(value)


def test_a_program_without_application_has_a_null_approval_status(world: World) -> None:
    pub = world.net.account("Newcomer", "publisher")
    [program] = listed(world, pub)
    assert program["approvalStatus"] is None and program["pendingActive"] is False
    assert program["trackingURL"] is None and program["currentSegment"] == "Standard"
    assert [c["value"] for c in program["commissions"]] == [100]  # the standard segment's
    assert program["feeds"][0]["feedUrl"] is None  # no approved channel: no feed links
    assert program["epc"] is None  # no clicks yet
    # ...and no approvalStatus filter matches it.
    for status in (0, 1, 2):
        assert listed(world, pub, approvalStatus=status) == []


def test_approval_status_filters_by_the_channel_or_by_the_best_standing(world: World) -> None:
    net, pub = world.net, world.publisher
    pending_channel = net.channel(pub, "Newsletter")
    other = net.program(world.advertiser, "Second")
    net.apply(other, pub, pending_channel, ApprovalStatus.PENDING)
    net.apply(other, pub, world.channel_id, ApprovalStatus.REJECTED)
    # Best standing over all the publisher's applications.
    assert ids(listed(world, approvalStatus=1)) == [world.program_id]
    assert ids(listed(world, approvalStatus=2)) == [other]
    assert ids(listed(world, approvalStatus=0)) == []
    # One channel's own status.
    assert ids(listed(world, channelId=world.channel_id, approvalStatus=0)) == [other]
    assert ids(listed(world, channelId=pending_channel, approvalStatus=2)) == [other]
    [second] = listed(world, programId=other)
    assert second["approvalStatus"] == 2 and second["pendingActive"] is True and second["trackingURL"] is None
    [for_channel] = listed(world, programId=other, channelId=world.channel_id)
    assert for_channel["approvalStatus"] == 0 and for_channel["pendingActive"] is False


def test_status_filter_live_and_closing(world: World) -> None:
    closing = world.net.program(world.advertiser, "Closing", status=ProgramStatus.CLOSING)
    assert ids(listed(world, status=3)) == [closing]
    assert ids(listed(world, status=0)) == [world.program_id]
    [program] = listed(world, programId=closing)
    assert program["status"] == 3


def test_pages_from_zero_with_count_headers(world: World) -> None:
    more = [world.net.program(world.advertiser, f"Program {i}") for i in range(4)]
    everything = sorted([world.program_id, *more])
    seen = []
    for page in range(3):
        response = world.publisher.post("/v3/partner/programs", {"market": "SE", "page": page, "pageSize": 2})
        assert response.headers["count"] == "5"
        assert response.headers["page"] == str(page) and response.headers["pageSize"] == "2"
        seen += ids(response.json())
    assert seen == everything
    bad = world.publisher.post("/v3/partner/programs", {"market": "SE", "pageSize": 0})
    assert bad.status_code == 400 and bad.json()["field"] == "pageSize"


def test_a_page_past_any_table_is_400_and_the_last_possible_page_is_empty(world: World) -> None:
    """page * pageSize is the query's OFFSET, a 64-bit integer in the database."""
    for page in (2**63 - 1, 2**62, 10**30):
        huge = world.publisher.post("/v3/partner/programs", {"market": "SE", "page": page, "pageSize": 2})
        assert huge.status_code == 400 and huge.json()["field"] == "page", huge.text
    last = (2**63 - 1) // 2 - 1
    assert listed(world, page=last, pageSize=2) == []


def test_a_channel_in_a_segment_sees_its_segment_terms_with_the_standard_fallback(world: World) -> None:
    world.net.commission(world.program_id, world.standard, "Lead", event_type="lead", rate=Rate(True, 2 * M))
    path = f"/v3/partner/programs/commissions/{world.program_id}"
    gold = world.publisher.get(f"{path}/{world.channel_id}").json()
    assert [(c["name"], c["value"], c["type"]) for c in gold] == [
        ("Sale new customer", 120, "SEK"),
        ("Lead", 2, "%"),
    ]
    assert [c["transactionType"] for c in gold] == [3, 1]
    standard = world.publisher.get(path).json()
    assert [(c["name"], c["value"]) for c in standard] == [("Sale new customer", 100), ("Lead", 2)]
    assert all(c["id"] == str(int(c["id"])) for c in gold)  # ids render as strings
