"""A tag or a DCO serve hands out only click links that GET /click redirects: never a dead link in
an ad (a campaign without a landing page, one not running, or an offer whose links need a
publisher)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from support.creatives import banner

from .conftest import Api, error


def _asset(api: Api) -> str:
    files = {"file": ("banner_300x250.jpg", banner(), "application/octet-stream")}
    response = api.client.post(
        "/v2/creatives/upload", files=files, data={"type": "image"}, headers=api.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["asset_id"])


def _template(api: Api, campaign_id: str) -> str:
    body = {"name": "Dynamic", "variables": {"cta": ["Buy now", "Shop"]}, "campaign_id": campaign_id}
    response = api.call("POST", "/v2/creatives/dco", body)
    assert response.status_code == 201, response.text
    return str(response.json()["dco_template_id"])


def _click(client: TestClient, url: str) -> Any:
    return client.get(f"{urlsplit(url).path}?{urlsplit(url).query}", follow_redirects=False)


def test_no_dco_serve_for_a_campaign_without_a_landing_page(acme: Api, client: TestClient) -> None:
    campaign_id = acme.create()  # no destination_url: GET /click would answer 404
    template = _template(acme, campaign_id)
    failure = error(acme.call("GET", f"/v2/creatives/dco/{template}/serve"), 409, "campaign_id")
    assert campaign_id in failure["message"] and "destination_url" in failure["message"]

    patched = acme.call(
        "PATCH", f"/v2/campaigns/{campaign_id}", {"destination_url": "https://shop.example.com/"}
    )
    assert patched.status_code == 200, patched.text
    served = acme.call("GET", f"/v2/creatives/dco/{template}/serve")
    assert served.status_code == 200, served.text
    assert _click(client, served.json()["click_url"]).status_code == 302


def test_no_tag_or_dco_serve_while_the_campaign_is_paused(acme: Api, client: TestClient) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    asset_id = _asset(acme)
    template = _template(acme, campaign_id)
    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "paused"}).status_code == 200

    tag = error(
        acme.call("GET", f"/v2/creatives/{asset_id}/tag", campaign_id=campaign_id), 409, "campaign_id"
    )
    assert f"campaign {campaign_id} is paused" in tag["message"]
    served = error(acme.call("GET", f"/v2/creatives/dco/{template}/serve"), 409, "campaign_id")
    assert f"campaign {campaign_id} is paused" in served["message"]

    assert acme.call("PATCH", f"/v2/campaigns/{campaign_id}", {"status": "active"}).status_code == 200
    for url in (
        acme.call("GET", f"/v2/creatives/{asset_id}/tag", campaign_id=campaign_id).json()["click_url"],
        acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()["click_url"],
    ):
        assert _click(client, url).status_code == 302


def test_an_offer_gets_no_creative_links(acme: Api) -> None:
    # An offer's clicks must name the publisher (p=); a creative's link never does (400 at /click).
    offer = acme.create(type="affiliate_cpa", payout=5, destination_url="https://shop.example.com/")
    failure = error(
        acme.call(
            "POST", "/v2/creatives/dco", {"name": "D", "variables": {"cta": ["Buy"]}, "campaign_id": offer}
        ),
        422,
        "campaign_id",
    )
    assert "offer" in failure["message"]
    tag = error(acme.call("GET", f"/v2/creatives/{_asset(acme)}/tag", campaign_id=offer), 409, "campaign_id")
    assert "publisher" in tag["message"]
