"""The CLI contract other tools rely on, run as a user would: the installed `auctera` command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.ports import free_port

AUCTERA = shutil.which("auctera", path=str(Path(sys.executable).parent)) or "auctera"


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUCTERA, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120
    )


def run_json(*args: str, data_dir: Path) -> dict:
    done = run(*args, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_accounts_create_prints_one_json_object(tmp_path: Path) -> None:
    out = run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)
    for field in ("account_id", "kind", "api_key", "api_secret", "client_id", "client_secret"):
        assert out[field], field
    assert out["kind"] == "advertiser"
    assert out["account_id"].startswith("adv_")
    assert out["api_key"].startswith("auc_sk_")
    assert (tmp_path / "auctera.db").exists()


def test_bad_kind_is_a_clear_error(tmp_path: Path) -> None:
    done = run("accounts", "create", "--name", "Acme", "--kind", "agency", data_dir=tmp_path)
    assert done.returncode != 0
    assert "kind" in done.stderr
    assert done.stdout == ""


def test_keys_create_list_rotate_revoke(tmp_path: Path) -> None:
    acc = run_json("accounts", "create", "--name", "Pub", "--kind", "publisher", data_dir=tmp_path)
    created = run_json("keys", "create", "--account", acc["account_id"], "--name", "ci", data_dir=tmp_path)
    assert created["api_key"].startswith("auc_sk_")
    listed = run_json("keys", "list", "--account", acc["account_id"], data_dir=tmp_path)["data"]
    assert {k["name"] for k in listed} == {"default", "ci"}
    assert all("api_key" not in k for k in listed)

    rotated = run_json(
        "keys", "rotate", "--account", acc["account_id"], "--key", created["key_id"],
        "--grace-seconds", "60", data_dir=tmp_path,
    )  # fmt: skip
    assert rotated["api_key"] != created["api_key"]
    revoked = run_json(
        "keys", "revoke", "--account", acc["account_id"], "--key", created["key_id"], data_dir=tmp_path
    )
    assert revoked["revoked_at"] is not None

    other = run_json("accounts", "create", "--name", "Other", "--kind", "advertiser", data_dir=tmp_path)
    foreign = run(
        "keys", "revoke", "--account", other["account_id"], "--key", created["key_id"], data_dir=tmp_path
    )
    assert foreign.returncode != 0
    assert "not found" in foreign.stderr


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        done = run("db", "upgrade", data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "revision" in done.stderr


@pytest.mark.parametrize("command", [["--help"], ["keys", "--help"], ["serve", "--help"]])
def test_help(command: list[str]) -> None:
    done = subprocess.run([AUCTERA, *command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_healthz_once_ready(tmp_path: Path, workers: int) -> None:
    import time

    import httpx

    port = _free_port()
    acc = run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)
    proc = subprocess.Popen(
        [AUCTERA, "serve", "--port", str(port), "--workers", str(workers), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
        assert health.status_code == 200
        me = httpx.get(
            f"http://127.0.0.1:{port}/v2/account", headers={"Authorization": f"Bearer {acc['api_key']}"}
        )
        assert me.status_code == 200
        assert me.json()["name"] == "Acme"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_blocklist_rejects_live_campaigns_sending_traffic_there(tmp_path: Path) -> None:
    added = run_json("blocklist", "add", "malware.example", "--reason", "phishing", data_dir=tmp_path)
    assert added["domain"] == "malware.example"
    listed = run_json("blocklist", "list", data_dir=tmp_path)["data"]
    assert [e["domain"] for e in listed] == ["malware.example"]
    assert run_json("blocklist", "remove", "malware.example", data_dir=tmp_path)["removed"] is True
    assert run_json("blocklist", "list", data_dir=tmp_path)["data"] == []


def test_demo_loads_once_its_keys_work_and_its_bids_reach_the_simulated_network(tmp_path: Path) -> None:
    port = free_port()
    first = run_json("demo", "--partner-port", str(port), data_dir=tmp_path)
    partner = first["simulated_partner"]
    try:
        assert (first["status"], partner["status"]) == ("loaded", "started")
        assert first["events"] > 10_000
        again = run_json("demo", "--partner-port", str(port), data_dir=tmp_path)
        assert (again["status"], again["simulated_partner"]["status"]) == (
            "already loaded",
            "running already",
        )
        _the_demo_works(tmp_path, first, partner["url"])
    finally:
        os.kill(partner["pid"], signal.SIGTERM)


def _the_demo_works(tmp_path: Path, first: dict[str, Any], partner_url: str) -> None:
    from starlette.testclient import TestClient

    from auctera.app import create_app
    from auctera.config import Settings
    from auctera.domain.ids import to_base36

    creds = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0  # secrets: owner only
    advertiser = next(a for a in creds["accounts"] if a["name"] == "Northwind Outfitters")

    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        page = client.get(
            "/v2/campaigns?date_range=last_7_days",
            headers={"Authorization": f"Bearer {advertiser['api_key']}"},
        ).json()
    names = {c["name"] for c in page["data"]}
    assert names == {"Q4 Retargeting - US", "Prospecting - Outdoor Lovers", "Sponsored Boots - Retail Media"}
    for campaign in page["data"]:
        assert campaign["status"] == "active"
        assert campaign["performance"]["lifetime_spend"] > 0
        assert campaign["performance"]["conversions"] > 0

    # The affiliate program: Deal Hunters' blog is approved (Gold) and gets a working channel link.
    program = first["affiliate_program"]
    blog = program["channels"]["Deal Hunters Blog"]
    publisher = next(a for a in creds["accounts"] if a["name"] == "Deal Hunters Blog")
    with TestClient(app) as client:
        links = client.get(
            "/v2/offers/links",
            params={"offer_id": program["offer_id"], "channel_id": f"chn_{to_base36(blog['channelId'])}"},
            headers={"Authorization": f"Bearer {publisher['api_key']}"},
        )
    assert links.status_code == 200, links.text
    assert "&ch=" in links.json()["tracking_url"]

    # The bids: the server's bid sync pushes them to the simulated network the demo started.
    held: list[dict[str, Any]] = []
    with TestClient(app):
        for _ in range(300):  # up to 30 s on a starved machine; a second or so here
            held = httpx.get(f"{partner_url}/_bids").json()["bids"]
            if len(held) == first["bid_management"]["bids"]:
                break
            time.sleep(0.1)
    assert sorted(b["valueMicros"] for b in held) == [600_000, 720_000, 850_000]


def test_exchange_rates(tmp_path: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    assert run_json("fx", "set", "eur", "USD", "1.0842", data_dir=tmp_path) == {
        "base": "EUR",
        "quote": "USD",
        "rate": "1.0842",
        "from": today,
    }
    run_json("fx", "set", "EUR", "USD", "1.09", data_dir=tmp_path)  # replaces today's
    rates = run_json("fx", "list", data_dir=tmp_path)["rates"]
    assert [(r["base"], r["quote"], r["from"], r["rate"]) for r in rates] == [("EUR", "USD", today, "1.09")]
    # An earlier day's rate is kept beside it, for the reports of the days it covers.
    # Shown as `fx set` echoed it (it listed the stored "1.0500").
    assert (
        run_json("fx", "set", "EUR", "USD", "1.0500", "--from", "2026-01-01", data_dir=tmp_path)["rate"]
        == "1.05"
    )
    rates = run_json("fx", "list", data_dir=tmp_path)["rates"]
    assert [(r["from"], r["rate"]) for r in rates] == [("2026-01-01", "1.05"), (today, "1.09")]
    for bad in (["EUR", "EUR", "1"], ["EUR", "XXY", "1"], ["EUR", "USD", "-2"], ["EUR", "USD", "abc"]):
        done = run("fx", "set", *bad, data_dir=tmp_path)
        assert done.returncode == 2 and done.stdout == "", bad
    for day in ("2999-01-01", "2026-02-30", "20260101", "yesterday"):
        done = run("fx", "set", "EUR", "USD", "2", "--from", day, data_dir=tmp_path)
        assert done.returncode == 2 and done.stdout == "" and "--from" in done.stderr, day
    assert len(run_json("fx", "list", data_dir=tmp_path)["rates"]) == 2  # nothing written


def test_rotating_the_signing_secret_keeps_the_old_one_for_the_grace(tmp_path: Path) -> None:
    acc = run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)
    rotated = run_json(
        "accounts",
        "rotate-secret",
        "--account",
        acc["account_id"],
        "--grace-seconds",
        "600",
        data_dir=tmp_path,
    )
    assert rotated["api_secret"].startswith("auc_ss_") and rotated["api_secret"] != acc["api_secret"]
    assert rotated["previous_secret_valid_until"]
