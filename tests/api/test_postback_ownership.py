"""Who may read and change a publisher's postbacks over /v2/network/postbacks: the publisher that
registered them, no one else. The operator's network keys, an advertiser (even the one whose offer
converted) and another publisher get the list's 403 (or their own, empty, list) and the id's 404,
the same answer a postback or delivery that does not exist gets; the owner's postback and
delivery are unchanged afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.ids import render
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_tracking import click, click_id_of, click_url, offer, postback

PAUSE = {"status": "paused"}


class Tenants:
    def __init__(self, app: RootApp, client: TestClient, clock: FrozenClock) -> None:
        self.advertiser = Api(app, client, name="Acme")
        self.owner = Api(app, client, "publisher", "Shop")
        self.intruders = {
            "network": Api(app, client, "network", "Operator"),
            "advertiser": self.advertiser,  # its offer is the one converting
            "publisher": Api(app, client, "publisher", "Other"),
        }
        offer_id = offer(self.advertiser)
        created = self.owner.call(
            "POST",
            "/v2/network/postbacks",
            {"event": "purchase", "url": "https://tracker.example.com/pb?c={click_id}"},
        )
        assert created.status_code == 201, created.text
        self.postback_id = created.json()["postback_id"]
        click_id = click_id_of(click(client, click_url(offer_id, self.owner)))
        clock.now += timedelta(minutes=5)
        answer = postback(self.advertiser, {"click_id": click_id, "event_type": "purchase", "revenue": 100})
        assert answer.status_code in (200, 201), answer.text
        (delivery,) = self.owner.call("GET", "/v2/network/postbacks/deliveries").json()["data"]
        self.delivery_id = delivery["id"]

    def owners_view(self) -> Any:
        return (
            self.owner.call("GET", "/v2/network/postbacks").json(),
            self.owner.call("GET", f"/v2/network/postbacks/{self.postback_id}/deliveries").json(),
            self.owner.call("GET", "/v2/network/postbacks/deliveries").json(),
        )


@pytest.fixture
def tenants(tmp_path: Path, clock: FrozenClock) -> Iterator[Tenants]:
    # The worker is off: the delivery stays pending, as queued.
    with (
        app_at(tmp_path, clock, "https://trk.example.com", webhook_worker=False) as app,
        TestClient(app) as client,
    ):
        yield Tenants(app, client, clock)


# Every call on a postback or delivery id, and what it would do if it got through.
BY_ID = [
    ("PATCH", "/v2/network/postbacks/{postback_id}", PAUSE, "postback_id"),
    ("PATCH", "/v2/network/postbacks/{postback_id}", {"status": "active"}, "postback_id"),
    ("GET", "/v2/network/postbacks/{postback_id}/deliveries", None, "postback_id"),
    ("POST", "/v2/network/postbacks/deliveries/{delivery_id}/replay", None, "delivery_id"),
]


@pytest.mark.parametrize("intruder", ["network", "advertiser", "publisher"])
def test_only_the_owner_reads_or_changes_its_postbacks(tenants: Tenants, intruder: str) -> None:
    t = tenants
    who = t.intruders[intruder]
    before = t.owners_view()
    missing = {"postback_id": render("pb", 12345), "delivery_id": render("msg", 12345)}
    for method, template, body, field in BY_ID:
        theirs = template.format(postback_id=t.postback_id, delivery_id=t.delivery_id)
        absent = template.format(**missing)
        got = error(who.call(method, theirs, body), 404, field)
        # Nothing to learn: the answer an id that does not exist gets (bar the id it names).
        none = error(who.call(method, absent, body), 404, field)
        named = t.postback_id if field == "postback_id" else t.delivery_id
        assert got == none | {"message": none["message"].replace(missing[field], named)}
    if intruder == "publisher":  # its own lists: empty
        assert who.call("GET", "/v2/network/postbacks").json() == {"data": []}
        assert who.call("GET", "/v2/network/postbacks/deliveries").json()["data"] == []
    else:  # postbacks are publishers' (seed 000): no list, and none registered for anyone
        error(who.call("GET", "/v2/network/postbacks"), 403)
        error(who.call("GET", "/v2/network/postbacks/deliveries"), 403)
        error(who.call("GET", "/v2/network/postbacks/deliveries", state="pending"), 403)
        body = {"event": "purchase", "url": "https://evil.example.com/pb"}
        error(who.call("POST", "/v2/network/postbacks", body), 403)
    assert t.owners_view() == before
    (pb,) = before[0]["data"]
    assert pb["status"] == "active"


def test_the_owner_pauses_resumes_and_replays(tenants: Tenants) -> None:
    t = tenants
    paused = t.owner.call("PATCH", f"/v2/network/postbacks/{t.postback_id}", PAUSE)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = t.owner.call("PATCH", f"/v2/network/postbacks/{t.postback_id}", {"status": "active"})
    assert resumed.json()["status"] == "active"
    replayed = t.owner.call("POST", f"/v2/network/postbacks/deliveries/{t.delivery_id}/replay")
    assert replayed.json() == {"success": True, "delivery_id": t.delivery_id, "state": "pending"}
