"""The official retail-media Python SDKs, unchanged, against a real server on loopback: token ->
accounts -> create campaign -> create line item -> add products -> get/list/put line item ->
remove products, once per API version.

Each release lives in .venv/sdks/<version> (`make sdks`, run by `make test`) and runs in a
subprocess with PYTHONPATH on it alone: releases of one distribution cannot share an interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn

from auctera.api.compat.retail_media.envelope import VERSIONS
from auctera.app import RootApp, create_app
from auctera.config import Settings
from support.ports import free_port

from .conftest import Catalog

SDKS = Path(__file__).resolve().parents[3] / ".venv" / "sdks"
FLOW = Path(__file__).with_name("sdk_flow.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RootApp, str]]:
    """The real app (real clock) served by uvicorn in a thread on a free loopback port."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("sdk") / "data"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


# No SDK release of the versions before 2023-10 is on PyPI (they are served for the seed's examples).
@pytest.mark.parametrize("version", [v for v in VERSIONS if v >= "2023-10"])
def test_sdk_flow(server: tuple[RootApp, str], version: str) -> None:
    sdk_dir = SDKS / version
    module = f"criteo_api_retailmedia_v{version.replace('-', '_')}"
    if not (sdk_dir / module).is_dir():
        pytest.skip(f"the {version} SDK is not installed in {sdk_dir}: run `make sdks`")
    app, host = server
    new = app.container.accounts.create_account(f"Brand {version}", "advertiser", timezone="Europe/Paris")
    catalog = Catalog(app)
    retailer = catalog.retailer()
    products = [catalog.product(retailer, min_bid_micros=400_000), catalog.product(retailer)]
    today = datetime.now(ZoneInfo("Europe/Paris")).date()  # the account's day
    args = {
        "host": host,
        "client_id": new.client_id,
        "client_secret": new.client_secret,
        "module": module,
        "version": version,
        "retailer_id": retailer,
        "product_ids": products,
        "start_date": (today - timedelta(days=3)).isoformat(),
        "end_date": (today + timedelta(days=30)).isoformat(),
    }
    env = {**os.environ, "PYTHONPATH": str(sdk_dir)}
    run = subprocess.run(
        [sys.executable, str(FLOW), json.dumps(args)], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["account"] == {"id": str(new.account.id), "timeZone": "Europe/Paris"}
    assert out["campaign"]["status"] == "active"
    assert out["campaign_read"] == "SDK campaign"
    assert out["campaigns_listed"] == [out["campaign"]["id"]]
    assert out["created"]["status"] == "draft"  # no products yet
    assert out["products"] == sorted(str(p) for p in products)
    assert out["got"] == {"status": "active", "targetBid": 0.5, "budgetRemaining": 100.0}
    assert out["listed"] == {"ids": [out["created"]["id"]], "total": 1}
    updated = out["updated"]
    assert updated["name"] == "SDK line item, renamed"
    assert updated["status"] == "paused"
    assert updated["isAutoDailyPacing"] is True
    assert updated["dailyPacing"] == 3.22  # auto: 100.00 over the 31 days left (below 300/month)
    assert updated["maxBid"] is None  # omitted by the PUT: set to null
    assert out["after_delete"] == "draft"
