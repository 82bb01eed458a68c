"""The real app on a temporary data dir, and accounts to call it with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.accounts import render_account_id
from support.clock import FrozenClock


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    application = create_app(Settings(data_dir=tmp_path / "data", log_json=True))
    yield application
    application.container.close()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock the test moves by hand (the tracking, offers and MTA tests build their app on it)."""
    return FrozenClock()


@contextmanager
def app_at(tmp_path: Path, clock: FrozenClock, tracking_url: str, **settings: Any) -> Iterator[RootApp]:
    """The real app on a clock the test moves (clicks, postbacks and journeys need minutes to
    pass: a conversion seconds after its click is click injection), with links on `tracking_url`."""
    config = Settings(data_dir=tmp_path / "data", tracking_url=tracking_url, **settings)
    application = create_app(container=build(config, clock=clock))
    try:
        yield application
    finally:
        application.container.close()


@pytest.fixture
def client(app: RootApp) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Api:
    def __init__(
        self, app: RootApp, client: TestClient, kind: str = "advertiser", name: str = "Acme"
    ) -> None:
        new = app.container.accounts.create_account(name, kind)
        self.client = client
        self.account = new.account
        self.headers = bearer(new.api_key)

    @property
    def id(self) -> str:
        return render_account_id(self.account.kind, self.account.id)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.request(method, path, json=body, params=params or None, headers=self.headers)

    def create(self, **fields: Any) -> str:
        body = {"name": "Holiday Promo", "type": "dsp_retargeting", "budget": 10000, **fields}
        response = self.call("POST", "/v2/campaigns", body)
        assert response.status_code == 201, response.text
        return str(response.json()["campaign_id"])

    def get(self, campaign_id: str) -> Any:
        response = self.call("GET", f"/v2/campaigns/{campaign_id}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Api:
    return Api(app, client)


@pytest.fixture
def network(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "network", "Operator")


@pytest.fixture
def publisher(app: RootApp, client: TestClient) -> Api:
    return Api(app, client, "publisher", "Pub")


def error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "field"}
    if field is not None:
        assert body["error"]["field"] == field, body
    return dict(body["error"])
