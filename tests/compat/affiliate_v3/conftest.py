"""The real app on a frozen clock, and a small affiliate network to call /v3 with: an advertiser
with a program (an affiliate campaign with its program settings, segments, commission types and
a product feed), a publisher with channels, and their applications. Program terms, channels and
applications are written through the repositories (their /v2 endpoints are another surface's)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Account
from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    CategoryRate,
    Channel,
    ChannelType,
    CommissionType,
    Program,
    ProgramStatus,
    PromotionMethod,
    Rate,
    Segment,
    Threshold,
    TrackingType,
)
from auctera.domain.tracking import click_url
from support.clock import FrozenClock

TRACKING = "https://trk.example.net"
M = 1_000_000


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def make_app(tmp_path: Path, clock: FrozenClock, **settings: Any) -> RootApp:
    config = Settings(
        data_dir=tmp_path / "data",
        tracking_url=TRACKING,
        **{"v3_rate_limit_per_minute": 10_000, "v3_client_rate_limit_per_minute": 10_000, **settings},
    )
    return create_app(container=build(config, clock=clock))


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # Feed files rendered on request only (the lazy path, and file counts without a race);
    # test_feed_renders.py runs the background renders after imports.
    application = make_app(tmp_path, clock, feed_file_worker=False)
    yield application
    application.container.close()


@pytest.fixture
def client(app: RootApp) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@dataclass
class Caller:
    account: Account
    token: str
    client: TestClient

    @property
    def id(self) -> int:
        return self.account.id

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, headers={"X-Token": self.token}, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers={"X-Token": self.token})

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(path, json=body, headers={"X-Token": self.token})

    def v2(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.is_success, response.text
        return response.json()


class Network:
    """Builds advertisers, programs, publishers, channels and applications on the real app."""

    def __init__(self, app: RootApp, client: TestClient) -> None:
        self.app = app
        self.client = client
        self.container = app.container

    def account(self, name: str, kind: str, **options: Any) -> Caller:
        new = self.container.accounts.create_account(name, kind, currency="SEK", **options)
        return Caller(new.account, new.api_key, self.client)

    def program(
        self,
        advertiser: Caller,
        name: str = "Kitchentime SE",
        *,
        market: str = "SE",
        visibility: str = "public",
        status: ProgramStatus = ProgramStatus.LIVE,
        feed_ids: tuple[int, ...] = (),
    ) -> int:
        """An active affiliate campaign with its program row (the same id)."""
        body = {
            "name": name,
            "type": "affiliate_cpa",
            "budget": 10000,
            "payout": 5,
            "destination_url": "https://www.kitchentime.se/?cid={click_id}",
            "visibility": visibility,
        }
        created = advertiser.v2("POST", "/v2/campaigns", body)["campaign_id"]
        program_id = idfmt.parse("cmp", created)
        assert program_id is not None
        assert advertiser.v2("GET", f"/v2/campaigns/{created}")["status"] == "active"
        now = self.container.clock()
        program = Program(
            id=program_id,
            account_id=advertiser.id,
            market=market,
            status=status,
            cookie_duration_days=45,
            promotion_methods=frozenset(PromotionMethod),
            category_id=1,
            category_name="Fashion & accessories",
            program_url="https://www.kitchentime.se",
            logo_url="https://cdn.example.net/logo.png",
            tracking_type=TrackingType.SERVER_TO_SERVER,
            feed_ids=feed_ids,
            created_at=now,
            updated_at=now,
        )
        with self.container.uow() as uow:
            uow.programs.add(program)
            uow.commit()
        return program_id

    def segment(self, program_id: int, name: str, *, standard: bool = False) -> int:
        segment = Segment(self.container.ids.next_id(), program_id, name, standard, self.container.clock())
        with self.container.uow() as uow:
            assert uow.programs.add_segment(segment)
            uow.commit()
        return segment.id

    def commission(
        self, program_id: int, segment_id: int, name: str = "Sale new customer", **fields: Any
    ) -> int:
        terms = CommissionType(
            id=self.container.ids.next_id(),
            program_id=program_id,
            segment_id=segment_id,
            name=name,
            event_type=fields.pop("event_type", "purchase"),
            rate=fields.pop("rate", Rate(False, 100 * M)),
            categories=fields.pop("categories", (CategoryRate("Books", Rate(True, 4_500_000)),)),
            thresholds=fields.pop("thresholds", (Threshold(1500 * M, Rate(False, 7_500_000)),)),
            created_at=self.container.clock(),
        )
        with self.container.uow() as uow:
            assert uow.programs.add_commission(terms)
            uow.commit()
        return terms.id

    def channel(self, publisher: Caller, name: str = "John's business blog") -> int:
        now = self.container.clock()
        channel = Channel(
            id=self.container.ids.next_id(),
            account_id=publisher.id,
            name=name,
            type=ChannelType.BLOG,
            url="https://www.johnsblog.com",
            description="A blog about business.",
            created_at=now,
            updated_at=now,
        )
        with self.container.uow() as uow:
            uow.channels.add(channel)
            uow.commit()
        return channel.id

    def apply(
        self,
        program_id: int,
        publisher: Caller,
        channel_id: int | None,
        status: ApprovalStatus = ApprovalStatus.PENDING,
        *,
        segment_id: int | None = None,
    ) -> Application:
        with self.container.uow() as uow:
            program = uow.programs.get(program_id)
            assert program is not None
            application = Application(
                id=self.container.ids.next_id(),
                program_id=program_id,
                account_id=program.account_id,
                publisher_id=publisher.id,
                channel_id=channel_id,
                status=status,
                applied_at=self.container.clock(),
                segment_id=segment_id,
            )
            assert uow.channels.add_application(application)
            uow.commit()
        return application

    def set_feeds(self, program_id: int, feed_ids: tuple[int, ...]) -> None:
        with self.container.uow() as uow:
            program = uow.programs.get(program_id)
            assert program is not None
            uow.programs.update(replace(program, feed_ids=feed_ids))
            uow.commit()

    def retailer(self, advertiser: Caller, name: str, domain: str, products: list[dict[str, Any]]) -> int:
        """An advertiser's catalog, imported as a JSON feed through /v2."""
        created = advertiser.v2("POST", "/v2/retailers", {"name": name, "domain": domain})["retailer_id"]
        advertiser.v2("POST", f"/v2/retailers/{created}/feeds", {"products": products})
        retailer_id = idfmt.parse("ret", created)
        assert retailer_id is not None
        return retailer_id

    def later(self, seconds: float) -> None:
        self.container.clock.now += timedelta(seconds=seconds)  # type: ignore[attr-defined]


def product_row(external_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": external_id,
        "title": name,
        "price": "129.50",
        "currency": "EUR",
        "link": f"https://www.site.com/store/{external_id}",
        "image_link": f"http://www.site.com/store/{external_id}.png",
        "availability": "in stock",
        "brand": "Sony",
        "gtin": "0711719437215",
        "product_type": "Consoles",
        "description": "PlayStation 4 redefines rich and immersive gameplay.",
        "sku": "abc123",
        **fields,
    }


@pytest.fixture
def net(app: RootApp, client: TestClient) -> Network:
    return Network(app, client)


BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
}


class World:
    """The seed's examples as objects of ours: Kitchentime's program with a Gold segment and a
    feed, John Doe's blog approved in Gold, and a click on it (for EPC)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.advertiser = net.account("Kitchentime", "advertiser")
        self.publisher = net.account("John Doe", "publisher")
        self.feed_id = net.retailer(
            self.advertiser,
            "Standard",
            "www.site.com",
            [product_row("product_acb", "PlayStation 5"), product_row("product_xyz", "Xbox")],
        )
        self.program_id = net.program(self.advertiser, feed_ids=(self.feed_id,))
        self.standard = net.segment(self.program_id, "Standard", standard=True)
        self.gold = net.segment(self.program_id, "Gold")
        net.commission(self.program_id, self.standard)
        net.commission(self.program_id, self.gold, rate=Rate(False, 120 * M))
        self.channel_id = net.channel(self.publisher)
        self.application = net.apply(
            self.program_id, self.publisher, self.channel_id, ApprovalStatus.APPROVED, segment_id=self.gold
        )

    def click(self) -> None:
        link = click_url("", self.program_id, self.publisher.id, self.channel_id)
        response = self.net.client.get(link, headers=BROWSER, follow_redirects=False)
        assert response.status_code == 302, response.text


@pytest.fixture
def world(net: Network) -> World:
    return World(net)
