"""A PostgreSQL server that stops answering (its processes stopped with SIGSTOP: the kernel still
accepts connections and acknowledges what is sent, nothing answers), through a real server
(uvicorn on loopback). Before, `GET /v2/campaigns` waited 90-130 s (forever on a pooled
connection's pre-ping) and `/healthz` answered 200 throughout; now an API call fails within the
limits of docs/operations.md ("PostgreSQL time limits", about 10 s with the defaults), `/healthz`
answers 503 within 2 s, and both recover by themselves once the server runs again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from auctera.app import create_app
from auctera.config import Settings
from support.ports import free_port
from support.postgres import PostgresServer
from support.stopping import own_cluster, stopped

from .conftest import bearer, error

pytestmark = pytest.mark.postgres

# Well above the bound of a call the database cannot answer (connect timeout for the pre-ping, and
# as much to connect again: 10 s with the defaults), far below the minutes it took before.
CLIENT_TIMEOUT = 25.0


@pytest.fixture(scope="module")
def stoppable(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    yield from own_cluster(request)


@contextmanager
def serving(settings: Settings) -> Iterator[httpx.Client]:
    application = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=CLIENT_TIMEOUT) as client:
            client.app = application  # type: ignore[attr-defined]
            yield client
    finally:
        server.should_exit = True
        thread.join(30)
        application.container.close()


def eventually(
    http: httpx.Client,
    path: str,
    status: int,
    *,
    headers: dict[str, str] | None = None,
    until: Callable[[httpx.Response], bool] = lambda _: True,
    within: float = 15.0,
) -> httpx.Response:
    """`path`'s answer once it is `status` (and `until` holds), or the last one after `within` s."""
    deadline = time.monotonic() + within
    while True:
        response = http.get(path, headers=headers)
        if (response.status_code == status and until(response)) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_stopped_postgres_fails_calls_fast_and_health(stoppable: PostgresServer, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=stoppable.create_database(),
        auth_cache_seconds=0,
        # Only the request path under test uses the database.
        webhook_worker=False,
        bid_sync_worker=False,
        audience_worker=False,
        export_worker=False,
        feed_file_worker=False,
    )
    with serving(settings) as http:
        key = http.app.container.accounts.create_account("Acme", "advertiser").api_key  # type: ignore[attr-defined]
        created = http.post(
            "/v2/campaigns",
            json={"name": "Holiday Promo", "type": "dsp_retargeting", "budget": 100},
            headers=bearer(key),
        )
        assert created.status_code == 201, created.text
        # The campaign's review runs after the answer: let it end before the database stops.
        campaign = f"/v2/campaigns/{created.json()['campaign_id']}"
        reviewed = eventually(
            http, campaign, 200, headers=bearer(key), until=lambda r: r.json()["status"] != "pending_review"
        )
        assert reviewed.json()["status"] == "active", reviewed.text
        assert http.get("/healthz").json()["status"] == "ok"

        with stopped(stoppable):
            # The load balancer hears it: 503, not the 200 it got throughout the outage.
            health = eventually(http, "/healthz", 503)
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable"
            # A call answers (the API's 500 envelope) while the server is still stopped, where it
            # waited minutes; httpx would raise ReadTimeout after CLIENT_TIMEOUT.
            listed = http.get("/v2/campaigns", headers=bearer(key))
            assert error(listed, 500)["code"] == "internal_error"
            # Also once the pool has given up on its connections: a new one cannot be had either.
            assert error(http.get("/v2/campaigns", headers=bearer(key)), 500)["code"] == "internal_error"

        # Running again: both recover by themselves.
        assert eventually(http, "/healthz", 200).json()["status"] == "ok"
        listed = http.get("/v2/campaigns", headers=bearer(key))
        assert listed.status_code == 200, listed.text
        assert [c["name"] for c in listed.json()["data"]] == ["Holiday Promo"]
