"""What every /v3 call shares: tokens by header or query, the error envelope, 401/403/404/415/
400, trailing slashes, and per-token quotas with their headers and 429."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from support.clock import FrozenClock

from .conftest import Network, World, make_app


def envelope(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json;charset=UTF-8"  # as answers are
    body = response.json()
    assert set(body) == {"status", "message", "field"} and body["status"] == status, body
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        assert body["field"] == field, body
    return dict(body)


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def test_the_token_goes_in_the_x_token_header_or_the_token_parameter(world: World) -> None:
    path = f"/v3/partner/programs/commissions/{world.program_id}"
    assert world.net.client.get(path, headers={"X-Token": world.publisher.token}).status_code == 200
    assert world.net.client.get(path, params={"token": world.publisher.token}).status_code == 200


def test_no_token_or_a_bad_one_is_401(world: World) -> None:
    path = f"/v3/partner/programs/commissions/{world.program_id}"
    envelope(world.net.client.get(path), 401)
    envelope(world.net.client.get(path, headers={"X-Token": "nope"}), 401)
    envelope(world.net.client.post("/v3/client/channels", json={}, params={"token": "nope"}), 401)


def test_the_wrong_kind_of_account_is_403(world: World) -> None:
    envelope(world.advertiser.post("/v3/partner/programs", {"market": "SE"}), 403)
    # An advertiser naming its own program: 403 (its kind); another's: 404 (nothing leaks).
    envelope(world.advertiser.get(f"/v3/partner/programs/commissions/{world.program_id}"), 403)
    other = world.net.account("Other", "advertiser")
    envelope(other.get(f"/v3/partner/programs/commissions/{world.program_id}"), 404, "programId")
    envelope(world.publisher.post("/v3/client/channels", {}), 403)
    envelope(
        world.publisher.put("/v3/client/channels", {"channelId": world.channel_id, "approvalStatus": 1}), 403
    )


def test_unknown_or_foreign_programs_and_channels_are_404(world: World) -> None:
    stranger = world.net.account("Stranger", "publisher")
    stranger_channel = world.net.channel(stranger, "Stranger's site")
    base = "/v3/partner/programs/commissions"
    envelope(world.publisher.get(f"{base}/12345"), 404, "programId")
    envelope(world.publisher.get(f"{base}/0"), 404, "programId")
    envelope(world.publisher.get(f"{base}/{'9' * 25}"), 404, "programId")
    # The seed's ids are numbers: anything else is malformed syntax, its 400.
    envelope(world.publisher.get(f"{base}/abc"), 400, "programId")
    envelope(world.publisher.get(f"{base}/{world.program_id}/1e3"), 400, "channelId")
    envelope(world.publisher.get(f"/v3/partner/products/feedinfo/{world.program_id}/-1"), 400, "channelId")
    envelope(world.publisher.get(f"{base}/{world.program_id}/{stranger_channel}"), 404, "channelId")
    feedinfo = f"/v3/partner/products/feedinfo/{world.program_id}/{stranger_channel}"
    envelope(world.publisher.get(feedinfo), 404, "channelId")
    body = {"programId": world.program_id, "channelId": stranger_channel}
    envelope(world.publisher.post("/v3/partner/products/feed", body), 404, "channelId")
    envelope(
        world.publisher.post("/v3/partner/programs", {"market": "SE", "channelId": stranger_channel}), 404
    )
    # A private program the publisher never applied to is as unknown as a missing one.
    private = world.net.program(world.advertiser, "Hidden", visibility="private")
    envelope(stranger.get(f"{base}/{private}"), 404, "programId")
    envelope(stranger.post("/v3/partner/programs", {"market": "SE", "programId": private}), 404)


def test_bodies_must_be_json_objects_with_fields_of_the_right_type(world: World) -> None:
    client, token = world.net.client, {"X-Token": world.publisher.token}
    text = client.post(
        "/v3/partner/programs", content=b"market=SE", headers={**token, "Content-Type": "text/plain"}
    )
    envelope(text, 415)
    envelope(client.post("/v3/partner/programs", content=b'{"market": "SE"}', headers=token), 415)
    json_type = {**token, "Content-Type": "application/json"}
    envelope(client.post("/v3/partner/programs", content=b"{not json", headers=json_type), 400)
    envelope(client.post("/v3/partner/programs", content=b"[]", headers=json_type), 400)
    envelope(
        world.publisher.post("/v3/partner/programs", {"market": "SE", "programId": "123"}), 400, "programId"
    )
    envelope(
        world.publisher.post("/v3/partner/programs", {"market": "SE", "approvalStatus": 7}),
        400,
        "approvalStatus",
    )
    envelope(world.publisher.post("/v3/partner/programs", {"market": "SE", "status": 1}), 400, "status")
    envelope(world.publisher.post("/v3/partner/programs", {"market": "XX"}), 400, "market")
    envelope(world.publisher.post("/v3/partner/programs", {}), 400, "market")
    envelope(world.publisher.post("/v3/partner/programs", {"market": "SE", "colour": 1}), 400, "colour")
    feed = {"programId": world.program_id, "channelId": world.channel_id, "setEpi": "yes"}
    envelope(world.publisher.post("/v3/partner/products/feed", feed), 400, "setEpi")
    envelope(world.advertiser.post("/v3/client/channels", {"approvalStatus": "0"}), 400, "approvalStatus")
    envelope(
        world.advertiser.put("/v3/client/channels", {"channelId": 1.5, "approvalStatus": 1}), 400, "channelId"
    )


def test_errors_have_the_content_type_of_answers(world: World) -> None:
    """Responses are application/json;charset=UTF-8, errors (400, 404, 415, ...) too."""
    ok = world.publisher.post("/v3/partner/programs", {"market": "SE"})
    assert ok.headers["content-type"] == "application/json;charset=UTF-8"
    envelope(world.publisher.post("/v3/partner/programs", {"market": "XX"}), 400, "market")
    envelope(world.publisher.get("/v3/partner/programs/commissions/12345"), 404, "programId")
    token = {"X-Token": world.publisher.token}
    envelope(world.net.client.post("/v3/partner/programs", content=b"market=SE", headers=token), 415)
    # Answered by the router, before any v3 route runs: an unknown path, a method not served.
    envelope(world.publisher.get("/v3/partner/nothing-here"), 404)
    envelope(world.net.client.delete("/v3/partner/programs", headers=token), 405)


def test_every_path_answers_with_and_without_a_trailing_slash(world: World) -> None:
    p, c = world.program_id, world.channel_id
    feed = {"programId": p, "channelId": c}
    calls = [
        lambda s: world.publisher.get(f"/v3/partner/programs/commissions/{p}{s}"),
        lambda s: world.publisher.get(f"/v3/partner/programs/commissions/{p}/{c}{s}"),
        lambda s: world.publisher.get(f"/v3/partner/products/feedinfo/{p}/{c}{s}"),
        lambda s: world.publisher.post(f"/v3/partner/products/feed{s}", feed),
        lambda s: world.publisher.post(f"/v3/partner/programs{s}", {"market": "SE"}),
        lambda s: world.advertiser.post(f"/v3/client/channels{s}", {}),
        lambda s: world.advertiser.put(f"/v3/client/channels{s}", {"channelId": c, "approvalStatus": 1}),
    ]
    for call in calls:
        plain, slashed = call(""), call("/")
        assert plain.status_code == slashed.status_code == 200, (plain.text, slashed.text)
        assert plain.content == slashed.content
    assert world.net.client.get("/v3/nothing-here").json()["status"] == 404


def _quota_app(tmp_path: Path, clock: FrozenClock, **limits: int) -> Any:
    return make_app(
        tmp_path, clock, **{"v3_rate_limit_per_minute": 2, "v3_client_rate_limit_per_minute": 1, **limits}
    )


def test_quotas_per_minute_per_token_with_their_headers_and_429(tmp_path: Path, clock: FrozenClock) -> None:
    app = _quota_app(tmp_path, clock)
    try:
        with TestClient(app) as client:
            world = World(Network(app, client))
            path = f"/v3/partner/programs/commissions/{world.program_id}"
            first, second, third = (world.publisher.get(path) for _ in range(3))
            assert [r.status_code for r in (first, second)] == [200, 200]
            assert [r.headers["X-RateLimit-Remaining"] for r in (first, second)] == ["1", "0"]
            body = envelope(third, 429)
            assert third.headers["X-RateLimit-Limit"] == "2" and third.headers["X-RateLimit-Remaining"] == "0"
            reset_ms = int(third.headers["X-RateLimit-Reset"])
            assert reset_ms > 10**12  # epoch milliseconds
            # The message's time until reset is until X-RateLimit-Reset (both quota back: 60 s
            # after the first request); one more request is admitted sooner (Retry-After, 30 s).
            retry_after = int(third.headers["Retry-After"])
            found = re.search(r"(\d+) s until reset \(X-RateLimit-Reset (\d+)\)", body["message"])
            assert found and int(found[2]) == reset_ms, body["message"]
            assert int(found[1]) - retry_after in (29, 30, 31), body["message"]
            assert f"admitted in {retry_after} s (Retry-After)" in body["message"]
            # The client endpoints count apart (10 a minute by default; 1 here), and so does /v2.
            assert world.advertiser.post("/v3/client/channels", {}).status_code == 200
            envelope(world.advertiser.post("/v3/client/channels", {}), 429)
            world.publisher.v2("GET", "/v2/account")
            # Another token has its own quota.
            other = world.net.account("Other", "publisher")
            assert other.get(path).status_code == 200
    finally:
        app.container.close()


def test_an_accounts_own_limit_overrides_the_defaults(tmp_path: Path, clock: FrozenClock) -> None:
    app = _quota_app(tmp_path, clock)
    try:
        with TestClient(app) as client:
            net = Network(app, client)
            world = World(net)
            generous = net.account("Generous", "publisher", rate_limit_per_minute=5)
            path = f"/v3/partner/programs/commissions/{world.program_id}"
            statuses = [generous.get(path).status_code for _ in range(6)]
            assert statuses == [200] * 5 + [429]
            assert generous.get(path).headers["X-RateLimit-Limit"] == "5"
    finally:
        app.container.close()
