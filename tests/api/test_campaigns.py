"""/v2/campaigns and /v2/network/blocklist through the real app: what an API user sees."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.api.v2.campaigns import _RenderedCampaigns
from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.campaigns import Budget, Campaign, CampaignStatus, CampaignType
from auctera.domain.events import Event, EventType

from .conftest import Api, bearer, error

FULL = {
    "name": "Q4 Retargeting - US",
    "type": "dsp_retargeting",
    "budget": {"daily": 5000, "total": 150000.25, "currency": "USD"},
    "targeting": {
        "geo": ["US", "CA"],
        "zip_codes": ["10001", "94105-1234"],
        "dmas": ["501", "807"],
        "device_types": ["mobile", "tablet"],
    },
    "bid_multipliers": {"device_type": {"mobile": 1.25, "tablet": 0.8}},
    "pacing": "asap",
    "bidding": {"strategy": "target_cpa", "target_amount": 35.5},
    "destination_url": "https://shop.example.com/q4?cid={click_id}&src={sub_id1}",
    "start_date": "2026-12-01",
    "end_date": "2026-12-31",
}


# --- create and read -----------------------------------------------------------------------


def test_create_answers_pending_review_then_the_review_makes_it_active(acme: Api) -> None:
    response = acme.call(
        "POST", "/v2/campaigns", {"name": "Holiday Promo", "budget": 10000, "type": "dsp_retargeting"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["status"] == "pending_review"
    assert body["campaign_id"].startswith("cmp_")
    campaign = acme.get(body["campaign_id"])
    assert campaign["status"] == "active"
    assert campaign["budget"] == {"daily": None, "total": 10000, "currency": "USD"}
    assert campaign["review"]["reviewed_by"] == "automated"


def test_every_field_round_trips(acme: Api) -> None:
    campaign = acme.get(acme.create(**FULL))
    for key in ("name", "type", "targeting", "bid_multipliers", "pacing", "bidding", "destination_url"):
        assert campaign[key] == FULL[key], key
    assert campaign["budget"] == FULL["budget"]
    assert (campaign["start_date"], campaign["end_date"]) == ("2026-12-01", "2026-12-31")
    assert campaign["advertiser_id"] == acme.id
    assert campaign["payout"] is None and campaign["archived_at"] is None


def test_affiliate_campaign_with_payout(acme: Api) -> None:
    campaign_id = acme.create(
        type="affiliate_cpa", payout=45.000001, destination_url="https://x.example.com/?c={click_id}"
    )
    assert acme.get(campaign_id)["payout"] == 45.000001
    response = acme.call("POST", "/v2/campaigns", {"name": "x", "type": "affiliate_cpc", "budget": 100})
    error(response, 422, "payout")


def test_money_is_parsed_exactly(acme: Api) -> None:
    # Sent as raw JSON text: 0.1 must stay 0.1 (no binary float on the way), 7 decimals are refused.
    body = '{"name": "x", "type": "dsp_prospecting", "budget": {"daily": 0.1, "total": 12345678.123456}}'
    created = acme.client.post(
        "/v2/campaigns", content=body, headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert created.status_code == 201
    assert acme.get(created.json()["campaign_id"])["budget"]["total"] == 12345678.123456
    too_precise = '{"name": "x", "type": "dsp_prospecting", "budget": {"daily": 0.1234567}}'
    response = acme.client.post(
        "/v2/campaigns", content=too_precise, headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert "6 decimal places" in error(response, 422, "budget.daily")["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": 0}, "budget.total"),
        ({"budget": {"daily": -5}}, "budget.daily"),
        ({"budget": {}}, "budget"),
        ({"budget": True}, "budget"),
        ({"budget": {"daily": "a lot"}}, "budget.daily"),
        ({"budget": {"daily": 10, "currency": "EUR"}}, "budget.currency"),
        ({"type": "billboard"}, "type"),
        ({"name": ""}, "name"),
        ({"targeting": {"geo": ["US", "XX"]}}, "targeting.geo"),
        ({"targeting": {"dmas": ["12"]}}, "targeting.dmas"),
        ({"targeting": {"zip_codes": ["ABCDE"]}}, "targeting.zip_codes"),
        ({"targeting": {"device_types": ["smartwatch"]}}, "targeting.device_types[0]"),
        ({"pacing": "slow"}, "pacing"),
        ({"bidding": {"strategy": "target_roas"}}, "bidding.target_amount"),
        ({"bid_multipliers": {"device_type": {"mobile": 11}}}, "bid_multipliers.device_type.mobile"),
        ({"destination_url": "javascript:alert(1)"}, "destination_url"),
        ({"destination_url": "https://x.example.com/{clickid}"}, "destination_url"),
        ({"payout": 5}, "payout"),
        ({"start_date": "2026-12-31", "end_date": "2026-12-01"}, "end_date"),
        ({"end_date": "2020-01-01"}, "end_date"),
        ({"colour": "red"}, "colour"),
        ({"targeting": {"geo": ["US"], "radius_km": 5}}, "targeting.radius_km"),
    ],
)
def test_invalid_input_names_the_field_and_writes_nothing(
    acme: Api, change: dict[str, Any], field: str
) -> None:
    body = {"name": "Holiday Promo", "type": "dsp_retargeting", "budget": 10000, **change}
    error(acme.call("POST", "/v2/campaigns", body), 422, field)
    assert acme.call("GET", "/v2/campaigns", status="all").json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/landing",  # read as 127.0.0.1 by browsers
        "http://0x7f.0.0.1/",
        "http://[::1]/",
        "https://[2001:db8::1]:8443/x",
        "http://10.0.0.8/",
        "https://93.184.216.34/",  # public, but an address is not a host name
        "http://localhost/",
        "http://shop.localhost/",
        "http://printer.local/",
        "https://intranet.corp.internal/",
        "http://router.home.arpa/",
        "http://intranet/",
    ],
)
def test_destination_url_needs_a_public_host_name(acme: Api, url: str) -> None:
    body = {"name": "x", "type": "affiliate_cpa", "budget": 100, "payout": 5, "destination_url": url}
    error(acme.call("POST", "/v2/campaigns", body), 422, "destination_url")


def test_missing_required_fields(acme: Api) -> None:
    error(acme.call("POST", "/v2/campaigns", {"name": "x", "budget": 1}), 422, "type")
    error(acme.call("POST", "/v2/campaigns", {"name": "x", "type": "dsp_prospecting"}), 422, "budget")


def test_auth(acme: Api, client: TestClient) -> None:
    campaign_id = acme.create()
    error(client.get("/v2/campaigns"), 401)
    error(client.get(f"/v2/campaigns/{campaign_id}", headers=bearer("auc_sk_nope")), 401)
    error(client.post("/v2/campaigns", json={"name": "x"}), 401)


@pytest.mark.parametrize("campaign_id", ["cmp_!!!", "nope", "cmp_", "adv_1", "cmp_zzzzzzzzzzzzzz"])
def test_unparsable_ids_are_not_found(acme: Api, campaign_id: str) -> None:
    error(acme.call("GET", f"/v2/campaigns/{campaign_id}"), 404, "campaign_id")
    error(acme.call("DELETE", f"/v2/campaigns/{campaign_id}"), 404)


def test_publishers_cannot_create(app: RootApp, client: TestClient) -> None:
    publisher = Api(app, client, "publisher", "Pub")
    error(publisher.call("POST", "/v2/campaigns", {"name": "x", "type": "dsp_prospecting", "budget": 5}), 403)


def test_network_creates_on_behalf_of_an_advertiser(acme: Api, network: Api) -> None:
    body = {"name": "For Acme", "type": "dsp_prospecting", "budget": 500}
    error(network.call("POST", "/v2/campaigns", body), 422, "advertiser_id")
    error(network.call("POST", "/v2/campaigns", {**body, "advertiser_id": "adv_zzz"}), 404, "advertiser_id")
    created = network.call("POST", "/v2/campaigns", {**body, "advertiser_id": acme.id})
    assert created.status_code == 201
    campaign = acme.get(created.json()["campaign_id"])
    assert campaign["name"] == "For Acme" and campaign["advertiser_id"] == acme.id
    # An advertiser cannot aim advertiser_id at someone else.
    error(acme.call("POST", "/v2/campaigns", {**body, "advertiser_id": network.id}), 404, "advertiser_id")


# --- change, pause, archive ----------------------------------------------------------------


def test_patch_reports_updated_fields_and_merges_budget(acme: Api) -> None:
    campaign_id = acme.create(budget={"daily": 5000, "total": 100000})
    response = acme.call(
        "PATCH", f"/v2/campaigns/{campaign_id}", {"budget": {"daily": 7500}, "status": "active"}
    )
    assert response.json() == {
        "success": True,
        "campaign_id": campaign_id,
        "updated_fields": ["budget", "status"],
        "status": "active",
    }
    assert acme.get(campaign_id)["budget"] == {"daily": 7500, "total": 100000, "currency": "USD"}


def test_pause_resume(acme: Api) -> None:
    campaign_id = acme.create()
    assert (
        acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "paused"}).json()["status"] == "paused"
    )
    assert acme.get(campaign_id)["status"] == "paused"
    assert (
        acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}).json()["status"] == "active"
    )


def test_every_read_shows_the_latest_state(acme: Api, network: Api) -> None:
    # GET reuses the JSON of a campaign it rendered before only when the fresh read equals it.
    campaign_id = acme.create()
    path = f"/v2/campaigns/{campaign_id}"
    seen = [acme.get(campaign_id)["status"]]
    for change in ({"status": "paused"}, {"status": "active"}, {"status": "paused"}):
        acme.call("PATCH", path, change)
        seen.append(acme.get(campaign_id)["status"])
        seen.append(acme.get(campaign_id)["status"])
    assert seen == ["active", "paused", "paused", "active", "active", "paused", "paused"]
    network.call("POST", f"{path}/review", {"decision": "reject", "reasons": ["no"]})
    assert acme.get(campaign_id)["review"]["reasons"] == ["no"]
    acme.call("DELETE", path)
    assert acme.get(campaign_id)["status"] == "archived"


URL = "https://trk.example.com"


def test_rendered_campaigns_are_bounded_and_never_stale() -> None:
    rendered = _RenderedCampaigns(2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = Campaign(1, 7, "a", CampaignType.DSP_PROSPECTING, CampaignStatus.ACTIVE, Budget("USD"), now, now)
    assert json.loads(rendered.body(first, URL))["name"] == "a"
    assert json.loads(rendered.body(replace(first, name="b"), URL))["name"] == "b"
    assert json.loads(rendered.body(first, URL))["name"] == "a"
    moved = json.loads(rendered.body(first, "https://t.example.org"))["tracking"]["click_url"]
    assert moved == "https://t.example.org/click?c=1"
    for n in range(2, 10):
        rendered.body(replace(first, id=n), URL)
    assert len(rendered._bodies) == 2


def test_patch_rejects_bad_input_without_writing(acme: Api) -> None:
    campaign_id = acme.create(**FULL)
    before = acme.get(campaign_id)
    path = f"/v2/campaigns/{campaign_id}"
    error(acme.call("PATCH", path, {"budget": {"daily": 7500}, "type": "affiliate_cpa"}), 422, "type")
    error(acme.call("PATCH", path, {"name": "ok", "targeting": {"geo": ["ZZ"]}}), 422, "targeting.geo")
    error(acme.call("PATCH", path, {"status": "archived"}), 422, "status")
    error(acme.call("PATCH", path, {"name": None}), 422, "name")
    assert acme.get(campaign_id) == before


def test_archive_is_idempotent_and_terminal(acme: Api) -> None:
    campaign_id = acme.create()
    for _ in range(2):
        response = acme.call("DELETE", f"/v2/campaigns/{campaign_id}")
        assert response.json() == {"success": True, "campaign_id": campaign_id, "status": "archived"}
    archived = acme.get(campaign_id)
    assert archived["status"] == "archived" and archived["archived_at"] is not None
    conflict = error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}), 409, "status")
    assert conflict["code"] == "conflict" and "cannot be restarted" in conflict["message"]
    error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"name": "again"}), 409)
    assert acme.get(campaign_id)["name"] == "Holiday Promo"


# --- review and blocklist ------------------------------------------------------------------


def test_blocklisted_destination_is_rejected_with_reasons(acme: Api, network: Api) -> None:
    listed = network.call("POST", "/v2/network/blocklist", {"domain": "Evil.example", "reason": "phishing"})
    assert listed.status_code == 201
    assert listed.json()["domain"] == "evil.example" and listed.json()["campaigns_rejected"] == 0
    campaign_id = acme.create(destination_url="https://www.evil.example/landing?c={click_id}")
    campaign = acme.get(campaign_id)
    assert campaign["status"] == "rejected"
    assert campaign["review"]["reasons"] == [
        "destination_url: www.evil.example is on the network's blocklist (via evil.example)"
    ]
    conflict = error(acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}), 409)
    assert "blocklist" in conflict["message"]
    # A new destination resubmits it; the review runs again after the response.
    fixed = acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"destination_url": "https://good.example/"})
    assert fixed.json()["status"] == "pending_review"
    assert acme.get(campaign_id)["status"] == "active"


def test_blocking_rejects_live_campaigns(acme: Api, network: Api) -> None:
    live = acme.create(destination_url="https://shop.later-bad.example/")
    assert acme.get(live)["status"] == "active"
    listed = network.call("POST", "/v2/network/blocklist", {"domain": "later-bad.example"})
    assert listed.json()["campaigns_rejected"] == 1
    assert acme.get(live)["status"] == "rejected"


@pytest.mark.parametrize("suffix", ["com", "COM.", "co.uk", "de"])
def test_a_public_suffix_cannot_be_blocked(acme: Api, network: Api, suffix: str) -> None:
    live = acme.create(destination_url="https://shop.example.com/")
    assert (
        "public suffix"
        in error(network.call("POST", "/v2/network/blocklist", {"domain": suffix}), 422, "domain")["message"]
    )
    assert network.call("GET", "/v2/network/blocklist").json()["data"] == []
    assert acme.get(live)["status"] == "active"


def test_unblocking_reviews_again_the_campaigns_the_entry_rejected(acme: Api, network: Api) -> None:
    only_blocked = acme.create(destination_url="https://shop.gone-bad.example/")
    also_elsewhere = acme.create(destination_url="https://www.gone-bad.example/")
    by_hand = acme.create(destination_url="https://m.gone-bad.example/")
    network.call("POST", f"/v2/campaigns/{by_hand}/review", {"decision": "reject", "reasons": ["spam"]})
    assert (
        network.call("POST", "/v2/network/blocklist", {"domain": "gone-bad.example"}).json()[
            "campaigns_rejected"
        ]
        == 2
    )
    network.call("POST", "/v2/network/blocklist", {"domain": "www.gone-bad.example"})
    assert network.call("DELETE", "/v2/network/blocklist/gone-bad.example").json()["removed"] is True
    assert acme.get(only_blocked)["status"] == "active"
    assert acme.get(only_blocked)["review"]["reasons"] == []
    assert acme.get(also_elsewhere)["status"] == "rejected"  # still listed under its own name
    assert acme.get(by_hand)["status"] == "rejected"  # the operator's decision stands


def test_blocklist_endpoints_are_the_networks(acme: Api, network: Api) -> None:
    network.call("POST", "/v2/network/blocklist", {"domain": "bad.example"})
    assert [b["domain"] for b in network.call("GET", "/v2/network/blocklist").json()["data"]] == [
        "bad.example"
    ]
    error(acme.call("GET", "/v2/network/blocklist"), 403)
    error(acme.call("POST", "/v2/network/blocklist", {"domain": "other.example"}), 403)
    error(acme.call("DELETE", "/v2/network/blocklist/bad.example"), 404)
    error(network.call("POST", "/v2/network/blocklist", {"domain": "not a domain"}), 422, "domain")
    assert network.call("DELETE", "/v2/network/blocklist/bad.example").json()["removed"] is True
    assert network.call("DELETE", "/v2/network/blocklist/bad.example").json()["removed"] is False
    assert network.call("GET", "/v2/network/blocklist").json()["data"] == []


def test_manual_review_by_the_network(app: RootApp, client: TestClient, acme: Api, network: Api) -> None:
    campaign_id = acme.create()
    path = f"/v2/campaigns/{campaign_id}/review"
    error(acme.call("POST", path, {"decision": "approve"}), 403)
    rejected = network.call("POST", path, {"decision": "reject", "reasons": ["misleading claims"]})
    assert rejected.json() == {
        "success": True,
        "campaign_id": campaign_id,
        "status": "rejected",
        "reasons": ["misleading claims"],
    }
    review = acme.get(campaign_id)["review"]
    assert review["reasons"] == ["misleading claims"] and review["reviewed_by"] == network.id
    assert network.call("POST", path, {"decision": "approve"}).json()["status"] == "active"
    error(network.call("POST", path, {"decision": "maybe"}), 422, "decision")


# --- listing -------------------------------------------------------------------------------


def test_cursor_pagination(acme: Api) -> None:
    created = [acme.create(name=f"c{i}") for i in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = acme.call("GET", "/v2/campaigns", **params).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    assert seen == created[::-1]  # newest first, each once


def test_list_filters_and_errors(acme: Api) -> None:
    active = acme.create(name="active")
    paused = acme.create(name="paused")
    acme.call("PATCH", f"/v2/campaigns/{paused}", {"status": "paused"})
    affiliate = acme.create(
        name="aff", type="affiliate_cpc", payout=0.5, destination_url="https://x.example.com/"
    )
    archived = acme.create(name="gone")
    acme.call("DELETE", f"/v2/campaigns/{archived}")

    def ids(**params: Any) -> set[str]:
        return {c["id"] for c in acme.call("GET", "/v2/campaigns", **params).json()["data"]}

    assert ids() == {active, paused, affiliate}
    assert ids(status="paused") == {paused}
    assert ids(status="archived") == {archived}
    assert ids(status="all") == {active, paused, affiliate, archived}
    assert ids(type="affiliate_cpc") == {affiliate}
    error(acme.call("GET", "/v2/campaigns", limit=101), 422, "limit")
    error(acme.call("GET", "/v2/campaigns", limit=0), 422, "limit")
    error(acme.call("GET", "/v2/campaigns", cursor="garbage"), 422, "cursor")
    error(acme.call("GET", "/v2/campaigns", status="running"), 422, "status")
    error(acme.call("GET", "/v2/campaigns", date_range="last_week"), 422, "date_range")
    error(acme.call("GET", "/v2/campaigns", start_date="2026-01-02"), 422, "end_date")


def test_performance_block(app: RootApp, acme: Api) -> None:
    campaign_id = acme.create(name="spender", budget={"daily": 5000})
    quiet = acme.create(name="quiet")
    cid = idfmt.parse("cmp", campaign_id)
    now, ids = datetime.now(UTC), count(1)
    app.container.events.append_many(
        [
            Event(next(ids), EventType.CLICK, now, acme.account.id, cid, cost_micros=1_000_000_000),
            Event(next(ids), EventType.IMPRESSION, now, acme.account.id, cid, cost_micros=240_500_000),
            *(
                Event(next(ids), EventType.CONVERSION, now, acme.account.id, cid, revenue_micros=100_000_000)
                for _ in range(45)
            ),
        ]
    )
    data = {c["id"]: c for c in acme.call("GET", "/v2/campaigns", date_range="this_month").json()["data"]}
    assert data[campaign_id]["performance"] == {
        "spend_today": 1240.5,
        "conversions_today": 45,
        "spend": 1240.5,
        "conversions": 45,
        "revenue": 4500,
        "current_cpa": 27.56,
        "roas": 3.63,
        "lifetime_spend": 1240.5,
    }
    assert data[quiet]["performance"]["current_cpa"] is None and data[quiet]["performance"]["roas"] is None
    yesterday = acme.call("GET", "/v2/campaigns", date_range="yesterday").json()
    assert yesterday["data"][-1]["performance"]["spend"] == 0  # the period moved; today did not
    assert yesterday["data"][-1]["performance"]["spend_today"] == 1240.5


def test_network_sees_every_advertiser(app: RootApp, client: TestClient, acme: Api, network: Api) -> None:
    rival = Api(app, client, name="Rival")
    mine, theirs = acme.create(), rival.create()
    assert {c["id"] for c in network.call("GET", "/v2/campaigns").json()["data"]} == {mine, theirs}
    only = network.call("GET", "/v2/campaigns", advertiser_id=rival.id).json()["data"]
    assert [c["id"] for c in only] == [theirs]
    assert {c["id"] for c in acme.call("GET", "/v2/campaigns").json()["data"]} == {mine}
    assert network.get(theirs)["advertiser_id"] == rival.id


def test_openapi_documents_the_write_models(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    create = doc["paths"]["/v2/campaigns"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["$ref"].endswith("/CampaignCreate")
    schema = doc["components"]["schemas"]["CampaignCreate"]
    assert schema["additionalProperties"] is False
    assert json.dumps(schema).count("destination_url") >= 1


# --- GET one campaign, served raw (api/raw_routes.py) -------------------------------------


def test_get_one_campaign_keeps_what_the_fastapi_stack_gives_it(app: RootApp, acme: Api) -> None:
    """The hottest management read bypasses FastAPI's routing: the request id, rate-limit headers,
    envelopes, tenancy and the routes beside it must not notice."""
    other = Api(app, acme.client, name="Globex")
    campaign_id = acme.create(**FULL)
    answer = acme.client.get(f"/v2/campaigns/{campaign_id}", headers={**acme.headers, "X-Request-ID": "r-1"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-request-id"] == "r-1"
    assert int(answer.headers["x-ratelimit-limit"]) > 0
    assert answer.json() == acme.get(campaign_id)
    assert answer.json()["targeting"] == FULL["targeting"]

    assert error(acme.client.get(f"/v2/campaigns/{campaign_id}"), 401)["code"] == "unauthorized"
    assert error(other.call("GET", f"/v2/campaigns/{campaign_id}"), 404, "campaign_id")
    assert error(acme.call("GET", "/v2/campaigns/not-an-id"), 404, "campaign_id")
    # The same path's other methods, and the paths under it, are FastAPI's.
    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"name": "Renamed"}).status_code == 200
    assert acme.get(campaign_id)["name"] == "Renamed"
    refused = acme.call("PUT", f"/v2/campaigns/{campaign_id}")
    assert error(refused, 405)["code"] == "method_not_allowed"
    # Every method the path answers, not only the first route's (RFC 9110 15.5.6).
    assert refused.headers["allow"] == "GET, PATCH, DELETE"
    assert acme.call("GET", f"/v2/campaigns/{campaign_id}/audiences").status_code == 200
    assert acme.call("GET", "/v2/campaigns/").status_code in (200, 307)
