"""A report export names every object as the /v2 API it was requested from does: a sponsored
click's line item is the plain number /v2 shows (`/v2/line-items/{line_item_id}/...`, the
sponsored-products auction), its campaign `cmp_…`, its retailer `pub_…` as the publisher report
shows it, its click `auc_…` as the landing got it."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from support.clock import FrozenClock

from .conftest import app_at
from .test_sponsored_clicks import CENT, TRACKING, Placed, click, landed_click_id, place

DAY = "2026-11-23"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 23, 12, tzinfo=UTC))


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


def _exported(placed: Placed, file_format: str) -> list[dict[str, Any]]:
    api = placed.advertiser
    started = api.call(
        "POST", "/v2/reports/export", {"type": "log_level_clicks", "date": DAY, "format": file_format}
    )
    assert started.status_code == 202, started.text
    status = api.call("GET", f"/v2/reports/export/{started.json()['job_id']}").json()
    assert status["status"] == "completed", status
    with zipfile.ZipFile(io.BytesIO(api.client.get(status["download_url"]).content)) as archive:
        data = archive.read(archive.namelist()[0])
    if file_format == "csv":
        return list(csv.DictReader(io.StringIO(data.decode())))
    return list(pq.read_table(io.BytesIO(data)).to_pylist())


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_an_export_names_objects_as_the_v2_api_does(
    app: RootApp, client: TestClient, file_format: str
) -> None:
    placed = place(app, client, budget_micros=CENT * 100)
    click_id = landed_click_id(click(client, placed.path()))
    api = placed.advertiser
    [publisher] = api.call("GET", "/v2/reports/publishers", start_date=DAY, end_date=DAY).json()["data"]

    [row] = _exported(placed, file_format)
    assert row["campaign_id"] == idfmt.render("cmp", placed.campaign_id)
    assert row["publisher_id"] == publisher["publisher_id"]
    assert row["click_id"] == click_id
    # The line item as /v2 names it: its plain number, which the /v2 line-item routes take.
    assert row["line_item_id"] == str(placed.line_item_id)
    assert api.call("GET", f"/v2/line-items/{row['line_item_id']}/audiences").status_code == 200
