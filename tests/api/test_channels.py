"""/v2/channels through the real app: a publisher's channels, who reaches them, pagination."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from auctera.app import RootApp

from .conftest import Api, error
from .test_offers import make_offer

JOHN = {
    "name": "John's business blog",
    "type": "blog",
    "url": "https://www.johnsblog.com",
    "description": "A blog about business.",
}


def create(who: Api, **fields: Any) -> Any:
    return who.call("POST", "/v2/channels", {**JOHN, **fields})


def test_a_publishers_channels(app: RootApp, client: TestClient) -> None:
    pub = Api(app, client, "publisher", "Pub")
    response = create(pub)
    assert response.status_code == 201, response.text
    blog = response.json()
    assert blog["channel_id"].startswith("chn_")
    assert {k: blog[k] for k in JOHN} == {**JOHN, "type": "Blog"}  # the documented spelling
    assert blog["publisher_id"] == pub.id
    assert pub.call("GET", f"/v2/channels/{blog['channel_id']}").json() == blog

    social = create(pub, name="Insta", type="SOCIAL MEDIA", url=None, description=None).json()
    assert social["type"] == "Social media" and social["url"] is None
    listed = pub.call("GET", "/v2/channels").json()
    assert [c["channel_id"] for c in listed["data"]] == [social["channel_id"], blog["channel_id"]]

    changed = pub.call("PATCH", f"/v2/channels/{blog['channel_id']}", {"type": "Newsletter", "url": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["type"], changed.json()["url"], changed.json()["name"]) == (
        "Newsletter",
        None,
        JOHN["name"],
    )
    assert pub.call("DELETE", f"/v2/channels/{social['channel_id']}").status_code == 204
    error(pub.call("GET", f"/v2/channels/{social['channel_id']}"), 404, "channel_id")
    assert [c["channel_id"] for c in pub.call("GET", "/v2/channels").json()["data"]] == [blog["channel_id"]]


def test_social_media_is_accepted_as_documented(app: RootApp, client: TestClient) -> None:
    pub = Api(app, client, "publisher", "Pub")
    for spelling in ("social_media", "Social media", "SOCIAL_MEDIA"):
        response = create(pub, name=spelling, type=spelling)
        assert response.status_code == 201, response.text
        assert response.json()["type"] == "Social media"


def test_bad_channels_name_the_field(app: RootApp, client: TestClient) -> None:
    pub = Api(app, client, "publisher", "Pub")
    error(create(pub, type="pigeon"), 422, "type")
    error(create(pub, url="javascript:alert(1)"), 422, "url")
    error(create(pub, name=""), 422, "name")
    error(create(pub, name="x" * 256), 422, "name")
    error(pub.call("POST", "/v2/channels", {"type": "blog"}), 422, "name")
    error(create(pub, followers=10), 422, "followers")
    blog = create(pub).json()["channel_id"]
    error(pub.call("PATCH", f"/v2/channels/{blog}", {"name": None}), 422, "name")
    error(pub.call("PATCH", f"/v2/channels/{blog}", {"publisher_id": "pub_1"}), 422, "publisher_id")
    assert pub.call("GET", "/v2/channels").json()["data"][0]["name"] == JOHN["name"]


def test_who_reaches_channels(app: RootApp, client: TestClient) -> None:
    pub = Api(app, client, "publisher", "Pub")
    other = Api(app, client, "publisher", "Other")
    adv = Api(app, client, "advertiser", "Adv")
    network = Api(app, client, "network", "Operator")
    blog = create(pub).json()["channel_id"]
    error(adv.call("GET", "/v2/channels"), 403)
    error(create(adv), 403)
    for intruder in (other, adv):
        error(intruder.call("GET", f"/v2/channels/{blog}"), 404, "channel_id")
        error(intruder.call("PATCH", f"/v2/channels/{blog}", {"name": "hijacked"}), 404, "channel_id")
        error(intruder.call("DELETE", f"/v2/channels/{blog}"), 404, "channel_id")
    assert other.call("GET", "/v2/channels").json()["data"] == []
    error(other.call("GET", "/v2/channels", publisher_id=pub.id), 404, "publisher_id")
    # The network acts for a publisher, and sees every publisher's channels.
    error(create(network), 422, "publisher_id")
    made = create(network, name="PPC", type="ppc", publisher_id=pub.id)
    assert made.status_code == 201 and made.json()["publisher_id"] == pub.id
    error(create(network, publisher_id=adv.id), 404, "publisher_id")
    assert len(network.call("GET", "/v2/channels").json()["data"]) == 2
    assert len(network.call("GET", "/v2/channels", publisher_id=other.id).json()["data"]) == 0
    # An advertiser reads (only reads) a channel once it applied to one of its offers.
    offer_id = make_offer(adv)
    applied = pub.call("POST", "/v2/network/applications", {"offer_id": offer_id, "channel_id": blog})
    assert applied.status_code == 201, applied.text
    assert adv.call("GET", f"/v2/channels/{blog}").json()["name"] == JOHN["name"]
    error(adv.call("PATCH", f"/v2/channels/{blog}", {"name": "hijacked"}), 403)


def test_pages(app: RootApp, client: TestClient) -> None:
    pub = Api(app, client, "publisher", "Pub")
    made = [create(pub, name=f"Channel {i}").json()["channel_id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = pub.call("GET", "/v2/channels", **params).json()
        seen += [c["channel_id"] for c in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    error(pub.call("GET", "/v2/channels", cursor="garbage"), 422, "cursor")
