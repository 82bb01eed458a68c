"""The real app on a clock the test moves, tenants holding OAuth2 tokens, and catalog rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.store.tables import accounts, products, retailers, spend_periods
from support.clock import FrozenClock

VERSION = "2025-10"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    # Tokens outlive the days and months the tests move the clock across.
    settings = Settings(data_dir=tmp_path / "data", oauth_token_ttl_seconds=10 * 365 * 86400)
    application = create_app(container=build(settings, clock=clock))
    yield application
    application.container.close()


@pytest.fixture
def client(app: RootApp) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


class Tenant:
    """An account (an advertiser unless `kind` says otherwise) calling /{version}/retail-media
    with a token from /oauth2/token."""

    def __init__(
        self,
        app: RootApp,
        client: TestClient,
        name: str = "Acme",
        timezone: str = "UTC",
        version: str = VERSION,
        kind: str = "advertiser",
    ) -> None:
        new = app.container.accounts.create_account(name, kind, timezone=timezone)
        form = {
            "grant_type": "client_credentials",
            "client_id": new.client_id,
            "client_secret": new.client_secret,
        }
        issued = client.post("/oauth2/token", data=form)
        assert issued.status_code == 200, issued.text
        self.app = app
        self.client = client
        self.account = new.account
        self.headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        self.base = f"/{version}/retail-media"

    @property
    def id(self) -> str:
        return str(self.account.id)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.request(
            method, self.base + path, json=body, params=params or None, headers=self.headers
        )

    def campaign(self, **attributes: Any) -> str:
        body = {
            "data": {
                "type": "RetailMediaCampaign",
                "attributes": {"name": "Spring", "budget": 1000, **attributes},
            }
        }
        response = self.call("POST", f"/accounts/{self.id}/campaigns", body)
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    def line_item(self, campaign_id: str, retailer_id: int, **attributes: Any) -> dict[str, Any]:
        fields = {
            "name": "Line",
            "startDate": "2026-11-01",
            "targetRetailerId": str(retailer_id),
            **attributes,
        }
        response = self.call(
            "POST",
            f"/campaigns/{campaign_id}/auction-line-items",
            {"data": {"type": "x", "attributes": fields}},
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    def get(self, line_item_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/auction-line-items/{line_item_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["attributes"])

    def append(self, line_item_id: str, *product_ids: int) -> Any:
        body = {"data": [{"id": str(p), "type": "RetailMediaPromotedProduct"} for p in product_ids]}
        return self.call("POST", f"/line-items/{line_item_id}/products/append", body)

    def set_balance(self, micros: int | None) -> None:
        with self.app.container.engine.begin() as conn:
            conn.execute(
                update(accounts).where(accounts.c.id == self.account.id).values(balance_micros=micros)
            )


class Catalog:
    """Retailers and products written straight into their tables (the catalog's own API is
    another surface), and spend as the charging path records it."""

    def __init__(self, app: RootApp) -> None:
        self.app = app
        self.owner = app.container.accounts.create_account("Shop", "publisher").account
        self._n = 0

    def _next(self) -> int:
        return self.app.container.ids.next_id()

    def retailer(self, owner_id: int | None = None) -> int:
        """A retail site of the publisher Shop, or a retailer of `owner_id`'s account."""
        now = datetime.now(UTC)
        retailer_id = self._next()
        with self.app.container.engine.begin() as conn:
            conn.execute(
                insert(retailers).values(
                    id=retailer_id,
                    account_id=owner_id or self.owner.id,
                    name="Shop",
                    domain=f"shop{retailer_id}.example.com",
                    created_at=now,
                    updated_at=now,
                )
            )
        return retailer_id

    def product(
        self,
        retailer_id: int,
        min_bid_micros: int | None = None,
        external_id: str | None = None,
        owner_id: int | None = None,
    ) -> int:
        now = datetime.now(UTC)
        product_id = self._next()
        with self.app.container.engine.begin() as conn:
            conn.execute(
                insert(products).values(
                    id=product_id,
                    retailer_id=retailer_id,
                    account_id=owner_id or self.owner.id,
                    external_id=external_id or f"sku-{product_id}",
                    name="Kettle",
                    price_micros=25_000_000,
                    currency="USD",
                    url="https://shop.example.com/kettle",
                    in_stock=True,
                    min_bid_micros=min_bid_micros,
                    created_at=now,
                    updated_at=now,
                )
            )
        return product_id

    def spend(self, subject_id: int | str, period: str, micros: int) -> None:
        with self.app.container.engine.begin() as conn:
            conn.execute(
                insert(spend_periods).values(subject_id=int(subject_id), period=period, spent_micros=micros)
            )


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Tenant:
    return Tenant(app, client)


@pytest.fixture
def catalog(app: RootApp) -> Catalog:
    return Catalog(app)


def problems(response: Any) -> list[dict[str, Any]]:
    """The errors of a 400, each checked against the SDKs' CommonProblem shape."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["warnings"] == []
    for p in body["errors"]:
        assert p["type"] == "validation"
        assert {"code", "title", "detail"} <= set(p) <= {"type", "code", "title", "detail", "source"}
        if "source" in p:  # {str: str} in every SDK version: a body pointer or a query parameter
            [(kind, where)] = p["source"].items()
            assert kind in ("pointer", "parameter") and isinstance(where, str)
    return list(body["errors"])


def pointers(response: Any) -> set[str]:
    """The body attributes a 400 names."""
    return {p["source"]["pointer"] for p in problems(response) if "pointer" in p.get("source", {})}


def parameters(response: Any) -> set[str]:
    """The query parameters a 400 names."""
    return {p["source"]["parameter"] for p in problems(response) if "parameter" in p.get("source", {})}
