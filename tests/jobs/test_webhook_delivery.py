"""Postback delivery end to end against a real HTTP receiver on loopback that fails, times out,
answers 429 with Retry-After and 410; and a worker process killed with SIGKILL mid-batch: every
queued postback still arrives, duplicates carry the same webhook-id, and every signature verifies
with the reference `standardwebhooks` library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.events import Event, EventType
from auctera.domain.ids import render
from auctera.domain.webhooks import DeliveryState
from auctera.jobs.webhooks import WebhookWorker, WorkerOptions
from auctera.services.conversions import Postback, PostbackRequest
from auctera.store.database import make_engine
from auctera.store.tables import webhook_deliveries

from .receiver import Received, Receiver

SETTINGS = {"webhook_allow_private": True, "webhook_first_retry_seconds": 0.2, "webhook_worker": False}


class Setup:
    """Accounts, an offer, the publisher's postbacks (secret per postback) and conversions."""

    def __init__(self, c: Container) -> None:
        self.c = c
        new = c.accounts.create_account("Acme", "advertiser", rate_limit_per_minute=10**9)
        adv = c.auth.authenticate(new.api_key)
        pub_new = c.accounts.create_account("Pub", "publisher")
        pub = c.auth.authenticate(pub_new.api_key)
        assert adv is not None and pub is not None
        self.advertiser, self.publisher = adv, pub
        patch = CampaignPatch(
            name="Offer",
            budget=BudgetPatch(total_micros=10**12),
            payout_micros=2_000_000,
            destination_url="https://shop.example.com/?cid={click_id}",
        )
        self.offer = c.campaigns.create(adv, CampaignType.AFFILIATE_CPA, patch).id
        c.campaigns.review(self.offer)
        self.secrets: dict[int, str] = {}

    def postback(self, event: str, url: str, method: str = "GET") -> None:
        created = self.c.webhooks.create(self.publisher, event, url, method)
        self.secrets[created.id] = created.secret

    def convert(self, n: int) -> None:
        requests = []
        for i in range(n):
            click = Event(
                id=self.c.ids.next_id(),
                type=EventType.CLICK,
                at=self.c.clock(),
                account_id=self.advertiser.account_id,
                campaign_id=self.offer,
                publisher_id=self.publisher.account_id,
                country="FR",
                attrs={"sub_id1": f"s{i}"},
            )
            self.c.events.append(click)
            postback = Postback(render("auc", click.id), "purchase", 5_000_000, None, order_id=f"o{i}")
            requests.append(PostbackRequest(self.advertiser, postback, None))
        for start in range(0, n, 500):
            for result in self.c.conversions.record_many(requests[start : start + 500]):
                assert not isinstance(result, Exception), result


def verified(got: Received, secrets: dict[str, str]) -> dict[str, object]:
    """The payload, after checking the signature with the reference library (under the secret
    of the postback the delivery belongs to)."""
    body = got.body.decode()
    for secret in secrets.values():  # the receiver knows its postbacks' secrets
        try:
            Webhook(secret).verify(body, got.headers, json_parse=False)
        except Exception:
            continue
        return orjson.loads(got.body) if got.body else {}
    raise AssertionError(f"no secret verifies {got.headers}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _deliveries(c: Container) -> list[object]:
    with c.uow(read_only=True) as uow:
        return list(uow.webhooks.deliveries(None, limit=100_000))


def _drain(worker: WebhookWorker, c: Container) -> None:
    """Run the worker until no delivery is pending: `until_idle` returns while retries are
    scheduled (here within seconds), so it runs again once the next is due."""
    deadline = time.monotonic() + 120
    while True:
        worker.run_forever(threading.Event(), until_idle=True)
        _, next_at = c.webhooks.scheduled()
        if next_at is None or time.monotonic() > deadline:
            return
        time.sleep(max((next_at - c.clock()).total_seconds(), 0.0))


def test_failures_timeouts_429_and_410(tmp_path: Path, receiver: Receiver) -> None:
    c = build(Settings(data_dir=tmp_path / "data", **SETTINGS))  # type: ignore[arg-type]
    try:
        s = Setup(c)
        u = receiver.url
        s.postback("purchase", u + "/ok?cid={click_id}&p={payout}&g={geo}&s={sub_id1}")
        s.postback("purchase", u + "/fail/2?t={transaction_id}", "POST")
        s.postback("purchase", u + "/slow/1/3?t={transaction_id}")
        s.postback("purchase", u + "/busy/1?t={transaction_id}", "POST")
        s.postback("purchase", u + "/gone?t={transaction_id}")
        s.convert(5)
        worker = WebhookWorker(
            c.webhooks, WorkerOptions(concurrency=8, timeout=1.0, lease=timedelta(seconds=5))
        )
        _drain(worker, c)

        rows = {d.webhook_id: d for d in _deliveries(c)}  # type: ignore[attr-defined]
        assert len(rows) == 25
        got = receiver.snapshot()
        by_id: dict[str, list[Received]] = defaultdict(list)
        secrets = {str(k): v for k, v in s.secrets.items()}
        for r in got:
            payload = verified(r, secrets)
            by_id[r.headers["webhook-id"]].append(r)
            if r.method == "POST":
                assert payload["event"] == "purchase" and payload["currency"] == "USD"
        assert set(by_id) == set(rows)  # every delivery reached the receiver
        for webhook_id, row in rows.items():
            route = urlsplit(row.url).path.split("/")[1]
            copies = by_id[webhook_id]
            assert len({c.body for c in copies}) == 1 and len({c.path for c in copies}) == 1
            # What the receiver answered, in order (an attempt the load on the machine made time
            # out has no status code and may retry once more: counts, not times, are checked).
            answers = [a["status_code"] for a in row.log if a["status_code"] is not None]
            expected = {
                "ok": [200],
                "fail": [500, 500, 200],
                "slow": [200],
                "busy": [429, 200],
                "gone": [410],
            }[route]
            assert answers == expected, (route, row.log)
            assert 1 <= len(copies) <= row.attempts == len(row.log)
            if route == "gone":
                assert row.state is DeliveryState.DEAD and row.attempts == 1
            else:
                assert row.state is DeliveryState.DELIVERED and row.last_status_code == 200
            if route == "slow":  # its first attempt outlasted the worker's timeout
                assert row.log[0]["status_code"] is None and "Timeout" in row.log[0]["error"]
        ok = next(r for r in got if r.path.startswith("/ok"))
        row = rows[ok.headers["webhook-id"]]
        status = row.payload["status"]  # the real fraud filter may reject a postback seconds after its click
        assert row.payload["payout"] == ("2" if status == "approved" else "0")
        assert ok.path.endswith(f"p={row.payload['payout']}&g=FR&s={row.payload['sub_id1']}")
    finally:
        c.close()


def _worker(data_dir: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AUCTERA_WEBHOOK_ALLOW_PRIVATE": "true",
        "AUCTERA_WEBHOOK_FIRST_RETRY_SECONDS": "0.2",
        "AUCTERA_WEBHOOK_TIMEOUT_SECONDS": "1",
        "AUCTERA_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-c", "from auctera.cli.main import app; app()", "webhooks", "work"]
    command += ["--data-dir", str(data_dir), "--lease-seconds", "3", "--concurrency", "16", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env=env)


N = 1500


def _leased(data_dir: Path) -> int:
    """Rows a worker claimed and had not finished (pending, lease set)."""
    engine = make_engine(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with engine.connect() as conn:
            t = webhook_deliveries
            stmt = select(func.count()).where(t.c.state == "pending", t.c.locked_until.is_not(None))
            return int(conn.execute(stmt).scalar() or 0)
    finally:
        engine.dispose()


def _pending(data_dir: Path) -> int:
    engine = make_engine(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with engine.connect() as conn:
            t = webhook_deliveries
            return int(conn.execute(select(func.count()).where(t.c.state == "pending")).scalar() or 0)
    finally:
        engine.dispose()


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = tmp_path / "data"
    c = build(Settings(data_dir=data_dir, **SETTINGS))  # type: ignore[arg-type]
    try:
        s = Setup(c)
        s.postback("purchase", receiver.url + "/ok?t={transaction_id}", "POST")
        s.postback("purchase", receiver.url + "/fail/1?t={transaction_id}")
        s.convert(N)
    finally:
        c.close()
    log = tmp_path / "worker.log"
    kills = 0
    leased: list[int] = []
    for threshold in (N // 4, N):  # kill twice while deliveries are in flight
        worker = _worker(data_dir, log)
        deadline = time.monotonic() + 120
        while len(receiver.snapshot()) < threshold and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert worker.poll() is None, log.read_text()[-3000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        kills += 1
        leased.append(_leased(data_dir))
    # `--until-idle` leaves the retries not yet due and the rows the killed workers still lease
    # (due when the 3 s lease runs out): run it again until none is pending.
    deadline = time.monotonic() + 300
    while True:
        last = _worker(data_dir, log, "--until-idle")
        assert last.wait(timeout=300) == 0, log.read_text()[-3000:]
        if not _pending(data_dir) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert kills == 2
    assert all(n > 0 for n in leased), leased  # each kill left claimed, unsent rows behind

    c = build(Settings(data_dir=data_dir, **SETTINGS))  # type: ignore[arg-type]
    try:
        rows = _deliveries(c)
        with c.uow(read_only=True) as uow:
            pbs = uow.webhooks.postbacks_of(rows[0].account_id)  # type: ignore[attr-defined]
    finally:
        c.close()
    assert len(rows) == 2 * N
    assert all(r.state is DeliveryState.DELIVERED for r in rows)  # type: ignore[attr-defined]
    got = receiver.snapshot()
    keys = {str(p.id): p.secret for p in pbs}
    by_id: dict[str, set[bytes]] = defaultdict(set)
    for r in got:
        verified(r, keys)
        by_id[r.headers["webhook-id"]].add(r.body + r.path.encode())
    assert set(by_id) == {r.webhook_id for r in rows}  # type: ignore[attr-defined]
    assert all(len(v) == 1 for v in by_id.values())  # a duplicate is the same delivery, byte for byte
    assert len(got) >= 2 * N + N  # the failing postback's retries (and any duplicates of the kills)


def test_a_target_the_client_refuses_fails_its_own_attempts_not_the_worker(
    tmp_path: Path, receiver: Receiver
) -> None:
    """An exception httpx raises before any I/O (here IDNA refusing an A-label) is that
    delivery's failed attempt: the worker goes on, and the other deliveries of its claim go out."""
    c = build(Settings(data_dir=tmp_path / "data", **SETTINGS))  # type: ignore[arg-type]
    try:
        s = Setup(c)
        s.postback("purchase", "http://xn--zz.example.com/pb?t={transaction_id}")
        s.postback("purchase", receiver.url + "/ok?t={transaction_id}")
        s.convert(1)
        worker = WebhookWorker(
            c.webhooks, WorkerOptions(concurrency=4, timeout=1.0, lease=timedelta(seconds=5))
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run_forever, args=(stop,))
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = {urlsplit(d.url).hostname: d for d in _deliveries(c)}  # type: ignore[attr-defined]
                if all(d.attempts for d in rows.values()):
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()
        bad, good = rows["xn--zz.example.com"], rows[urlsplit(receiver.url).hostname]
        assert good.state is DeliveryState.DELIVERED and good.last_status_code == 200
        assert bad.state is DeliveryState.PENDING and bad.log[0]["status_code"] is None
        assert "IDNA" in bad.log[0]["error"] or "label" in bad.log[0]["error"]
    finally:
        c.close()
