"""An audience sync job whose worker process is killed with SIGKILL mid-way is taken over once its
lease runs out and completes: every identifier applied exactly once, progress and counts exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.audiences import AudienceSource, JobState, SyncAction
from auctera.domain.identifiers import sha256_hex
from auctera.store.database import make_engine
from auctera.store.tables import audience_members, audience_sync_jobs

IDENTIFIERS = 60_000
CHUNK = 500  # 120 chunks: a worker is killed between two of them, or inside one


def _worker(data_dir: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUCTERA_LOG_LEVEL": "warning"}
    command = [sys.executable, "-c", "from auctera.cli.main import app; app()", "audiences", "work"]
    command += ["--data-dir", str(data_dir), "--lease-seconds", "2", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env=env)


def _progress(data_dir: Path) -> tuple[str, int, int]:
    engine = make_engine(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with engine.connect() as conn:
            t = audience_sync_jobs
            state, applied = conn.execute(select(t.c.state, t.c.applied)).one()
            members = conn.execute(select(func.count()).select_from(audience_members)).scalar_one()
            return str(state), int(applied), int(members)
    finally:
        engine.dispose()


def test_a_killed_sync_job_resumes_and_completes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "worker.log"
    c = build(Settings(data_dir=data_dir, audience_worker=False))
    try:
        new = c.accounts.create_account("Acme", "advertiser")
        principal = c.auth.authenticate(new.api_key)
        audience = c.audiences.create(principal, "CRM list", AudienceSource.CRM_SYNC)
        staged = c.audiences.stage(
            (("email_sha256", sha256_hex(f"p{i}@example.com")) for i in range(IDENTIFIERS)),
            chunk=CHUNK,
        )
        job, _ = c.audiences.sync(principal, audience.id, SyncAction.ADD, staged, job_key="nightly")
    finally:
        c.close()

    worker = _worker(data_dir, log)
    try:
        while (progress := _progress(data_dir))[1] < 10:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    state, applied, members = _progress(data_dir)
    assert state == "running" and applied < IDENTIFIERS // CHUNK, progress  # killed mid-way
    assert members == applied * CHUNK  # each chunk lands whole, with its progress, or not at all

    restarted = _worker(data_dir, log, "--until-idle")
    assert restarted.wait(timeout=120) == 0, log.read_text()

    c = build(Settings(data_dir=data_dir, audience_worker=False))
    try:
        done = c.audiences.job(principal, job.id)
        assert done.state is JobState.DONE and done.progress == 1.0
        assert done.processed == IDENTIFIERS and done.applied == done.chunks
        shown = c.audiences.get(principal, audience.id)
        assert shown.size == IDENTIFIERS
        assert abs(shown.size_estimate - IDENTIFIERS) / IDENTIFIERS < 0.03
    finally:
        c.close()
