"""/v2/smartlinks is a publisher's surface: an advertiser key listing or creating SmartLinks is
refused for its kind (403), as docs/api-v2-sponsored-products.md says, not shown an empty list."""

from __future__ import annotations

from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api, error


def test_an_advertiser_cannot_list_or_create_smartlinks(app: RootApp, client: TestClient) -> None:
    advertiser = Api(app, client, "advertiser", "Brand")
    error(advertiser.call("GET", "/v2/smartlinks"), 403)
    error(advertiser.call("GET", "/v2/smartlinks", include_archived="true"), 403)
    error(advertiser.call("POST", "/v2/smartlinks", {"ean": "4006381333931"}), 403)
    publisher = Api(app, client, "publisher", "Blog")
    listed = publisher.call("GET", "/v2/smartlinks")
    assert listed.status_code == 200 and listed.json()["data"] == []
