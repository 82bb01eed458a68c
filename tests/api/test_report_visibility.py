"""Who sees which figures of /v2/reports (D49): an advertiser and the network see every figure;
a publisher sees its own earnings (`payout`), the traffic counts and the sale `revenue`, and the
advertisers' cost figures (`spend`, `roas`, `cpa`, clearing prices) as null, keys kept. One
campaign, its advertiser, the publisher bringing its traffic and the network, all in USD."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.events import EventType
from support.clock import FrozenClock

from .conftest import app_at
from .test_report_currencies import Advertiser, Viewer, utc

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OCT1 = {"start_date": "2026-10-01", "end_date": "2026-10-02"}
DAILY_COSTS = ("spend", "roas", "cpa")
PLACEMENT_COSTS = ("spend", "clearing_price_paid", "avg_clearing_price")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    with app_at(tmp_path, FrozenClock(NOW), "http://trk.example.com") as application:
        yield application


class Deal:
    """Acme's campaign, the Deal Hunters Blog's traffic on it (two domains), and the network."""

    def __init__(self, app: RootApp, client: TestClient) -> None:
        self.acme = Advertiser(app, client, "Acme", "USD")
        self.publisher = Viewer(app, client, "Deal Hunters Blog", "publisher")
        self.network = Viewer(app, client, "Operator", "network")
        pub, at = self.publisher.account.id, utc("2026-10-01T15:00")
        common: dict[str, Any] = {"publisher_id": pub, "creative_id": 11}
        a, b = {"domain": "a.example"}, {"domain": "b.example"}
        log = self.acme.log
        log(EventType.CLICK, at, attrs=a, cost_micros=1_500_000, payout_micros=1_000_000, **common)
        log(EventType.CLICK, at, attrs=b, cost_micros=4_000_000, payout_micros=3_000_000, **common)
        log(
            EventType.CONVERSION,
            at,
            attrs=b,
            cost_micros=6_000_000,
            revenue_micros=100_000_000,
            payout_micros=5_000_000,
            **common,
        )
        # Logged on Nov 10, after Oct 1 became final: a restatement of that day.
        log(
            EventType.CONVERSION,
            utc("2026-10-01T20:00"),
            logged_at=utc("2026-11-10T09:00"),
            attrs=b,
            cost_micros=2_000_000,
            revenue_micros=20_000_000,
            payout_micros=1_500_000,
            **common,
        )


@pytest.fixture
def deal(app: RootApp, client: TestClient) -> Deal:
    return Deal(app, client)


def _withheld(figures: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: None if k in keys else v for k, v in figures.items()}


def test_daily_spend_roas_and_cpa_are_null_for_the_publisher_only(deal: Deal) -> None:
    advertiser = deal.acme.get("/v2/reports/daily", **OCT1)
    network = deal.network.get("/v2/reports/daily", **OCT1)
    publisher = deal.publisher.get("/v2/reports/daily", **OCT1)
    # The advertiser and the network: every figure, as before.
    for body in (advertiser, network):
        [oct1] = body["data"]
        eleven_fifty = Decimal("11.5")
        assert (oct1["spend"], oct1["roas"], oct1["cpa"]) == (eleven_fifty, Decimal("8.70"), eleven_fifty)
        assert oct1["restatement"]["changes"]["spend"] == 2
        assert (body["totals"]["spend"], body["totals"]["roas"], body["totals"]["cpa"]) == (
            Decimal("13.5"),
            Decimal("8.89"),
            Decimal("6.75"),
        )
    assert advertiser["data"] == network["data"] and advertiser["totals"] == network["totals"]
    # The publisher: exactly the network's answer, the cost figures null (keys kept).
    [oct1] = publisher["data"]
    assert oct1 == {
        **_withheld(network["data"][0], DAILY_COSTS),
        "restatement": {
            **oct1["restatement"],
            "changes": _withheld(network["data"][0]["restatement"]["changes"], DAILY_COSTS),
        },
    }
    assert set(oct1) == set(network["data"][0])
    assert all(oct1[k] is None and oct1["restatement"]["changes"][k] is None for k in DAILY_COSTS)
    assert publisher["totals"] == _withheld(network["totals"], DAILY_COSTS)
    # Its own figures stay: earnings, the sale revenue (to check a percentage commission), counts.
    totals = publisher["totals"]
    assert (totals["payout"], totals["revenue"]) == (Decimal("10.5"), 120)
    assert (totals["clicks"], totals["conversions"], totals["ctr"], totals["cvr"]) == (2, 2, None, 100)


def test_placements_hide_spend_and_clearing_prices_from_the_publisher(deal: Deal) -> None:
    def rows(viewer: Viewer, **params: Any) -> list[dict[str, Any]]:
        return list(viewer.get("/v2/reports/publishers", **params)["data"])

    b, a = rows(deal.acme)  # default: spend, highest first
    assert (a["domain"], a["spend"], a["clearing_price_paid"], a["avg_clearing_price"]) == (
        "a.example",
        Decimal("1.5"),
        1,
        1,
    )
    assert (b["domain"], b["spend"], b["clearing_price_paid"], b["paid_events"]) == ("b.example", 12, 3, 1)
    assert rows(deal.network) == [b, a]
    mine = rows(deal.publisher)  # default for a publisher: its payout, highest first
    assert mine == [_withheld(b, PLACEMENT_COSTS), _withheld(a, PLACEMENT_COSTS)]
    assert (mine[0]["payout"], mine[0]["revenue"], mine[0]["paid_events"]) == (Decimal("9.5"), 120, 1)

    # Sorting by spend would reveal its order: for a publisher it is null everywhere, so every
    # row ties and the order is the placements', whichever way.
    def domains(viewer: Viewer, **params: Any) -> list[str]:
        return [r["domain"] for r in rows(viewer, **params)]

    assert domains(deal.acme, sort="spend", order="desc") == ["b.example", "a.example"]
    for order in ("desc", "asc"):
        assert domains(deal.publisher, sort="spend", order=order) == ["a.example", "b.example"]
    assert domains(deal.publisher, sort="payout", order="asc") == ["a.example", "b.example"]


def test_creative_spend_is_null_for_the_publisher(deal: Deal) -> None:
    [theirs] = deal.acme.get("/v2/reports/creatives")["data"]
    assert (theirs["creative_id"], theirs["spend"]) == (idfmt.render("ast", 11), Decimal("13.5"))
    assert deal.network.get("/v2/reports/creatives")["data"] == [theirs]
    [mine] = deal.publisher.get("/v2/reports/creatives")["data"]
    assert mine == {**theirs, "spend": None}
