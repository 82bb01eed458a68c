"""`POST /oauth2/token` with a form parameter given more than once: 400 invalid_request naming it
(RFC 6749 3.2 and 5.2), never the last value read as if it were the only one."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp

from .test_oauth_token import basic, oauth_error

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _token(client: TestClient, body: str, **headers: str) -> object:
    return client.post("/oauth2/token", content=body.encode(), headers={**FORM, **headers})


def test_a_wrong_secret_before_the_right_one_gets_no_token(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    grant = f"grant_type=client_credentials&client_id={new.client_id}"
    for secrets in (
        f"client_secret=WRONG&client_secret={new.client_secret}",
        f"client_secret={new.client_secret}&client_secret=WRONG",
    ):
        described = oauth_error(_token(client, f"{grant}&{secrets}"), 400, "invalid_request")
        assert "client_secret" in described
    # Once each, the same credentials get a token.
    once = _token(client, f"{grant}&client_secret={new.client_secret}")
    assert once.status_code == 200, once.text  # type: ignore[attr-defined]


def test_two_client_ids_are_refused_naming_client_id(app: RootApp, client: TestClient) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    other = app.container.accounts.create_account("Rival", "advertiser")
    body = (
        f"grant_type=client_credentials&client_id={other.client_id}"
        f"&client_id={new.client_id}&client_secret={new.client_secret}"
    )
    assert "client_id" in oauth_error(_token(client, body), 400, "invalid_request")


def test_two_grant_types_are_a_malformed_request_not_an_unsupported_grant(
    app: RootApp, client: TestClient
) -> None:
    new = app.container.accounts.create_account("Acme", "advertiser")
    creds = f"client_id={new.client_id}&client_secret={new.client_secret}"
    for grants in (
        "grant_type=client_credentials&grant_type=password",
        "grant_type=password&grant_type=client_credentials",
    ):
        assert "grant_type" in oauth_error(_token(client, f"{grants}&{creds}"), 400, "invalid_request")


@pytest.mark.parametrize("name", ["client_id", "grant_type", "scope"])
def test_an_identical_repeat_is_refused_too(app: RootApp, client: TestClient, name: str) -> None:
    """RFC 6749 5.2 makes any repeat invalid_request; no reading of one is safer than another."""
    new = app.container.accounts.create_account("Acme", "advertiser")
    params = {
        "grant_type": "client_credentials",
        "client_id": new.client_id,
        "client_secret": new.client_secret,
        "scope": "read",
    }
    pairs = [f"{k}={v}" for k, v in params.items()] + [f"{name}={params[name]}"]
    assert name in oauth_error(_token(client, "&".join(pairs)), 400, "invalid_request")


def test_basic_with_the_same_client_id_in_the_body_still_gets_a_token(
    app: RootApp, client: TestClient
) -> None:
    """The documented case: the client_id beside Basic credentials is one parameter, not a repeat."""
    new = app.container.accounts.create_account("Acme", "advertiser")
    body = f"grant_type=client_credentials&client_id={new.client_id}"
    issued = _token(client, body, **basic(new.client_id, new.client_secret))
    assert issued.status_code == 200, issued.text  # type: ignore[attr-defined]
    repeated = _token(client, f"{body}&client_id={new.client_id}", **basic(new.client_id, new.client_secret))
    assert "client_id" in oauth_error(repeated, 400, "invalid_request")
