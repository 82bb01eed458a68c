"""The audience worker: applies sync jobs chunk by chunk (services/audiences.py), builds the
lookalikes waiting to be built and keeps pixel-event audiences up to date from the event log.

Runs in the server's lifespan (a daemon thread) or as `auctera audiences work`, its own process.
Any number may run: a sync job is held by a lease, and a worker killed mid-job leaves it to be
taken over, from its first chunk not applied, once the lease runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from auctera.services.audiences import LEASE, AudienceService

log = logging.getLogger(__name__)

IDLE = 0.2  # seconds between looks for work when there is none
PIXEL_REFRESH_SECONDS = 300.0  # pixel-event audiences are at most this much behind the event log
SWEEP_SECONDS = 600.0  # how often staged files no job needs any more are looked for
# After a failed round the next waits FIRST_RETRY seconds, doubling with each failure in a row up
# to MAX_RETRY: a database that is away is not asked ten times a second, nor logged so.
FIRST_RETRY = 1.0
MAX_RETRY = 30.0


class AudienceWorker:
    def __init__(
        self,
        service: AudienceService,
        pixel_refresh_seconds: float = PIXEL_REFRESH_SECONDS,
        lease: timedelta = LEASE,
    ) -> None:
        self._service = service
        self._lease = lease
        self._pixel_every = pixel_refresh_seconds
        self._pixel_due = 0.0
        self._sweep_due = 0.0
        self.jobs = 0

    def step(self) -> bool:
        """One round: a sync job, else the lookalikes, else (when due) the pixel audiences; and,
        when due, the sweep of staged files left behind. True when it did something."""
        if time.monotonic() >= self._sweep_due:
            self._sweep_due = time.monotonic() + SWEEP_SECONDS
            self._service.sweep_staging()
        if self._service.work_once(self._lease) is not None:
            self.jobs += 1
            return True
        if self._service.build_lookalikes() or self._service.refresh_pixel_audiences(new_only=True):
            return True
        if time.monotonic() >= self._pixel_due:
            self._pixel_due = time.monotonic() + self._pixel_every
            return self._service.refresh_pixel_audiences() > 0
        return False

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        failures = 0  # rounds failed in a row
        while not stop.is_set():
            pause = IDLE
            try:
                busy = self.step()
            except Exception as exc:  # the job's lease runs out and it is taken up again
                failures += 1
                busy, pause = False, _failed(exc, failures)
            else:
                if failures:
                    log.warning("audience worker rounds work again, after %d failed", failures)
                failures = 0
            if not busy:
                if until_idle and not self._service.pending_jobs():
                    return
                stop.wait(pause)


def _failed(exc: Exception, failures: int) -> float:
    """Logs the `failures`-th failed round in a row; the seconds to wait before the next. A database
    that is away fails every round the same way: its traceback once, then one line each."""
    wait = min(FIRST_RETRY * 2.0 ** (failures - 1), MAX_RETRY)
    if failures == 1:
        log.exception("audience worker round failed")
    else:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning("audience worker round failed again (%d in a row, next in %g s): %s", failures, wait, why)
    return wait


class AudienceThread:
    """The worker on a daemon thread (the server's lifespan)."""

    def __init__(self, worker: AudienceWorker) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=worker.run, args=(self._stop,), name="audiences", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
