"""10,000 signed postbacks with client retries while the server is killed with SIGKILL several
times: exactly 10,000 conversions in the state store and in the event log, and every
acknowledged transaction id among them."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.signatures import sign
from auctera.domain.tracking import tracking_links
from auctera.services.conversions import IN_FLIGHT
from auctera.store.tables import conversions
from support.ports import free_port

CLICKS = 500
ORDERS_PER_CLICK = 20  # 10,000 postbacks
KILLS = 3


class Server:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log, self.port = data_dir, log, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "AUCTERA_DATA_DIR": str(self.data_dir), "AUCTERA_LOG_LEVEL": "warning"}
        command = [sys.executable, "-m", "uvicorn", "auctera.app:app_factory", "--factory"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"server did not start: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def test_ten_thousand_postbacks_through_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    container = build(settings)
    try:
        new = container.accounts.create_account("Acme", "advertiser", rate_limit_per_minute=10**9)
        publisher = container.accounts.create_account("Pub", "publisher").account
        principal = container.auth.authenticate(new.api_key)
        assert principal is not None
        patch = CampaignPatch(
            name="Offer",
            budget=BudgetPatch(total_micros=10**12),
            payout_micros=2_000_000,
            destination_url="https://shop.example.com/?cid={click_id}",
        )
        offer = container.campaigns.create(principal, CampaignType.AFFILIATE_CPA, patch)
        container.campaigns.review(offer.id)
    finally:
        container.close()
    secret = new.account.signing_secret
    headers = {"Authorization": f"Bearer {new.api_key}", "Content-Type": "application/json"}
    click_path = tracking_links("", offer.id, publisher.id, {}, offer=True)[0]

    server = Server(data_dir, tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url) as http:
            clicks = []
            for _ in range(CLICKS):
                location = http.get(click_path, headers={"User-Agent": "Mozilla/5.0"}).headers["location"]
                clicks.append(parse_qs(urlsplit(location).query)["cid"][0])
        postbacks = [(c, f"order-{n}") for c in clicks for n in range(ORDERS_PER_CLICK)]
        random.Random(7).shuffle(postbacks)
        acknowledged: dict[tuple[str, str], set[str]] = {}
        lock = threading.Lock()
        up = threading.Event()
        up.set()

        local = threading.local()  # one keep-alive connection per client thread

        def send(postback: tuple[str, str]) -> None:
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=server.url, timeout=10)
            click_id, order_id = postback
            body = json.dumps(
                {"click_id": click_id, "event_type": "purchase", "revenue": 10, "order_id": order_id}
            )
            while True:  # a client that retries until it is answered
                up.wait()
                signature = sign(secret, body.encode(), int(time.time()))
                try:
                    response = local.http.post(
                        "/v2/conversions",
                        content=body,
                        headers={**headers, "X-Auctera-Signature": signature},
                        timeout=10,
                    )
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if response.status_code >= 500:
                    continue
                assert response.status_code == 200, response.text
                with lock:
                    acknowledged.setdefault(postback, set()).add(response.json()["transaction_id"])
                return

        def killer() -> None:
            for _ in range(KILLS):
                time.sleep(random.uniform(1.0, 2.5))
                up.clear()
                server.kill()
                server.start()
                up.set()

        chaos = threading.Thread(target=killer)
        chaos.start()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, postbacks))
        chaos.join()
    finally:
        server.stop()

    # Every postback acknowledged, each with one transaction id however often it was retried.
    assert len(acknowledged) == CLICKS * ORDERS_PER_CLICK
    assert all(len(ids) == 1 for ids in acknowledged.values())
    txns = {next(iter(ids)) for ids in acknowledged.values()}

    # The state store holds exactly those; the log gets every one once the sweep has run (it
    # waits IN_FLIGHT for requests that might still be writing: run it as if that had passed).
    later = datetime.now(UTC) + IN_FLIGHT * 2
    container = build(settings, clock=lambda: later)
    try:
        with container.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(conversions)).scalar()
        assert stored == len(txns) == CLICKS * ORDERS_PER_CLICK
        container.conversions.log_pending()
        logged = container.events.query(
            "SELECT count(*), count(DISTINCT id) FROM events WHERE type = 'conversion'"
        )
        assert logged == [(len(txns), len(txns))]
    finally:
        container.close()
