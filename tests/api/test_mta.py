"""GET /v2/reports/mta through the real app: a visitor sees a DSP ad, clicks it, later clicks an
affiliate offer and buys; each attribution model's credits are checked by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.attribution import MarkovModel, round_credits
from auctera.domain.events import Event, EventType
from auctera.events import DuckDBEventStore
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_tracking import BROWSER, click, click_id_of, click_url, offer, postback

TRACKING = "https://trk.example.com"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING) as application:
        yield application


def local(url: str) -> str:
    return url.removeprefix(TRACKING)


class Journey:
    """acme's DSP campaign and affiliate offer, and the visitors who met them (one cookie jar each)."""

    def __init__(self, app: RootApp, acme: Api, publisher: Api, clock: FrozenClock) -> None:
        self.app, self.acme, self.publisher, self.clock = app, acme, publisher, clock
        dsp = acme.create(type="dsp_prospecting", destination_url="https://shop.example.com/")
        self.dsp = acme.get(dsp)["tracking"]
        self.dsp_id = dsp
        self.offer_id = offer(acme)

    def visitor(self) -> TestClient:
        return TestClient(self.app)

    def dsp_impression(self, visitor: TestClient) -> None:
        assert visitor.get(local(self.dsp["impression_pixel"]), headers=BROWSER).status_code == 200

    def dsp_click(self, visitor: TestClient) -> str:
        return click_id_of_any(click(visitor, local(self.dsp["click_url"])))

    def affiliate_click(self, visitor: TestClient) -> str:
        return click_id_of(click(visitor, click_url(self.offer_id, self.publisher)))

    def wait(self, **delta: float) -> None:
        self.clock.now += timedelta(**delta)


def click_id_of_any(response: Any) -> str:
    """The click id the redirect carries (appended as click_id when the URL has no macro)."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    return str(location.split("click_id=")[1].split("&")[0])


@pytest.fixture
def journey(app: RootApp, acme: Api, publisher: Api, clock: FrozenClock, client: TestClient) -> Journey:
    return Journey(app, acme, publisher, clock)


@pytest.fixture
def converted(journey: Journey, client: TestClient) -> str:
    """T0 DSP impression, T0+1h DSP click, T0+3h affiliate click, T0+3h10m purchase: one visitor."""
    journey.dsp_impression(client)
    journey.wait(hours=1)
    journey.dsp_click(client)
    journey.wait(hours=2)
    affiliate_click = journey.affiliate_click(client)
    journey.wait(minutes=10)  # past the click-injection guard (5 minutes)
    response = postback(journey.acme, {"click_id": affiliate_click, "event_type": "purchase", "revenue": 50})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    return str(response.json()["transaction_id"])


def mta(api: Api, conversion_id: str, **params: Any) -> Any:
    return api.call("GET", "/v2/reports/mta", conversion_id=conversion_id, **params)


def report(api: Api, conversion_id: str, **params: Any) -> dict[str, Any]:
    response = mta(api, conversion_id, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    credits = [Decimal(str(t["credit"])) for t in body["touchpoints"]]
    assert not credits or sum(credits) == 1
    return body


def credits_of(body: dict[str, Any]) -> list[float]:
    return [t["credit"] for t in body["touchpoints"]]


T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_the_journey_in_time_order_with_its_channels(journey: Journey, acme: Api, converted: str) -> None:
    body = report(acme, converted)
    assert body["conversion_id"] == converted
    assert body["model"] == "last_click"  # DEFAULT_MODEL: the account has not chosen one
    assert body["lookback_days"] == 30
    assert body["converted_at"] == "2026-11-23T15:10:00Z"
    touches = body["touchpoints"]
    assert [(t["channel"], t["interaction"]) for t in touches] == [
        ("DSP", "impression"),
        ("DSP", "click"),
        ("Affiliate", "click"),
    ]
    assert [t["at"] for t in touches] == [
        "2026-11-23T12:00:00Z",
        "2026-11-23T13:00:00Z",
        "2026-11-23T15:00:00Z",
    ]
    assert [t["campaign_id"] for t in touches[:2]] == [journey.dsp_id, journey.dsp_id]
    assert touches[0]["click_id"] is None and touches[1]["click_id"].startswith("auc_")
    assert credits_of(body) == [0.0, 0.0, 1.0]  # last_click: all to the affiliate click


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"model": "last_click"}, [0.0, 0.0, 1.0]),
        ({"model": "first_click"}, [0.0, 1.0, 0.0]),  # the first click, not the first impression
        ({"model": "linear"}, [0.3334, 0.3333, 0.3333]),  # 1/3 each; the extra unit to the earliest
        ({"model": "position_based"}, [0.4, 0.2, 0.4]),  # 40 / 20 / 40
        # Half life 1 h; touches 3 h, 2 h and 0 h before the last one: weights 1/8, 1/4, 1, total
        # 11/8, so credits 1/11, 2/11, 8/11 = 0.090909.., 0.181818.., 0.727272..: floors 0.0909,
        # 0.1818, 0.7272 leave 0.0001 for the largest remainder, the last.
        ({"model": "time_decay", "half_life_hours": 1}, [0.0909, 0.1818, 0.7273]),
        # Default half life 7 days = 168 h: weights 2^(-3/168), 2^(-2/168), 1.
        ({"model": "time_decay"}, None),
    ],
)
def test_each_model(acme: Api, converted: str, params: dict[str, Any], expected: list[float] | None) -> None:
    body = report(acme, converted, **params)
    assert body["model"] == params["model"]
    if expected is None:
        weights = [2 ** (-3 / 168), 2 ** (-2 / 168), 1.0]
        exact = [w / sum(weights) for w in weights]
        assert credits_of(body) == pytest.approx(exact, abs=0.0001)
        assert body["half_life_hours"] == 168
    else:
        assert credits_of(body) == expected


def test_data_driven_credits_by_removal_effect(journey: Journey, acme: Api, converted: str) -> None:
    # Three visitors who did not buy (each its own cookie): DSP only, affiliate only, both.
    journey.dsp_impression(journey.visitor())
    journey.affiliate_click(journey.visitor())
    journey.dsp_click(both := journey.visitor())
    journey.wait(minutes=1)
    journey.affiliate_click(both)
    paths = [
        (["DSP", "DSP", "Affiliate"], True),
        (["DSP"], False),
        (["Affiliate"], False),
        (["DSP", "Affiliate"], False),
    ]
    # By hand: P(conversion) = 3/4 * 2/3 * 1/3 + 1/4 * 1/3 = 1/4 (self-loops ignored); without DSP
    # 1/12 (removal effect 2/3), without Affiliate 0 (effect 1). Normalised: DSP 2/5, Affiliate
    # 3/5; DSP's share split over its two touches.
    expected = round_credits(MarkovModel.fit(paths).credits(paths[0][0]))
    assert expected == [Decimal("0.2000"), Decimal("0.2000"), Decimal("0.6000")]
    body = report(acme, converted, model="data_driven")
    assert credits_of(body) == [0.2, 0.2, 0.6]

    # The fitted model is kept for 15 minutes: a new visitor changes nothing until then.
    journey.affiliate_click(journey.visitor())
    journey.wait(minutes=14)
    assert credits_of(report(acme, converted, model="data_driven")) == [0.2, 0.2, 0.6]
    journey.wait(minutes=2)
    # Refitted with a second affiliate-only visitor: DSP 1/3, Affiliate 2/3.
    refit = round_credits(MarkovModel.fit([*paths, (["Affiliate"], False)]).credits(paths[0][0]))
    assert credits_of(report(acme, converted, model="data_driven")) == [float(c) for c in refit]
    assert refit == [Decimal("0.1667"), Decimal("0.1667"), Decimal("0.6666")]


def test_the_converting_click_is_kept_even_before_the_lookback(
    journey: Journey, acme: Api, client: TestClient
) -> None:
    journey.dsp_impression(client)
    journey.wait(hours=1)
    affiliate_click = journey.affiliate_click(client)
    journey.wait(days=2)  # bought two days after the click
    txn = postback(acme, {"click_id": affiliate_click, "event_type": "purchase"}).json()["transaction_id"]
    one_day = report(acme, txn, lookback_days=1)["touchpoints"]
    assert [(t["channel"], t["interaction"], t["credit"]) for t in one_day] == [("Affiliate", "click", 1.0)]
    assert one_day[0]["click_id"] == affiliate_click
    assert [t["channel"] for t in report(acme, txn, lookback_days=3)["touchpoints"]] == ["DSP", "Affiliate"]


def test_lookback_excludes_touches_before_the_window(
    journey: Journey, acme: Api, client: TestClient, clock: FrozenClock
) -> None:
    journey.dsp_impression(client)
    journey.wait(days=2)
    affiliate_click = journey.affiliate_click(client)
    journey.wait(minutes=10)
    txn = postback(acme, {"click_id": affiliate_click, "event_type": "purchase"}).json()["transaction_id"]
    assert [t["channel"] for t in report(acme, txn, lookback_days=1)["touchpoints"]] == ["Affiliate"]
    assert [t["channel"] for t in report(acme, txn, lookback_days=3)["touchpoints"]] == ["DSP", "Affiliate"]
    # Touches after the conversion did not lead to it.
    journey.wait(minutes=1)
    journey.dsp_click(client)
    assert len(report(acme, txn, lookback_days=3, model="linear")["touchpoints"]) == 2


def test_errors(app: RootApp, client: TestClient, acme: Api, publisher: Api, converted: str) -> None:
    other = Api(app, client, name="Other")
    assert error(mta(other, converted), 404, "conversion_id")["code"] == "not_found"
    error(mta(acme, "txn_zzzzzz"), 404, "conversion_id")
    error(mta(acme, "nope"), 404, "conversion_id")
    error(mta(acme, converted, model="shapley"), 422, "model")
    error(mta(acme, converted, model="time_decay", half_life_hours=0), 422, "half_life_hours")
    # Not silently the default 168 h: a half-life too small to be a duration is refused.
    for bad in ("1e-300", "0.001", "nan", "inf"):
        error(mta(acme, converted, model="time_decay", half_life_hours=bad), 422, "half_life_hours")
    error(mta(acme, converted, model="time_decay", half_life_hours=2161), 422, "half_life_hours")
    assert mta(acme, converted, model="time_decay", half_life_hours=0.01).status_code == 200
    error(mta(acme, converted, lookback_days=0), 422, "lookback_days")
    error(mta(acme, converted, lookback_days=91), 422, "lookback_days")
    error(acme.call("GET", "/v2/reports/mta"), 422, "conversion_id")
    error(mta(publisher, converted), 403)
    assert client.get("/v2/reports/mta", params={"conversion_id": converted}).status_code == 401


# --- the event store's journey queries ------------------------------------------------------------


def test_store_paths_split_at_conversions_and_skip_ivt(tmp_path: Path) -> None:
    def event(id_: int, kind: EventType, minute: int, uid: str, campaign: int = 1, **more: Any) -> Event:
        at = T0 + timedelta(minutes=minute)
        return Event(id_, kind, at, 7, campaign_id=campaign, attrs={"uid": uid}, **more)

    with DuckDBEventStore(tmp_path / "events", compact_interval=None) as store:
        store.append_many(
            [
                event(1, EventType.IMPRESSION, 0, "a", 1),
                event(2, EventType.CLICK, 1, "a", 2),
                event(3, EventType.CONVERSION, 1, "a", 2),  # the same minute as its click: after it
                event(4, EventType.CLICK, 5, "a", 3),
                event(5, EventType.VIEWABLE_IMPRESSION, 5, "a", 3),  # the same view again: not a touch
                event(6, EventType.CONVERSION, 7, "a", 3),
                event(7, EventType.CLICK, 8, "a", 1),  # after the last conversion: did not convert
                event(8, EventType.CLICK, 2, "b", 1),
                event(9, EventType.CLICK, 3, "b", 1, ivt=True),
                event(10, EventType.CONVERSION, 4, "b", 1, ivt=True),  # rejected: no conversion
                Event(11, EventType.CLICK, T0, 8, campaign_id=1, attrs={"uid": "a"}),  # another account
            ]
        )
        end = T0 + timedelta(days=1)
        for _ in range(2):  # from the journal, then from Parquet
            touches = store.touchpoints(7, "a", T0, end)
            assert [e.id for e in touches] == [1, 2, 4, 7]
            assert [e.id for e in store.touchpoints(7, "a", T0, T0 + timedelta(minutes=5))] == [1, 2]
            paths = sorted(
                (
                    (uid, [(c, t) for c, t, _ in touches], converted)
                    for uid, touches, converted in store.paths(7, T0, end)
                ),
            )
            assert paths == [
                ("a", [(1, "click")], False),
                ("a", [(1, "impression"), (2, "click")], True),
                ("a", [(3, "click")], True),
                ("b", [(1, "click")], False),
            ]
            store.close()
            store = DuckDBEventStore(tmp_path / "events", compact_interval=None)
            store.compact()
        # The streamed table is dropped when done, and when abandoned unread.
        unread = store.paths(7, T0, end)
        del unread
        leftovers = store._db.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_paths%' ESCAPE '\\'"
        )
        assert leftovers.fetchall() == [(0,)]
        store.close()


def test_the_account_chooses_its_default_model(acme: Api, converted: str) -> None:
    assert (
        acme.call("PATCH", "/v2/account", {"attribution_model": "linear"}).json()["attribution_model"]
        == "linear"
    )
    assert report(acme, converted)["model"] == "linear"
    assert report(acme, converted, model="first_click")["model"] == "first_click"  # asked for: wins
    acme.call("PATCH", "/v2/account", {"attribution_model": None})
    assert report(acme, converted)["model"] == "last_click"
    bad = acme.call("PATCH", "/v2/account", {"attribution_model": "gut_feeling"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "attribution_model"
