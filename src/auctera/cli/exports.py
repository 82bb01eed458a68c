"""`auctera exports ...`: the report export runner from the operator's shell.

    auctera exports work [--once]   # run queued exports and remove expired files (until stopped)

A server runs exports in its own lifespan unless AUCTERA_EXPORT_WORKER=false; any number of
`work` processes may run beside it: each claims a job with a compare-and-set on its row.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from auctera.cli.common import DataDir, container_for, emit
from auctera.jobs.exports import SWEEP_SECONDS

exports_app = typer.Typer(help="Report exports: the runner.", no_args_is_help=True)


@exports_app.command("work")
def work(
    once: Annotated[
        bool, typer.Option("--once", help="One round (queued jobs, retention), then exit.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run queued report exports and remove expired ones, every few seconds until stopped."""
    with container_for(data_dir) as c:
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        ran = 0
        try:
            while True:
                ran += c.export_runner.run_pending()
                c.exports.expire_old(c.export_runner.remove)
                if once or stop.wait(SWEEP_SECONDS):
                    break
        except KeyboardInterrupt:
            pass
        emit({"exports_run": ran})
