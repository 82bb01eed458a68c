"""Bid uploads and network settings with numbers far out of range (found by fuzzing a running
server): each answers 400 naming the field, never a 500, and leaves the stored bids as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.domain.bids import Reason
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork

from .test_bids import OPEN_BIDDING, UPLOAD, Bidder, bid, rejected, settled

HUGE = [b"-1e30", b"-1e400", b"-1e+308", b"-1E+999999", b"1E+999999", b"-1e20", b"-1000000000.000001"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    """The real app. Its bid networks are simulated partners on loopback, which the operator
    allows here (AUCTERA_PARTNER_ALLOW_PRIVATE; refused by default: test_bid_network_targets.py)."""
    application = create_app(Settings(data_dir=tmp_path / "data", log_json=True, partner_allow_private=True))
    yield application
    application.container.close()


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Bidder:
    return Bidder(app, client)


@pytest.fixture
def served() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="s3cret")) as running:
        yield running


@pytest.fixture
def running_bid(acme: Bidder, served: RunningNetwork) -> int:
    """A campaign whose DE bid the network runs at 1 USD, so a new value has a change to compute."""
    network = acme.network(baseUrl=served.url, bidding={**OPEN_BIDDING, "maxChangePercent": 50})
    campaign_id = int(acme.campaign(network["id"])["id"])
    assert acme.upload(bid(campaign_id, value=1)).status_code == 204
    assert [(b["status"], b["value"]) for b in settled(acme, campaign_id)] == [("success", 1.0)]
    return campaign_id


@pytest.mark.parametrize("value", HUGE, ids=lambda v: v.decode())
@pytest.mark.parametrize("careful", [False, True], ids=["quick-path", "careful-path"])
def test_a_bid_out_of_range_answers_400_naming_the_field(
    acme: Bidder, running_bid: int, value: bytes, careful: bool
) -> None:
    # `"delete": null` is not the quick path's shape: the row is read by the careful one.
    extra = b', "delete": null' if careful else b""
    raw = b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": %s%s}]' % (running_bid, value, extra)
    response = acme.raw(UPLOAD, raw)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "[0].optimalBidUsd: must be a finite number from -1000000000 to 1000000000"
    }
    # Nothing written: the bid is still the one the network runs.
    assert [(b["status"], b["value"]) for b in acme.bids({"campaignId": running_bid})] == [("success", 1.0)]


def test_a_negative_bid_in_range_is_still_listed_below_minimum_with_its_change(
    acme: Bidder, running_bid: int
) -> None:
    [entry] = rejected(acme.upload(bid(running_bid, value=-1_000_000_000)))
    assert entry["message"] == Reason.BELOW_MINIMUM.value
    assert entry["delta"] == {"changePercentage": -100000000100.0, "newValue": -1e9, "oldValue": 1.0}
    assert [b["value"] for b in acme.bids({"campaignId": running_bid})] == [1.0]


@pytest.mark.parametrize(
    ("bidding", "named"),
    [
        (b'{"minBidUsd": -1e400}', "bidding.minBidUsd"),
        (b'{"minBidUsd": -1E+999999}', "bidding.minBidUsd"),
        (b'{"minBidUsd": 1e30}', "bidding.minBidUsd"),
        (b'{"maxChangePercent": 1e400}', "bidding.maxChangePercent"),
        (b'{"maxChangePercent": -1000000000000000000000000000000}', "bidding.maxChangePercent"),
        (b'{"maxChangePercent": 1000000000000000000000000000000}', "bidding.maxChangePercent"),
        (b'{"decimalPrecision": 1000000000000000000000000000000}', "bidding.decimalPrecision"),
        (b'{"batchSize": -1000000000000000000000000000000}', "bidding.batchSize"),
        (b'{"concurrency": 1e400}', "bidding.concurrency"),
        (b'{"retry": {"backoffMs": 1000000000000000000000000000000}}', "bidding.retry.backoffMs"),
    ],
)
def test_network_settings_out_of_range_answer_400_naming_the_field(
    acme: Bidder, running_bid: int, bidding: bytes, named: str
) -> None:
    [network] = acme.client.get("/management/v0/networks", headers=acme.headers).json()
    for response in (
        acme.raw("/management/v0/networks", b'{"name": "Other", "kind": "auctera", "bidding": %s}' % bidding),
        acme.client.patch(
            f"/management/v0/networks/{network['id']}",
            content=b'{"bidding": %s}' % bidding,
            headers={**acme.headers, "Content-Type": "application/json"},
        ),
    ):
        assert response.status_code == 400, response.text
        assert named in response.json()["error"]
    # The network keeps its settings; the bid still passes the change limit it had.
    assert acme.client.get("/management/v0/networks", headers=acme.headers).json() == [network]
    assert acme.upload(bid(running_bid, value=1.5)).status_code == 204


def test_digits_past_28_still_count_as_decimal_places(acme: Bidder, running_bid: int) -> None:
    # Decimal's 28-digit context would round this to 1 (no decimals) and store 1.0.
    value = b"1." + b"0" * 50 + b"1"
    raw = b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": %s}]' % (running_bid, value)
    [entry] = rejected(acme.raw(UPLOAD, raw))
    assert entry["message"] == Reason.DECIMAL_PRECISION.value
