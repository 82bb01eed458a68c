"""The operator's data-centre and VPN IP range lists: import, storage, and a fast matcher.

Storage: one file per list, `<data_dir>/ivt/ranges/<name>.<kind>.txt` (kind: datacenter | vpn),
holding normalised CIDRs, one per line, IPv4 first, sorted and collapsed (adjacent and overlapping
networks merged). Files are replaced atomically, so a reader never sees half a list.

Import (`import_ranges`) accepts what published lists look like, line by line:
    203.0.113.0/24            a CIDR (host bits are cleared: 203.0.113.7/24 -> 203.0.113.0/24)
    2001:db8::/32             IPv6 too
    198.51.100.7              a single address (/32, /128)
    192.0.2.0 - 192.0.2.255   a start-end range (also "start,end,anything..." as in ipcat's CSV)
    # comments, "; comments" after a value, blank lines, and trailing words ("1.2.3.0/24 AS16509")
Every line is validated; bad ones are reported with their line numbers and skipped, the valid ones
are imported. Networks broader than /8 (IPv4) or /16 (IPv6) are refused as bad lines: such a line
is a typo that would flag a sizeable part of the internet.

Matching (`IpRanges.lookup`): per address family, the CIDRs are flattened into disjoint intervals of
integers (CIDRs are nested or disjoint, so a sweep with a stack does it), each pointing at the most
specific CIDR covering it; a lookup is one `bisect`. The directory is re-read when a file's mtime,
size or inode changes, checked at most every `check_every` seconds (a lookup never stats files),
and rebuilt in a background thread while lookups keep using the previous lists.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auctera.domain.fraud import RangeHit, RangeKind

log = logging.getLogger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MIN_PREFIX = {4: 8, 6: 16}
_FILE = re.compile(r"(?P<name>[a-z0-9][a-z0-9_-]{0,62})\.(?P<kind>datacenter|vpn)\.txt")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ranges_dir(data_dir: Path) -> Path:
    return data_dir / "ivt" / "ranges"


def list_path(data_dir: Path, name: str, kind: RangeKind) -> Path:
    return ranges_dir(data_dir) / f"{name}.{kind.value}.txt"


class RangeImportError(ValueError):
    """The import as a whole cannot go ahead (bad name or kind, nothing valid to import)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int  # 1-based
    text: str
    error: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    name: str
    kind: RangeKind
    path: Path
    accepted: int  # valid entries read
    networks: int  # CIDRs stored, after collapsing
    ipv4_addresses: int
    bad_lines: list[BadLine]
    replaced: bool  # a list of that name existed before


@dataclass(frozen=True, slots=True)
class RangeList:
    name: str
    kind: RangeKind
    path: Path
    networks: int
    modified_at: datetime


# --- parsing -----------------------------------------------------------------------------------


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.strip())


def parse_line(text: str) -> list[IPNetwork]:
    """The networks one line of a list stands for ([] for blank and comment lines).

    Raises ValueError with a message fit for the operator when the line is not valid.
    """
    value = text.split("#", 1)[0].split(";", 1)[0].strip()
    if not value:
        return []
    if "," in value:
        first, second, *_ = (*value.split(","), "")
        try:
            start, end = _address(first), _address(second)
        except ValueError:
            value = first.strip()  # "cidr,metadata..."
        else:
            return _range(start, end)
    if "-" in value:
        first, _, second = value.partition("-")
        try:
            start = _address(first)
        except ValueError:
            pass  # not a range: "1.2.3.0/24 some-words"
        else:
            rest = second.split()
            try:
                end = _address(rest[0] if rest else "")
            except ValueError:
                raise ValueError(f"range end is not an IP address: {second.strip()!r}") from None
            return _range(start, end)
    token = value.split()[0]
    try:
        net = ipaddress.ip_network(token, strict=False)
    except ValueError as exc:
        raise ValueError(f"not an IP address, CIDR or range: {token!r}") from exc
    _check_breadth(net, token)
    return [net]


def _range(
    start: ipaddress.IPv4Address | ipaddress.IPv6Address, end: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> list[IPNetwork]:
    if start.version != end.version:
        raise ValueError(f"range mixes IPv{start.version} and IPv{end.version}")
    if int(start) > int(end):
        raise ValueError(f"range starts after it ends: {start} > {end}")
    nets: list[IPNetwork] = list(ipaddress.summarize_address_range(start, end))
    for net in nets:
        _check_breadth(net)
    return nets


def _check_breadth(net: IPNetwork, text: str | None = None) -> None:
    if net.prefixlen < MIN_PREFIX[net.version]:
        raise ValueError(
            f"{text or net} is broader than /{MIN_PREFIX[net.version]} ({net.num_addresses:,} addresses): "
            "refused as a likely typo"
        )


def parse_lines(lines: Iterable[str]) -> tuple[list[IPNetwork], list[BadLine], int]:
    """(networks, bad lines, valid entries) for a whole list."""
    nets: list[IPNetwork] = []
    bad: list[BadLine] = []
    accepted = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        try:
            found = parse_line(text)
        except ValueError as exc:
            bad.append(BadLine(number, text[:200], str(exc)))
            continue
        if found:
            accepted += 1
            nets.extend(found)
    return nets, bad, accepted


def normalise(nets: Iterable[IPNetwork]) -> list[IPNetwork]:
    """Sorted and collapsed, IPv4 first."""
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


# --- storage -----------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if NAME.fullmatch(name) is None:
        raise RangeImportError(
            f"list name must be 1-63 lowercase letters, digits, '-' or '_' (starting with a letter or "
            f"digit), got {name!r}"
        )


def import_ranges(data_dir: Path, lines: Iterable[str], *, name: str, kind: RangeKind | str) -> ImportResult:
    """Validate `lines` and store them as list `name` (replacing a list of that name, of either kind).

    Bad lines are reported, not fatal; a list with no valid line at all is refused (it would
    silently empty the list it replaces).
    """
    _check_name(name)
    try:
        kind = RangeKind(kind)
    except ValueError:
        raise RangeImportError(f"kind must be datacenter or vpn, got {kind!r}") from None
    nets, bad, accepted = parse_lines(lines)
    if not nets:
        raise RangeImportError(
            f"no valid range in the input ({len(bad)} bad line{'s' if len(bad) != 1 else ''})"
        )
    stored = normalise(nets)
    directory = ranges_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = list_path(data_dir, name, kind)
    others = [list_path(data_dir, name, k) for k in RangeKind]
    replaced = any(p.exists() for p in others)
    _write_atomically(path, "".join(f"{n}\n" for n in stored))
    for other in others:
        if other != path:
            other.unlink(missing_ok=True)
    return ImportResult(
        name=name,
        kind=kind,
        path=path,
        accepted=accepted,
        networks=len(stored),
        ipv4_addresses=sum(n.num_addresses for n in stored if n.version == 4),
        bad_lines=bad,
        replaced=replaced,
    )


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_ranges(data_dir: Path) -> list[RangeList]:
    out = []
    for path, name, kind in _list_files(ranges_dir(data_dir)):
        with path.open(encoding="ascii", errors="replace") as f:
            count = sum(1 for line in f if line.strip() and not line.startswith("#"))
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        out.append(RangeList(name, kind, path, count, modified))
    return out


def remove_ranges(data_dir: Path, name: str) -> bool:
    """Delete list `name` (idempotent); True if there was one."""
    _check_name(name)
    removed = False
    for kind in RangeKind:
        path = list_path(data_dir, name, kind)
        if path.exists():
            path.unlink()
            removed = True
    return removed


def _list_files(directory: Path) -> list[tuple[Path, str, RangeKind]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    out = []
    for entry in entries:
        m = _FILE.fullmatch(entry.name)
        if m is not None and entry.is_file():
            out.append((Path(entry.path), m["name"], RangeKind(m["kind"])))
    return out


# --- matching ----------------------------------------------------------------------------------

_V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96


def ip_to_int(ip: str) -> tuple[int, int] | None:
    """(version, integer) for an address in text, IPv4-mapped IPv6 as IPv4; None if not an address."""
    try:
        if ":" in ip:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0]), "big")
            if value >> 32 == 0xFFFF:
                return 4, value & 0xFFFFFFFF
            return 6, value
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except (OSError, ValueError):
        return None


@dataclass(slots=True)
class _Family:
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    hits: list[RangeHit] = field(default_factory=list)

    def lookup(self, value: int) -> RangeHit | None:
        i = bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.hits[i]
        return None


@dataclass(slots=True)
class _Snapshot:
    v4: _Family
    v6: _Family
    networks: int
    signature: tuple[tuple[str, int, int, int], ...]


_EMPTY = _Snapshot(_Family(), _Family(), 0, ())
# On identical CIDRs in two lists the VPN one wins: VPN exits mostly sit in data centres, and
# "VPN" is the more specific finding.
_PREFERENCE = {RangeKind.DATACENTER: 0, RangeKind.VPN: 1}


def _flatten(cidrs: list[tuple[int, int, int, RangeHit]]) -> _Family:
    """Disjoint intervals from CIDRs (nested or disjoint), each labelled with its most specific CIDR.

    `cidrs` holds (start, end, preference, hit). Sorted by start, wider first, so each CIDR's parents
    are on the stack below it when it arrives.
    """
    cidrs.sort(key=lambda c: (c[0], -c[1], c[2]))
    fam = _Family()

    def emit(start: int, end: int, hit: RangeHit) -> None:
        if int(start) > int(end):
            return
        if fam.ends and fam.ends[-1] + 1 == start and fam.hits[-1] is hit:
            fam.ends[-1] = end  # continue the previous interval
            return
        fam.starts.append(start)
        fam.ends.append(end)
        fam.hits.append(hit)

    stack: list[tuple[int, int, int, RangeHit]] = []
    cursor = 0  # the first address not yet emitted
    for cidr in cidrs:
        start = cidr[0]
        while stack and stack[-1][1] < start:
            top = stack.pop()
            emit(cursor, top[1], top[3])
            cursor = max(cursor, top[1] + 1)
        if stack:
            emit(cursor, start - 1, stack[-1][3])
        cursor = start
        stack.append(cidr)
    while stack:
        top = stack.pop()
        emit(cursor, top[1], top[3])
        cursor = max(cursor, top[1] + 1)
    return fam


def _read_list(path: Path, name: str, kind: RangeKind) -> tuple[list[tuple[int, int, int, RangeHit]], ...]:
    v4: list[tuple[int, int, int, RangeHit]] = []
    v6: list[tuple[int, int, int, RangeHit]] = []
    pref = _PREFERENCE[kind]
    bad = 0
    with path.open(encoding="ascii", errors="replace") as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            addr, _, plen = text.partition("/")
            parsed = ip_to_int(addr)
            if parsed is None:
                bad += 1
                continue
            version, value = parsed
            bits = 32 if version == 4 else 128
            try:
                prefix = int(plen) if plen else bits
            except ValueError:
                bad += 1
                continue
            if not 0 <= prefix <= bits:
                bad += 1
                continue
            host = (1 << (bits - prefix)) - 1
            start = value & ~host
            hit = RangeHit(
                name, kind, f"{ipaddress.ip_address(start) if version == 4 else _v6(start)}/{prefix}"
            )
            (v4 if version == 4 else v6).append((start, start | host, pref, hit))
    if bad:
        log.warning("ip range list %s: skipped %d unreadable lines", path, bad)
    return v4, v6


def _v6(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


class IpRanges:
    """`IpRangeLookup` over the lists in `<data_dir>/ivt/ranges/`. Thread-safe.

    `background=False` rebuilds inline when a change is noticed (tests, CLI); the server keeps the
    default, so a reload never stalls a request.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        check_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self._dir = ranges_dir(data_dir)
        self._check_every = check_every
        self._clock = clock
        self._background = background
        self._snap = _EMPTY
        self._reload_lock = threading.Lock()
        self._next_check = clock() + check_every
        self.refresh()

    def lookup(self, ip: str) -> RangeHit | None:
        if self._clock() >= self._next_check:
            self._due()
        snap = self._snap
        if not snap.networks:
            return None
        parsed = ip_to_int(ip)
        if parsed is None:
            return None
        version, value = parsed
        return (snap.v4 if version == 4 else snap.v6).lookup(value)

    @property
    def networks(self) -> int:
        return self._snap.networks

    def refresh(self) -> bool:
        """Re-read the lists now if any file changed; True if they were reloaded."""
        with self._reload_lock:
            signature = self._signature()
            if signature == self._snap.signature:
                return False
            self._snap = self._load(signature)
            return True

    def _due(self) -> None:
        self._next_check = self._clock() + self._check_every
        if not self._background:
            self.refresh()
            return
        if self._reload_lock.locked():
            return  # a reload is running
        # Stat the directory here (cheap, every few seconds); only a real change costs a thread.
        if self._signature() != self._snap.signature:
            threading.Thread(target=self._refresh_logged, name="ivt-ranges-reload", daemon=True).start()

    def _refresh_logged(self) -> None:
        try:
            if self.refresh():
                log.info("ip range lists reloaded: %d networks", self._snap.networks)
        except Exception:  # keep serving the previous lists
            log.exception("reloading ip range lists failed")

    def _signature(self) -> tuple[tuple[str, int, int, int], ...]:
        out = []
        for path, _, _ in _list_files(self._dir):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def _load(self, signature: tuple[tuple[str, int, int, int], ...]) -> _Snapshot:
        v4: list[tuple[int, int, int, RangeHit]] = []
        v6: list[tuple[int, int, int, RangeHit]] = []
        for path, name, kind in _list_files(self._dir):
            try:
                a, b = _read_list(path, name, kind)
            except FileNotFoundError:
                continue  # removed since we listed it; the next check sees the new state
            v4.extend(a)
            v6.extend(b)
        return _Snapshot(_flatten(v4), _flatten(v6), len(v4) + len(v6), signature)
