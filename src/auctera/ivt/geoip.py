"""Country of an IP address from a local MaxMind database (GeoLite2-Country, GeoIP2-Country or
City), when no proxy header names it. The operator downloads the file (MaxMind's licence needs
an account) and points AUCTERA_GEOIP_DATABASE at it: nothing is fetched at run time."""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Any

import maxminddb


class GeoIpCountries:
    """`countries(ip)` -> ISO 3166-1 alpha-2, or None when unknown or not an address."""

    def __init__(self, path: Path) -> None:
        # MODE_MMAP: pages shared between workers, no copy of the database per process.
        self._reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP)
        self._lookup = functools.lru_cache(maxsize=65_536)(self._country)

    def __call__(self, ip: str) -> str | None:
        return self._lookup(ip)

    def _country(self, ip: str) -> str | None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None
        record: Any = self._reader.get(ip)
        if not isinstance(record, dict):
            return None
        for key in ("country", "registered_country"):
            place = record.get(key)
            if isinstance(place, dict) and isinstance(place.get("iso_code"), str):
                return str(place["iso_code"])
        return None

    def close(self) -> None:
        self._reader.close()
