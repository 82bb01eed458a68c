"""Country lookups from a MaxMind-format database (a small one written for the test)."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from auctera.ivt.geoip import GeoIpCountries


def country_db(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"registered_country": {"iso_code": "SE"}})
    writer.to_db_file(str(path))
    return path


def test_countries_by_address(tmp_path: Path) -> None:
    countries = GeoIpCountries(country_db(tmp_path / "countries.mmdb"))
    try:
        assert countries("81.2.69.142") == "GB"
        assert countries("2001:db8::1") == "SE"
        assert countries("10.0.0.1") is None
        assert countries("not an address") is None
    finally:
        countries.close()
