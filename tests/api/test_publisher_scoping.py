"""What a publisher may name on /v2: the fraud log of a conversion it earned (not another
publisher's), and a postback restricted to an offer it may run (any other tenant's campaign
answers exactly like an offer that does not exist)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_applications import applied, approve
from .test_offers import make_offer
from .test_tracking import click, click_id_of, click_url, postback


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(
        tmp_path, clock, "https://trk.example.com", webhook_allow_private=True, webhook_worker=False
    ) as application:
        yield application


@pytest.fixture
def pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Pub")


@pytest.fixture
def other_pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Other Pub")


def test_the_publisher_reads_the_fraud_log_of_its_own_conversion(
    client: TestClient, clock: FrozenClock, acme: Api, pub: Api, other_pub: Api
) -> None:
    offer_id = idfmt.parse("off", make_offer(acme))
    assert offer_id is not None
    click_id = click_id_of(click(client, click_url(offer_id, pub)))
    clock.now += timedelta(minutes=5)
    txn = postback(acme, {"click_id": click_id, "event_type": "purchase"}).json()["transaction_id"]

    mine = pub.call("GET", "/v2/conversions/fraud-log", transaction_id=txn)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["transaction_id"], mine.json()["status"]) == (txn, "approved")
    assert mine.json() == acme.call("GET", "/v2/conversions/fraud-log", transaction_id=txn).json()
    # Another publisher learns nothing: the same answer as an id that never existed.
    theirs = error(other_pub.call("GET", "/v2/conversions/fraud-log", transaction_id=txn), 404)
    unknown = "txn_" + idfmt.to_base36((idfmt.parse("txn", txn) or 0) + 1)
    nothing = error(other_pub.call("GET", "/v2/conversions/fraud-log", transaction_id=unknown), 404)
    assert theirs["message"].replace(txn, unknown) == nothing["message"]


def _register(pub: Api, offer_id: str) -> object:
    body = {"event": "purchase", "url": "https://tracker.example.com/pb?c={click_id}", "offer_id": offer_id}
    return pub.call("POST", "/v2/network/postbacks", body)


def test_a_postback_names_only_an_offer_the_publisher_may_run(acme: Api, pub: Api, other_pub: Api) -> None:
    public = make_offer(acme)
    private = make_offer(acme, visibility="private")
    paused = make_offer(acme)
    acme.call("PATCH", f"/v2/campaigns/cmp_{paused.removeprefix('off_')}", {"status": "paused"})
    dsp = "off_" + acme.create(destination_url="https://a.example.com/").removeprefix("cmp_")

    # A public offer is in every publisher's GET /v2/offers: naming it reveals nothing.
    assert _register(pub, public).status_code == 201  # type: ignore[attr-defined]
    # Whatever else another tenant has answers as an offer that never existed (no oracle).
    unknown = "off_" + idfmt.to_base36((idfmt.parse("off", dsp) or 0) + 1_000)
    expected = error(_register(pub, unknown), 422, "offer_id")
    for hidden in (private, paused, dsp):
        refused = error(_register(pub, hidden), 422, "offer_id")
        assert refused["message"].replace(hidden, unknown) == expected["message"], hidden
        assert refused["code"] == expected["code"]
    assert [p["offer_id"] for p in pub.call("GET", "/v2/network/postbacks").json()["data"]] == [public]

    # Approved for the private offer, the publisher may run it, and restrict a postback to it.
    approve(acme, applied(pub, private))
    assert _register(pub, private).status_code == 201  # type: ignore[attr-defined]
    error(_register(other_pub, private), 422, "offer_id")
