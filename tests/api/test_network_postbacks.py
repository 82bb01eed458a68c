"""/v2/network/postbacks through the real app: the seed's examples (golden), validation and the
address checks, and a conversion posted to /v2/conversions delivered to a real receiver on
loopback, read back through the publisher's delivery log, dead-lettered and replayed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient
from tests.jobs.receiver import Receiver

from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.domain.ids import render
from auctera.jobs.webhooks import WebhookWorker, WorkerOptions
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_golden_campaigns import assert_matches
from .test_tracking import click, click_id_of, click_url, offer, postback

# Seed 000, "GET/POST /v2/network/postbacks": request and response, as printed.
SEED_CREATE_REQUEST = {"event": "purchase", "url": "https://tracker.com/pb?c={click_id}"}
SEED_CREATE_RESPONSE = {"success": True, "postback_id": "pb_2", "status": "active"}
SEED_LIST_RESPONSE = {
    "data": [
        {"id": "pb_1", "event": "purchase", "url": "https://tracker.com/postback?cid={click_id}&p={payout}"}
    ]
}


@pytest.fixture
def strict_app(tmp_path: Path) -> Iterator[RootApp]:
    """The default settings: private targets refused, the worker in the lifespan."""
    application = create_app(Settings(data_dir=tmp_path / "data"))
    yield application
    application.container.close()


@pytest.fixture
def strict(strict_app: RootApp) -> Iterator[TestClient]:
    with TestClient(strict_app) as c:
        yield c


def test_seed_examples(strict_app: RootApp, strict: TestClient) -> None:
    pub = Api(strict_app, strict, "publisher", "Pub")
    first = pub.call("POST", "/v2/network/postbacks", SEED_LIST_RESPONSE["data"][0] | {"id": None})
    assert first.status_code == 422  # unknown field: the list's id is not writable
    body = {k: v for k, v in SEED_LIST_RESPONSE["data"][0].items() if k != "id"}
    assert pub.call("POST", "/v2/network/postbacks", body).status_code == 201
    created = pub.call("POST", "/v2/network/postbacks", SEED_CREATE_REQUEST)
    assert created.status_code == 201, created.text
    assert_matches(created.json(), SEED_CREATE_RESPONSE, {"postback_id"})
    assert created.json()["secret"].startswith("whsec_")
    listed = pub.call("GET", "/v2/network/postbacks").json()
    assert_matches(listed, SEED_LIST_RESPONSE, {"data.id"})
    assert [p["id"] for p in listed["data"]][1] == created.json()["postback_id"]
    assert "secret" not in listed["data"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "purchase", "url": "http://127.0.0.1:9/pb"}, "url"),
        ({"event": "purchase", "url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"event": "purchase", "url": "http://[::1]/pb"}, "url"),
        ({"event": "purchase", "url": "http://10.0.0.8/pb"}, "url"),
        ({"event": "purchase", "url": "https://tracker.com/pb?x={unknown}"}, "url"),
        ({"event": "purchase", "url": "tracker.com/pb"}, "url"),
        ({"event": "BUY NOW", "url": "https://tracker.com/pb"}, "event"),
        ({"event": "purchase", "url": "https://tracker.com/pb", "method": "PUT"}, "method"),
        ({"event": "purchase", "url": "https://tracker.com/pb", "offer_id": "cmp_1"}, "offer_id"),
        ({"event": "purchase", "url": "https://tracker.com/pb", "offer_id": "off_zzzz"}, "offer_id"),
    ],
)
def test_refused_postbacks_name_the_field(
    strict_app: RootApp, strict: TestClient, body: dict[str, Any], field: str
) -> None:
    pub = Api(strict_app, strict, "publisher", "Pub")
    error(pub.call("POST", "/v2/network/postbacks", body), 422, field)


def test_only_publishers_have_postbacks(strict_app: RootApp, strict: TestClient) -> None:
    adv = Api(strict_app, strict)
    error(adv.call("POST", "/v2/network/postbacks", SEED_CREATE_REQUEST), 403)
    error(adv.call("GET", "/v2/network/postbacks"), 403)
    error(adv.call("GET", "/v2/network/postbacks/deliveries"), 403)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_a_conversion_is_delivered_logged_dead_lettered_and_replayed(
    tmp_path: Path, clock: FrozenClock, receiver: Receiver
) -> None:
    # Loopback targets need the operator's permission; the worker runs by hand here.
    with (
        app_at(
            tmp_path, clock, "https://trk.example.com", webhook_allow_private=True, webhook_worker=False
        ) as app,
        TestClient(app) as client,
    ):
        adv, pub = Api(app, client, name="Acme"), Api(app, client, "publisher", "Pub")
        other = Api(app, client, "publisher", "Other")
        offer_id = offer(adv)
        ok = pub.call(
            "POST",
            "/v2/network/postbacks",
            {
                "event": "purchase",
                "url": receiver.url + "/ok?cid={click_id}&p={payout}&cur={currency}&o={offer_id}&s={sub_id1}",
                "method": "POST",
                "offer_id": _off(offer_id),
            },
        ).json()
        gone = pub.call(
            "POST", "/v2/network/postbacks", {"event": "purchase", "url": receiver.url + "/gone"}
        ).json()
        paused = pub.call(
            "POST",
            "/v2/network/postbacks",
            {"event": "purchase", "url": receiver.url + "/ok", "status": "paused"},
        ).json()
        assert paused["status"] == "paused"

        click_id = click_id_of(click(client, click_url(offer_id, pub, sub_id1="camp 7")))
        clock.now += timedelta(minutes=5)
        answer = postback(adv, {"click_id": click_id, "event_type": "purchase", "revenue": 100})
        assert answer.status_code in (200, 201), answer.text
        txn = answer.json()["transaction_id"]

        log = pub.call("GET", f"/v2/network/postbacks/{ok['postback_id']}/deliveries").json()["data"]
        assert [(d["state"], d["transaction_id"], d["attempts"]) for d in log] == [("pending", txn, 0)]
        WebhookWorker(
            app.container.webhooks, WorkerOptions(timeout=2.0, lease=timedelta(seconds=10))
        ).run_forever(threading.Event(), until_idle=True)
        (got,) = [r for r in receiver.snapshot() if r.path.startswith("/ok")]
        payload = Webhook(ok["secret"]).verify(got.body, got.headers)
        assert payload["click_id"] == click_id and payload["transaction_id"] == txn
        assert got.path == f"/ok?cid={click_id}&p=45&cur=USD&o={_off(offer_id)}&s=camp%207"

        log = pub.call("GET", f"/v2/network/postbacks/{ok['postback_id']}/deliveries").json()["data"]
        assert log[0]["state"] == "delivered" and log[0]["last_status_code"] == 200
        assert log[0]["log"][0]["status_code"] == 200 and log[0]["log"][0]["latency_ms"] >= 0
        assert log[0]["id"] == got.headers["webhook-id"]

        dead = pub.call("GET", "/v2/network/postbacks/deliveries", state="dead").json()["data"]
        assert [(d["postback_id"], d["last_status_code"]) for d in dead] == [(gone["postback_id"], 410)]
        assert other.call("GET", "/v2/network/postbacks/deliveries", state="dead").json()["data"] == []
        error(other.call("POST", f"/v2/network/postbacks/deliveries/{dead[0]['id']}/replay"), 404)
        error(other.call("GET", f"/v2/network/postbacks/{gone['postback_id']}/deliveries"), 404)
        replayed = pub.call("POST", f"/v2/network/postbacks/deliveries/{dead[0]['id']}/replay")
        assert replayed.json() == {"success": True, "delivery_id": dead[0]["id"], "state": "pending"}
        assert (
            pub.call("GET", "/v2/network/postbacks/deliveries", state="pending").json()["data"][0]["id"]
            == dead[0]["id"]
        )

        # Paused postbacks queue nothing; resumed ones do again.
        resumed = pub.call("PATCH", f"/v2/network/postbacks/{paused['postback_id']}", {"status": "active"})
        assert resumed.json()["status"] == "active"


def _off(offer_id: int) -> str:
    return render("off", offer_id)
