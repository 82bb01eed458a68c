"""/openapi.json describes what the server answers: each surface's error statuses in its own
envelope, the bodies the compat surfaces parse by hand, and the raw routes. Bad requests are
sent to the real app and their statuses looked up in the document (api/openapi.py)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import bearer

Doc = dict[str, Any]
V2, BIDS, V3, RM = "V2Error", "BidsError", "V3Error", "RetailMediaErrors"
RM_PATH = "/{version}/retail-media"
V3_FEEDINFO = "/v3/partner/products/feedinfo/{programId}/{channelId}"
JSON = "application/json"


@pytest.fixture
def doc(client: TestClient) -> Doc:
    return dict(client.get("/openapi.json").json())


def _schema_ref(response: Doc) -> str:
    (content,) = response["content"].values()
    return str(content["schema"]["$ref"]).rsplit("/", 1)[-1]


def documented(doc: Doc, method: str, template: str, answer: Any) -> None:
    """`answer`'s status is documented for the operation; an error's body has the keys of the
    envelope the document names for it."""
    responses = doc["paths"][template][method.lower()]["responses"]
    status = str(answer.status_code)
    assert status in responses, f"{method} {template}: {status} not in {sorted(responses)}"
    if answer.status_code >= 400 and answer.headers["content-type"].startswith("application/json"):
        schema = doc["components"]["schemas"][_schema_ref(responses[status])]
        body = answer.json()
        assert set(schema["required"]) <= set(body) <= set(schema["properties"]), (template, body)


def error_statuses(doc: Doc, method: str, template: str) -> dict[str, str]:
    responses = doc["paths"][template][method]["responses"]
    return {status: _schema_ref(r) for status, r in responses.items() if status >= "400"}


@pytest.mark.parametrize(
    ("method", "template", "expected", "envelope"),
    [
        ("get", "/v2/campaigns/{campaign_id}", {"401", "404", "429"}, V2),
        ("post", "/v2/campaigns", {"400", "401", "403", "404", "422", "429"}, V2),
        ("patch", "/v2/campaigns/{campaign_id}", {"400", "401", "404", "409", "422", "429"}, V2),
        ("post", "/v2/conversions", {"400", "401", "403", "422", "429"}, V2),
        ("get", "/v2/account", {"401", "429"}, V2),
        ("post", "/management/v0/networks", {"400", "401", "409", "429"}, BIDS),
        ("get", "/management/v0/ad-sets/{adSetId}", {"401", "404", "429"}, BIDS),
        ("post", "/v3/partner/programs", {"400", "401", "403", "415", "429"}, V3),
        ("get", V3_FEEDINFO, {"400", "401", "403", "404", "429"}, V3),
        ("get", "/v3/productfeed", {"400", "403", "404"}, V3),
        ("get", RM_PATH + "/campaigns/{campaignId}", {"401", "404", "429"}, RM),
        ("get", RM_PATH + "/accounts", {"400", "401", "404", "429"}, RM),
        ("put", RM_PATH + "/auction-line-items/{lineItemId}", {"400", "401", "404", "409", "429"}, RM),
    ],
)
def test_each_surface_documents_its_errors_in_its_own_envelope(
    doc: Doc, method: str, template: str, expected: set[str], envelope: str
) -> None:
    found = error_statuses(doc, method, template)
    assert set(found) == expected
    assert set(found.values()) == {envelope}
    responses = doc["paths"][template][method]["responses"]
    if "429" in expected:
        assert {"Retry-After", "X-RateLimit-Reset"} <= set(responses["429"]["headers"])


def test_fastapis_validation_error_is_not_documented(doc: Doc) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                assert "HTTPValidationError" not in str(response), (method, path, status)


def test_hand_parsed_bodies_are_documented(doc: Doc) -> None:
    paths, schemas = doc["paths"], doc["components"]["schemas"]

    def body(method: str, template: str) -> Any:
        return paths[template][method]["requestBody"]["content"][JSON]["schema"]

    postback = body("post", "/v2/conversions")
    assert {"click_id", "event_type", "revenue"} <= set(postback["properties"])
    offline = paths["/v2/conversions/offline"]["post"]["requestBody"]["content"]
    assert offline[JSON]["schema"]["required"] == ["events"] and "text/csv" in offline
    assert body("post", "/management/v0/bids/upload")["items"]["required"] == [
        "campaign",
        "country",
        "optimalBidUsd",
    ]
    network = body("post", "/management/v0/networks")["allOf"]
    assert network[1] == {"required": ["name", "kind"]}
    assert "bidding" in schemas[network[0]["$ref"].rsplit("/", 1)[-1]]["properties"]
    decision = body("put", "/v3/client/channels")["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[decision]["required"]) == {"channelId", "approvalStatus"}
    line_item = body("post", RM_PATH + "/campaigns/{campaignId}/auction-line-items")
    attributes = line_item["properties"]["data"]["properties"]["attributes"]
    assert {"name", "targetRetailerId", "startDate"} <= set(attributes["required"])
    assert attributes["properties"]["bidStrategy"]["enum"] == ["conversion", "revenue", "clicks"]
    version = paths[RM_PATH + "/accounts"]["get"]["parameters"][0]
    assert version["name"] == "version" and "2025-10" in version["schema"]["enum"]


def test_raw_routes_are_documented_for_browsers(doc: Doc) -> None:
    paths = doc["paths"]
    click = paths["/click"]["get"]
    assert click["tags"] == ["browser-facing (not for client SDKs)"]
    assert "Location" in click["responses"]["302"]["headers"]
    pixel = paths["/imp"]["get"]["responses"]["200"]["content"]["image/gif"]["schema"]
    assert pixel["maxLength"] == 43
    auction = paths["/api/v1/auction/"]["get"]
    assert _schema_ref(auction["responses"]["200"]) == "SmartLinkEnvelope"
    assert {p["name"] for p in auction["parameters"]} == {"a", "t", "uuid"}
    assert {"/s/{auction_id}", "/sp/click", "/sp/imp", "/viewable", "/sp/viewable"} <= set(paths)


def test_what_the_server_answers_is_documented(app: RootApp, client: TestClient, doc: Doc) -> None:
    accounts = app.container.accounts
    advertiser = accounts.create_account("Acme", "advertiser")
    publisher = accounts.create_account("Blog", "publisher")
    adv, pub = bearer(advertiser.api_key), bearer(publisher.api_key)

    # /v2
    campaign_body = {"name": "Promo", "type": "dsp_retargeting", "budget": 100}
    campaign = "/v2/campaigns/{campaign_id}"
    documented(doc, "GET", campaign, client.get("/v2/campaigns/cmp_xxx", headers=adv))
    documented(doc, "GET", campaign, client.get("/v2/campaigns/cmp_xxx"))
    bad_json = {**adv, "content-type": JSON}
    documented(doc, "POST", "/v2/campaigns", client.post("/v2/campaigns", content=b"{", headers=bad_json))
    documented(doc, "POST", "/v2/campaigns", client.post("/v2/campaigns", json={"name": 5}, headers=adv))
    documented(doc, "POST", "/v2/campaigns", client.post("/v2/campaigns", json=campaign_body, headers=pub))
    other = {**campaign_body, "advertiser_id": "adv_zzzz"}  # an id in the body that names nothing
    documented(doc, "POST", "/v2/campaigns", client.post("/v2/campaigns", json=other, headers=adv))
    documented(doc, "POST", "/v2/conversions", client.post("/v2/conversions", json={}, headers=adv))
    documented(
        doc,
        "POST",
        "/v2/accounts",
        client.post("/v2/accounts", json={"name": "x", "kind": "publisher"}, headers=adv),
    )

    sync = {"audience_id": "aud_77b3x", "action": "add", "identifiers": [{"type": "maid", "value": "x"}]}
    documented(doc, "POST", "/v2/audiences/sync", client.post("/v2/audiences/sync", json=sync, headers=adv))
    daily = client.get("/v2/reports/daily", params={"campaign_id": "cmp_xxx"}, headers=adv)
    documented(doc, "GET", "/v2/reports/daily", daily)

    # bid management
    key = {"X-API-KEY": advertiser.api_key}
    documented(
        doc,
        "GET",
        "/management/v0/networks/{networkId}",
        client.get("/management/v0/networks/9", headers=key),
    )
    documented(doc, "GET", "/management/v0/networks", client.get("/management/v0/networks"))
    networks = "/management/v0/networks"
    documented(doc, "POST", networks, client.post(networks, json={"nme": "x"}, headers=key))
    network = {"name": "Net", "kind": "http", "baseUrl": "https://ads.example.com"}
    assert client.post(networks, json=network, headers=key).status_code == 201
    documented(doc, "POST", networks, client.post(networks, json=network, headers=key))
    operations = "/management/v0/bids/operations"
    documented(doc, "GET", operations, client.get(operations, params={"limit": "x"}, headers=key))

    # affiliate v3
    programs = "/v3/partner/programs"
    partner = {"X-Token": publisher.api_key}
    documented(doc, "POST", programs, client.post(programs, json={"market": 5}, headers=partner))
    documented(doc, "POST", programs, client.post(programs, json={"market": "DE"}))
    client_token = {"X-Token": advertiser.api_key}
    documented(doc, "POST", programs, client.post(programs, json={"market": "DE"}, headers=client_token))
    text = {**partner, "content-type": "text/plain"}
    documented(doc, "POST", programs, client.post(programs, content=b"market", headers=text))
    commissions = "/v3/partner/programs/commissions/{programId}"
    documented(doc, "GET", commissions, client.get("/v3/partner/programs/commissions/x", headers=partner))
    documented(doc, "GET", "/v3/productfeed", client.get("/v3/productfeed", params={"format": "PDF"}))

    # retail media
    form = {
        "grant_type": "client_credentials",
        "client_id": advertiser.client_id,
        "client_secret": advertiser.client_secret,
    }
    token = bearer(client.post("/oauth2/token", data=form).json()["access_token"])
    documented(
        doc, "POST", "/oauth2/token", client.post("/oauth2/token", data={**form, "client_secret": "no"})
    )
    one = RM_PATH + "/campaigns/{campaignId}"
    documented(doc, "GET", one, client.get("/2025-10/retail-media/campaigns/x", headers=token))
    documented(doc, "GET", one, client.get("/2025-10/retail-media/campaigns/1"))
    listed = RM_PATH + "/accounts"
    documented(doc, "GET", listed, client.get("/2025-10/retail-media/accounts?pageSize=0", headers=token))
    create = RM_PATH + "/accounts/{accountId}/campaigns"
    own = f"/2025-10/retail-media/accounts/{advertiser.account.id}/campaigns"
    documented(doc, "POST", create, client.post(own, json={"data": {"attributes": {}}}, headers=token))

    # raw routes
    documented(doc, "GET", "/api/v1/auction/", client.get("/api/v1/auction/", params={"a": "x"}))
    documented(doc, "GET", "/api/v1/auction/", client.get("/api/v1/auction/", params={"a": "1"}))
    documented(doc, "GET", "/s/{auction_id}", client.get("/s/1", follow_redirects=False))
    documented(doc, "GET", "/click", client.get("/click", params={"o": "!"}, follow_redirects=False))
    documented(doc, "GET", "/imp", client.get("/imp"))


def test_rate_limited_answers_are_documented(app: RootApp, client: TestClient, doc: Doc) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser", rate_limit_per_minute=1)
    assert client.get("/v2/account", headers=bearer(new.api_key)).status_code == 200
    limited = client.get("/v2/account", headers=bearer(new.api_key))
    assert limited.status_code == 429
    documented(doc, "GET", "/v2/account", limited)
    headers = doc["paths"]["/v2/account"]["get"]["responses"]["429"]["headers"]
    assert {h.lower() for h in headers} <= set(limited.headers)


def test_the_document_is_valid_openapi(doc: Doc) -> None:
    validate(doc)
