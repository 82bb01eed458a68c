"""A PostgreSQL cluster that stops answering: its processes stopped with SIGSTOP. The kernel still
accepts connections and acknowledges what is sent, as for a hung host; nothing answers until
SIGCONT. Each test module stopping one starts its own (`own_cluster`), so that the session's
cluster, which other tests' teardown needs, never stops."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.postgres import PostgresServer, find_postgres_bin


def own_cluster(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """For a module-scoped fixture: `yield from own_cluster(request)`."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        request.getfixturevalue("postgres_server")  # skips (fails under CI) as every PostgreSQL test
    with PostgresServer(bin_dir) as server:
        yield server


def cluster_pids(server: PostgresServer) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, walwriter...)."""
    assert server._proc is not None, "server not started"
    postmaster = server._proc.pid
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:  # the parent's pid
                pids.append(int(entry))
    return pids


@contextmanager
def stopped(server: PostgresServer) -> Iterator[None]:
    """The whole cluster stopped inside the block, running again after it (whatever happens)."""
    pids = cluster_pids(server)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
