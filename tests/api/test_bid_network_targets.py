"""Bid networks on internal addresses (a security audit's finding): a tenant's network whose
baseUrl names a loopback, private, link-local or reserved address, in any spelling, is refused
with 400 naming baseUrl, at create and at update, and nothing is written; the operator's switch
(AUCTERA_PARTNER_ALLOW_PRIVATE) allows such partners."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.config import Settings

from .test_bids import Bidder

NETWORKS = "/management/v0/networks"

INTERNAL = [
    "http://127.0.0.1:8741",
    "http://localhost:8741",
    "http://2130706433:8741",  # 127.0.0.1 as one decimal number
    "http://[::ffff:127.0.0.1]:8741",  # IPv4-mapped IPv6
    "http://169.254.169.254",  # cloud metadata
    "http://[::1]:8741",
    "http://0.0.0.0:8741",
    "http://10.0.0.7",
    "https://192.168.1.1/bids",
]


def _refused(response: object) -> str:
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    message = str(response.json()["error"])  # type: ignore[attr-defined]
    assert message.startswith("baseUrl: "), message
    assert "private, loopback, link-local or reserved" in message
    return message


def _body(base_url: str, name: str = "Internal") -> dict[str, object]:
    return {"name": name, "kind": "http", "baseUrl": base_url, "credentials": {"token": "s3cret"}}


@pytest.mark.parametrize("base_url", INTERNAL)
def test_a_network_on_an_internal_address_is_refused_at_create(
    app: RootApp, client: TestClient, base_url: str
) -> None:
    acme = Bidder(app, client)
    _refused(acme.post(NETWORKS, _body(base_url)))
    assert client.get(NETWORKS, headers=acme.headers).json() == []  # nothing stored


def test_a_publisher_key_is_refused_too(app: RootApp, client: TestClient) -> None:
    key = app.container.accounts.create_account("Pub", "publisher").api_key
    response = client.post(NETWORKS, json=_body("http://169.254.169.254"), headers={"X-API-KEY": key})
    _refused(response)


@pytest.mark.parametrize("base_url", INTERNAL)
def test_a_network_moved_to_an_internal_address_is_refused_at_update(
    app: RootApp, client: TestClient, base_url: str
) -> None:
    acme = Bidder(app, client)
    public = "https://bids.example.com"  # never called here
    made = acme.made(NETWORKS, _body(public))
    path = f"{NETWORKS}/{made['id']}"
    _refused(client.patch(path, json={"baseUrl": base_url}, headers=acme.headers))
    assert client.get(path, headers=acme.headers).json()["baseUrl"] == public  # unchanged


@pytest.fixture
def allowing(tmp_path: Path) -> Iterator[TestClient]:
    application = create_app(Settings(data_dir=tmp_path / "data", partner_allow_private=True))
    try:
        with TestClient(application) as client:
            yield client
    finally:
        application.container.close()


def test_the_operator_may_allow_internal_partners(allowing: TestClient) -> None:
    app = allowing.app
    acme = Bidder(app, allowing)  # type: ignore[arg-type]
    made = acme.made(NETWORKS, _body("http://127.0.0.1:8741"))
    path = f"{NETWORKS}/{made['id']}"
    changed = allowing.patch(path, json={"baseUrl": "http://169.254.169.254"}, headers=acme.headers)
    assert changed.status_code == 200, changed.text
