"""Who may create retail-media campaigns, and errors the way docs/api-retail-media.md documents
them: a network's or a publisher's token gets one clear 403 (never a 400 it cannot get out of),
and every status, `type` and 400 code the server answers is one the document lists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Tenant, problems

DOC = (Path(__file__).parents[3] / "docs" / "api-retail-media.md").read_text()

# What the document lists: the error table's statuses and types, and the codes a 400 may carry.
DOCUMENTED_TYPES = {
    int(status): set(re.findall(r"`(\w+)`", kinds))
    for status, kinds in re.findall(r"^\| (\d{3}) \|.*\| ([^|]*) \|$", DOC, flags=re.MULTILINE)
}
DOCUMENTED_400_CODES = set(
    re.findall(r"`([a-z-]+)`", DOC.split("Codes for 400:")[1].split("A failed write")[0])
)


def documented_example(kind: str) -> dict[str, Any]:
    """The document's JSON example of an error of this `type`."""
    for block in re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL):
        body = json.loads(block)
        if body.get("errors") and body["errors"][0]["type"] == kind:
            return dict(body)
    raise AssertionError(f"docs/api-retail-media.md shows no {kind} error")


def campaign_body(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "RetailMediaCampaign", "attributes": {"name": "n", "budget": 10, **attributes}}}


def forbidden(response: Any) -> str:
    """The detail of a 403, checked against the SDKs' CommonProblem and the document."""
    assert response.status_code == 403, response.text
    body = response.json()
    [error] = body["errors"]
    assert body["warnings"] == []
    assert (error["type"], error["code"], error["title"]) == ("authorization", "forbidden", "Forbidden")
    assert set(error) == {"type", "code", "title", "detail"}  # no attribute is to blame
    assert error["type"] in DOCUMENTED_TYPES[403]
    return str(error["detail"])


def test_a_network_token_is_told_it_cannot_create_campaigns_here(
    app: RootApp, client: TestClient, acme: Tenant
) -> None:
    network = Tenant(app, client, "Operator", kind="network")
    # On its own account (the one /accounts lists for it), with or without the advertiser_id the
    # /v2 answer asks for: one 403 saying what to do instead, not a 400 loop.
    for body in (campaign_body(), campaign_body(advertiser_id=acme.id), {"data": {}}):
        response = network.call("POST", f"/accounts/{network.id}/campaigns", body)
        detail = forbidden(response)
        assert "network accounts cannot own retail-media campaigns" in detail
        assert "advertiser's own OAuth2 client" in detail
    assert response.json() == documented_example("authorization")
    # The advertiser's account is not one its token acts for: 404, as for any tenant, saying why.
    elsewhere = network.call("POST", f"/accounts/{acme.id}/campaigns", campaign_body())
    assert elsewhere.status_code == 404
    [error] = elsewhere.json()["errors"]
    assert (error["type"], error["code"]) == ("validation", "not-found")
    assert error["detail"].endswith("a token acts for its own account only (GET /accounts)")
    # Nothing was written for anyone; what a network token reaches here stays its own account.
    assert acme.call("GET", f"/accounts/{acme.id}/campaigns").json()["data"] == []
    [account] = network.call("GET", "/accounts").json()["data"]
    assert account["id"] == network.id
    assert network.call("GET", f"/accounts/{network.id}/campaigns").json()["data"] == []
    assert network.call("GET", f"/accounts/{acme.id}/campaigns").status_code == 404


def test_a_publisher_token_gets_the_documented_403_whatever_the_body(
    app: RootApp, client: TestClient
) -> None:
    shop = Tenant(app, client, "Shop", kind="publisher")
    for body in (campaign_body(), {"data": {"attributes": {"colour": "red"}}}):
        detail = forbidden(shop.call("POST", f"/accounts/{shop.id}/campaigns", body))
        assert detail.startswith("publisher accounts cannot own retail-media campaigns")
    assert shop.call("GET", f"/accounts/{shop.id}/campaigns").json()["data"] == []
    # /openapi.json says so too, in this surface's envelope.
    operation = client.get("/openapi.json").json()["paths"][
        "/{version}/retail-media/accounts/{accountId}/campaigns"
    ]
    assert operation["post"]["responses"]["403"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RetailMediaErrors"
    )


def test_campaign_checks_answer_documented_codes(acme: Tenant) -> None:
    """The campaign checks shared with /v2 name no code of their own; here each gets one the
    document lists, points at this surface's attribute and says it in this surface's words."""
    cases = [
        ({"name": ""}, "invalid-name", "name", "name must be 1-255 characters"),
        ({"budget": None}, "required", "budget", "budget or dailyPacing is required"),
        ({"budget": 0}, "out-of-range", "budget", "budget must be greater than zero"),
        ({"budget": 1, "dailyPacing": 5}, "out-of-range", "dailyPacing", "dailyPacing cannot exceed budget"),
        (
            {"startDate": "2026-12-05", "endDate": "2026-12-01"},
            "invalid-date-range",
            "endDate",
            "endDate is before startDate",
        ),
        ({"endDate": "2001-01-01"}, "invalid-date-range", "endDate", "endDate 2001-01-01 is in the past"),
    ]
    for attributes, code, attribute, detail in cases:
        [error] = problems(acme.call("POST", f"/accounts/{acme.id}/campaigns", campaign_body(**attributes)))
        assert code in DOCUMENTED_400_CODES
        assert (error["code"], error["source"], error["detail"]) == (
            code,
            {"pointer": f"/data/attributes/{attribute}"},
            detail,
        ), attributes
    assert acme.call("GET", f"/accounts/{acme.id}/campaigns").json()["data"] == []


def test_401_answers_as_the_document_shows(acme: Tenant) -> None:
    response = acme.client.get(f"{acme.base}/accounts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="retail-media"'
    assert response.json() == documented_example("authentication")
    for status, kinds in ((401, "authentication"), (404, "validation"), (409, "validation"), (429, "quota")):
        assert kinds in DOCUMENTED_TYPES[status]
    # Each 401 detail the document quotes is one the server gives.
    api_key = acme.app.container.accounts.create_key(acme.account.id).secret
    for headers in (
        {"Authorization": "Bearer auc_at_nope"},
        {"Authorization": "Basic x"},
        {"Authorization": f"Bearer {api_key}"},
    ):
        [error] = acme.client.get(f"{acme.base}/accounts", headers=headers).json()["errors"]
        assert (error["type"], error["code"]) == ("authentication", "unauthorized")
        assert f"`{error['detail']}`" in DOC, error["detail"]
