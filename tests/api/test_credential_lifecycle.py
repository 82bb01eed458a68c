"""Every credential can be ended: the OAuth2 client (client_id/client_secret, the retail-media
surface's) is revoked or has its secret rotated over /v2/keys/clients, and that ends the tokens
issued with the old secret; a key or token that will end does not manage credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.services.accounts import NewAccount
from support.clock import FrozenClock

from .conftest import app_at, bearer, error
from .test_oauth_token import oauth_error

RETAIL = "/2025-10/retail-media"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, "https://trk.example.com") as application:
        yield application


@pytest.fixture
def acme(app: RootApp) -> NewAccount:
    return app.container.accounts.create_account("Acme", "advertiser")


def token(client: TestClient, client_id: str, client_secret: str) -> Any:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    return client.post("/oauth2/token", data=form)


def access(client: TestClient, client_id: str, client_secret: str) -> str:
    issued = token(client, client_id, client_secret)
    assert issued.status_code == 200, issued.text
    return str(issued.json()["access_token"])


def create_campaign(client: TestClient, account: NewAccount, access_token: str) -> Any:
    body = {"data": {"type": "RetailMediaCampaign", "attributes": {"name": "Spring", "budget": 100}}}
    path = f"{RETAIL}/accounts/{account.account.id}/campaigns"
    return client.post(path, json=body, headers=bearer(access_token))


def refused_on_retail_media(response: Any) -> None:
    assert response.status_code == 401, response.text
    [problem] = response.json()["errors"]
    assert problem["type"] == "authentication"


def test_revoking_the_client_ends_its_tokens(client: TestClient, acme: NewAccount, app: RootApp) -> None:
    earlier = access(client, acme.client_id, acme.client_secret)
    assert create_campaign(client, acme, earlier).status_code == 201
    owner = bearer(acme.api_key)
    listed = client.get("/v2/keys/clients", headers=owner).json()["data"]
    assert [(c["client_id"], c["revoked_at"]) for c in listed] == [(acme.client_id, None)]
    assert "client_secret" not in listed[0]

    # Revoking every API key leaves the client alone (a credential of its own)...
    rival = app.container.accounts.create_account("Rival", "advertiser")
    error(
        client.delete(f"/v2/keys/clients/{acme.client_id}", headers=bearer(rival.api_key)), 404, "client_id"
    )
    revoked = client.delete(f"/v2/keys/clients/{acme.client_id}", headers=owner)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["client"]["revoked_at"]
    again = client.delete(f"/v2/keys/clients/{acme.client_id}", headers=owner)
    assert again.json()["client"]["revoked_at"] == revoked.json()["client"]["revoked_at"]  # idempotent

    # ...which, revoked, gets no token and its earlier token is refused at once.
    oauth_error(token(client, acme.client_id, acme.client_secret), 401, "invalid_client")
    refused_on_retail_media(create_campaign(client, acme, earlier))
    refused_on_retail_media(client.get(f"{RETAIL}/accounts", headers=bearer(earlier)))
    error(client.post(f"/v2/keys/clients/{acme.client_id}/rotate", headers=owner), 422, "client_id")

    # A new client brings the retail-media surface back, with its own secret shown once.
    new = client.post("/v2/keys/clients", headers=owner)
    assert new.status_code == 201, new.text
    fresh = access(client, new.json()["client_id"], new.json()["client_secret"])
    assert create_campaign(client, acme, fresh).status_code == 201
    listed = client.get("/v2/keys/clients", headers=owner).json()["data"]
    live = {c["client_id"]: c["revoked_at"] is None for c in listed}
    assert live == {acme.client_id: False, new.json()["client_id"]: True}


def test_rotating_the_secret_refuses_the_old_one(client: TestClient, acme: NewAccount) -> None:
    earlier = access(client, acme.client_id, acme.client_secret)
    rotated = client.post(
        f"/v2/keys/clients/{acme.client_id}/rotate", headers=bearer(acme.api_key), json={"grace_seconds": 0}
    )
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert body["client_id"] == acme.client_id and body["client_secret"].startswith("auc_cs_")
    assert body["client_secret"] != acme.client_secret

    oauth_error(token(client, acme.client_id, acme.client_secret), 401, "invalid_client")
    refused_on_retail_media(create_campaign(client, acme, earlier))
    fresh = access(client, acme.client_id, body["client_secret"])
    assert create_campaign(client, acme, fresh).status_code == 201


def test_the_old_secret_and_its_tokens_work_for_the_grace_period_only(
    client: TestClient, acme: NewAccount, clock: FrozenClock
) -> None:
    earlier = access(client, acme.client_id, acme.client_secret)
    rotated = client.post(
        f"/v2/keys/clients/{acme.client_id}/rotate", headers=bearer(acme.api_key), json={"grace_seconds": 60}
    ).json()
    assert rotated["client"]["previous_secret_valid_until"] == (clock.now + timedelta(seconds=60)).isoformat()
    during = token(client, acme.client_id, acme.client_secret)
    assert during.status_code == 200 and during.json()["expires_in"] == 60  # not past the grace
    for old in (earlier, during.json()["access_token"]):
        assert create_campaign(client, acme, old).status_code == 201
    fresh = access(client, acme.client_id, rotated["client_secret"])

    clock.now += timedelta(seconds=59)
    assert token(client, acme.client_id, acme.client_secret).json()["expires_in"] == 1
    clock.now += timedelta(milliseconds=500)  # no token dead on arrival (`expires_in: 0`)
    oauth_error(token(client, acme.client_id, acme.client_secret), 401, "invalid_client")
    clock.now += timedelta(milliseconds=500)
    oauth_error(token(client, acme.client_id, acme.client_secret), 401, "invalid_client")
    for old in (earlier, during.json()["access_token"]):
        refused_on_retail_media(create_campaign(client, acme, old))
    assert create_campaign(client, acme, fresh).status_code == 201


def test_a_retiring_key_or_a_token_manages_no_credentials(
    app: RootApp, client: TestClient, acme: NewAccount, clock: FrozenClock
) -> None:
    old = bearer(acme.api_key)
    key_id = client.get("/v2/keys", headers=old).json()["data"][0]["id"]
    rotated = client.post(f"/v2/keys/{key_id}/rotate", headers=old, json={"grace_seconds": 2})
    assert rotated.status_code == 201, rotated.text
    fresh = bearer(rotated.json()["api_key"])
    new_id = rotated.json()["key"]["id"]

    # In its grace period the old key does the account's work, but no key or client work.
    assert client.get("/v2/account", headers=old).status_code == 200
    assert len(client.get("/v2/keys", headers=old).json()["data"]) == 2
    for method, path, body in [
        ("POST", "/v2/keys", {"name": "forever"}),
        ("POST", f"/v2/keys/{key_id}/rotate", {"grace_seconds": 0}),
        ("POST", f"/v2/keys/{new_id}/rotate", {"grace_seconds": 0}),
        ("DELETE", f"/v2/keys/{new_id}", None),
        ("POST", "/v2/keys/clients", None),
        ("POST", f"/v2/keys/clients/{acme.client_id}/rotate", {"grace_seconds": 0}),
        ("DELETE", f"/v2/keys/clients/{acme.client_id}", None),
        ("POST", "/v2/account/signing-secret/rotate", {"grace_seconds": 0}),
    ]:
        refused = error(client.request(method, path, json=body, headers=old), 403)
        assert "retired" in refused["message"], (method, path)
    # Nothing was made or changed: the replacement alone is left once the grace ends.
    assert [k["revoked_at"] for k in client.get("/v2/keys", headers=fresh).json()["data"]] == [None, None]
    assert len(client.get("/v2/keys/clients", headers=fresh).json()["data"]) == 1
    access(client, acme.client_id, acme.client_secret)
    assert app.container.accounts.get_account(acme.account.id).signing_secret == acme.account.signing_secret
    clock.now += timedelta(seconds=2)
    error(client.get("/v2/account", headers=old), 401)
    assert client.get("/v2/account", headers=fresh).status_code == 200

    # An access token (it ends within the hour) is no way to mint a lasting key either.
    at = bearer(access(client, acme.client_id, acme.client_secret))
    assert "access token" in error(client.post("/v2/keys", json={}, headers=at), 403)["message"]
    assert client.post("/v2/keys", json={"name": "ci"}, headers=fresh).status_code == 201


def test_a_key_and_a_signing_secret_are_made_without_a_body(client: TestClient, acme: NewAccount) -> None:
    """docs/auth.md: every field of these requests is optional, so is the body."""
    key = client.post("/v2/keys", headers=bearer(acme.api_key))
    assert key.status_code == 201, key.text
    assert key.json()["key"]["name"] == "default" and key.json()["api_key"].startswith("auc_sk_")
    secret = client.post("/v2/account/signing-secret/rotate", headers=bearer(acme.api_key))
    assert secret.status_code == 200, secret.text
    assert secret.json()["api_secret"] != acme.account.signing_secret
