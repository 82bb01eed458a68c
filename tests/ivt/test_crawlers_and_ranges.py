"""The general-IVT data: the crawler UA list and the operator's data-centre / VPN range lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auctera.domain.fraud import RangeKind
from auctera.ivt.crawlers import CrawlerList
from auctera.ivt.ip_ranges import (
    IpRanges,
    RangeImportError,
    import_ranges,
    ip_to_int,
    list_path,
    list_ranges,
    parse_line,
    remove_ranges,
)
from auctera.services.ports import CrawlerMatcher, IpRangeLookup

BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Python-urllib/3.11",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.36.109;FBBV/627580468;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;"
    "FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 Instagram 312.0.0.32.112 Android",
]


@pytest.fixture(scope="module")
def crawlers() -> CrawlerList:
    return CrawlerList()


# --- crawlers -------------------------------------------------------------------------------------


def test_is_a_crawler_matcher(crawlers: CrawlerList) -> None:
    matcher: CrawlerMatcher = crawlers
    assert matcher.is_crawler("curl/8.5.0")


@pytest.mark.parametrize("ua", BOTS)
def test_bots_are_recognised(crawlers: CrawlerList, ua: str) -> None:
    assert crawlers.is_crawler(ua)
    assert crawlers.matching_pattern(ua) is not None


@pytest.mark.parametrize("ua", BROWSERS)
def test_real_browsers_are_not(crawlers: CrawlerList, ua: str) -> None:
    assert not crawlers.is_crawler(ua)
    assert crawlers.matching_pattern(ua) is None


def test_split_matcher_agrees_with_every_listed_instance(crawlers: CrawlerList) -> None:
    import crawleruseragents

    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
        for instance in entry.get("instances", []):
            assert crawlers.is_crawler(instance), (entry["pattern"], instance)


def test_results_are_memoised_and_bounded() -> None:
    small = CrawlerList(["Googlebot\\/", "^curl"], cache_size=2)
    for ua in ("curl/1", "curl/2", "curl/3", "Mozilla/5.0"):
        small.is_crawler(ua)
    assert "currsize=2" in small.cache_info()
    assert small.is_crawler("x" * 5000 + "Googlebot/") and "currsize=2" in small.cache_info()


def test_extra_patterns() -> None:
    assert CrawlerList(["^curl"], extra_patterns=["InternalProbe/\\d"]).is_crawler("InternalProbe/2")


# --- range parsing ------------------------------------------------------------------------------


def test_parse_line_forms() -> None:
    assert [str(n) for n in parse_line("203.0.113.0/24")] == ["203.0.113.0/24"]
    assert [str(n) for n in parse_line("203.0.113.7/24")] == ["203.0.113.0/24"]
    assert [str(n) for n in parse_line("198.51.100.7")] == ["198.51.100.7/32"]
    assert [str(n) for n in parse_line("2001:db8::/32 ; AS64500")] == ["2001:db8::/32"]
    assert [str(n) for n in parse_line("192.0.2.0 - 192.0.2.127")] == ["192.0.2.0/25"]
    assert [str(n) for n in parse_line("192.0.2.0,192.0.2.255,Example Hosting,https://x")] == ["192.0.2.0/24"]
    assert [str(n) for n in parse_line("192.0.2.0/24,Example-Hosting")] == ["192.0.2.0/24"]
    assert [str(n) for n in parse_line("192.0.2.0/24 AS-EXAMPLE")] == ["192.0.2.0/24"]
    assert parse_line("   # a comment") == [] and parse_line("") == []


@pytest.mark.parametrize(
    "line",
    ["not-an-ip", "300.1.2.3/24", "10.0.0.0/33", "0.0.0.0/0", "::/0", "192.0.2.9 - 192.0.2.1", "1.2.3.4 - x"],
)
def test_parse_line_rejects(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_ip_to_int() -> None:
    assert ip_to_int("0.0.0.1") == (4, 1)
    assert ip_to_int("::ffff:203.0.113.5") == ip_to_int("203.0.113.5")
    assert ip_to_int("fe80::1%eth0") == (6, (0xFE80 << 112) | 1)
    assert ip_to_int("unknown") is None and ip_to_int("1.2.3") is None


# --- import, storage, matching ----------------------------------------------------------------------

SAMPLE = """\
# Example hosting provider
203.0.113.0/24
203.0.113.128/25
2001:db8:1000::/36
198.51.100.7
this is not an address
192.0.2.0 - 192.0.2.63
10.0.0.0/4
"""


def test_import_reports_bad_lines_and_keeps_the_good_ones(tmp_path: Path) -> None:
    result = import_ranges(tmp_path, SAMPLE.splitlines(), name="hosting", kind="datacenter")
    assert [(b.line, b.text) for b in result.bad_lines] == [(6, "this is not an address"), (8, "10.0.0.0/4")]
    assert result.accepted == 5
    assert result.networks == 4  # the /25 is inside the /24
    assert result.path == tmp_path / "ivt" / "ranges" / "hosting.datacenter.txt"
    assert result.path.read_text().splitlines() == [
        "192.0.2.0/26",
        "198.51.100.7/32",
        "203.0.113.0/24",
        "2001:db8:1000::/36",
    ]


def test_import_refuses_an_input_with_nothing_valid(tmp_path: Path) -> None:
    import_ranges(tmp_path, ["203.0.113.0/24"], name="hosting", kind="datacenter")
    with pytest.raises(RangeImportError, match="no valid range"):
        import_ranges(tmp_path, ["garbage", "# comment"], name="hosting", kind="datacenter")
    assert list_path(tmp_path, "hosting", RangeKind.DATACENTER).read_text() == "203.0.113.0/24\n"


@pytest.mark.parametrize(("name", "kind"), [("../etc", "vpn"), ("Bad Name", "vpn"), ("ok", "proxy")])
def test_import_validates_name_and_kind(tmp_path: Path, name: str, kind: str) -> None:
    with pytest.raises(RangeImportError):
        import_ranges(tmp_path, ["203.0.113.0/24"], name=name, kind=kind)


def test_matcher_finds_the_most_specific_range(tmp_path: Path) -> None:
    import_ranges(tmp_path, ["203.0.113.0/24", "2001:db8::/32"], name="hosting", kind="datacenter")
    import_ranges(tmp_path, ["203.0.113.64/26", "2001:db8:5::/48"], name="exits", kind="vpn")
    ranges = IpRanges(tmp_path, background=False)
    lookup: IpRangeLookup = ranges
    hit = lookup.lookup("203.0.113.70")
    assert hit is not None and (hit.list_name, hit.kind, hit.cidr) == (
        "exits",
        RangeKind.VPN,
        "203.0.113.64/26",
    )
    for ip in ("203.0.113.1", "203.0.113.200", "203.0.113.0", "203.0.113.255"):
        hit = lookup.lookup(ip)
        assert hit is not None and hit.cidr == "203.0.113.0/24", ip
    assert lookup.lookup("203.0.114.0") is None and lookup.lookup("203.0.112.255") is None
    v6 = lookup.lookup("2001:db8:5::1")
    assert v6 is not None and v6.cidr == "2001:db8:5::/48"
    v6 = lookup.lookup("2001:db8:ffff::1")
    assert v6 is not None and v6.cidr == "2001:db8::/32"
    assert lookup.lookup("2001:db9::1") is None
    assert lookup.lookup("::ffff:203.0.113.9") is not None
    assert lookup.lookup("not an ip") is None and lookup.lookup("") is None


def test_identical_ranges_in_two_lists_report_the_vpn(tmp_path: Path) -> None:
    import_ranges(tmp_path, ["198.51.100.0/24"], name="hosting", kind="datacenter")
    import_ranges(tmp_path, ["198.51.100.0/24"], name="exits", kind="vpn")
    hit = IpRanges(tmp_path, background=False).lookup("198.51.100.1")
    assert hit is not None and hit.kind is RangeKind.VPN


def test_matcher_reloads_when_a_list_changes(tmp_path: Path) -> None:
    now = [0.0]
    ranges = IpRanges(tmp_path, check_every=5.0, clock=lambda: now[0], background=False)
    assert ranges.lookup("203.0.113.5") is None
    import_ranges(tmp_path, ["203.0.113.0/24"], name="hosting", kind="datacenter")
    assert ranges.lookup("203.0.113.5") is None  # not checked yet: lookups never stat files
    now[0] = 6.0
    assert ranges.lookup("203.0.113.5") is not None
    import_ranges(tmp_path, ["198.51.100.0/24"], name="hosting", kind="vpn")  # replaced, other kind
    now[0] = 12.0
    assert ranges.lookup("203.0.113.5") is None
    hit = ranges.lookup("198.51.100.5")
    assert hit is not None and hit.kind is RangeKind.VPN
    remove_ranges(tmp_path, "hosting")
    now[0] = 18.0
    assert ranges.lookup("198.51.100.5") is None and ranges.networks == 0


def test_background_reload(tmp_path: Path) -> None:
    now = [0.0]
    ranges = IpRanges(tmp_path, check_every=1.0, clock=lambda: now[0])
    import_ranges(tmp_path, ["203.0.113.0/24"], name="hosting", kind="datacenter")
    now[0] = 2.0
    ranges.lookup("203.0.113.5")  # notices the change, reloads in a thread
    for _ in range(200):
        if ranges.networks:
            break
        import time

        time.sleep(0.01)
    assert ranges.lookup("203.0.113.5") is not None


def test_list_and_remove(tmp_path: Path) -> None:
    assert list_ranges(tmp_path) == []
    import_ranges(tmp_path, ["203.0.113.0/24", "2001:db8::/32"], name="hosting", kind="datacenter")
    (row,) = list_ranges(tmp_path)
    assert (row.name, row.kind, row.networks) == ("hosting", RangeKind.DATACENTER, 2)
    assert remove_ranges(tmp_path, "hosting") is True
    assert remove_ranges(tmp_path, "hosting") is False
    assert list_ranges(tmp_path) == []


# --- CLI --------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from auctera.cli.fraud import fraud_app; sys.argv[0] = 'auctera fraud'; fraud_app()"
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_cli_import_list_remove(tmp_path: Path) -> None:
    import json

    source = tmp_path / "dc.txt"
    source.write_text(SAMPLE)
    data = str(tmp_path / "data")
    done = run_cli(
        "import-ranges", str(source), "--name", "hosting", "--kind", "datacenter", "--data-dir", data
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["networks"] == 4 and [b["line"] for b in out["bad_lines"]] == [6, 8]
    assert "this is not an address" in done.stderr  # the rich table of bad lines

    listed = run_cli("list-ranges", "--json", "--data-dir", data)
    assert json.loads(listed.stdout)["data"][0]["name"] == "hosting"
    assert "hosting" in run_cli("list-ranges", "--data-dir", data).stdout

    bad = run_cli("import-ranges", str(source), "--name", "x", "--kind", "proxy", "--data-dir", data)
    assert bad.returncode != 0
    empty = tmp_path / "empty.txt"
    empty.write_text("nonsense\n")
    refused = run_cli("import-ranges", str(empty), "--name", "x", "--kind", "vpn", "--data-dir", data)
    assert refused.returncode == 2 and "no valid range" in refused.stderr

    removed = run_cli("remove-ranges", "hosting", "--data-dir", data)
    assert json.loads(removed.stdout) == {"name": "hosting", "removed": True}
