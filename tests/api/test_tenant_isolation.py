"""No tenant reaches another tenant's objects: every id-taking endpoint answers 404.

The endpoints come from the OpenAPI document, so a new route with a path parameter is covered
the day it is added. It must come with a factory here (how to create such an object for a
tenant, and how that tenant reads it back); until then this test fails on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.accounts import render_account_id

from .conftest import bearer


@dataclass
class Tenants:
    app: RootApp
    client: TestClient
    owner: str  # advertiser A's key
    network: str  # the operator's key (owns operator objects, such as blocklist entries)
    intruders: dict[str, str]  # kind -> key of accounts that must not reach A's objects


@dataclass
class Owned:
    value: str  # what goes into the path
    read: Callable[[], Any]  # the owner's view of the object, to check it is unchanged


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def campaign(t: Tenants) -> Owned:
    body = {
        "name": "A's campaign",
        "type": "dsp_retargeting",
        "budget": {"daily": 100},
        "destination_url": "https://a.example.com/",
    }
    created = t.client.post("/v2/campaigns", json=body, headers=bearer(t.owner))
    campaign_id = created.json()["campaign_id"]
    return Owned(
        campaign_id, lambda: _json(t.client.get(f"/v2/campaigns/{campaign_id}", headers=bearer(t.owner)))
    )


def api_key(t: Tenants) -> Owned:
    key_id = t.client.post("/v2/keys", json={"name": "second"}, headers=bearer(t.owner)).json()["key"]["id"]
    return Owned(
        key_id,
        lambda: next(
            k for k in _json(t.client.get("/v2/keys", headers=bearer(t.owner)))["data"] if k["id"] == key_id
        ),
    )


def account(t: Tenants) -> Owned:
    principal = t.app.container.auth.authenticate(t.owner)
    return Owned(
        render_account_id(principal.kind, principal.account_id),
        lambda: _json(t.client.get("/v2/account", headers=bearer(t.owner))),
    )


def blocked_domain(t: Tenants) -> Owned:
    t.client.post("/v2/network/blocklist", json={"domain": "blocked.example"}, headers=bearer(t.network))
    return Owned(
        "blocked.example", lambda: _json(t.client.get("/v2/network/blocklist", headers=bearer(t.network)))
    )


# Path parameter -> how to make such an object for the owner. Add one per new id kind.
FACTORIES: dict[str, Callable[[Tenants], Owned]] = {
    "campaign_id": campaign,
    "key_id": api_key,
    "account_id": account,
    "domain": blocked_domain,
}

# Bodies that would change the object if the request got through (a 422 would hide the 404).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v2/campaigns/{campaign_id}"): {"name": "hijacked", "status": "paused"},
    ("POST", "/v2/campaigns/{campaign_id}/review"): {"decision": "reject", "reasons": ["hijacked"]},
    ("POST", "/v2/keys/{key_id}/rotate"): {"grace_seconds": 0},
}


@dataclass(frozen=True)
class Surface:
    headers: Callable[[str], dict[str, str]]
    is_not_found: Callable[[Any], bool]


# Path prefix -> how that surface authenticates and what its 404 envelope looks like.
SURFACES: dict[str, Surface] = {
    "/v2/": Surface(
        bearer,
        lambda body: body.get("success") is False and body.get("error", {}).get("code") == "not_found",
    ),
}

_PARAM = re.compile(r"\{([^}]+)\}")


def id_taking_endpoints(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if _PARAM.search(path)
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )


@pytest.fixture
def tenants(app: RootApp, client: TestClient) -> Tenants:
    accounts = app.container.accounts
    return Tenants(
        app=app,
        client=client,
        owner=accounts.create_account("A", "advertiser").api_key,
        network=accounts.create_account("Operator", "network").api_key,
        intruders={
            "advertiser": accounts.create_account("B", "advertiser").api_key,
            "publisher": accounts.create_account("P", "publisher").api_key,
        },
    )


def test_the_campaign_endpoints_are_covered(client: TestClient) -> None:
    endpoints = id_taking_endpoints(client)
    for expected in [
        ("GET", "/v2/campaigns/{campaign_id}"),
        ("PATCH", "/v2/campaigns/{campaign_id}"),
        ("DELETE", "/v2/campaigns/{campaign_id}"),
        ("POST", "/v2/campaigns/{campaign_id}/review"),
    ]:
        assert expected in endpoints


def test_every_id_taking_endpoint_hides_other_tenants_objects(tenants: Tenants) -> None:
    endpoints = id_taking_endpoints(tenants.client)
    missing = sorted({p for _, path in endpoints for p in _PARAM.findall(path)} - FACTORIES.keys())
    assert not missing, f"no factory for path parameters {missing}: add one to FACTORIES"
    for method, template in endpoints:
        surface = next((s for prefix, s in SURFACES.items() if template.startswith(prefix)), None)
        assert surface is not None, f"{template}: add its surface (auth, 404 envelope) to SURFACES"
        owned = {name: FACTORIES[name](tenants) for name in _PARAM.findall(template)}
        before = {name: o.read() for name, o in owned.items()}
        path = template.format(**{name: o.value for name, o in owned.items()})
        for kind, key in tenants.intruders.items():
            response = tenants.client.request(
                method, path, json=BODIES.get((method, template)), headers=surface.headers(key)
            )
            assert response.status_code == 404, (
                f"{kind} {method} {path}: {response.status_code} {response.text}"
            )
            assert surface.is_not_found(response.json()), f"{kind} {method} {path}: {response.text}"
        assert {name: o.read() for name, o in owned.items()} == before, (
            f"{method} {template} changed A's object"
        )
