"""Audience benchmarks, each beside a baseline measured in the same run.

(s1) `POST /v2/audiences/sync` of N raw emails (default 1,000,000) through the real app in this
     process: parsing the JSON body, checking, normalising and hashing each email, staging the
     keys on disk and committing the job. Baseline: a plain `hashlib` loop normalising (strip,
     lower) and hashing the same list. Goal: <= 1.5x. Also shown: two more rounds (the same call
     again with its job key: all the work, then the same job), each beside its own baseline, and
     the worker applying the job (members, identity-graph lookups, counts and the theta sketch),
     which the caller does not wait for.
(s2) `GET /v2/audiences/overlap` of two audiences of N users each (default 10,000,000; their theta
     sketches are built directly, no member rows), p50 over 200 calls, beside `GET
     /v2/audiences/{id}` of the same app. Goal: <= 50 ms.
(s3) A lookalike build over N visitors (default 1,000,000) of the event log, 2 events each, with a
     planted seed signature: the feature query, the model, scoring everyone, writing the members.
     Baseline: the feature query alone. Goal: <= 60 s. The holdout AUC is printed.

Run from the repository root: `.venv/bin/python -m benchmarks.bench_audiences`. Environment:
BENCH_AUDIENCE_EMAILS, BENCH_AUDIENCE_OVERLAP_USERS, BENCH_AUDIENCE_LOOKALIKE_USERS.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import orjson
from datasketches import update_theta_sketch
from starlette.testclient import TestClient

from auctera.app import create_app
from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.audiences import SKETCH_LG_K, Audience, AudienceSource, AudienceStatus
from auctera.domain.events import Event, EventType
from auctera.services.audiences import render_id
from benchmarks.bench_api import env_int


def _baseline_hash(emails: list[str]) -> list[str]:
    return [hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in emails]


def _sketch(start: int, count: int) -> bytes:
    s = update_theta_sketch(SKETCH_LG_K)
    for i in range(start, start + count):
        s.update(f"u:{i}")
    return bytes(s.compact().serialize())


def main() -> None:
    emails_n = env_int("BENCH_AUDIENCE_EMAILS", 1_000_000)
    overlap_n = env_int("BENCH_AUDIENCE_OVERLAP_USERS", 10_000_000)
    visitors_n = env_int("BENCH_AUDIENCE_LOOKALIKE_USERS", 1_000_000)
    with tempfile.TemporaryDirectory(prefix="auctera-bench-audiences-") as tmp:
        now = datetime.now(UTC)
        settings = Settings(data_dir=Path(tmp) / "data", log_level="warning", audience_worker=False)
        app = create_app(container=build(settings))
        c = app.container
        new = c.accounts.create_account("Bench", "advertiser")
        headers = {"Authorization": f"Bearer {new.api_key}"}
        principal = c.auth.authenticate(new.api_key)
        with TestClient(app) as client:
            # (s1) sync of raw emails
            rng = random.Random(1)
            emails = [f" User.{i}.{rng.randrange(10**6)}@Example{i % 97}.com " for i in range(emails_n)]
            started = time.perf_counter()
            _baseline_hash(emails)
            base_s = time.perf_counter() - started
            audience = c.audiences.create(principal, "CRM", AudienceSource.CRM_SYNC)
            body = orjson.dumps(
                {
                    "audience_id": render_id(audience.id),
                    "action": "add",
                    "identifiers": [{"type": "email", "value": e} for e in emails],
                    "job_key": "bench-s1",  # a repeat does all the work, then answers the same job
                }
            )
            # The app's first request pays its one-time start-up (~0.2-0.3 s here): not the sync's.
            assert client.get(f"/v2/audiences/{render_id(audience.id)}", headers=headers).status_code == 200
            started = time.perf_counter()
            response = client.post("/v2/audiences/sync", content=body, headers=headers)
            sync_s = time.perf_counter() - started
            assert response.status_code == 202, response.text
            assert response.json()["records_malformed"] == 0
            ratios = [sync_s / base_s]
            for _ in range(2):  # the machine is shared: two more rounds, each beside its own baseline
                started = time.perf_counter()
                _baseline_hash(emails)
                again_base = time.perf_counter() - started
                started = time.perf_counter()
                again = client.post("/v2/audiences/sync", content=body, headers=headers)
                ratios.append((time.perf_counter() - started) / again_base)
                assert again.json()["job_id"] == response.json()["job_id"]
            started = time.perf_counter()
            while c.audiences.work_once() is not None:
                pass
            apply_s = time.perf_counter() - started
            assert c.audiences.get(principal, audience.id).size == emails_n
            print(
                f"   (s1) baseline hashlib normalise+hash loop, {emails_n:,} emails: {base_s * 1000:8.0f} ms"
            )
            print(
                f"   (s1) POST /v2/audiences/sync (parse, hash, stage):          {sync_s * 1000:8.0f} ms"
                f"   ratio {sync_s / base_s:4.1f}x the baseline (goal <= 1.5x)"
            )
            print(
                f"   (s1) ratio in three rounds: {', '.join(f'{r:.2f}x' for r in ratios)}"
                f"; median {statistics.median(ratios):.2f}x (goal <= 1.5x)"
            )
            print(f"   (s1) the job applied by the worker (not waited for):         {apply_s * 1000:8.0f} ms")

            # (s2) overlap of two large audiences
            ids = []
            for n, start in enumerate((0, overlap_n // 2)):
                sketch = _sketch(start, overlap_n)
                big = Audience(
                    id=c.ids.next_id(),
                    account_id=principal.account_id,
                    name=f"big {n}",
                    source=AudienceSource.CRM_SYNC,
                    status=AudienceStatus.READY,
                    size=overlap_n,
                    matched=overlap_n,
                    created_at=now,
                    updated_at=now,
                    sketch=sketch,
                )
                with c.uow() as uow:
                    uow.audiences.add(big)
                    uow.commit()
                ids.append(render_id(big.id))

            def p50(path: str, **params: str) -> float:
                times = []
                for _ in range(200):
                    began = time.perf_counter()
                    r = client.get(path, params=params, headers=headers)
                    times.append(time.perf_counter() - began)
                    assert r.status_code == 200, r.text
                return statistics.median(times) * 1000

            base_ms = p50(f"/v2/audiences/{ids[0]}")
            overlap_ms = p50("/v2/audiences/overlap", ids=",".join(ids))
            shown = client.get("/v2/audiences/overlap", params={"ids": ",".join(ids)}, headers=headers).json()
            print(f"   (s2) baseline GET /v2/audiences/{{id}} p50:                    {base_ms:8.2f} ms")
            print(
                f"   (s2) GET /v2/audiences/overlap, 2 x {overlap_n:,} users p50:   {overlap_ms:8.2f} ms"
                f"   (goal <= 50 ms; true 33.3%, got {shown['overlap_percentage']}%"
                f" [{shown['error_bound']['overlap_percentage']['low']}-"
                f"{shown['error_bound']['overlap_percentage']['high']}])"
            )

            # (s3) lookalike over the event log
            rng = random.Random(2)
            seed_uids = []
            events = []
            for i in range(visitors_n):
                similar = rng.random() < 0.02
                uid = f"v{i}"
                if similar and rng.random() < 0.5:
                    seed_uids.append(uid)
                for _ in range(2):
                    at = now - timedelta(days=rng.randint(1, 30))
                    if similar:
                        at = at.replace(hour=20)
                    events.append(
                        Event(
                            id=c.ids.next_id(),
                            type=EventType.CLICK if rng.random() < 0.3 else EventType.IMPRESSION,
                            at=at,
                            account_id=principal.account_id,
                            campaign_id=rng.randint(1, 20),
                            publisher_id=7 if similar and rng.random() < 0.8 else rng.randint(1, 500),
                            country="US" if rng.random() < 0.9 else "CA",
                            device_type="mobile" if similar else rng.choice(["mobile", "desktop", "tablet"]),
                            attrs={"uid": uid},
                        )
                    )
                if len(events) >= 200_000:
                    c.events.append_many(events)
                    events = []
            c.events.append_many(events)
            c.events.sync()
            seed = c.audiences.create(principal, "seed", AudienceSource.CRM_SYNC)
            with c.uow() as uow:
                uow.audiences.add_members(seed.id, [f"u:{u}" for u in seed_uids])
                uow.commit()
            graph = c.audiences._graph  # the baseline: the query the build runs
            started = time.perf_counter()
            graph.visitor_features(principal.account_id, now - timedelta(days=90))
            query_s = time.perf_counter() - started
            from decimal import Decimal

            lookalike = c.audiences.request_lookalike(principal, seed.id, Decimal(5), ["US"])
            started = time.perf_counter()
            c.audiences.build_lookalikes()
            build_s = time.perf_counter() - started
            built = c.audiences.get(principal, lookalike.id)
            assert built.status is AudienceStatus.READY, built.error
            assert built.lookalike is not None
            print(f"   (s3) baseline feature query over {visitors_n:,} visitors:        {query_s:8.1f} s")
            print(
                f"   (s3) lookalike build (features, model, scoring, members):  {build_s:8.1f} s"
                f"   (goal <= 60 s; holdout AUC {built.lookalike.auc}, {built.size:,} members)"
            )
        c.close()


if __name__ == "__main__":
    main()
