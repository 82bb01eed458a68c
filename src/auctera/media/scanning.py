"""Malware scanners: the YARA rules shipped in `media/rules`, and ClamAV through its daemon's
socket when the operator runs one (AUCTERA_CLAMAV_SOCKET)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from pathlib import Path

import yara

from auctera.domain.creatives import MalwareVerdict, ScanResult, merge_scans
from auctera.services.ports import MalwareScanner

RULES_DIR = Path(__file__).with_name("rules")
CLAMD_CHUNK = 64 * 1024
CLAMD_TIMEOUT = 30.0


class YaraScanner:
    """Every `*.yar` file of `rules_dir`, compiled once."""

    def __init__(self, rules_dir: Path = RULES_DIR) -> None:
        files = {path.stem: str(path) for path in sorted(rules_dir.glob("*.yar"))}
        if not files:
            raise RuntimeError(f"no YARA rules in {rules_dir}")
        self._rules = yara.compile(filepaths=files)

    def scan(self, data: bytes) -> ScanResult:
        matches = self._rules.match(data=data, timeout=30)
        if not matches:
            return ScanResult(MalwareVerdict.CLEAN)
        return ScanResult(MalwareVerdict.INFECTED, tuple(f"yara:{m.rule}" for m in matches))


class ClamdScanner:
    """clamd's INSTREAM command over a unix socket path or `host:port`. Failing closed: a daemon
    that does not answer makes the verdict `error` (the asset is rejected, not waved through)."""

    def __init__(self, address: str, timeout: float = CLAMD_TIMEOUT) -> None:
        self._address = address
        self._timeout = timeout

    def _connect(self) -> socket.socket:
        if self._address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            sock.connect(self._address)
            return sock
        host, _, port = self._address.rpartition(":")
        return socket.create_connection((host, int(port)), timeout=self._timeout)

    def scan(self, data: bytes) -> ScanResult:
        try:
            with self._connect() as sock:
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), CLAMD_CHUNK):
                    chunk = data[start : start + CLAMD_CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                answer = b""
                while not answer.endswith(b"\0"):
                    part = sock.recv(4096)
                    if not part:
                        break
                    answer += part
        except OSError as exc:
            return ScanResult(MalwareVerdict.ERROR, (f"clamav: {exc}",))
        text = answer.rstrip(b"\0").decode("utf-8", "replace")
        if text.endswith("OK"):
            return ScanResult(MalwareVerdict.CLEAN)
        if text.endswith("FOUND"):
            signature = text.removeprefix("stream:").removesuffix("FOUND").strip()
            return ScanResult(MalwareVerdict.INFECTED, (f"clamav:{signature}",))
        return ScanResult(MalwareVerdict.ERROR, (f"clamav: {text or 'no answer'}",))


class Scanners:
    """Every configured scanner; the worst verdict wins."""

    def __init__(self, scanners: Sequence[MalwareScanner]) -> None:
        self._scanners = tuple(scanners)

    def scan(self, data: bytes) -> ScanResult:
        return merge_scans(s.scan(data) for s in self._scanners)
