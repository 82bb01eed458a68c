"""No tenant reaches another tenant's objects: every id-taking endpoint answers 404.

The endpoints come from the OpenAPI document, so a new route with a path parameter is covered
the day it is added. It must come with a factory here (how to create such an object for its
owner, and how the owner reads it back); until then this test fails on purpose. Each endpoint is
called on the owner's objects by another advertiser and by a publisher, on every surface with its
own credentials (an API key on /v2, an OAuth2 access token on retail media) and with a body that
would change the objects if the call got through: each must get a 404 in the surface's envelope,
and the owner's view of the objects must be unchanged afterwards.

Owners differ per object: advertiser A owns campaigns, keys and line items; the operator its
blocklist; the publisher Shop a retail site (a retailer and its catalog), the auctions run on it
and SmartLinks. Objects in one path belong together (a product of that retailer, a line item of
that campaign): factories are memoised for the test and ask for the objects they need.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.api.compat.retail_media.envelope import VERSIONS
from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Account, render_account_id
from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    Channel,
    ChannelType,
    Program,
    ProgramStatus,
    TrackingType,
)
from auctera.domain.signatures import sign
from auctera.domain.tracking import tracking_links
from support.creatives import banner

from .conftest import bearer

RETAIL_MEDIA = f"/{VERSIONS[-1]}/retail-media"  # where owners read their retail-media objects


@dataclass
class Caller:
    """An account and its credentials: an API key (/v2), OAuth2 client credentials (retail media)."""

    account: Account
    key: str
    client_id: str
    client_secret: str


@dataclass
class Tenants:
    app: RootApp
    client: TestClient
    owner: Caller  # advertiser A
    network: Caller  # the operator (owns operator objects, such as blocklist entries)
    shop: Caller  # a publisher: its retail site, the auctions it runs there, its SmartLinks
    intruders: dict[str, Caller]  # kind -> accounts that must not reach the owners' objects
    made: dict[Factory, Owned] = field(default_factory=dict)
    tokens: dict[int, str] = field(default_factory=dict)

    def object(self, factory: Factory) -> Owned:
        """The factory's object, made once per test: objects made for one path belong together."""
        if factory not in self.made:
            self.made[factory] = factory(self)
        return self.made[factory]

    def token(self, who: Caller) -> str:
        """An OAuth2 access token, from the app's own token endpoint."""
        if who.account.id not in self.tokens:
            form = {
                "grant_type": "client_credentials",
                "client_id": who.client_id,
                "client_secret": who.client_secret,
            }
            self.tokens[who.account.id] = _json(self.client.post("/oauth2/token", data=form))["access_token"]
        return self.tokens[who.account.id]

    def v2(self, who: Caller, method: str, path: str, body: Any = None) -> Any:
        return _json(self.client.request(method, path, json=body, headers=bearer(who.key)))

    def retail_media(self, who: Caller, method: str, path: str, body: Any = None) -> Any:
        headers = bearer(self.token(who))
        return _json(self.client.request(method, RETAIL_MEDIA + path, json=body, headers=headers))


@dataclass
class Owned:
    value: str  # what goes into the path
    read: Callable[[], Any]  # the owner's view of the object, to check it is unchanged


Factory = Callable[[Tenants], Owned]


def _json(response: Any) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


# --- /v2: advertiser A's and the operator's objects -----------------------------------------------


def campaign(t: Tenants) -> Owned:
    body = {
        "name": "A's campaign",
        "type": "dsp_retargeting",
        "budget": {"daily": 100},
        "destination_url": "https://a.example.com/",
    }
    campaign_id = t.v2(t.owner, "POST", "/v2/campaigns", body)["campaign_id"]
    return Owned(campaign_id, lambda: t.v2(t.owner, "GET", f"/v2/campaigns/{campaign_id}"))


def api_key(t: Tenants) -> Owned:
    key_id = t.v2(t.owner, "POST", "/v2/keys", {"name": "second"})["key"]["id"]
    return Owned(
        key_id, lambda: next(k for k in t.v2(t.owner, "GET", "/v2/keys")["data"] if k["id"] == key_id)
    )


def oauth_client(t: Tenants) -> Owned:
    client_id = t.owner.client_id
    return Owned(
        client_id,
        lambda: next(
            c for c in t.v2(t.owner, "GET", "/v2/keys/clients")["data"] if c["client_id"] == client_id
        ),
    )


def account(t: Tenants) -> Owned:
    account_id = render_account_id(t.owner.account.kind, t.owner.account.id)
    return Owned(
        account_id,
        lambda: (
            t.v2(t.owner, "GET", "/v2/account"),
            t.v2(t.owner, "GET", f"/v2/accounts/{account_id}/balance"),
        ),
    )


def blocked_domain(t: Tenants) -> Owned:
    t.v2(t.network, "POST", "/v2/network/blocklist", {"domain": "blocked.example"})
    return Owned("blocked.example", lambda: t.v2(t.network, "GET", "/v2/network/blocklist"))


# --- /v2: the publisher Shop's retail site, its catalog, its auctions, its SmartLinks ---------------


def _feed(*names: str) -> dict[str, Any]:
    """A JSON product feed of the retail site, a product per name."""
    return {
        "products": [
            {
                "id": name,
                "title": name.title(),
                "price": "25.00",
                "link": f"https://shop.example.com/p/{name}",
            }
            for name in names
        ]
    }


def retail_site(t: Tenants) -> Owned:
    body = {"name": "Shop", "domain": "shop.example.com"}
    retailer_id = t.v2(t.shop, "POST", "/v2/retailers", body)["retailer_id"]
    return Owned(
        retailer_id,
        lambda: (
            t.v2(t.shop, "GET", f"/v2/retailers/{retailer_id}"),
            t.v2(t.shop, "GET", f"/v2/retailers/{retailer_id}/products"),  # a feed import changes it
        ),
    )


def feed_import(t: Tenants) -> Owned:
    path = f"/v2/retailers/{t.object(retail_site).value}/feeds"
    import_id = t.v2(t.shop, "POST", path, _feed("kettle", "toaster"))["import_id"]
    return Owned(import_id, lambda: t.v2(t.shop, "GET", f"{path}/{import_id}"))


def product(t: Tenants) -> Owned:
    t.object(feed_import)
    path = f"/v2/retailers/{t.object(retail_site).value}/products"
    listed = t.v2(t.shop, "GET", path)["data"]
    product_id = next(p["product_id"] for p in listed if p["external_id"] == "kettle")
    return Owned(product_id, lambda: t.v2(t.shop, "GET", f"{path}/{product_id}"))


def sponsored_auction(t: Tenants) -> Owned:
    """An auction run on Shop's retail site, where A's line item bids (and no intruder's)."""
    t.object(line_item)
    path = f"/v2/retailers/{t.object(retail_site).value}/sponsored-products"
    decision = t.v2(t.shop, "POST", path, {"page": {"type": "search", "keywords": "kettle"}})
    assert [p["product"]["external_id"] for p in decision["products"]] == ["kettle"], decision
    auction_id = decision["auction_id"]
    return Owned(auction_id, lambda: t.v2(t.shop, "GET", f"/v2/auctions/{auction_id}"))


def smartlink(t: Tenants) -> Owned:
    body = {"product_id": t.object(product).value, "name": "Shop's kettle"}
    auction_id = t.v2(t.shop, "POST", "/v2/smartlinks", body)["auction_id"]
    return Owned(auction_id, lambda: t.v2(t.shop, "GET", f"/v2/smartlinks/{auction_id}"))


# --- /v2: the publisher Shop's postbacks and their deliveries (A's offer converting on Shop's link) ---


def postback(t: Tenants) -> Owned:
    body = {"event": "purchase", "url": "https://tracker.example/pb?cid={click_id}"}
    postback_id = t.v2(t.shop, "POST", "/v2/network/postbacks", body)["postback_id"]
    return Owned(
        postback_id,
        lambda: (
            t.v2(t.shop, "GET", "/v2/network/postbacks"),
            [d["id"] for d in t.v2(t.shop, "GET", f"/v2/network/postbacks/{postback_id}/deliveries")["data"]],
        ),
    )


def postback_delivery(t: Tenants) -> Owned:
    """A delivery queued for Shop's postback by a conversion of A's offer on Shop's tracking link."""
    t.object(postback)
    body = {
        "name": "A's offer",
        "type": "affiliate_cpa",
        "budget": 10000,
        "payout": 5,
        "destination_url": "https://a.example.com/?cid={click_id}",
    }
    offer_id = idfmt.parse("cmp", t.v2(t.owner, "POST", "/v2/campaigns", body)["campaign_id"])
    assert offer_id is not None
    path = tracking_links("", offer_id, t.shop.account.id, {}, offer=True)[0]
    location = t.client.get(path, headers={"User-Agent": "Mozilla/5.0"}, follow_redirects=False)
    click_id = parse_qs(urlsplit(location.headers["location"]).query)["cid"][0]
    raw = json.dumps({"click_id": click_id, "event_type": "purchase", "revenue": 10}).encode()
    signature = sign(t.owner.account.signing_secret, raw, int(t.app.container.clock().timestamp()))
    headers = {**bearer(t.owner.key), "Content-Type": "application/json", "X-Auctera-Signature": signature}
    _json(t.client.post("/v2/conversions", content=raw, headers=headers))
    (delivery,) = t.v2(t.shop, "GET", "/v2/network/postbacks/deliveries")["data"]

    def read() -> Any:  # what an intruder's replay would change; attempts may run meanwhile
        found = t.v2(t.shop, "GET", "/v2/network/postbacks/deliveries")["data"]
        return [(d["id"], d["postback_id"], d["transaction_id"], d["state"]) for d in found]

    return Owned(delivery["id"], read)


# --- /v2: advertiser A's affiliate program, its segments and commission types ----------------------


def program(t: Tenants) -> Owned:
    body = {
        "name": "A's program",
        "type": "affiliate_cpa",
        "payout": 45,
        "budget": {"daily": 100},
        "destination_url": "https://a.example.com/?c={click_id}",
    }
    offer_id = t.v2(t.owner, "POST", "/v2/campaigns", body)["campaign_id"].replace("cmp_", "off_")
    t.v2(t.owner, "PUT", f"/v2/programs/{offer_id}", {"market": "SE"})
    return Owned(offer_id, lambda: t.v2(t.owner, "GET", f"/v2/programs/{offer_id}"))


def program_segment(t: Tenants) -> Owned:
    program_id = t.object(program).value
    segment_id = t.v2(t.owner, "POST", f"/v2/programs/{program_id}/segments", {"name": "Gold"})["segment_id"]
    return Owned(segment_id, lambda: t.v2(t.owner, "GET", f"/v2/programs/{program_id}/segments"))


def commission_type(t: Tenants) -> Owned:
    program_id = t.object(program).value
    body = {"name": "Sale", "event_type": "purchase", "type": "%", "value": 5}
    commission_id = t.v2(t.owner, "POST", f"/v2/programs/{program_id}/commissions", body)["commission_id"]
    return Owned(commission_id, lambda: t.v2(t.owner, "GET", f"/v2/programs/{program_id}/commissions"))


# --- /v2: the publisher Shop's channel and its application to A's private offer ------------------


def channel(t: Tenants) -> Owned:
    body = {"name": "Shop's blog", "type": "blog", "url": "https://blog.shop.example.com"}
    channel_id = t.v2(t.shop, "POST", "/v2/channels", body)["channel_id"]
    return Owned(channel_id, lambda: t.v2(t.shop, "GET", f"/v2/channels/{channel_id}"))


def application(t: Tenants) -> Owned:
    body = {
        "name": "A's private offer",
        "type": "affiliate_cpa",
        "budget": 10000,
        "payout": 5,
        "destination_url": "https://a.example.com/?cid={click_id}",
        "visibility": "private",
    }
    campaign_id = t.v2(t.owner, "POST", "/v2/campaigns", body)["campaign_id"]
    offer_id = "off_" + campaign_id.removeprefix("cmp_")
    applied = {"offer_id": offer_id, "traffic_type": "SEO", "channel_id": t.object(channel).value}
    application_id = t.v2(t.shop, "POST", "/v2/network/applications", applied)["application_id"]
    return Owned(application_id, lambda: t.v2(t.owner, "GET", f"/v2/network/applications/{application_id}"))


# --- retail media: advertiser A's campaigns and line items --------------------------------------


def retail_media_account(t: Tenants) -> Owned:
    account_id = str(t.owner.account.id)
    return Owned(account_id, lambda: t.retail_media(t.owner, "GET", f"/accounts/{account_id}/campaigns"))


def retail_media_campaign(t: Tenants) -> Owned:
    body = {"data": {"type": "RetailMediaCampaign", "attributes": {"name": "A's spring", "budget": 1000}}}
    path = f"/accounts/{t.owner.account.id}/campaigns"
    campaign_id = t.retail_media(t.owner, "POST", path, body)["data"]["id"]
    return Owned(
        campaign_id,
        lambda: (
            t.retail_media(t.owner, "GET", f"/campaigns/{campaign_id}"),
            t.retail_media(t.owner, "GET", f"/campaigns/{campaign_id}/auction-line-items"),
        ),
    )


def _today(t: Tenants) -> str:
    return t.app.container.clock().date().isoformat()


def _line_item_body(t: Tenants, name: str) -> dict[str, Any]:
    """A new line item on Shop's retail site, bidding per click."""
    retailer_id = idfmt.parse("ret", t.object(retail_site).value)
    attributes = {
        "name": name,
        "startDate": _today(t),
        "targetRetailerId": str(retailer_id),
        "bidStrategy": "clicks",
        "targetBid": 0.5,
    }
    return {"data": {"type": "RetailMediaAuctionLineItem", "attributes": attributes}}


def line_item(t: Tenants) -> Owned:
    """A's line item on Shop's retail site, promoting its kettle."""
    t.object(feed_import)
    path = f"/campaigns/{t.object(retail_media_campaign).value}/auction-line-items"
    line_item_id = t.retail_media(t.owner, "POST", path, _line_item_body(t, "A's kettles"))["data"]["id"]
    promoted = {"data": [{"id": "kettle", "type": "RetailMediaPromotedProduct"}]}
    t.retail_media(t.owner, "POST", f"/line-items/{line_item_id}/products/append", promoted)
    return Owned(
        line_item_id,
        lambda: (
            t.retail_media(t.owner, "GET", f"/auction-line-items/{line_item_id}"),
            t.retail_media(t.owner, "GET", f"/line-items/{line_item_id}/products"),
        ),
    )


def _another_line_item(t: Tenants) -> dict[str, Any]:
    return _line_item_body(t, "hijacked")


def _line_item_replacement(t: Tenants) -> dict[str, Any]:
    attributes = {
        "name": "hijacked",
        "startDate": _today(t),
        "isAutoDailyPacing": False,
        "targetBid": 2,
        "status": "paused",
    }
    return {"data": {"type": "RetailMediaAuctionLineItem", "attributes": attributes}}


# --- affiliate v3: A's private program, and the publisher Shop's channel approved to it ------------


def affiliate_v3_program(t: Tenants) -> Owned:
    """A's private program (a public one is every publisher's to read), Shop's channel approved."""
    body = {
        "name": "A's v3 program",
        "type": "affiliate_cpa",
        "budget": 10000,
        "payout": 5,
        "destination_url": "https://a.example.com/?cid={click_id}",
        "visibility": "private",
    }
    program_id = idfmt.parse("cmp", t.v2(t.owner, "POST", "/v2/campaigns", body)["campaign_id"])
    assert program_id is not None
    channel_id = int(t.object(affiliate_v3_channel).value)
    container, now = t.app.container, t.app.container.clock()
    with container.uow() as uow:
        uow.programs.add(
            Program(program_id, t.owner.account.id, "SE", ProgramStatus.LIVE, 30, frozenset(), None, None,
                    None, None, TrackingType.PIXEL, (), now, now)
        )  # fmt: skip
        uow.channels.add_application(
            Application(container.ids.next_id(), program_id, t.owner.account.id, t.shop.account.id,
                        channel_id, ApprovalStatus.APPROVED, now)
        )  # fmt: skip
        uow.commit()
    path = f"/v3/partner/programs/commissions/{program_id}/{channel_id}"
    return Owned(str(program_id), lambda: _json(t.client.get(path, headers={"X-Token": t.shop.key})))


def affiliate_v3_channel(t: Tenants) -> Owned:
    container, now = t.app.container, t.app.container.clock()
    channel = Channel(
        container.ids.next_id(), t.shop.account.id, "Shop's v3 blog", ChannelType.BLOG, None, None, now, now
    )
    with container.uow() as uow:
        uow.channels.add(channel)
        uow.commit()

    def read() -> Any:
        with container.uow(read_only=True) as uow:
            return uow.channels.get(channel.id)

    return Owned(str(channel.id), read)


# --- bid management (/management/v0, X-API-KEY): advertiser A's network, campaign and ad set -------


def _bids_api(t: Tenants, method: str, path: str, body: Any = None) -> Any:
    headers = {"X-API-KEY": t.owner.key}
    return _json(t.client.request(method, f"/management/v0{path}", json=body, headers=headers))


def bid_network(t: Tenants) -> Owned:
    body = {
        "name": "A's network",
        "kind": "simulated",
        "baseUrl": "https://bids.example.com",  # never called: a public host (loopback is refused)
        "bidding": {"enabled": True},
    }
    network_id = _bids_api(t, "POST", "/networks", body)["id"]
    return Owned(
        str(network_id),
        lambda: (
            _bids_api(t, "GET", f"/networks/{network_id}"),
            _bids_api(t, "GET", f"/networks/{network_id}/campaigns"),
        ),
    )


def bid_campaign(t: Tenants) -> Owned:
    body = {"name": "A's spring", "countries": ["DE"], "optimizationType": "cpi"}
    campaign_id = _bids_api(t, "POST", f"/networks/{t.object(bid_network).value}/campaigns", body)["id"]
    return Owned(
        str(campaign_id),
        lambda: (
            _bids_api(t, "GET", f"/campaigns/{campaign_id}"),
            _bids_api(t, "GET", f"/campaigns/{campaign_id}/ad-sets"),
        ),
    )


def bid_ad_set(t: Tenants) -> Owned:
    path = f"/campaigns/{t.object(bid_campaign).value}/ad-sets"
    ad_set_id = _bids_api(t, "POST", path, {"name": "A's puzzlers"})["id"]
    return Owned(str(ad_set_id), lambda: _bids_api(t, "GET", f"/ad-sets/{ad_set_id}"))


# --- report exports: advertiser A's export job ---------------------------------------------------


def export_job(t: Tenants) -> Owned:
    body = {"type": "log_level_clicks", "date": "2026-10-01", "format": "csv"}
    job_id = t.v2(t.owner, "POST", "/v2/reports/export", body)["job_id"]

    def read() -> Any:
        status = t.v2(t.owner, "GET", f"/v2/reports/export/{job_id}")
        return {k: v for k, v in status.items() if k not in ("download_url", "expires_at")}  # fresh per poll

    return Owned(job_id, read)


# Path parameter -> how to make such an object for its owner. Add one per new id kind; where one
# name means different objects on different paths, key the factory by (path template, parameter).
# --- /v2: advertiser A's creatives ------------------------------------------------------------------


def creative(t: Tenants) -> Owned:
    files = {"file": ("banner_300x250.jpg", banner(), "image/jpeg")}
    headers = bearer(t.owner.key)
    response = t.client.post("/v2/creatives/upload", files=files, data={"type": "image"}, headers=headers)
    asset_id = _json(response)["asset_id"]
    return Owned(asset_id, lambda: t.v2(t.owner, "GET", f"/v2/creatives/audit?asset_id={asset_id}"))


def dco_template(t: Tenants) -> Owned:
    body = {"name": "A's template", "variables": {"headline": ["One", "Two"]}}
    template_id = t.v2(t.owner, "POST", "/v2/creatives/dco", body)["dco_template_id"]
    return Owned(template_id, lambda: t.v2(t.owner, "GET", f"/v2/creatives/dco/{template_id}/variants"))


# --- /v2: advertiser A's audiences ------------------------------------------------------------------


def audience(t: Tenants) -> Owned:
    audience_id = t.v2(t.owner, "POST", "/v2/audiences", {"name": "A's customers"})["id"]

    def read() -> Any:  # the worker may apply a sync meanwhile: sizes move, the audience stays
        shown = t.v2(t.owner, "GET", f"/v2/audiences/{audience_id}")
        return {k: shown[k] for k in ("id", "name", "source")}

    return Owned(audience_id, read)


def audience_sync_job(t: Tenants) -> Owned:
    body = {
        "audience_id": t.object(audience).value,
        "action": "add",
        "identifiers": [{"type": "email", "value": "a@example.com"}],
    }
    job_id = t.v2(t.owner, "POST", "/v2/audiences/sync", body)["job_id"]

    def read() -> Any:
        shown = t.v2(t.owner, "GET", f"/v2/audiences/sync/{job_id}")
        return {k: shown[k] for k in ("job_id", "audience_id", "action", "records_received")}

    return Owned(job_id, read)


FACTORIES: dict[str | tuple[str, str], Factory] = {
    "campaign_id": campaign,
    "key_id": api_key,
    "client_id": oauth_client,
    "account_id": account,
    "domain": blocked_domain,
    "retailer_id": retail_site,
    "import_id": feed_import,
    "product_id": product,
    ("/v2/auctions/{auction_id}", "auction_id"): sponsored_auction,
    ("/v2/smartlinks/{auction_id}", "auction_id"): smartlink,
    "accountId": retail_media_account,
    "campaignId": retail_media_campaign,
    "lineItemId": line_item,
    "postback_id": postback,
    "delivery_id": postback_delivery,
    "networkId": bid_network,
    "networkCampaignId": bid_campaign,
    "adSetId": bid_ad_set,
    ("/v2/channels/{channel_id}", "channel_id"): channel,
    ("/v2/network/applications/{application_id}", "application_id"): application,
    ("/v2/network/applications/{application_id}/approve", "application_id"): application,
    ("/v2/network/applications/{application_id}/reject", "application_id"): application,
    ("/v2/programs/{offer_id}", "offer_id"): program,
    ("/v2/programs/{program_id}", "program_id"): program,
    ("/v2/programs/{program_id}/segments", "program_id"): program,
    ("/v2/programs/{program_id}/segments/{segment_id}", "program_id"): program,
    ("/v2/programs/{program_id}/segments/{segment_id}", "segment_id"): program_segment,
    ("/v2/programs/{program_id}/commissions", "program_id"): program,
    ("/v2/programs/{program_id}/commissions/{commission_id}", "program_id"): program,
    ("/v2/programs/{program_id}/commissions/{commission_id}", "commission_id"): commission_type,
    "programId": affiliate_v3_program,
    "channelId": affiliate_v3_channel,
    "job_id": export_job,
    "asset_id": creative,
    "dco_template_id": dco_template,
    "audience_id": audience,
    ("/v2/audiences/sync/{job_id}", "job_id"): audience_sync_job,
    ("/v2/line-items/{line_item_id}/audiences", "line_item_id"): line_item,
}

# Path parameters that name no tenant's object: the endpoints are checked with each value.
SHARED: dict[str, tuple[str, ...]] = {"version": VERSIONS}

# Bodies that would change the object (or run its auction) if the request got through: a 400 or
# 422 would hide the 404. A function makes the body from the test's objects (the retailer's id).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/management/v0/networks/{networkId}"): {"name": "hijacked", "bidding": {"enabled": False}},
    ("POST", "/management/v0/networks/{networkId}/campaigns"): {
        "name": "hijacked",
        "countries": ["DE"],
        "optimizationType": "cpi",
    },
    ("PATCH", "/management/v0/campaigns/{networkCampaignId}"): {"name": "hijacked"},
    ("POST", "/management/v0/campaigns/{networkCampaignId}/ad-sets"): {"name": "hijacked"},
    ("PATCH", "/management/v0/ad-sets/{adSetId}"): {"name": "hijacked"},
    ("PATCH", "/v2/accounts/{account_id}/balance"): {"balance": "1000"},
    ("PATCH", "/v2/campaigns/{campaign_id}"): {"name": "hijacked", "status": "paused"},
    ("POST", "/v2/campaigns/{campaign_id}/review"): {"decision": "reject", "reasons": ["hijacked"]},
    ("POST", "/v2/keys/{key_id}/rotate"): {"grace_seconds": 0},
    ("POST", "/v2/keys/clients/{client_id}/rotate"): {"grace_seconds": 0},
    ("PATCH", "/v2/channels/{channel_id}"): {"name": "hijacked"},
    ("PATCH", "/v2/network/applications/{application_id}"): {"segment_id": None},
    ("POST", "/v2/network/applications/{application_id}/approve"): {},
    ("POST", "/v2/network/applications/{application_id}/reject"): {"reject_reason": 3},
    ("PUT", "/v2/programs/{offer_id}"): {"market": "DE", "status": "closing"},
    ("POST", "/v2/programs/{program_id}/segments"): {"name": "Hijacked"},
    ("PATCH", "/v2/programs/{program_id}/segments/{segment_id}"): {"name": "Hijacked"},
    ("POST", "/v2/programs/{program_id}/commissions"): {
        "name": "Hijacked",
        "event_type": "lead",
        "type": "%",
        "value": 50,
    },
    ("PATCH", "/v2/programs/{program_id}/commissions/{commission_id}"): {"value": 99},
    ("POST", "/v2/retailers/{retailer_id}/feeds"): _feed("hijacked"),
    ("PATCH", "/v2/network/postbacks/{postback_id}"): {"status": "paused"},
    ("PUT", "/v2/campaigns/{campaign_id}/audiences"): lambda t: {"include": [t.object(audience).value]},
    ("PUT", "/v2/line-items/{line_item_id}/audiences"): lambda t: {"include": [t.object(audience).value]},
    ("POST", "/v2/retailers/{retailer_id}/sponsored-products"): {
        "page": {"type": "search", "keywords": "kettle"}
    },
    ("POST", "/{version}/retail-media/accounts/{accountId}/campaigns"): {
        "data": {"type": "RetailMediaCampaign", "attributes": {"name": "hijacked", "budget": 1}}
    },
    ("POST", "/{version}/retail-media/campaigns/{campaignId}/auction-line-items"): _another_line_item,
    ("PUT", "/{version}/retail-media/auction-line-items/{lineItemId}"): _line_item_replacement,
    ("POST", "/{version}/retail-media/line-items/{lineItemId}/products/append"): {
        "data": [{"id": "toaster", "type": "RetailMediaPromotedProduct"}]
    },
    ("POST", "/{version}/retail-media/line-items/{lineItemId}/products/delete"): {
        "data": [{"id": "kettle", "type": "RetailMediaPromotedProduct"}]
    },
}


@dataclass(frozen=True)
class Surface:
    headers: Callable[[Tenants, Caller], dict[str, str]]
    is_not_found: Callable[[Any], bool]


def _retail_media_not_found(body: Any) -> bool:
    """`{"warnings": [], "errors": [<one CommonProblem>]}`, the SDKs' error model."""
    if set(body) != {"warnings", "errors"} or body["warnings"] != [] or len(body["errors"]) != 1:
        return False
    [problem] = body["errors"]
    return set(problem) == {"type", "code", "title", "detail"} and problem["code"] == "not-found"


# Path prefix -> how that surface authenticates and what its 404 envelope looks like.
SURFACES: dict[str, Surface] = {
    "/v2/": Surface(
        lambda t, who: bearer(who.key),
        lambda body: body.get("success") is False and body.get("error", {}).get("code") == "not_found",
    ),
    "/{version}/retail-media/": Surface(lambda t, who: bearer(t.token(who)), _retail_media_not_found),
    "/management/v0/": Surface(
        lambda t, who: {"X-API-KEY": who.key},
        lambda body: set(body) == {"error"} and "not found" in body["error"],
    ),
    "/v3/": Surface(
        lambda t, who: {"X-Token": who.key},
        lambda body: body.get("status") == 404 and set(body) == {"status", "message", "field"},
    ),
}

_PARAM = re.compile(r"\{([^}]+)\}")


def ids_in(template: str) -> list[str]:
    """The path parameters that name an object (not the shared ones, such as the API version)."""
    return [name for name in _PARAM.findall(template) if name not in SHARED]


def id_taking_endpoints(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if ids_in(path)
        for method, operation in operations.items()
        if method in {"get", "post", "put", "patch", "delete"}
        and not operation.get("x-raw-route")  # visitors' redirects and pixels: no tenant to hide
    )


def factory_for(template: str, name: str) -> Factory | None:
    """The factory of this path's parameter, else of every parameter of that name."""
    return FACTORIES.get((template, name)) or FACTORIES.get(name)


def shared_values(template: str) -> list[dict[str, str]]:
    """Every combination of the shared parameters' values (one empty one when there are none)."""
    names = [name for name in _PARAM.findall(template) if name in SHARED]
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*(SHARED[n] for n in names))
    ]


def _caller(app: RootApp, name: str, kind: str) -> Caller:
    new = app.container.accounts.create_account(name, kind)
    return Caller(new.account, new.api_key, new.client_id, new.client_secret)


@pytest.fixture
def tenants(app: RootApp, client: TestClient) -> Tenants:
    return Tenants(
        app=app,
        client=client,
        owner=_caller(app, "A", "advertiser"),
        network=_caller(app, "Operator", "network"),
        shop=_caller(app, "Shop", "publisher"),
        intruders={
            "advertiser": _caller(app, "B", "advertiser"),
            "publisher": _caller(app, "P", "publisher"),
        },
    )


def test_the_campaign_endpoints_are_covered(client: TestClient) -> None:
    endpoints = id_taking_endpoints(client)
    for expected in [
        ("GET", "/v2/campaigns/{campaign_id}"),
        ("PATCH", "/v2/campaigns/{campaign_id}"),
        ("DELETE", "/v2/campaigns/{campaign_id}"),
        ("POST", "/v2/campaigns/{campaign_id}/review"),
        ("GET", "/{version}/retail-media/campaigns/{campaignId}"),
        ("POST", "/{version}/retail-media/accounts/{accountId}/campaigns"),
    ]:
        assert expected in endpoints
    assert ("GET", "/{version}/retail-media/accounts") not in endpoints  # the caller's own: no id


def test_every_id_taking_endpoint_hides_other_tenants_objects(tenants: Tenants) -> None:
    endpoints = id_taking_endpoints(tenants.client)
    missing = sorted({name for _, path in endpoints for name in ids_in(path) if not factory_for(path, name)})
    assert not missing, (
        f"no factory for path parameters {missing}: add one to FACTORIES "
        "(by name, or by (path template, name) where the name means another object on that path)"
    )
    for method, template in endpoints:
        surface = next((s for prefix, s in SURFACES.items() if template.startswith(prefix)), None)
        assert surface is not None, f"{template}: add its surface (auth, 404 envelope) to SURFACES"
        owned = {name: tenants.object(factory_for(template, name)) for name in ids_in(template)}
        before = {name: o.read() for name, o in owned.items()}
        body = BODIES.get((method, template))
        if callable(body):
            body = body(tenants)
        for shared in shared_values(template):
            path = template.format(**shared, **{name: o.value for name, o in owned.items()})
            for kind, who in tenants.intruders.items():
                response = tenants.client.request(
                    method, path, json=body, headers=surface.headers(tenants, who)
                )
                assert response.status_code == 404, (
                    f"{kind} {method} {path}: {response.status_code} {response.text}"
                )
                assert surface.is_not_found(response.json()), f"{kind} {method} {path}: {response.text}"
        assert {name: o.read() for name, o in owned.items()} == before, (
            f"{method} {template} changed the owner's object"
        )
