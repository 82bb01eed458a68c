"""Every example of seed 003, sent to the real app: the same keys and JSON value types as the
document shows, the documented headers, and values where our data makes them known."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from auctera.domain.programs import RejectReason
from auctera.domain.signatures import sign
from auctera.domain.tracking import click_url

from . import golden
from .conftest import BROWSER, TRACKING, Caller, Network, World


def _rate_limited_like_the_seed(response: Any, limit: str = "30") -> None:
    assert response.headers["X-RateLimit-Limit"] == limit
    assert int(response.headers["X-RateLimit-Remaining"]) == int(limit) - 1
    # Epoch milliseconds, as the seed's examples (13 digits).
    assert len(response.headers["X-RateLimit-Reset"]) == len(golden.RATE_LIMIT_HEADERS["X-RateLimit-Reset"])


def test_list_commission_types(world: World) -> None:
    response = world.publisher.get(f"/v3/partner/programs/commissions/{world.program_id}/{world.channel_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    body = response.json()
    golden.assert_same_shape(body, golden.COMMISSIONS_RESPONSE)
    [gold] = body
    assert gold["type"] == "SEK" and gold["value"] == 120 and gold["transactionType"] == 3
    assert gold["categories"] == [{"category": "Books", "type": "%", "value": 4.5}]
    assert gold["thresholds"] == [{"orderValue": 1500, "type": "SEK", "value": 7.5}]
    # Without the channel: the standard segment's.
    standard = world.publisher.get(f"/v3/partner/programs/commissions/{world.program_id}").json()
    assert [c["value"] for c in standard] == [100]


def test_the_seed_rate_limit_headers(tmp_path: Any, clock: Any) -> None:
    from starlette.testclient import TestClient

    from .conftest import make_app

    app = make_app(tmp_path, clock, v3_rate_limit_per_minute=30, v3_client_rate_limit_per_minute=10)
    try:
        with TestClient(app) as client:
            world = World(Network(app, client))
            partner = world.publisher.get(f"/v3/partner/programs/commissions/{world.program_id}")
            _rate_limited_like_the_seed(partner, "30")
            advertiser = world.advertiser.post("/v3/client/channels", {})
            _rate_limited_like_the_seed(advertiser, "10")
    finally:
        app.container.close()


def test_retrieve_product_feed(world: World) -> None:
    body = {
        **golden.FEED_REQUEST,
        "programId": world.program_id,
        "channelId": world.channel_id,
        "feedId": world.feed_id,
    }
    response = world.publisher.post("/v3/partner/products/feed", body)
    assert response.status_code == 200, response.text
    assert response.headers["count"] == "2"
    # The import's time (12:00 UTC on the frozen clock) in Stockholm's winter time.
    assert response.headers["feed_lastupdated"] == "Mon Nov 23 13:00:00 CET 2026"
    products = response.json()
    golden.assert_same_shape(products, golden.FEED_RESPONSE, nullable=golden.FEED_NULLABLE)
    first = products[0]
    assert first["productName"] == "PlayStation 5" and first["productPrice"] == "129.5"
    assert first["programId"] == world.program_id and first["approvalStatus"] == 1
    assert first["ean"] == "0711719437215" and first["manufacturer"] == "Sony" and first["market"] == "SE"
    query = parse_qs(urlsplit(first["trackingUrl"]).query)
    assert first["trackingUrl"].startswith(f"{TRACKING}/click?")
    assert query["epi"] == ["PlayStation 5"]  # setEpi


def test_retrieve_product_feed_information(world: World) -> None:
    path = f"/v3/partner/products/feedinfo/{world.program_id}/{world.channel_id}"
    response = world.publisher.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    golden.assert_same_shape(body, golden.FEEDINFO_RESPONSE)
    [feed] = body
    assert feed["feedId"] == world.feed_id and feed["name"] == "Standard"
    assert feed["approvalStatus"] == 1 and feed["numberOfProducts"] == 2
    assert feed["lastUpdated"] == "2026-11-23T13:00:00+0100"
    query = parse_qs(urlsplit(feed["feedUrl"]).query)
    assert query["apid"] == [str(world.program_id)] and query["asid"] == [str(world.channel_id)]
    assert query["pfid"] == [str(world.feed_id)] and query["format"] == ["XML"]


def test_retrieve_program_information(world: World) -> None:
    world.click()
    body = {**golden.PROGRAMS_REQUEST, "programId": world.program_id, "channelId": world.channel_id}
    response = world.publisher.post("/v3/partner/programs", body)
    assert response.status_code == 200, response.text
    programs = response.json()
    golden.assert_same_shape(programs, golden.PROGRAMS_RESPONSE)
    [program] = programs
    assert program["programId"] == world.program_id and program["programName"] == "Kitchentime SE"
    assert program["currency"] == "SEK" and program["currentSegment"] == "Gold"
    assert program["approvalStatus"] == 1 and program["pendingActive"] is False
    assert [c["value"] for c in program["commissions"]] == [120]
    assert program["trackingURL"] == click_url(
        TRACKING, world.program_id, world.publisher.id, world.channel_id
    )
    assert program["epc"] == 0  # one click, no conversion yet
    assert response.headers["count"] == "1"


def test_list_channels(world: World) -> None:
    rejected = world.advertiser.put(
        "/v3/client/channels", {**golden.DECISION_REQUEST, "channelId": world.channel_id}
    )
    assert rejected.status_code == 200, rejected.text
    body = {**golden.CHANNELS_REQUEST, "channelId": world.channel_id, "affiliateId": world.publisher.id}
    response = world.advertiser.post("/v3/client/channels", body)
    assert response.status_code == 200, response.text
    channels = response.json()
    golden.assert_same_shape(channels, golden.CHANNELS_RESPONSE, extra=golden.CHANNELS_EXTENSIONS)
    [channel] = channels
    assert channel["affiliateName"] == "John Doe" and channel["channelType"] == "Blog"
    assert channel["approvalStatus"] == 0 and channel["rejectReason"] == 3
    assert channel["reasonText"] == RejectReason.NOT_FOUND_ON_SITE.text
    assert channel["applicationDate"] == "2026-11-23"


def test_update_channel_status(world: World) -> None:
    body = {**golden.DECISION_REQUEST, "channelId": world.channel_id}
    response = world.advertiser.put("/v3/client/channels", body)
    assert response.status_code == 200, response.text
    assert response.json() == golden.DECISION_RESPONSE


def test_the_conversion_behind_epc(world: World) -> None:
    """EPC is the event log's payout per click (as /v2/offers): a paid conversion moves it."""
    link = click_url("", world.program_id, world.publisher.id, world.channel_id)
    location = world.net.client.get(link, headers=BROWSER, follow_redirects=False).headers["location"]
    click_id = parse_qs(urlsplit(location).query)["cid"][0]
    world.net.later(120)
    raw = json.dumps({"click_id": click_id, "event_type": "purchase", "revenue": 100}).encode()
    advertiser: Caller = world.advertiser
    signature = sign(advertiser.account.signing_secret, raw, int(world.net.container.clock().timestamp()))
    headers = {
        "Authorization": f"Bearer {advertiser.token}",
        "Content-Type": "application/json",
        "X-Auctera-Signature": signature,
    }
    assert world.net.client.post("/v2/conversions", content=raw, headers=headers).is_success
    body = {"market": "SE", "programId": world.program_id}
    [program] = world.publisher.post("/v3/partner/programs", body).json()
    assert program["epc"] > 0
