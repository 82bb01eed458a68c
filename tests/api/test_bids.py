"""Bid management (seed 001) through the real app: the seed's requests and responses as golden
contract tests, every filter combination, every validation reason, pagination and tenants."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.api.compat.bids import translate
from auctera.api.json_body import parse_json
from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.domain.bids import FILTER_COMBINATIONS, BidRow, Reason
from auctera.errors import AucteraError
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork

BIDS = "/management/v0/bids"
UPLOAD = "/management/v0/bids/upload"

OPEN_BIDDING = {
    "enabled": True,
    "campaignBidding": True,
    "adSetBidding": True,
    "sourceIdBidding": True,
    "minBidUsd": 0.01,
    "decimalPrecision": 3,
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    """The real app. Its bid networks are simulated partners on loopback, which the operator
    allows here (AUCTERA_PARTNER_ALLOW_PRIVATE; refused by default: test_bid_network_targets.py)."""
    application = create_app(Settings(data_dir=tmp_path / "data", log_json=True, partner_allow_private=True))
    yield application
    application.container.close()


class Bidder:
    """An account calling /management/v0 with its X-API-KEY."""

    def __init__(self, app: RootApp, client: TestClient, name: str = "Acme") -> None:
        new = app.container.accounts.create_account(name, "advertiser")
        self.app = app
        self.client = client
        self.headers = {"X-API-KEY": new.api_key}
        self.bearer = {"Authorization": f"Bearer {new.api_key}"}  # the same key on /v2

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def raw(self, path: str, content: bytes) -> Any:
        headers = {**self.headers, "Content-Type": "application/json"}
        return self.client.post(path, content=content, headers=headers)

    def made(self, path: str, body: Any) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def network(self, name: str = "Unity", **overrides: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "kind": "simulated",
            "baseUrl": "http://127.0.0.1:9",
            "credentials": {"token": "s3cret"},
            "bidding": dict(OPEN_BIDDING),
            **overrides,
        }
        return self.made("/management/v0/networks", body)

    def campaign(self, network_id: int, name: str = "Spring", **overrides: Any) -> dict[str, Any]:
        body = {"name": name, "countries": ["DE", "US"], "optimizationType": "cpi", **overrides}
        return self.made(f"/management/v0/networks/{network_id}/campaigns", body)

    def ad_set(self, campaign_id: int, name: str = "Puzzle fans") -> dict[str, Any]:
        return self.made(f"/management/v0/campaigns/{campaign_id}/ad-sets", {"name": name})

    def upload(self, *bids: dict[str, Any]) -> Any:
        return self.post(UPLOAD, list(bids))

    def bids(self, body: Any) -> list[dict[str, Any]]:
        response = self.post(BIDS, body)
        assert response.status_code == 200, response.text
        return list(response.json())


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Bidder:
    return Bidder(app, client)


@pytest.fixture
def tree(acme: Bidder) -> dict[str, Any]:
    """A network with a campaign (DE, US) and an ad set."""
    network = acme.network()
    campaign = acme.campaign(network["id"])
    ad_set = acme.ad_set(campaign["id"])
    return {"network": network, "campaign": campaign, "ad_set": ad_set}


def bid(campaign_id: int, country: str = "DE", value: Any = 0.5, **fields: Any) -> dict[str, Any]:
    return {"campaign": {"id": campaign_id}, "country": country, "optimalBidUsd": value, **fields}


def rejected(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "bidsValidation"}
    assert isinstance(body["error"], str) and body["error"]
    return list(body["bidsValidation"])


# --- golden: the seed's examples ------------------------------------------------------------


def test_seed_upload_example_answers_204_and_the_bid_is_pending(acme: Bidder, tree: dict[str, Any]) -> None:
    campaign_id = tree["campaign"]["id"]
    # The seed's curl body, with our campaign's id for its 1234.
    raw = b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": 0.01, "delete": false}]' % campaign_id
    response = acme.raw(UPLOAD, raw)
    assert response.status_code == 204
    assert response.content == b""
    assert acme.bids({"page": {"offset": 0, "limit": 10}, "filter": {"campaignId": campaign_id}}) == [
        {
            "networkId": tree["network"]["id"],
            "campaignId": campaign_id,
            "adSetId": None,
            "country": "DE",
            "sourceId": None,
            "status": "pending",
            "value": 0.01,
        }
    ]


def test_seed_list_example_with_the_filter_at_the_top_level(acme: Bidder, tree: dict[str, Any]) -> None:
    campaign_id, ad_set_id = tree["campaign"]["id"], tree["ad_set"]["id"]
    assert (
        acme.upload(bid(campaign_id, adSetId=ad_set_id, sourceId="ffe6f603", value=0.25)).status_code == 204
    )
    # The seed's curl: {"campaignId": 1, "country": "DE", "sourceId": "ffe6f603"}
    raw = b'{"campaignId": %d, "country": "DE", "sourceId": "ffe6f603"}' % campaign_id
    response = acme.raw(BIDS, raw)
    assert response.status_code == 200
    [found] = response.json()
    assert found == {
        "networkId": tree["network"]["id"],
        "campaignId": campaign_id,
        "adSetId": ad_set_id,
        "country": "DE",
        "sourceId": "ffe6f603",
        "status": "pending",
        "value": 0.25,
    }
    assert set(found) == {"networkId", "campaignId", "adSetId", "country", "sourceId", "status", "value"}


def test_seed_list_request_shape_with_page_and_nulls(acme: Bidder, tree: dict[str, Any]) -> None:
    campaign_id = tree["campaign"]["id"]
    assert acme.upload(bid(campaign_id)).status_code == 204
    body = {
        "page": {"offset": 0, "limit": 50},
        "filter": {
            "networkId": None,
            "campaignId": campaign_id,
            "adSetId": None,
            "country": None,
            "sourceId": None,
        },
    }
    assert [b["campaignId"] for b in acme.bids(body)] == [campaign_id]


def test_seed_invalid_input_answers_400_error(acme: Bidder) -> None:
    response = acme.post(BIDS, {"filter": {"country": "DE"}})
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_seed_400_body_carries_every_field_of_a_rejected_bid(acme: Bidder, tree: dict[str, Any]) -> None:
    campaign_id = tree["campaign"]["id"]
    [entry] = rejected(acme.upload(bid(campaign_id, country="FR", value=0.5)))
    assert entry == {
        "adSetId": None,
        "campaign": {"id": campaign_id, "name": "Spring"},
        "country": {"id": 250, "name": "France", "iso2": "FR"},
        "delta": {"changePercentage": None, "newValue": 0.5, "oldValue": None},
        "network": {"id": tree["network"]["id"], "name": "Unity"},
        "sourceId": None,
        "status": "invalid",
        "message": "countries of the campaign doesn't contain the bid's specified country",
    }


def test_a_server_error_uses_err(acme: Bidder, app: RootApp, monkeypatch: pytest.MonkeyPatch) -> None:
    from auctera.services.bids import BidService

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(BidService, "bids", broken)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post(BIDS, json={"networkId": 1}, headers=acme.headers)
    assert response.status_code == 500
    assert set(response.json()) == {"err"}


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def spread(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    """Bids on every dimension, plus a second network's bid that no filter of the first shows."""
    c, a = tree["campaign"]["id"], tree["ad_set"]["id"]
    other_ad_set = acme.ad_set(c, "Other")["id"]
    response = acme.upload(
        bid(c, "DE", 0.1),
        bid(c, "US", 0.2),
        bid(c, "DE", 0.3, adSetId=a),
        bid(c, "US", 0.4, adSetId=a),
        bid(c, "DE", 0.5, adSetId=a, sourceId="app-1"),
        bid(c, "DE", 0.6, adSetId=a, sourceId="app-2"),
        bid(c, "DE", 0.7, adSetId=other_ad_set),
    )
    assert response.status_code == 204, response.text
    second = acme.network("Second")
    second_campaign = acme.campaign(second["id"])
    assert acme.upload(bid(second_campaign["id"], "DE", 0.9)).status_code == 204
    return {**tree, "other_ad_set": other_ad_set}


def _values(found: list[dict[str, Any]]) -> list[float]:
    return sorted(b["value"] for b in found)


def test_every_eligible_filter_combination(acme: Bidder, spread: dict[str, Any]) -> None:
    c, a, n = spread["campaign"]["id"], spread["ad_set"]["id"], spread["network"]["id"]
    expected: dict[tuple[str, ...], tuple[dict[str, Any], list[float]]] = {
        ("networkId",): ({"networkId": n}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
        ("campaignId",): ({"campaignId": c}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
        ("campaignId", "country"): ({"campaignId": c, "country": "US"}, [0.2, 0.4]),
        ("campaignId", "country", "sourceId"): (
            {"campaignId": c, "country": "DE", "sourceId": "app-2"},
            [0.6],
        ),
        ("adSetId",): ({"adSetId": a}, [0.3, 0.4, 0.5, 0.6]),
        ("adSetId", "country"): ({"adSetId": a, "country": "DE"}, [0.3, 0.5, 0.6]),
        ("adSetId", "country", "sourceId"): ({"adSetId": a, "country": "DE", "sourceId": "app-1"}, [0.5]),
    }
    assert set(expected) == set(FILTER_COMBINATIONS)
    for combination, (given, values) in expected.items():
        found = acme.bids({"page": {"offset": 0, "limit": 100}, "filter": given})
        assert _values(found) == values, combination


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"country": "DE"},
        {"sourceId": "app-1"},
        {"networkId": 1, "campaignId": 1},
        {"campaignId": 1, "sourceId": "app-1"},
        {"campaignId": 1, "adSetId": 1},
        {"adSetId": 1, "sourceId": "app-1"},
        {"networkId": 1, "country": "DE"},
    ],
)
def test_other_filter_combinations_are_refused_naming_the_allowed_ones(
    acme: Bidder, given: dict[str, Any]
) -> None:
    response = acme.post(BIDS, {"page": {"offset": 0, "limit": 10}, "filter": given})
    assert response.status_code == 400
    message = response.json()["error"]
    assert set(response.json()) == {"error"}
    for combination in FILTER_COMBINATIONS:
        assert " + ".join(combination) in message


def test_offset_and_limit_page_through_in_upload_order(acme: Bidder, spread: dict[str, Any]) -> None:
    campaign_id = spread["campaign"]["id"]
    pages = [
        acme.bids({"page": {"offset": offset, "limit": 3}, "filter": {"campaignId": campaign_id}})
        for offset in (0, 3, 6, 9)
    ]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert [b["value"] for p in pages for b in p] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    for page in ({"offset": -1, "limit": 3}, {"offset": 0, "limit": 0}, {"offset": 0, "limit": 1001}):
        response = acme.post(BIDS, {"page": page, "filter": {"campaignId": campaign_id}})
        assert response.status_code == 400, page
        assert "page." in response.json()["error"]


def test_an_offset_past_64_bits_answers_400_naming_it(acme: Bidder, tree: dict[str, Any]) -> None:
    campaign_id = tree["campaign"]["id"]
    last = acme.bids({"page": {"offset": 2**63 - 1, "limit": 10}, "filter": {"campaignId": campaign_id}})
    assert last == []
    for offset in (2**63, 10**30):
        page = {"offset": offset, "limit": 10}
        response = acme.post(BIDS, {"page": page, "filter": {"campaignId": campaign_id}})
        assert response.status_code == 400, response.text
        assert set(response.json()) == {"error"} and "page.offset" in response.json()["error"]


# --- validation reasons: one test each --------------------------------------------------------

Setup = Callable[[Bidder, dict[str, Any]], dict[str, Any]]


def _patch_network(acme: Bidder, tree: dict[str, Any], body: dict[str, Any]) -> None:
    path = f"/management/v0/networks/{tree['network']['id']}"
    response = acme.client.patch(path, json=body, headers=acme.headers)
    assert response.status_code == 200, response.text


def _patch_campaign(acme: Bidder, tree: dict[str, Any], body: dict[str, Any]) -> None:
    path = f"/management/v0/campaigns/{tree['campaign']['id']}"
    response = acme.client.patch(path, json=body, headers=acme.headers)
    assert response.status_code == 200, response.text


def _campaign_bid(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"])


def _ad_set_bid(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], adSetId=tree["ad_set"]["id"])


def _source_bid(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], adSetId=tree["ad_set"]["id"], sourceId="app-1")


def ad_set_bidding_off(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"bidding": {"adSetBidding": False}})
    return _ad_set_bid(acme, tree)


def unknown_ad_set(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    other = acme.campaign(tree["network"]["id"], "Other")
    elsewhere = acme.ad_set(other["id"])["id"]  # exists, but in another campaign
    return bid(tree["campaign"]["id"], adSetId=elsewhere)


def bidding_off(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"bidding": {"enabled": False}})
    return _campaign_bid(acme, tree)


def campaign_bidding_off(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"bidding": {"campaignBidding": False}})
    return _campaign_bid(acme, tree)


def country_outside(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], country="JP")


def wrong_optimization(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_campaign(acme, tree, {"optimizationType": "roas"})
    return _campaign_bid(acme, tree)


def no_credentials(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"credentials": None})
    return _campaign_bid(acme, tree)


def no_campaign_attributes(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"requiredAttributes": {"campaign": ["appId"]}})
    return _campaign_bid(acme, tree)


def no_client_attributes(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"requiredAttributes": {"client": ["advertiserId"]}})
    return _campaign_bid(acme, tree)


def no_network_attributes(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"requiredAttributes": {"network": ["apiHost"]}})
    return _campaign_bid(acme, tree)


def source_bidding_off(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    _patch_network(acme, tree, {"bidding": {"sourceIdBidding": False}})
    return _source_bid(acme, tree)


def source_without_ad_set(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], sourceId="app-1")


def delete_campaign_bid(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    assert acme.upload(_campaign_bid(acme, tree)).status_code == 204
    return {**_campaign_bid(acme, tree), "delete": True}


def delete_missing_bid(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return {**_ad_set_bid(acme, tree), "delete": True, "optimalBidUsd": None}


def below_minimum(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], value=0.009)


def too_many_decimals(acme: Bidder, tree: dict[str, Any]) -> dict[str, Any]:
    return bid(tree["campaign"]["id"], value=0.1234)


CASES: dict[Reason, tuple[Setup, dict[str, Any]]] = {
    # reason: (setup returning the bid, the delta expected)
    Reason.AD_SET_BIDDING_DISABLED: (ad_set_bidding_off, {"newValue": 0.5}),
    Reason.AD_SET_NOT_FOUND: (unknown_ad_set, {"newValue": 0.5}),
    Reason.BIDDING_DISABLED: (bidding_off, {"newValue": 0.5}),
    Reason.CAMPAIGN_BIDDING_DISABLED: (campaign_bidding_off, {"newValue": 0.5}),
    Reason.COUNTRY_NOT_IN_CAMPAIGN: (country_outside, {"newValue": 0.5}),
    Reason.WRONG_OPTIMIZATION_TYPE: (wrong_optimization, {"newValue": 0.5}),
    Reason.MISSING_CREDENTIALS: (no_credentials, {"newValue": 0.5}),
    Reason.MISSING_CAMPAIGN_ATTRIBUTES: (no_campaign_attributes, {"newValue": 0.5}),
    Reason.MISSING_CLIENT_VENDOR_ATTRIBUTES: (no_client_attributes, {"newValue": 0.5}),
    Reason.MISSING_NETWORK_VENDOR_ATTRIBUTES: (no_network_attributes, {"newValue": 0.5}),
    Reason.SOURCE_ID_BIDDING_DISABLED: (source_bidding_off, {"newValue": 0.5}),
    Reason.SOURCE_ID_WITHOUT_AD_SET: (source_without_ad_set, {"newValue": 0.5}),
    # The bid is pending, never applied: the network runs no value of it to compare with.
    Reason.DELETE_CAMPAIGN_BID: (delete_campaign_bid, {"newValue": None}),
    Reason.DELETE_MISSING_BID: (delete_missing_bid, {"newValue": None}),
    Reason.BELOW_MINIMUM: (below_minimum, {"newValue": 0.009}),
    Reason.DECIMAL_PRECISION: (too_many_decimals, {"newValue": 0.1234}),
}


def test_every_seed_reason_has_a_case() -> None:
    seed_reasons = set(Reason) - {Reason.CAMPAIGN_NOT_FOUND, Reason.DUPLICATE}
    assert set(CASES) == seed_reasons
    assert len(seed_reasons) == 16  # the seed lists sixteen


@pytest.mark.parametrize("reason", list(CASES), ids=[r.name.lower() for r in CASES])
def test_each_validation_reason(acme: Bidder, tree: dict[str, Any], reason: Reason) -> None:
    setup, delta = CASES[reason]
    row = setup(acme, tree)
    before = acme.bids({"networkId": tree["network"]["id"]})
    [entry] = rejected(acme.upload(row))
    assert entry["message"] == reason.value
    assert entry["status"] == "invalid"
    assert entry["campaign"] == {"id": tree["campaign"]["id"], "name": "Spring"}
    assert entry["network"] == {"id": tree["network"]["id"], "name": "Unity"}
    assert entry["country"]["iso2"] == row["country"]
    assert entry["adSetId"] == row.get("adSetId")
    assert entry["sourceId"] == row.get("sourceId")
    assert entry["delta"] == {"changePercentage": None, "oldValue": None, "newValue": None, **delta}
    assert acme.bids({"networkId": tree["network"]["id"]}) == before  # nothing stored


def test_a_batch_with_one_invalid_bid_stores_nothing(acme: Bidder, tree: dict[str, Any]) -> None:
    c = tree["campaign"]["id"]
    entries = rejected(acme.upload(bid(c, "DE"), bid(c, "JP"), bid(c, "US"), bid(c, "DE", 0.7)))
    assert [(e["country"]["iso2"], e["message"]) for e in entries] == [
        ("JP", Reason.COUNTRY_NOT_IN_CAMPAIGN.value),
        ("DE", Reason.DUPLICATE.value),
    ]
    assert acme.bids({"campaignId": c}) == []


# --- values: the change limit, exact decimals ----------------------------------------------


def settled(acme: Bidder, campaign_id: int) -> list[dict[str, Any]]:
    """The campaign's bids once the server's bid sync has settled them."""
    deadline = time.monotonic() + 30  # a wait for the background worker, not a timing assertion
    while True:
        listed = acme.bids({"campaignId": campaign_id})
        if all(b["status"] != "pending" for b in listed):
            return listed
        assert time.monotonic() < deadline, listed
        time.sleep(0.05)


@pytest.fixture
def served() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="s3cret")) as running:
        yield running


def test_maximum_change_per_upload(acme: Bidder, served: RunningNetwork) -> None:
    network = acme.network(baseUrl=served.url, bidding={**OPEN_BIDDING, "maxChangePercent": 50})
    c = acme.campaign(network["id"])["id"]
    assert acme.upload(bid(c, value=1)).status_code == 204  # a new bid has nothing to change from
    assert acme.upload(bid(c, value=9)).status_code == 204  # nor has it while the network runs none
    assert acme.upload(bid(c, value=1)).status_code == 204
    assert [b["value"] for b in settled(acme, c)] == [1.0]
    [entry] = rejected(acme.upload(bid(c, value=1.6)))
    assert entry["delta"] == {"changePercentage": 60.0, "newValue": 1.6, "oldValue": 1.0}
    assert entry["message"] == "bid change of 60.00% exceeds the network's maximum change of 50% per upload"
    [entry] = rejected(acme.upload(bid(c, value=0.4)))
    assert entry["delta"]["changePercentage"] == -60.0
    assert acme.upload(bid(c, value=1.5)).status_code == 204  # exactly +50% passes
    assert [b["value"] for b in acme.bids({"campaignId": c})] == [1.5]
    acme.client.patch(
        f"/management/v0/networks/{network['id']}",
        json={"bidding": {"maxChangePercent": None}},
        headers=acme.headers,
    ).raise_for_status()
    assert acme.upload(bid(c, value=9)).status_code == 204


def test_decimals_stay_exact(acme: Bidder, tree: dict[str, Any], app: RootApp) -> None:
    c = tree["campaign"]["id"]
    response = acme.raw(UPLOAD, b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": 0.1}]' % c)
    assert response.status_code == 204
    with app.container.uow(read_only=True) as uow:
        [stored] = uow.bids.bids_of_campaigns([c]).values()
    assert stored.value_micros == 100_000  # not 100_000.00000000001 nor 99_999
    listed = acme.client.post(BIDS, json={"campaignId": c}, headers=acme.headers)
    assert b'"value":0.1}' in listed.content
    # 0.1 + 0.2 is 0.3 here, not 0.30000000000000004
    raw = b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": 0.3}]' % c
    assert acme.raw(UPLOAD, raw).status_code == 204
    assert b'"value":0.3}' in acme.client.post(BIDS, json={"campaignId": c}, headers=acme.headers).content


def test_updates_and_deletes_make_operations_with_the_value_before(
    acme: Bidder, tree: dict[str, Any], app: RootApp
) -> None:
    c, a = tree["campaign"]["id"], tree["ad_set"]["id"]
    assert acme.upload(bid(c, adSetId=a, value=0.2)).status_code == 204
    assert acme.upload(bid(c, adSetId=a, value=0.25)).status_code == 204
    assert acme.upload({**bid(c, adSetId=a), "optimalBidUsd": None, "delete": True}).status_code == 204
    with app.container.uow(read_only=True) as uow:
        [stored] = uow.bids.bids_of_campaigns([c]).values()
        from auctera.store.tables import bid_operations

        rows = uow.bids._conn.execute(  # type: ignore[attr-defined]
            bid_operations.select().where(bid_operations.c.bid_id == stored.id).order_by(bid_operations.c.id)
        ).all()
    assert [(r.kind, r.old_value_micros, r.new_value_micros) for r in rows] == [
        ("create", None, 200_000),
        ("update", 200_000, 250_000),
        ("delete", 250_000, None),
    ]
    # A change replaced before the bid sync sent it is superseded (one already in a partner
    # batch, which the lifespan worker may have claimed meanwhile, settles there).
    assert [r.status for r in rows][-1] == "pending"
    assert {r.status for r in rows[:-1]} <= {"superseded", "pending"}
    assert stored.operation_id == rows[-1].id
    assert stored.previous_value_micros == 250_000
    assert len({r.upload_id for r in rows}) == 3


def test_numbers_a_double_cannot_hold_are_judged_as_sent(acme: Bidder, tree: dict[str, Any]) -> None:
    c = tree["campaign"]["id"]  # the network takes 3 decimals
    row = b'[{"campaign": {"id": %d}, "country": "DE", "optimalBidUsd": %s}]'
    # 17 digits: as a double this is 0.1, which would pass
    [entry] = rejected(acme.raw(UPLOAD, row % (c, b"0.10000000000000001")))
    assert entry["message"] == Reason.DECIMAL_PRECISION.value
    assert acme.raw(UPLOAD, row % (c, b"1.5e-1")).status_code == 204
    assert acme.raw(UPLOAD, row % (c, b"0.2500")).status_code == 204
    assert [b["value"] for b in acme.bids({"campaignId": c})] == [0.25]
    response = acme.raw(UPLOAD, row % (c, b"NaN"))
    assert response.status_code == 400
    assert response.json() == {"error": "[0].optimalBidUsd: must be a number"}


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"campaign": {"id": 7}, "country": "de", "optimalBidUsd": 0.125, "sourceId": "", "delete": null}]',
        b'[{"campaign": {"id": 7}, "adSetId": 8, "country": "FR", "sourceId": "a", "optimalBidUsd": 2}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 999999999.123456}, '
        b'{"campaign": {"id": 7}, "country": "US", "delete": true, "adSetId": 8}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": -0.0}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 1234567.123456789}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": -9223372036854775809}]',
        b'[{"campaign": {"id": 18446744073709551616}, "country": "DE", "optimalBidUsd": 1}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 1000000000.5}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 0.5, "adSetId": 1.0}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 0.5, "sourceId": 3}]',
        b'[{"campaign": {"id": 7, "x": 1}, "country": "DE", "optimalBidUsd": 0.5}]',
        b'[{"campaign": {"id": 7}, "country": ["DE"], "optimalBidUsd": 0.5}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 0.5, "delete": 0}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": true}]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 0.5}, 3]',
        b'[{"campaign": {"id": 7}, "country": "DE", "optimalBidUsd": 0.5, "bid": 1}]',
        b"[]",
        b'{"campaign": {"id": 7}}',
    ],
)
def test_the_quick_path_reads_rows_as_the_careful_one_does(raw: bytes) -> None:
    def outcome(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except AucteraError as exc:
            return (exc.message, exc.field, exc.code)

    body = parse_json(raw)

    def careful() -> list[BidRow]:
        if not isinstance(body, list) or not body:
            return translate.upload_rows(body)
        return [translate._row(item, f"[{i}]") for i, item in enumerate(body)]

    assert outcome(lambda: translate.upload_rows(body)) == outcome(careful)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"campaign": {"id": "x"}, "country": "DE", "optimalBidUsd": 1}, "[0].campaign.id"),
        ({"campaign": {"id": 1}, "country": "XX", "optimalBidUsd": 1}, "[0].country"),
        ({"campaign": {"id": 1}, "country": "DE", "optimalBidUsd": "1"}, "[0].optimalBidUsd"),
        ({"campaign": {"id": 1}, "country": "DE"}, "[0].optimalBidUsd"),
        ({"campaign": {"id": 1}, "country": "DE", "optimalBidUsd": 1, "bid": 2}, "[0].bid"),
        ({"campaign": {"id": 1}, "country": "DE", "optimalBidUsd": 1, "delete": "no"}, "[0].delete"),
    ],
)
def test_unreadable_bids_answer_400_naming_the_field(acme: Bidder, body: Any, named: str) -> None:
    response = acme.upload(body)
    assert response.status_code == 400
    assert named in response.json()["error"]


# --- tenants --------------------------------------------------------------------------------


def test_another_tenants_campaign_is_not_found_like_an_unknown_one(
    app: RootApp, client: TestClient, acme: Bidder, tree: dict[str, Any]
) -> None:
    c = tree["campaign"]["id"]
    assert acme.upload(bid(c)).status_code == 204
    intruder = Bidder(app, client, "Intruder")
    [theirs] = rejected(intruder.upload(bid(c, value=9)))
    [unknown] = rejected(intruder.upload(bid(123456789, value=9)))
    assert theirs["message"] == unknown["message"] == Reason.CAMPAIGN_NOT_FOUND.value
    assert theirs["campaign"] == {"id": c, "name": None} and theirs["network"] is None
    assert intruder.bids({"campaignId": c}) == []
    assert intruder.bids({"networkId": tree["network"]["id"]}) == []
    assert [b["value"] for b in acme.bids({"campaignId": c})] == [0.5]
    response = client.get(f"/management/v0/networks/{tree['network']['id']}", headers=intruder.headers)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


def test_a_missing_key_is_refused(client: TestClient) -> None:
    response = client.post(BIDS, json={"networkId": 1})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


# --- the hierarchy --------------------------------------------------------------------------


def test_networks_campaigns_and_ad_sets_are_created_listed_read_and_changed(
    acme: Bidder, tree: dict[str, Any]
) -> None:
    network, campaign, ad_set = tree["network"], tree["campaign"], tree["ad_set"]
    assert network["hasCredentials"] is True and "credentials" not in network
    assert network["bidding"]["minBidUsd"] == 0.01
    headers = acme.headers
    client = acme.client
    assert [n["id"] for n in client.get("/management/v0/networks", headers=headers).json()] == [network["id"]]
    listed = client.get(f"/management/v0/networks/{network['id']}/campaigns", headers=headers).json()
    assert listed == [campaign]
    assert client.get(f"/management/v0/campaigns/{campaign['id']}/ad-sets", headers=headers).json() == [
        ad_set
    ]
    assert client.get(f"/management/v0/ad-sets/{ad_set['id']}", headers=headers).json() == ad_set
    changed = client.patch(
        f"/management/v0/networks/{network['id']}", json={"bidding": {"batchSize": 500}}, headers=headers
    ).json()
    assert changed["bidding"]["batchSize"] == 500 and changed["bidding"]["minBidUsd"] == 0.01
    # The documented range, 0 to 1,000,000,000 USD (above 1,000,000 it said "must not be negative").
    path = f"/management/v0/networks/{network['id']}"
    high = client.patch(path, json={"bidding": {"minBidUsd": 1_000_000_000}}, headers=headers)
    assert high.status_code == 200 and high.json()["bidding"]["minBidUsd"] == 1_000_000_000
    over = client.patch(path, json={"bidding": {"minBidUsd": 1_000_000_000.000001}}, headers=headers)
    assert over.status_code == 400 and "from 0 to 1000000000" in over.json()["error"], over.text
    client.patch(path, json={"bidding": {"minBidUsd": 0.01}}, headers=headers)
    renamed = client.patch(
        f"/management/v0/ad-sets/{ad_set['id']}", json={"name": "Renamed"}, headers=headers
    )
    assert renamed.json()["name"] == "Renamed"
    bad = client.patch(
        f"/management/v0/networks/{network['id']}", json={"bidding": {"decimalPrecision": 7}}, headers=headers
    )
    assert bad.status_code == 400 and "decimalPrecision" in bad.json()["error"]
    unknown = acme.post("/management/v0/networks", {"name": "X", "kind": "simulated", "colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]
    twice = acme.post("/management/v0/networks", {"name": "Unity", "kind": "auctera"})
    assert twice.status_code == 409


def test_own_ids_past_64_bits_answer_400_naming_the_field(acme: Bidder, tree: dict[str, Any]) -> None:
    client, headers = acme.client, acme.headers
    network_id, campaign_id, ad_set_id = tree["network"]["id"], tree["campaign"]["id"], tree["ad_set"]["id"]
    huge = 1180591620717411303424  # 2^70
    for method, path, field in (
        ("POST", f"/management/v0/networks/{network_id}/campaigns", "ownCampaignId"),
        ("PATCH", f"/management/v0/campaigns/{campaign_id}", "ownCampaignId"),
        ("POST", f"/management/v0/campaigns/{campaign_id}/ad-sets", "ownLineItemId"),
        ("PATCH", f"/management/v0/ad-sets/{ad_set_id}", "ownLineItemId"),
    ):
        body = {"name": "Big", "countries": ["DE"], "optimizationType": "cpi"} if "/networks/" in path else {}
        response = client.request(method, path, json={**body, "name": "Big", field: huge}, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert set(response.json()) == {"error"} and field in response.json()["error"]
    listed = client.get(f"/management/v0/networks/{network_id}/campaigns", headers=headers).json()
    assert listed == [tree["campaign"]]  # nothing half-written
    assert client.get(f"/management/v0/ad-sets/{ad_set_id}", headers=headers).json() == tree["ad_set"]


def test_names_and_external_ids_longer_than_their_columns_answer_400(
    acme: Bidder, tree: dict[str, Any]
) -> None:
    client, headers = acme.client, acme.headers
    network_id, campaign_id, ad_set_id = tree["network"]["id"], tree["campaign"]["id"], tree["ad_set"]["id"]
    long, fits = "n" * 5000, "é" * 255  # characters, not bytes, as the columns count them
    campaign = {"countries": ["DE"], "optimizationType": "cpi"}
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/management/v0/networks", {"name": long, "kind": "auctera"}, "name"),
        ("PATCH", f"/management/v0/networks/{network_id}", {"name": long}, "name"),
        ("POST", f"/management/v0/networks/{network_id}/campaigns", {**campaign, "name": long}, "name"),
        (
            "POST",
            f"/management/v0/networks/{network_id}/campaigns",
            {**campaign, "name": "X", "externalId": "e" * 256},
            "externalId",
        ),
        ("PATCH", f"/management/v0/campaigns/{campaign_id}", {"name": long}, "name"),
        ("PATCH", f"/management/v0/campaigns/{campaign_id}", {"externalId": "e" * 256}, "externalId"),
        ("POST", f"/management/v0/campaigns/{campaign_id}/ad-sets", {"name": long}, "name"),
        (
            "POST",
            f"/management/v0/campaigns/{campaign_id}/ad-sets",
            {"name": "X", "externalId": long},
            "externalId",
        ),
        ("PATCH", f"/management/v0/ad-sets/{ad_set_id}", {"name": long}, "name"),
        ("PATCH", f"/management/v0/ad-sets/{ad_set_id}", {"externalId": long}, "externalId"),
    ]
    for method, path, body, field in cases:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 400, (method, path, field, response.text)
        error = response.json()["error"]
        assert set(response.json()) == {"error"} and error.startswith(field) and "255" in error, error
    assert client.get("/management/v0/networks", headers=headers).json() == [tree["network"]]
    assert client.get(f"/management/v0/campaigns/{campaign_id}", headers=headers).json() == tree["campaign"]
    assert client.get(f"/management/v0/ad-sets/{ad_set_id}", headers=headers).json() == tree["ad_set"]
    # 255 characters fit.
    assert acme.network(fits)["name"] == fits
    made = acme.made(f"/management/v0/campaigns/{campaign_id}/ad-sets", {"name": fits, "externalId": fits})
    assert made["name"] == made["externalId"] == fits


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "bids.example.com/api",
        "ftp://bids.example.com",
        "https://",
        "https://bids.example.com:99999",
        "https://user:pass@bids.example.com",
        "https://bids.example.com/api?key=1",
        "https://bids.example.com/a b",
        "https://bids.example.com/" + "a" * 2048,
    ],
)
def test_a_network_base_url_must_be_an_absolute_http_url(
    acme: Bidder, tree: dict[str, Any], url: str
) -> None:
    created = acme.post("/management/v0/networks", {"name": "Other", "kind": "http", "baseUrl": url})
    assert created.status_code == 400, created.text
    assert set(created.json()) == {"error"} and "baseUrl" in created.json()["error"]
    path = f"/management/v0/networks/{tree['network']['id']}"
    patched = acme.client.patch(path, json={"baseUrl": url}, headers=acme.headers)
    assert patched.status_code == 400 and "baseUrl" in patched.json()["error"]
    assert [
        n["baseUrl"] for n in acme.client.get("/management/v0/networks", headers=acme.headers).json()
    ] == ["http://127.0.0.1:9"]


def test_a_min_bid_too_large_to_scale_answers_400(acme: Bidder) -> None:
    raw = b'{"name": "Huge", "kind": "auctera", "bidding": {"minBidUsd": 1E+999999}}'
    response = acme.raw("/management/v0/networks", raw)
    assert response.status_code == 400, response.text
    assert "bidding.minBidUsd" in response.json()["error"]


# --- clear messages, and links to our own campaigns ------------------------------------------


@pytest.mark.parametrize(
    ("retry", "named"),
    [({"maxAttempts": 0}, "bidding.retry.maxAttempts"), ({"backoffMs": -1}, "bidding.retry.backoffMs")],
)
def test_a_retry_setting_out_of_bounds_names_its_field(
    acme: Bidder, tree: dict[str, Any], retry: dict[str, int], named: str
) -> None:
    body = {
        "name": "Other",
        "kind": "simulated",
        "baseUrl": "http://127.0.0.1:9",
        "bidding": {"retry": retry},
    }
    for response in (
        acme.post("/management/v0/networks", body),
        acme.client.patch(
            f"/management/v0/networks/{tree['network']['id']}",
            json={"bidding": {"retry": retry}},
            headers=acme.headers,
        ),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith(f"{named} must be from ")


@pytest.mark.parametrize("missing", [{}, {"country": None}], ids=["absent", "null"])
def test_an_upload_without_a_country_says_it_is_required(
    acme: Bidder, tree: dict[str, Any], missing: dict[str, Any]
) -> None:
    row = {"campaign": {"id": tree["campaign"]["id"]}, "optimalBidUsd": 0.5, **missing}
    response = acme.upload(row)
    assert response.status_code == 400
    assert response.json() == {
        "error": "[0].country: is required: an ISO 3166-1 alpha-2 country code such as DE"
    }


def test_an_own_campaign_is_linked_once_and_may_be_named_as_v2_shows_it(acme: Bidder) -> None:
    made = acme.client.post(
        "/v2/campaigns", json={"name": "Own", "type": "dsp_retargeting", "budget": 100}, headers=acme.bearer
    )
    assert made.status_code == 201, made.text
    shown = made.json()["campaign_id"]  # cmp_…
    network = acme.made(
        "/management/v0/networks",
        {"name": "Ours", "kind": "auctera", "bidding": {"enabled": True, "adSetBidding": True}},
    )
    path = f"/management/v0/networks/{network['id']}/campaigns"
    first = acme.made(
        path, {"name": "A", "countries": ["DE"], "optimizationType": "cpa", "ownCampaignId": shown}
    )
    own_id = first["ownCampaignId"]
    assert isinstance(own_id, int) and translate.ids.render("cmp", own_id) == shown
    # A second network campaign for it, by either spelling, would show a bid the campaign never runs.
    for link in (own_id, shown):
        response = acme.post(
            path, {"name": "B", "countries": ["DE"], "optimizationType": "cpa", "ownCampaignId": link}
        )
        assert response.status_code == 409, response.text
        assert response.json()["error"].startswith(f"ownCampaignId: campaign {own_id} is linked already")
    other = acme.made(path, {"name": "B", "countries": ["DE"], "optimizationType": "cpa"})
    response = acme.client.patch(
        f"/management/v0/campaigns/{other['id']}", json={"ownCampaignId": shown}, headers=acme.headers
    )
    assert response.status_code == 409 and "ownCampaignId" in response.json()["error"]
    assert [c["ownCampaignId"] for c in acme.client.get(path, headers=acme.headers).json()] == [own_id, None]
    # Re-saving the linked one keeps its own link.
    response = acme.client.patch(
        f"/management/v0/campaigns/{first['id']}", json={"ownCampaignId": own_id}, headers=acme.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("link", ["cmp_", "cmp_!", "42", "off_1", 1.5])
def test_an_own_campaign_id_that_is_none_answers_400_naming_it(
    acme: Bidder, tree: dict[str, Any], link: Any
) -> None:
    response = acme.client.patch(
        f"/management/v0/campaigns/{tree['campaign']['id']}",
        json={"ownCampaignId": link},
        headers=acme.headers,
    )
    assert response.status_code == 400, response.text
    assert "ownCampaignId" in response.json()["error"]
