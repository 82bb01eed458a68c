"""/v2/network/applications through the real app: the seed's example, approving and rejecting,
and what approval opens (the private offer in the catalogue, its links, its clicks; a channel's
links; product and deep links). The click cache is off (`tracking_cache_seconds=0`): a decision
applies to the next click here (in production within the cache delay, 0.5 s)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.events import EventType
from auctera.domain.programs import REJECT_REASON_TEXTS, Program, ProgramStatus, Segment, TrackingType
from auctera.domain.tracking import click_url, tracking_links
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_offers import cmp, make_offer
from .test_tracking import BROWSER

TRACKING = "https://trk.auctera.io"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


@pytest.fixture
def fintech(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "advertiser", "FintechCorp")


@pytest.fixture
def rival(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "advertiser", "Rival")


@pytest.fixture
def pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Pub")


@pytest.fixture
def other_pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Other Pub")


def apply(who: Api, offer_id: str, **fields: Any) -> Any:
    return who.call("POST", "/v2/network/applications", {"offer_id": offer_id, **fields})


def applied(who: Api, offer_id: str, **fields: Any) -> str:
    response = apply(who, offer_id, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["application_id"])


def decide(who: Api, application_id: str, verb: str, **body: Any) -> Any:
    return who.call("POST", f"/v2/network/applications/{application_id}/{verb}", body)


def approve(who: Api, application_id: str, **body: Any) -> dict[str, Any]:
    response = decide(who, application_id, "approve", **body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def reject(who: Api, application_id: str, reason: int = 3, **body: Any) -> dict[str, Any]:
    response = decide(who, application_id, "reject", reject_reason=reason, **body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def channel(who: Api, name: str = "John's blog", **fields: Any) -> str:
    response = who.call("POST", "/v2/channels", {"name": name, "type": "Blog", **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["channel_id"])


def catalogue(who: Api) -> list[str]:
    response = who.call("GET", "/v2/offers")
    assert response.status_code == 200, response.text
    return [o["offer_id"] for o in response.json()["data"]]


def links(who: Api, offer_id: str, **params: Any) -> Any:
    return who.call("GET", "/v2/offers/links", offer_id=offer_id, **params)


def click(client: TestClient, url: str) -> Any:
    return client.get(url.removeprefix(TRACKING), headers=BROWSER, follow_redirects=False)


def hand_made_link(offer_id: str, who: Api, channel_id: str | None = None) -> str:
    """The link a publisher's tracker would build without asking us."""
    ch = idfmt.parse("chn", channel_id) if channel_id else None
    oid = idfmt.parse("off", offer_id)
    assert oid is not None
    return tracking_links(TRACKING, oid, who.account.id, {}, offer=True, channel_id=ch)[0]


def click_event(app: RootApp, response: Any) -> Any:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    click_id = (query.get("cid") or query["click_id"])[0]  # the offer's macro, else appended
    event = app.container.tracking.find_click(idfmt.parse("auc", click_id) or 0)
    assert event is not None and event.type is EventType.CLICK
    return event


# --- the seed ------------------------------------------------------------------------------------


def test_seed_application_example(fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech, visibility="private")
    response = apply(pub, offer_id, traffic_type="SEO", volume_estimate=500)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"success", "application_id", "status"}
    assert body["success"] is True
    assert body["status"] == "pending_manual_review"
    assert body["application_id"].startswith("app_")
    shown = pub.call("GET", f"/v2/network/applications/{body['application_id']}").json()
    assert shown["offer_id"] == offer_id
    assert (shown["traffic_type"], shown["volume_estimate"], shown["channel_id"]) == ("SEO", 500, None)
    assert (shown["status"], shown["approval_status"], shown["decided_at"]) == (
        "pending_manual_review",
        2,
        None,
    )
    assert shown["publisher_id"] == pub.id


def test_bad_applications(fintech: Api, pub: Api, other_pub: Api) -> None:
    offer_id = make_offer(fintech)
    error(pub.call("POST", "/v2/network/applications", {"traffic_type": "SEO"}), 422, "offer_id")
    error(apply(pub, offer_id, volume_estimate=-1), 422, "volume_estimate")
    error(apply(pub, offer_id, traffic_type="x" * 65), 422, "traffic_type")
    error(apply(pub, offer_id, pitch="hello"), 422, "pitch")
    error(apply(pub, "off_zzzzzz"), 404, "offer_id")
    error(apply(pub, cmp(offer_id)), 404, "offer_id")
    error(apply(pub, offer_id, channel_id=channel(other_pub)), 404, "channel_id")
    error(apply(pub, offer_id, channel_id="chn_!"), 404, "channel_id")
    error(apply(fintech, offer_id), 403)
    first = applied(pub, offer_id)
    conflict = error(apply(pub, offer_id), 409, "offer_id")
    assert first in conflict["message"]
    mine = channel(pub)
    for_channel = applied(pub, offer_id, channel_id=mine)
    assert for_channel in error(apply(pub, offer_id, channel_id=mine), 409, "channel_id")["message"]


def test_the_network_applies_for_a_publisher_and_sees_everything(
    fintech: Api, pub: Api, network: Api
) -> None:
    offer_id = make_offer(fintech)
    error(apply(network, offer_id), 422, "publisher_id")
    application = applied(network, offer_id, publisher_id=pub.id)
    listed = network.call("GET", "/v2/network/applications").json()["data"]
    assert [a["application_id"] for a in listed] == [application]
    assert listed[0]["publisher_id"] == pub.id
    assert approve(network, application)["status"] == "approved"


# --- deciding ----------------------------------------------------------------------------------


def test_approving_and_rejecting(fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    application = applied(pub, offer_id, traffic_type="SEO")
    assert [a["application_id"] for a in fintech.call("GET", "/v2/network/applications").json()["data"]] == [
        application
    ]
    error(decide(fintech, application, "reject"), 422, "reject_reason")
    error(decide(fintech, application, "reject", reject_reason=13), 422, "reject_reason")
    error(decide(fintech, application, "reject", reject_reason=None), 422, "reject_reason")
    assert (
        pub.call("GET", f"/v2/network/applications/{application}").json()["status"] == "pending_manual_review"
    )
    rejected = reject(fintech, application, 3)
    assert (rejected["status"], rejected["approval_status"], rejected["reject_reason"]) == ("rejected", 0, 3)
    assert rejected["reason_text"] == "404 on site"
    assert rejected["decided_at"] is not None
    custom = reject(fintech, application, 8, reason_text="No link to your site in the profile")
    assert (custom["reject_reason"], custom["reason_text"]) == (8, "No link to your site in the profile")
    approved = approve(fintech, application)
    assert (approved["status"], approved["approval_status"]) == ("approved", 1)
    assert (approved["reject_reason"], approved["reason_text"]) == (None, None)
    for status, expected in (("approved", [application]), ("rejected", []), ("pending_manual_review", [])):
        found = fintech.call("GET", "/v2/network/applications", status=status).json()["data"]
        assert [a["application_id"] for a in found] == expected


def test_every_reject_reason_and_its_text(fintech: Api, pub: Api) -> None:
    application = applied(pub, make_offer(fintech))
    assert len(REJECT_REASON_TEXTS) == 13
    for reason in range(13):
        decided = reject(fintech, application, reason)
        assert decided["reject_reason"] == reason
        assert decided["reason_text"] == REJECT_REASON_TEXTS[reason]  # type: ignore[index]
    assert (
        reject(fintech, application, 9)["reason_text"] == "To few followers/visitors"
    )  # as the seed spells it


def test_who_may_decide(
    app: RootApp, client: TestClient, fintech: Api, rival: Api, pub: Api, other_pub: Api
) -> None:
    application = applied(pub, make_offer(fintech))
    error(decide(pub, application, "approve"), 403)
    error(decide(pub, application, "reject", reject_reason=1), 403)
    error(pub.call("PATCH", f"/v2/network/applications/{application}", {"segment_id": None}), 403)
    for intruder in (rival, other_pub):
        error(decide(intruder, application, "approve"), 404, "application_id")
        error(intruder.call("GET", f"/v2/network/applications/{application}"), 404, "application_id")
        assert intruder.call("GET", "/v2/network/applications").json()["data"] == []
    error(decide(fintech, "app_nope!", "approve"), 404, "application_id")
    assert (
        pub.call("GET", f"/v2/network/applications/{application}").json()["status"] == "pending_manual_review"
    )


def add_program(app: RootApp, offer_id: str, owner: Api, status: ProgramStatus = ProgramStatus.LIVE) -> str:
    """Program settings for the offer, as the programs API stores them, with a VIP segment: its id."""
    program_id = idfmt.parse("off", offer_id)
    assert program_id is not None
    container, now = app.container, app.container.clock()
    vip = Segment(container.ids.next_id(), program_id, "VIP", False, now)
    with container.uow() as uow:
        uow.programs.add(
            Program(program_id, owner.account.id, "US", status, 30, frozenset(), None, None, None, None,
                    TrackingType.PIXEL, (), now, now)
        )  # fmt: skip
        uow.programs.add_segment(vip)
        uow.commit()
    return idfmt.render("seg", vip.id)


def test_segments(app: RootApp, fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    application = applied(pub, offer_id)
    error(decide(fintech, application, "approve", segment_id="seg_1"), 404, "segment_id")
    seg = add_program(app, offer_id, fintech)
    assert approve(fintech, application, segment_id=seg)["segment_id"] == seg
    moved = fintech.call("PATCH", f"/v2/network/applications/{application}", {"segment_id": None})
    assert moved.status_code == 200 and moved.json()["segment_id"] is None
    moved = fintech.call("PATCH", f"/v2/network/applications/{application}", {"segment_id": seg})
    assert moved.json()["segment_id"] == seg


# --- what approval opens -----------------------------------------------------------------------


def test_a_private_offer_opens_on_approval_and_closes_on_rejection(
    app: RootApp, client: TestClient, fintech: Api, pub: Api, other_pub: Api
) -> None:
    public = make_offer(fintech, name="Public")
    private = make_offer(fintech, visibility="private", name="Private")
    link = hand_made_link(private, pub)
    assert catalogue(pub) == [public]
    error(links(pub, private), 404, "offer_id")
    assert click(client, link).status_code == 404

    application = applied(pub, private, traffic_type="SEO", volume_estimate=500)
    assert catalogue(pub) == [public]  # pending: nothing opens yet
    error(links(pub, private), 404, "offer_id")
    assert click(client, link).status_code == 404

    approve(fintech, application)
    assert catalogue(pub) == [private, public]
    assert catalogue(other_pub) == [public]  # only the approved publisher sees it
    given = links(pub, private)
    assert given.status_code == 200
    assert given.json()["tracking_url"] == link
    event = click_event(app, click(client, link))
    assert event.campaign_id == idfmt.parse("off", private)
    assert click(client, hand_made_link(private, other_pub)).status_code == 404

    reject(fintech, application, 11)
    assert same_as_no_offer(client, link)
    assert catalogue(pub) == [public]
    error(links(pub, private), 404, "offer_id")


def same_as_no_offer(client: TestClient, link: str) -> bool:
    """The link's answer is exactly that of a link to an offer id nobody has."""
    o = re.search(r"[?&]o=([0-9a-z]+)", link)
    assert o is not None
    unknown = link.replace(f"o={o.group(1)}", "o=zzzzzzzzzz")
    refused, nowhere = click(client, link), click(client, unknown)
    assert nowhere.status_code == 404 and "does not lead to any offer" in nowhere.text
    return (refused.status_code, refused.text) == (nowhere.status_code, nowhere.text)


def test_a_private_offer_tells_an_unapproved_publisher_nothing_whatever_its_state(
    client: TestClient, fintech: Api, pub: Api, other_pub: Api
) -> None:
    """A click link must not reveal that a private offer exists, or whether it runs, to a
    publisher it has not approved (docs/api-v2-offers.md)."""
    private = make_offer(fintech, visibility="private")
    approve(fintech, applied(pub, private))
    assert click(client, hand_made_link(private, pub)).status_code == 302
    link = hand_made_link(private, other_pub)
    assert same_as_no_offer(client, link)
    assert same_as_no_offer(client, link.split("&p=")[0])  # no publisher at all
    paused = fintech.call("PATCH", f"/v2/campaigns/{private.replace('off_', 'cmp_')}", {"status": "paused"})
    assert paused.status_code == 200, paused.text
    assert "not running" in click(client, hand_made_link(private, pub)).text  # the approved one is told
    assert same_as_no_offer(client, link)


def test_the_geo_filter_and_pages_include_approved_private_offers(fintech: Api, pub: Api) -> None:
    older = make_offer(fintech, targeting={"geo": ["US"]})
    private = make_offer(fintech, visibility="private", targeting={"geo": ["DE"]})
    newer = make_offer(fintech)
    approve(fintech, applied(pub, private))
    assert catalogue(pub) == [newer, private, older]
    de = [o["offer_id"] for o in pub.call("GET", "/v2/offers", geo="DE").json()["data"]]
    assert de == [newer, private]
    first = pub.call("GET", "/v2/offers", limit=2).json()
    assert [o["offer_id"] for o in first["data"]] == [newer, private]
    rest = pub.call("GET", "/v2/offers", limit=2, cursor=first["pagination"]["next_cursor"]).json()
    assert [o["offer_id"] for o in rest["data"]] == [older]


def test_a_channel_approval_opens_a_private_offer_and_that_channels_links(
    app: RootApp, client: TestClient, fintech: Api, pub: Api
) -> None:
    private = make_offer(fintech, visibility="private")
    blog, newsletter = channel(pub), channel(pub, "Weekly", type="newsletter")
    application = applied(pub, private, channel_id=blog)
    error(links(pub, private, channel_id=blog), 404, "offer_id")
    assert click(client, hand_made_link(private, pub, blog)).status_code == 404

    approve(fintech, application)
    assert private in catalogue(pub)
    given = links(pub, private, channel_id=blog).json()
    b36 = blog.removeprefix("chn_")
    assert given["tracking_url"].endswith(f"&ch={b36}")
    assert given["impression_pixel"].endswith(f"&ch={b36}")
    event = click_event(app, click(client, given["tracking_url"]))
    assert event.attrs["channel_id"] == idfmt.parse("chn", blog)
    # The newsletter never applied: no link for it, and a hand-made one is refused.
    assert "not approved" in error(links(pub, private, channel_id=newsletter), 403, "channel_id")["message"]
    refused = click(client, hand_made_link(private, pub, newsletter))
    assert refused.status_code == 404 and "This channel is not approved for this offer." in refused.text
    # Links without a channel work too: the publisher is approved (through its blog).
    assert click(client, links(pub, private).json()["tracking_url"]).status_code == 302


def test_channel_links_of_a_public_offer(
    app: RootApp, client: TestClient, fintech: Api, pub: Api, other_pub: Api
) -> None:
    offer_id = make_offer(fintech)
    blog = channel(pub)
    theirs = channel(other_pub)
    assert click(client, hand_made_link(offer_id, pub)).status_code == 302  # no channel: as before
    error(links(pub, offer_id, channel_id=blog), 403, "channel_id")
    error(links(pub, offer_id, channel_id=theirs), 404, "channel_id")
    error(links(pub, offer_id, channel_id="chn_!"), 404, "channel_id")
    application = applied(pub, offer_id, channel_id=blog)
    assert click(client, hand_made_link(offer_id, pub, blog)).status_code == 404  # pending
    approve(fintech, application)
    assert click(client, hand_made_link(offer_id, pub, blog)).status_code == 302
    # Another publisher naming pub's approved channel in its own link gets nowhere.
    assert click(client, hand_made_link(offer_id, other_pub, blog)).status_code == 404
    reject(fintech, application, 0)
    assert click(client, hand_made_link(offer_id, pub, blog)).status_code == 404
    # A deleted channel's links stop working.
    approve(fintech, application)
    assert pub.call("DELETE", f"/v2/channels/{blog}").status_code == 204
    assert click(client, hand_made_link(offer_id, pub, blog)).status_code == 404


def test_a_closing_program_takes_no_new_applications(app: RootApp, fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    add_program(app, offer_id, fintech, ProgramStatus.CLOSING)
    assert "closing" in error(apply(pub, offer_id), 409, "offer_id")["message"]


# --- product and deep links --------------------------------------------------------------------


def _product(who: Api, domain: str, name: str) -> int:
    retailer = who.call("POST", "/v2/retailers", {"name": domain, "domain": domain})
    assert retailer.status_code == 201, retailer.text
    path = f"/v2/retailers/{retailer.json()['retailer_id']}"
    feed = {"products": [{"id": name, "title": name, "price": "25.00", "link": f"https://{domain}/p/{name}"}]}
    assert who.call("POST", f"{path}/feeds", feed).is_success
    listed = who.call("GET", f"{path}/products").json()["data"]
    product_id = idfmt.parse("prd", listed[0]["product_id"])
    assert product_id is not None
    return product_id


def test_product_links_land_on_the_advertisers_product(
    app: RootApp, client: TestClient, fintech: Api, rival: Api, pub: Api
) -> None:
    offer_id = make_offer(fintech)
    oid = idfmt.parse("off", offer_id)
    assert oid is not None
    card = _product(fintech, "shop.fintech.example.com", "card")
    foreign = _product(rival, "rival.example.com", "loan")
    url = click_url(TRACKING, oid, pub.account.id, None, product_id=card, epi="Gold card")
    response = click(client, url)
    assert response.headers["location"].startswith("https://shop.fintech.example.com/p/card?click_id=auc_")
    assert click_event(app, response).attrs["epi"] == "Gold card"
    refused = click(client, click_url(TRACKING, oid, pub.account.id, None, product_id=foreign))
    assert refused.status_code == 404
    assert (
        click(client, click_url(TRACKING, oid, pub.account.id, None, product_id=card + 1)).status_code == 404
    )


def test_deep_links_stay_on_the_advertisers_site(client: TestClient, fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)  # lands on https://fintech.example.com/apply?cid={click_id}
    oid = idfmt.parse("off", offer_id)
    assert oid is not None

    def deep(url: str) -> Any:
        return click(client, click_url(TRACKING, oid, pub.account.id, None, deep_url=url))

    landed = deep("https://www.fintech.example.com/cards/gold?ref=x")
    assert landed.status_code == 302
    assert landed.headers["location"].startswith(
        "https://www.fintech.example.com/cards/gold?ref=x&click_id=auc_"
    )
    assert deep("https://fintech.example.com/").status_code == 302
    refused = deep("https://evil.example.net/phish")
    assert refused.status_code == 400 and "leads off the advertiser" in refused.text
    assert deep("https://fintech.example.com.evil.net/").status_code == 400
