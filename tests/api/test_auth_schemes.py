"""Every auth scheme the seeds use resolves to the one key store."""

from __future__ import annotations

from fastapi import Depends
from starlette.testclient import TestClient

from auctera.api.auth import api_key_principal, oauth_principal, token_principal
from auctera.app import RootApp
from auctera.domain.accounts import Principal

from .conftest import bearer


def _mount_probe_routes(app: RootApp) -> None:
    """Routes protected by the schemes whose surfaces arrive in later issues."""

    def whoami(p: Principal) -> dict[str, int]:
        return {"account_id": p.account_id}

    app.api.add_api_route("/management/v0/_probe", lambda p=Depends(api_key_principal): whoami(p))
    app.api.add_api_route("/v3/_probe", lambda p=Depends(token_principal): whoami(p))
    app.api.add_api_route("/2025-10/retail-media/_probe", lambda p=Depends(oauth_principal): whoami(p))


def test_bearer_on_v2(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    ok = client.get("/v2/account", headers=bearer(new.api_key))
    assert ok.status_code == 200
    assert ok.json()["name"] == "Acme"
    assert ok.json()["kind"] == "advertiser"

    missing = client.get("/v2/account")
    assert missing.status_code == 401
    assert missing.json() == {
        "success": False,
        "error": {
            "code": "unauthorized",
            "message": "missing API key: send Authorization: Bearer <api key>",
            "field": None,
        },
    }
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong_scheme = client.get("/v2/account", headers={"Authorization": f"Basic {new.api_key}"})
    assert wrong_scheme.status_code == 401
    bad = client.get("/v2/account", headers=bearer("auc_sk_not-a-real-key"))
    assert bad.status_code == 401
    assert bad.json()["success"] is False


def test_x_api_key_and_x_token(app: RootApp, client: TestClient) -> None:
    _mount_probe_routes(app)
    new = app.container.accounts.create_account("Acme", "advertiser")
    me = {"account_id": new.account.id}
    assert client.get("/management/v0/_probe", headers={"X-API-KEY": new.api_key}).json() == me
    assert client.get("/management/v0/_probe").status_code == 401
    assert client.get("/v3/_probe", headers={"X-Token": new.api_key}).json() == me
    assert client.get("/v3/_probe", params={"token": new.api_key}).json() == me
    assert client.get("/v3/_probe", params={"token": "nope"}).status_code == 401


def test_oauth2_client_credentials(app: RootApp, client: TestClient) -> None:
    _mount_probe_routes(app)
    new = app.container.accounts.create_account("Retailer", "publisher")
    form = {
        "grant_type": "client_credentials",
        "client_id": new.client_id,
        "client_secret": new.client_secret,
    }
    issued = client.post("/oauth2/token", data=form)
    assert issued.status_code == 200
    body = issued.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] is None
    assert 0 < body["expires_in"] <= 3600
    assert issued.headers["cache-control"] == "no-store"

    retail = "/2025-10/retail-media/_probe"
    assert client.get(retail, headers=bearer(body["access_token"])).json() == {"account_id": new.account.id}
    # The retail surface takes access tokens, not raw API keys.
    assert client.get(retail, headers=bearer(new.api_key)).status_code == 401

    wrong = client.post("/oauth2/token", data={**form, "client_secret": "auc_cs_wrong"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    grant = client.post("/oauth2/token", data={**form, "grant_type": "password"})
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    missing = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": new.client_id}
    )
    assert missing.status_code == 400
    assert "client_secret" in missing.json()["error_description"]


def test_key_rotation_and_revocation_over_http(app: RootApp, client: TestClient) -> None:
    app.container.auth._cache_seconds = 0  # observe revocations at once in this process
    new = app.container.accounts.create_account("Acme", "advertiser")
    old = bearer(new.api_key)
    keys = client.get("/v2/keys", headers=old).json()["data"]
    assert len(keys) == 1
    assert "api_key" not in keys[0]
    key_id = keys[0]["id"]

    rotated = client.post(f"/v2/keys/{key_id}/rotate", headers=old, json={"grace_seconds": 600})
    assert rotated.status_code == 201
    fresh = bearer(rotated.json()["api_key"])
    assert client.get("/v2/account", headers=old).status_code == 200  # grace period
    assert client.get("/v2/account", headers=fresh).status_code == 200
    listed = client.get("/v2/keys", headers=fresh).json()["data"]
    assert [k["expires_at"] is not None for k in listed] == [True, False]

    revoked = client.delete(f"/v2/keys/{key_id}", headers=fresh)
    assert revoked.status_code == 200
    assert client.delete(f"/v2/keys/{key_id}", headers=fresh).status_code == 200  # idempotent
    assert client.get("/v2/account", headers=old).status_code == 401
    assert client.get("/v2/account", headers=fresh).status_code == 200


def test_network_operator_creates_accounts(app: RootApp, client: TestClient) -> None:
    net = app.container.accounts.create_account("Operator", "network")
    adv = app.container.accounts.create_account("Acme", "advertiser")
    created = client.post(
        "/v2/accounts",
        headers=bearer(net.api_key),
        json={"name": "Brand", "kind": "advertiser", "timezone": "America/New_York"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["account"]["id"].startswith("adv_")
    assert client.get("/v2/account", headers=bearer(body["api_key"])).json()["timezone"] == "America/New_York"

    refused = client.post(
        "/v2/accounts", headers=bearer(adv.api_key), json={"name": "X", "kind": "publisher"}
    )
    assert refused.status_code == 403
    unknown = client.post(
        "/v2/accounts", headers=bearer(net.api_key), json={"name": "X", "kind": "publisher", "colour": "red"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "colour"
    # An advertiser cannot see another account, and is told it does not exist.
    other = client.get(f"/v2/accounts/{body['account']['id']}", headers=bearer(adv.api_key))
    assert other.status_code == 404


def test_malformed_json_is_a_400_without_a_bogus_field(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    response = client.post(
        "/v2/campaigns",
        content=b'{"name": "X", bad',
        headers={**bearer(new.api_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["field"] is None
    assert "not valid JSON" in error["message"]


def test_each_surface_says_its_own_scheme_and_takes_only_its_credentials(
    app: RootApp, client: TestClient
) -> None:
    """A 401 names the header the surface reads (a client following a `Bearer` challenge on the
    bids surface got 401 again); access tokens are for /v2 and retail media only, so a client
    issued for retail media cannot upload bids or manage v3 channels."""
    _mount_probe_routes(app)
    new = app.container.accounts.create_account("Acme", "advertiser")
    form = {
        "grant_type": "client_credentials",
        "client_id": new.client_id,
        "client_secret": new.client_secret,
    }
    token = client.post("/oauth2/token", data=form).json()["access_token"]
    me = {"account_id": new.account.id}

    bids = client.get("/management/v0/_probe")
    assert bids.status_code == 401 and bids.headers["www-authenticate"] == 'APIKey header="X-API-KEY"'
    assert "send X-API-KEY: <api key>" in bids.text
    refused = client.get("/management/v0/_probe", headers={"X-API-KEY": token})
    assert refused.status_code == 401 and "use an API key" in refused.text

    v3 = client.get("/v3/_probe")
    assert v3.status_code == 401 and v3.headers["www-authenticate"] == 'APIKey header="X-Token"'
    assert client.get("/v3/_probe", headers={"X-Token": token}).status_code == 401
    assert client.get("/v3/_probe", params={"token": token}).status_code == 401

    retail = "/2025-10/retail-media/_probe"
    nothing = client.get(retail)
    assert nothing.status_code == 401 and nothing.headers["www-authenticate"].startswith("Bearer")
    assert "missing access token: send Authorization: Bearer <access token" in nothing.text
    assert (
        "access token from /oauth2/token is required" in client.get(retail, headers=bearer(new.api_key)).text
    )

    # /v2 takes both.
    assert client.get("/v2/account", headers=bearer(token)).json()["name"] == "Acme"
    assert client.get("/management/v0/_probe", headers={"X-API-KEY": new.api_key}).json() == me
