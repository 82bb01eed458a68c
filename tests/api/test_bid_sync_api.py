"""The bid sync as a user of /management/v0 sees it: the server's own worker moves an upload
from `pending` to `success` on the simulated network, and operations pending past the settle
bound are listed as stuck (only the caller's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.conftest import app_at
from api.test_bids import Bidder
from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from support.clock import FrozenClock

STUCK = "/management/v0/bids/operations"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    """The real app. Its bid networks are simulated partners on loopback, which the operator
    allows here (AUCTERA_PARTNER_ALLOW_PRIVATE; refused by default: test_bid_network_targets.py)."""
    application = create_app(Settings(data_dir=tmp_path / "data", log_json=True, partner_allow_private=True))
    yield application
    application.container.close()


@pytest.fixture
def served() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="s3cret")) as running:
        yield running


def test_the_servers_worker_applies_an_upload(
    app: RootApp, client: TestClient, served: RunningNetwork
) -> None:
    acme = Bidder(app, client)
    network = acme.network(baseUrl=served.url)
    campaign = acme.campaign(network["id"])
    body = {"campaign": {"id": campaign["id"]}, "country": "DE", "optimalBidUsd": 0.25}
    assert acme.upload(body).status_code == 204
    deadline = time.monotonic() + 30  # a wait for the background worker, not a timing assertion
    while (listed := acme.bids({"campaignId": campaign["id"]}))[0]["status"] == "pending":
        assert time.monotonic() < deadline, listed
        time.sleep(0.05)
    assert listed == [
        {
            "networkId": network["id"],
            "campaignId": campaign["id"],
            "adSetId": None,
            "country": "DE",
            "sourceId": None,
            "status": "success",
            "value": 0.25,
        }
    ]
    assert [(k.country, v) for k, v in served.network.bids.items()] == [("DE", 250_000)]


def test_operations_pending_past_the_settle_bound_are_listed_as_stuck(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with (
        app_at(
            tmp_path, clock, "https://trk.example.com", bid_sync_worker=False, partner_allow_private=True
        ) as app,
        TestClient(app) as client,
    ):
        acme, other = Bidder(app, client), Bidder(app, client, "Other")
        campaign = acme.campaign(acme.network()["id"])
        assert (
            acme.upload(
                {"campaign": {"id": campaign["id"]}, "country": "DE", "optimalBidUsd": 0.5}
            ).status_code
            == 204
        )
        assert client.get(STUCK, headers=acme.headers).json() == []
        clock.now += timedelta(minutes=31)  # the default settle bound is 30 minutes
        [stuck] = client.get(STUCK, params={"status": "stuck"}, headers=acme.headers).json()
        assert stuck["kind"] == "create" and stuck["newValue"] == 0.5 and stuck["batch"] is None
        assert stuck["status"] == "stuck"
        assert client.get(STUCK, headers=other.headers).json() == []  # another account's are not shown
        response = client.get(STUCK, params={"status": "pending"}, headers=acme.headers)
        assert response.status_code == 400 and "status" in response.json()["error"]
        clock.now += timedelta(minutes=1)  # a second look: the same operation, within the limit
        assert len(client.get(STUCK, params={"limit": "1"}, headers=acme.headers).json()) == 1


@pytest.mark.parametrize("limit", ["abc", "", "0", "1001", "-1", "1.5", "99999999999999999999"])
def test_a_bad_stuck_limit_answers_400_in_the_surfaces_format(
    app: RootApp, client: TestClient, limit: str
) -> None:
    acme = Bidder(app, client)
    response = client.get(STUCK, params={"limit": limit}, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and "limit" in response.json()["error"]
