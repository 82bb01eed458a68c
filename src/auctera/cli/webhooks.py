"""`auctera webhooks ...`: the publisher postback outbox from the operator's shell.

    auctera webhooks work [--concurrency 64] [--until-idle]   # the delivery worker, its own process
    auctera webhooks dead                                      # dead letters, as JSON
    auctera webhooks replay msg_…                              # queue a delivery again
    auctera webhooks stats                                     # deliveries per state

A server delivers in its own lifespan unless AUCTERA_WEBHOOK_WORKER=false; any number of
`work` processes may run beside it: each claims rows with a lease, so none is sent twice at once.
"""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer

from auctera.api.v2.postbacks import delivery_json
from auctera.cli.common import DataDir, bounded_seconds, container_for, emit, err
from auctera.jobs.webhooks import WebhookWorker, WorkerOptions

webhooks_app = typer.Typer(
    help="Publisher postbacks: the delivery worker, dead letters, replay.", no_args_is_help=True
)


@webhooks_app.command("work")
def work(
    concurrency: Annotated[  # the range of the setting (config.py)
        int | None,
        typer.Option(
            "--concurrency", min=1, max=4096, help="Deliveries in flight [AUCTERA_WEBHOOK_CONCURRENCY]."
        ),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            "--lease-seconds",
            callback=bounded_seconds(1, 86400),
            help="How long a claimed delivery is left to this worker.",
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle",
            help="Exit once no delivery is in flight or due now (retries scheduled later are left).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Deliver queued postbacks until stopped (SIGTERM or Ctrl-C finish the attempts in flight).

    With --until-idle, exit once nothing is in flight or due now, saying how many deliveries
    remain scheduled (retries back off for up to 72 hours) and when the next is due."""
    with container_for(data_dir) as c:
        s = c.settings
        lease = lease_seconds if lease_seconds is not None else max(60.0, 4 * s.webhook_timeout_seconds)
        options = WorkerOptions(
            concurrency=s.webhook_concurrency if concurrency is None else concurrency,
            timeout=min(s.webhook_timeout_seconds, lease / 4),
            lease=timedelta(seconds=lease),
            per_publisher=s.webhook_per_publisher,
        )
        worker = WebhookWorker(c.webhooks, options)
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        worker.run_forever(stop, until_idle=until_idle)
        pending, next_at = c.webhooks.scheduled()
        now = c.clock()
    if until_idle:  # for people: what is left for a later run, in one line
        if next_at is None:
            err.print("idle: no delivery remains scheduled", soft_wrap=True)
        else:
            wait = max((next_at - now).total_seconds(), 0.0)
            err.print(
                f"idle: {pending} {'delivery remains' if pending == 1 else 'deliveries remain'} scheduled;"
                f" the next is due at {next_at.isoformat(timespec='seconds')} (in {_duration(wait)})",
                soft_wrap=True,
            )
    emit(
        {
            "sent": worker.sent,
            "pending": pending,
            "next_attempt_at": next_at.isoformat() if next_at is not None else None,
        }
    )


def _duration(seconds: float) -> str:
    """3 s, 12 min, 5.5 h: how long until the next delivery is due."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@webhooks_app.command("dead")
def dead(data_dir: DataDir = None) -> None:
    """Dead letters: deliveries that failed for 72 hours or met a 410."""
    with container_for(data_dir) as c:
        emit({"data": [delivery_json(d) for d in c.webhooks.dead_letters()]})


@webhooks_app.command("replay")
def replay(
    delivery_id: Annotated[str, typer.Argument(help="msg_… (a delivery id)")], data_dir: DataDir = None
) -> None:
    """Queue a delivery again now, for another 72 hours of attempts."""
    with container_for(data_dir) as c:
        replayed = c.webhooks.replay_as_operator(delivery_id)
    emit({"delivery_id": replayed.webhook_id, "state": replayed.state.value})


@webhooks_app.command("stats")
def stats(data_dir: DataDir = None) -> None:
    """Deliveries per state."""
    with container_for(data_dir) as c:
        emit(c.webhooks.counts())
