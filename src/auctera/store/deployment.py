"""One event log per database: every process of a deployment writes its events to the same data
directory's log, because clicks are looked up there (a postback for a click another log holds
would be refused) and the crash sweeps copy into it the rows no log has marked (another log's
rows would be counted twice). The database keeps the id of its event log; a process whose data
directory holds another one is refused at start, before it serves or sweeps anything.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from auctera.store.tables import deployment

KEY = "event_log"


class OtherEventLog(Exception):
    """This data directory's event log is not the one the database's events are written to."""


def event_log_id(events_dir: Path) -> str:
    """The id of the event log in `events_dir`, made on its first use. Published by a hard link
    so processes starting together all read the one that won."""
    path = events_dir / "log.id"
    if not path.exists():
        events_dir.mkdir(parents=True, exist_ok=True)
        draft = events_dir / f".log.id.{os.getpid()}.{uuid.uuid4().hex}"
        draft.write_text(uuid.uuid4().hex + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def claim_event_log(engine: Engine, events_dir: Path) -> None:
    """Record this data directory's event log as the database's, or check that it is the one
    recorded; OtherEventLog when another is."""
    mine = event_log_id(events_dir)
    with engine.begin() as conn:
        recorded = conn.execute(select(deployment.c.value).where(deployment.c.key == KEY)).scalar()
    if recorded is None:
        with contextlib.suppress(IntegrityError), engine.begin() as conn:
            conn.execute(insert(deployment).values(key=KEY, value=mine))
        with engine.begin() as conn:  # the first to record one wins
            recorded = conn.execute(select(deployment.c.value).where(deployment.c.key == KEY)).scalar()
    if recorded != mine:
        raise OtherEventLog(
            f"this database's events are written to another data directory's event log (log id "
            f"{recorded}; {events_dir} holds {mine}): every process of a deployment must use the same "
            "data directory, so a postback finds its click and nothing is counted twice. To move a "
            "deployment, copy its data directory; if its event log is lost for good, see "
            'docs/operations.md ("Lost data directory")'
        )
