"""`POST /oauth2/token`: client authentication by HTTP Basic as well as in the form body
(RFC 6749 2.3.1), and the RFC's error for each malformed request."""

from __future__ import annotations

import base64
from typing import Any

from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import bearer

GRANT = {"grant_type": "client_credentials"}


def basic(client_id: str, client_secret: str, *, encode: bool = True) -> dict[str, str]:
    """RFC 6749 2.3.1: each form-urlencoded (here every byte, as a cautious client may), then
    joined with ':' and base64-encoded."""

    def form(text: str) -> str:
        return "".join(f"%{b:02X}" for b in text.encode()) if encode else text

    pair = f"{form(client_id)}:{form(client_secret)}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


def oauth_error(response: Any, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    return str(body["error_description"])


def test_basic_client_authentication(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    for headers in (
        basic(new.client_id, new.client_secret),
        basic(new.client_id, new.client_secret, encode=False),
    ):
        issued = client.post("/oauth2/token", data=GRANT, headers=headers)
        assert issued.status_code == 200, issued.text
        me = client.get("/2025-10/retail-media/accounts", headers=bearer(issued.json()["access_token"]))
        assert [a["id"] for a in me.json()["data"]] == [str(new.account.id)]
    # The same client_id repeated in the body names the same client: nothing conflicts.
    same = client.post(
        "/oauth2/token",
        data={**GRANT, "client_id": new.client_id},
        headers=basic(new.client_id, new.client_secret),
    )
    assert same.status_code == 200, same.text

    wrong = client.post("/oauth2/token", data=GRANT, headers=basic(new.client_id, "auc_cs_wrong"))
    oauth_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic")


def test_one_authentication_method_per_request(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    other = app.container.accounts.create_account("Rival", "advertiser")
    headers = basic(new.client_id, new.client_secret)
    both = client.post(
        "/oauth2/token",
        data={**GRANT, "client_id": new.client_id, "client_secret": new.client_secret},
        headers=headers,
    )
    assert "not both" in oauth_error(both, 400, "invalid_request")
    mixed = client.post("/oauth2/token", data={**GRANT, "client_id": other.client_id}, headers=headers)
    oauth_error(mixed, 400, "invalid_request")


def test_malformed_requests(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    form = {"client_id": new.client_id, "client_secret": new.client_secret}
    # A missing parameter is invalid_request; unsupported_grant_type is for a grant it names.
    assert "grant_type" in oauth_error(client.post("/oauth2/token", data=form), 400, "invalid_request")
    oauth_error(
        client.post("/oauth2/token", data={**form, "grant_type": "password"}), 400, "unsupported_grant_type"
    )
    for header in ("Basic not-base64!", "Basic " + base64.b64encode(b"no colon").decode(), "Basic"):
        response = client.post("/oauth2/token", data=GRANT, headers={"Authorization": header})
        oauth_error(response, 400, "invalid_request")
    no_secret = client.post("/oauth2/token", data=GRANT, headers=basic(new.client_id, ""))
    assert "client_secret" in oauth_error(no_secret, 400, "invalid_request")
    assert "client_id" in oauth_error(client.post("/oauth2/token", data=GRANT), 400, "invalid_request")
