"""/v2/offers and /v2/offers/links through the real app: the seed's two examples, who sees which
offers, geo filtering, pagination, EPC from real clicks, and links that cannot be had for offers
the publisher may not run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Account, AccountKind
from auctera.domain.campaigns import (
    Budget,
    Campaign,
    CampaignStatus,
    CampaignType,
    Targeting,
    Visibility,
)
from auctera.domain.signatures import sign
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_tracking import BROWSER

TRACKING = "https://trk.auctera.io"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING) as application:
        yield application


@pytest.fixture
def fintech(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "advertiser", "FintechCorp")


@pytest.fixture
def pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Pub")


@pytest.fixture
def other_pub(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Other Pub")


def make_offer(advertiser: Api, **fields: Any) -> str:
    """An active affiliate offer (the review passes); its off_… id."""
    body = {
        "name": "Card signup",
        "type": "affiliate_cpa",
        "payout": 65,
        "destination_url": "https://fintech.example.com/apply?cid={click_id}",
        **fields,
    }
    campaign_id = advertiser.create(**body)
    assert advertiser.get(campaign_id)["status"] == "active"
    return "off_" + campaign_id.removeprefix("cmp_")


def cmp(offer_id: str) -> str:
    return "cmp_" + offer_id.removeprefix("off_")


def b36(offer_id: str) -> str:
    return offer_id.removeprefix("off_")


def offers(caller: Api, **params: Any) -> Any:
    response = caller.call("GET", "/v2/offers", **params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(caller: Api, **params: Any) -> list[str]:
    return [o["offer_id"] for o in offers(caller, **params)["data"]]


def links(caller: Api, **params: Any) -> Any:
    return caller.call("GET", "/v2/offers/links", **params)


def click(client: TestClient, url: str, ip: str) -> Any:
    headers = {**BROWSER, "X-Forwarded-For": ip}
    return client.get(url.removeprefix(TRACKING), headers=headers, follow_redirects=False)


# --- the seed ------------------------------------------------------------------------------------


def test_seed_offer_list(fintech: Api, pub: Api) -> None:
    offer_id = make_offer(
        fintech,
        targeting={"geo": ["US"]},
        promotional_rules=["No Incentivized Traffic", "Email Only"],
    )
    body = offers(pub, geo="US")
    assert body == {
        "data": [
            {
                "offer_id": offer_id,
                "name": "Card signup",
                "advertiser": "FintechCorp",
                "type": "affiliate_cpa",
                "payout": 65,
                "currency": "USD",
                "commissions": [],  # no program commission types: the flat payout is what pays
                "epc": None,  # no clicks yet
                "geo": ["US"],
                "promotional_rules": ["No Incentivized Traffic", "Email Only"],
            }
        ],
        "pagination": {"next_cursor": None, "limit": 50},
    }
    assert offer_id.startswith("off_")


def test_seed_links(client: TestClient, fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    response = links(pub, offer_id=offer_id, sub_id1="source_a")
    assert response.status_code == 200, response.text
    p = idfmt.to_base36(pub.account.id)
    assert response.json() == {
        "tracking_url": f"{TRACKING}/click?o={b36(offer_id)}&p={p}&s1=source_a",
        "impression_pixel": f"{TRACKING}/imp?o={b36(offer_id)}&p={p}",
    }
    # The link works: the visitor lands on the advertiser's page.
    landed = click(client, response.json()["tracking_url"], "1.2.3.4")
    assert landed.status_code == 302
    assert landed.headers["location"].startswith("https://fintech.example.com/apply?cid=auc_")


def test_every_sub_id_in_order_and_empty_ones_left_out(fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    url = links(
        pub, offer_id=offer_id, sub_id5="e", sub_id1="a b", sub_id2="", sub_id3="c&d", sub_id4="x"
    ).json()["tracking_url"]
    assert url.endswith("&s1=a%20b&s3=c%26d&s4=x&s5=e")


# --- who sees which offers -----------------------------------------------------------------------


def test_only_active_public_affiliate_offers_are_open(
    fintech: Api, pub: Api, app: RootApp, client: TestClient
) -> None:
    open_cpa = make_offer(fintech)
    open_cpc = make_offer(fintech, type="affiliate_cpc", payout=0.5)
    private = make_offer(fintech, visibility="private")
    paused = make_offer(fintech)
    fintech.call("PATCH", f"/v2/campaigns/{cmp(paused)}", {"status": "paused"})
    archived = make_offer(fintech)
    fintech.call("DELETE", f"/v2/campaigns/{cmp(archived)}")
    dsp = "off_" + fintech.create(destination_url="https://fintech.example.com/").removeprefix("cmp_")
    assert ids(pub) == [open_cpc, open_cpa]
    for closed in (private, paused, archived, dsp):
        error(links(pub, offer_id=closed), 404, "offer_id")
    for garbage in ("off_!!", "442", cmp(open_cpa), "off_"):
        error(links(pub, offer_id=garbage), 404, "offer_id")
    # The 404 says nothing more for a private offer than for an id that never existed.
    unknown = "off_" + idfmt.to_base36((idfmt.parse("off", private) or 0) + 1)
    assert (
        links(pub, offer_id=private).json()["error"]["message"]
        == links(pub, offer_id=unknown).json()["error"]["message"]
    )
    # Resumed, the paused offer is open again.
    fintech.call("PATCH", f"/v2/campaigns/{cmp(paused)}", {"status": "active"})
    assert paused in ids(pub)
    assert links(pub, offer_id=paused).status_code == 200


def test_every_publisher_sees_the_catalogue_and_gets_its_own_links(
    app: RootApp, client: TestClient, fintech: Api, pub: Api, other_pub: Api
) -> None:
    acme = Api(app, client, "advertiser", "Acme")
    mine = make_offer(fintech)
    theirs = make_offer(acme, name="Acme trial")
    assert ids(pub) == ids(other_pub) == [theirs, mine]
    assert [o["advertiser"] for o in offers(pub)["data"]] == ["Acme", "FintechCorp"]
    url = links(other_pub, offer_id=mine).json()["tracking_url"]
    assert f"&p={idfmt.to_base36(other_pub.account.id)}" in url
    # A publisher cannot ask for links (or a catalogue) in another publisher's name.
    error(links(other_pub, offer_id=mine, publisher_id=pub.id), 404, "publisher_id")
    error(other_pub.call("GET", "/v2/offers", publisher_id=pub.id), 404, "publisher_id")
    assert links(pub, offer_id=mine, publisher_id=pub.id).status_code == 200  # its own id is fine


def test_advertisers_are_told_offers_are_for_publishers(fintech: Api) -> None:
    offer_id = make_offer(fintech)
    for response in (
        fintech.call("GET", "/v2/offers"),
        links(fintech, offer_id=offer_id),
        links(fintech, offer_id="off_!!"),  # 403 whatever the id: it is about the account kind
    ):
        assert "publisher" in error(response, 403)["message"]


def test_the_network_acts_for_a_publisher(app: RootApp, client: TestClient, fintech: Api, pub: Api) -> None:
    network = Api(app, client, "network", "Operator")
    offer_id = make_offer(fintech)
    error(network.call("GET", "/v2/offers"), 422, "publisher_id")
    error(links(network, offer_id=offer_id), 422, "publisher_id")
    error(links(network, offer_id=offer_id, publisher_id="nonsense!"), 422, "publisher_id")
    error(links(network, offer_id=offer_id, publisher_id=fintech.id), 404, "publisher_id")  # not a publisher
    assert ids(network, publisher_id=pub.id) == [offer_id]
    url = links(network, offer_id=offer_id, publisher_id=pub.id, sub_id1="s").json()["tracking_url"]
    assert url == f"{TRACKING}/click?o={b36(offer_id)}&p={idfmt.to_base36(pub.account.id)}&s1=s"


# --- filters, pagination, validation -------------------------------------------------------------


def test_geo_filter(fintech: Api, pub: Api) -> None:
    north_america = make_offer(fintech, targeting={"geo": ["US", "CA"]})
    worldwide = make_offer(fintech)
    germany = make_offer(fintech, targeting={"geo": ["DE"]})
    assert ids(pub, geo="US") == [worldwide, north_america]
    assert ids(pub, geo="ca") == [worldwide, north_america]  # case-insensitive
    assert ids(pub, geo="DE") == [germany, worldwide]
    assert ids(pub, geo="JP") == [worldwide]
    assert ids(pub) == [germany, worldwide, north_america]
    geos = {o["offer_id"]: o["geo"] for o in offers(pub)["data"]}
    assert geos == {north_america: ["US", "CA"], worldwide: [], germany: ["DE"]}
    for bad in ("ZZ", "USA", "", "1"):
        error(pub.call("GET", "/v2/offers", geo=bad), 422, "geo")


def test_pagination(fintech: Api, pub: Api) -> None:
    made = [make_offer(fintech, targeting={"geo": ["US"] if i % 2 else ["DE"]}) for i in range(5)]
    newest_first = list(reversed(made))
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = offers(pub, **params)
        assert len(body["data"]) <= 2 and body["pagination"]["limit"] == 2
        seen += [o["offer_id"] for o in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    # Filtered pages are full pages of matching offers.
    first = offers(pub, geo="DE", limit=2)
    assert [o["offer_id"] for o in first["data"]] == [made[4], made[2]]
    rest = offers(pub, geo="DE", limit=2, cursor=first["pagination"]["next_cursor"])
    assert [o["offer_id"] for o in rest["data"]] == [made[0]]
    assert rest["pagination"]["next_cursor"] is None
    error(pub.call("GET", "/v2/offers", cursor="bogus"), 422, "cursor")
    error(pub.call("GET", "/v2/offers", limit=0), 422, "limit")
    error(pub.call("GET", "/v2/offers", limit=101), 422, "limit")


def stored_offer(campaign_id: int, account_id: int, geo: tuple[str, ...], **fields: Any) -> Campaign:
    now = FrozenClock().now
    offer = Campaign(
        id=campaign_id,
        account_id=account_id,
        name=f"offer {campaign_id}",
        type=CampaignType.AFFILIATE_CPA,
        status=CampaignStatus.ACTIVE,
        budget=Budget("USD", None, 1_000_000_000),
        created_at=now,
        updated_at=now,
        targeting=Targeting(geo=geo),
        destination_url="https://fintech.example.com/",
        payout_micros=1_000_000,
    )
    return replace(offer, **fields)


def test_geo_filter_reads_past_a_batch_of_other_countries(app: RootApp, fintech: Api, pub: Api) -> None:
    us = make_offer(fintech, targeting={"geo": ["US"]})
    container = app.container
    with container.uow() as uow:  # 150 newer offers for Germany only: more than one batch
        for _ in range(150):
            uow.campaigns.add(stored_offer(container.ids.next_id(), fintech.account.id, ("DE",)))
        uow.commit()
    assert ids(pub, geo="US") == [us]
    assert len(ids(pub, geo="DE", limit=100)) == 100


def test_open_offers_on_every_backend(uow_factory: SqlUnitOfWorkFactory) -> None:
    """The repository query itself, on SQLite and PostgreSQL."""
    owner = Account(1, "A", AccountKind.ADVERTISER, "UTC", "USD", "auc_ss_x", None, FrozenClock().now)
    rows = [
        stored_offer(10, 1, ("US", "CA")),
        stored_offer(11, 1, ()),
        stored_offer(12, 1, ("DE",)),
        stored_offer(13, 1, ("US",), type=CampaignType.AFFILIATE_CPC),
        stored_offer(14, 1, (), visibility=Visibility.PRIVATE),
        stored_offer(15, 1, (), status=CampaignStatus.PAUSED),
        stored_offer(16, 1, (), type=CampaignType.DSP_PROSPECTING, payout_micros=None),
        stored_offer(17, 1, (), status=CampaignStatus.PENDING_REVIEW),
        *(stored_offer(100 + i, 1, ("FR",)) for i in range(120)),
    ]
    with uow_factory() as uow:
        uow.accounts.add(owner)
        for row in rows:
            uow.campaigns.add(row)
        uow.commit()
    with uow_factory(read_only=True) as uow:
        offers = uow.campaigns.open_offers

        def found(geo: str | None, before: int | None = None, limit: int = 50) -> list[int]:
            return [c.id for c in offers(geo, before, limit)]

        assert found("US") == [13, 11, 10]
        assert found("US", before=13) == [11, 10]
        assert found("US", limit=2) == [13, 11]
        assert found("DE") == [12, 11]
        assert found("JP") == [11]
        assert found(None, before=100) == [13, 12, 11, 10]
        assert len(found("FR", limit=100)) == 100 and found("FR", limit=100)[0] == 219
        assert found("FR", before=101, limit=5) == [100, 11]


def test_sub_ids_are_checked(fintech: Api, pub: Api) -> None:
    offer_id = make_offer(fintech)
    assert links(pub, offer_id=offer_id, sub_id4="x" * 255).status_code == 200
    for name in ("sub_id1", "sub_id5"):
        error(links(pub, offer_id=offer_id, **{name: "x" * 256}), 422, name)
    error(pub.call("GET", "/v2/offers/links"), 422, "offer_id")


def test_no_key_no_offers(client: TestClient) -> None:
    error(client.get("/v2/offers"), 401)
    error(client.get("/v2/offers/links", params={"offer_id": "off_1"}), 401)


# --- EPC ----------------------------------------------------------------------------------------


def postback(advertiser: Api, click_id: str) -> None:
    raw = json.dumps({"click_id": click_id, "event_type": "purchase", "revenue": 100}).encode()
    now = int(advertiser.client.app.container.clock().timestamp())  # type: ignore[attr-defined]
    response = advertiser.client.post(
        "/v2/conversions",
        content=raw,
        headers={
            **advertiser.headers,
            "Content-Type": "application/json",
            "X-Auctera-Signature": sign(advertiser.account.signing_secret, raw, now),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved", response.text


def test_epc_comes_from_the_clicks_of_the_last_seven_days(
    client: TestClient, fintech: Api, pub: Api, other_pub: Api, clock: FrozenClock
) -> None:
    cpc = make_offer(fintech, type="affiliate_cpc", payout=1.24)
    cpa = make_offer(fintech, payout=65)
    quiet = make_offer(fintech)
    cpc_url = links(pub, offer_id=cpc).json()["tracking_url"]
    for i in range(3):
        assert click(client, cpc_url, f"10.0.0.{i + 1}").status_code == 302
    # Three clicks on the CPA offer, from two publishers, one of which converts (65 / 3 = 21.666...).
    cpa_urls = [links(p, offer_id=cpa).json()["tracking_url"] for p in (pub, other_pub, pub)]
    landed = [click(client, url, f"10.0.1.{i + 1}") for i, url in enumerate(cpa_urls)]
    click_id = parse_qs(urlsplit(landed[0].headers["location"]).query)["cid"][0]
    clock.now += timedelta(minutes=5)  # a conversion at once would look like click injection
    postback(fintech, click_id)
    epc = {o["offer_id"]: o["epc"] for o in offers(pub)["data"]}
    assert epc == {cpc: 1.24, cpa: 21.67, quiet: None}
    assert {o["offer_id"]: o["epc"] for o in offers(other_pub)["data"]} == epc  # the offer's, not yours
    clock.now += timedelta(days=6, hours=23)  # still inside the trailing seven days
    assert {o["offer_id"]: o["epc"] for o in offers(pub)["data"]}[cpa] == 21.67
    clock.now += timedelta(hours=2)  # out of the window: no clicks, no EPC
    assert {o["offer_id"]: o["epc"] for o in offers(pub)["data"]} == {cpc: None, cpa: None, quiet: None}
