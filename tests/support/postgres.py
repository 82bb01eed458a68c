"""A throwaway PostgreSQL server for tests: initdb into a temp dir, listen on loopback, clean up.

Uses the Debian `postgresql` binaries directly (no pg_ctlcluster, no system cluster), so tests
never touch a server they did not start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
# Durability is worthless for a throwaway cluster; these make initdb/CREATE DATABASE/commits cheap.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "200",
    "max_wal_senders": "0",
    "wal_level": "minimal",
    # Parallel query needs /dev/shm, which is tiny in containers; test data is tiny anyway.
    "max_parallel_workers_per_gather": "0",
}


def find_postgres_bin() -> Path | None:
    """The directory holding `initdb` and `postgres`: from PATH, else the newest Debian install."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    if _DEBIAN_ROOT.is_dir():
        versions = [d for d in _DEBIAN_ROOT.iterdir() if re.fullmatch(r"\d+(\.\d+)?", d.name)]
        versions.sort(key=lambda d: tuple(int(p) for p in d.name.split(".")), reverse=True)
        candidates += [d / "bin" for d in versions]
    for bin_dir in candidates:
        if all(os.access(bin_dir / exe, os.X_OK) for exe in ("initdb", "postgres")):
            return bin_dir
    return None


def postgres_version(bin_dir: Path) -> str:
    out = subprocess.run([bin_dir / "postgres", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


class PostgresError(RuntimeError):
    pass


class PostgresServer:
    """One private cluster. `start()` → `create_database()`... → `stop()`; also a context manager."""

    def __init__(self, bin_dir: Path | None = None, *, startup_timeout: float = 30.0) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise PostgresError("PostgreSQL binaries (initdb, postgres) not found")
        self.bin_dir = found
        self.startup_timeout = startup_timeout
        self.port = 0
        self.base_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # initdb and postgres refuse to run as root: drop to the `postgres` system user then.
        self._run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresError("running as root but there is no `postgres` system user") from None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._proc is not None:
            return self
        self.base_dir = Path(tempfile.mkdtemp(prefix="auctera-pg-", dir=self._temp_parent()))
        try:
            if self._run_as is not None:
                os.chown(self.base_dir, self._run_as.pw_uid, self._run_as.pw_gid)
            self._log = (self.base_dir / "server.log").open("ab")
            self._run_checked(
                [
                    self.bin_dir / "initdb",
                    f"--pgdata={self.data_dir}",
                    f"--username={SUPERUSER}",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
            # Another process (an xdist sibling, say) may grab the port between our probe and
            # postgres binding it; retry with a fresh port in that case.
            for _attempt in range(5):
                self.port = _free_port()
                if self._launch():
                    atexit.register(self.stop)
                    return self
            raise PostgresError("could not bind a free loopback port:\n" + self._log_tail())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT = fast shutdown (rolls back sessions); escalate to immediate, then kill.
            for sig, grace in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with self.connect() as conn:
            # template0: guaranteed pristine, whatever someone may have put into template1.
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            # FORCE: a test that forgot to dispose its engine must not block the drop.
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals -------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    def _temp_parent(self) -> str | None:
        # The `postgres` user must be able to reach the temp dir; a root-private TMPDIR would not do.
        parent = Path(tempfile.gettempdir())
        if self._run_as is None or all(p.stat().st_mode & stat.S_IXOTH for p in (parent, *parent.parents)):
            return None
        return "/tmp"

    def _popen_kwargs(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        kwargs: dict[str, Any] = {"cwd": self.base_dir, "env": env, "stdin": subprocess.DEVNULL}
        if self._run_as is not None:
            env["HOME"] = str(self.base_dir)
            kwargs.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        return kwargs

    def _run_checked(self, argv: list[Any]) -> None:
        done = subprocess.run(argv, capture_output=True, **self._popen_kwargs())
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise PostgresError(f"{Path(argv[0]).name} failed ({done.returncode}):\n{output}")

    def _launch(self) -> bool:
        """Start postgres on `self.port`; True once it accepts connections, False on a port clash."""
        argv: list[Any] = [self.bin_dir / "postgres", "-D", self.data_dir, "-p", str(self.port)]
        argv += ["-k", self.base_dir]
        for key, value in _SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        log_start = self.log_path.stat().st_size
        self._proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, **self._popen_kwargs()
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                log = self.log_path.read_bytes()[log_start:].decode(errors="replace")
                self._proc = None
                if "could not bind" in log or "Address already in use" in log:
                    return False
                raise PostgresError(f"postgres exited during startup:\n{log}")
            # Probe our private unix socket: no stranger can answer there (a TCP probe could hang
            # on whoever won a port race), and postgres creates it only after binding TCP.
            try:
                psycopg.connect(host=str(self.base_dir), port=self.port, user=SUPERUSER).close()
                return True
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"postgres did not accept connections within {self.startup_timeout}s:\n"
                    + self._log_tail()
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        # The temp dir (and the log in it) is removed on failure, so errors carry the log text.
        return self.log_path.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
