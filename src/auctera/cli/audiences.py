"""`auctera audiences work`: the audience worker (sync jobs, lookalikes, pixel refreshes) as its
own process. A server runs one in its lifespan unless AUCTERA_AUDIENCE_WORKER=false."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer

from auctera.cli.common import DataDir, bounded_seconds, container_for, emit
from auctera.jobs.audiences import AudienceWorker
from auctera.services.audiences import LEASE

audiences_app = typer.Typer(help="Audiences: the background worker.", no_args_is_help=True)


@audiences_app.command("work")
def work(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no sync job is pending.")
    ] = False,
    lease_seconds: Annotated[
        float,
        typer.Option(
            "--lease-seconds",
            callback=bounded_seconds(1, 86400),
            help="How long a claimed sync job is left to this worker.",
        ),
    ] = LEASE.total_seconds(),
    data_dir: DataDir = None,
) -> None:
    """Apply sync jobs and build lookalikes until stopped (SIGTERM or Ctrl-C)."""
    with container_for(data_dir) as c:
        worker = AudienceWorker(
            c.audiences, c.settings.audience_pixel_refresh_seconds, timedelta(seconds=lease_seconds)
        )
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        worker.run(stop, until_idle=until_idle)
    emit({"jobs": worker.jobs})
