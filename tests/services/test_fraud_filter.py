"""FraudFilter: the detectors composed with crawler, IP-range and velocity lookups (fakes here; the
real adapters are tested in tests/ivt and tests/counters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auctera.counters.velocity import SlidingWindowCounter
from auctera.domain import ids as idfmt
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import RangeHit, RangeKind, Reason, RequestFacts
from auctera.services.fraud import (
    ConversionLimits,
    FraudFilter,
    FraudSettings,
    RequestLimits,
    Traffic,
    VelocityLimit,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)


class FakeCrawlers:
    def is_crawler(self, user_agent: str) -> bool:
        return "bot" in user_agent.lower() or user_agent.startswith("curl/")


class FakeRanges:
    def __init__(self, table: dict[str, RangeHit] | None = None) -> None:
        self.table = table or {}

    def lookup(self, ip: str) -> RangeHit | None:
        return self.table.get(ip)


def make(settings: FraudSettings | None = None, ranges: dict[str, RangeHit] | None = None) -> FraudFilter:
    return FraudFilter(
        FakeCrawlers(), FakeRanges(ranges), SlidingWindowCounter(), settings or FraudSettings()
    )


def browser(ip: str = "198.51.100.7", ua: str = CHROME, at: datetime = NOW, **headers: str) -> RequestFacts:
    h = {"user-agent": ua, "accept-language": "en-US,en;q=0.9"}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return RequestFacts(ip, ua, h, at)


def test_a_real_browser_click_is_clean() -> None:
    f = make()
    v = f.check_request(browser())
    assert v.signals == () and v.score == 0.0 and not f.is_ivt(v)


def test_known_bot_is_ivt() -> None:
    f = make()
    v = f.check_request(
        browser(ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    )
    assert v.reason is Reason.KNOWN_BOT and f.is_ivt(v)
    assert v.as_log(0.8)["confidence_score"] == pytest.approx(0.99)


def test_datacenter_and_vpn_ips() -> None:
    f = make(
        ranges={
            "203.0.113.5": RangeHit("hosting", RangeKind.DATACENTER, "203.0.113.0/24"),
            "192.0.2.9": RangeHit("vpns", RangeKind.VPN, "192.0.2.0/24"),
        }
    )
    dc = f.check_request(browser(ip="203.0.113.5"))
    assert dc.reason is Reason.DATACENTER_IP and dc.score == pytest.approx(0.9) and f.is_ivt(dc)
    vpn = f.check_request(browser(ip="192.0.2.9"))
    assert vpn.reason is Reason.KNOWN_VPN_IP and vpn.score == pytest.approx(0.85) and f.is_ivt(vpn)
    assert vpn.signals[0].telemetry == {"ip": "192.0.2.9", "list": "vpns", "cidr": "192.0.2.0/24"}


def test_fingerprint_anomaly_is_ivt() -> None:
    v = make().check_request(browser(ua=IPHONE, sec_ch_ua_platform='"Windows"'))
    assert v.reason is Reason.DEVICE_FINGERPRINT_ANOMALY and v.score == pytest.approx(0.95)


def test_missing_accept_language_alone_is_flagged_but_billed() -> None:
    f = make()
    v = f.check_request(RequestFacts("198.51.100.7", CHROME, {"user-agent": CHROME}, NOW))
    assert v.reason is Reason.MISSING_HEADERS and not f.is_ivt(v)
    assert v.as_log(f.settings.flag_threshold)["status"] == "flagged"


def test_bid_requests_skip_header_presence() -> None:
    v = make().check_request(RequestFacts("198.51.100.7", CHROME, {}, NOW), Traffic.BID_REQUEST)
    assert v.signals == ()


def test_device_velocity_over_a_window() -> None:
    settings = FraudSettings(
        clicks=RequestLimits(
            ip=VelocityLimit(100, timedelta(minutes=1)), device=VelocityLimit(3, timedelta(minutes=1))
        )
    )
    f = make(settings)
    human = [0, 1.3, 2.1, 4.0, 4.4, 6.9]  # irregular: a regular rhythm is a script (see below)
    verdicts = [f.check_request(browser(at=NOW + timedelta(seconds=t))) for t in human]
    assert [v.reason for v in verdicts[:3]] == [None, None, None]
    assert verdicts[3].reason is Reason.DEVICE_VELOCITY
    assert verdicts[5].signals[0].telemetry["count"] == 6
    assert f.is_ivt(verdicts[5]) is False  # 6 against 3: 0.75
    # A minute later the window has moved on.
    assert f.check_request(browser(at=NOW + timedelta(seconds=70))).signals == ()


def test_ip_velocity_catches_rotating_user_agents() -> None:
    settings = FraudSettings(clicks=RequestLimits(ip=VelocityLimit(5, timedelta(minutes=1)), device=None))
    f = make(settings)
    last = None
    for i in range(50):
        last = f.check_request(browser(ua=CHROME.replace("131", str(80 + i)), at=NOW + timedelta(seconds=i)))
    assert last is not None and last.reason is Reason.IP_VELOCITY
    assert last.signals[0].telemetry["subject"] == "198.51.100.7"
    assert f.is_ivt(last)  # 50 against 5: 0.95


def test_clicks_and_impressions_count_separately() -> None:
    settings = FraudSettings(
        clicks=RequestLimits(ip=None, device=VelocityLimit(1, timedelta(minutes=1))),
        impressions=RequestLimits(ip=None, device=VelocityLimit(1, timedelta(minutes=1))),
    )
    f = make(settings)
    assert f.check_request(browser(), Traffic.IMPRESSION).signals == ()
    assert f.check_request(browser(), Traffic.CLICK).signals == ()
    assert f.check_request(browser(), Traffic.CLICK).reason is Reason.DEVICE_VELOCITY


def test_signals_combine() -> None:
    f = make(ranges={"203.0.113.5": RangeHit("vpns", RangeKind.VPN, "203.0.113.0/24")})
    v = f.check_request(browser(ip="203.0.113.5", ua=IPHONE, sec_ch_ua_platform='"Windows"'))
    assert v.reasons == {Reason.KNOWN_VPN_IP, Reason.DEVICE_FINGERPRINT_ANOMALY}
    assert v.score == pytest.approx(1 - 0.15 * 0.05)
    assert v.reason is Reason.DEVICE_FINGERPRINT_ANOMALY


# --- conversions ---------------------------------------------------------------------------------


def test_a_normal_postback_is_clean() -> None:
    v = make().check_conversion(None, NOW, NOW + timedelta(minutes=7), "clk_1")
    assert v.signals == ()


def test_click_injection_on_a_postback() -> None:
    f = make()
    v = f.check_conversion(None, NOW, NOW + timedelta(seconds=3), "clk_1")
    assert v.reason is Reason.CLICK_INJECTION and f.is_ivt(v)


def test_click_flooding_needs_company_to_be_rejected() -> None:
    f = make(ranges={"203.0.113.5": RangeHit("hosting", RangeKind.DATACENTER, "203.0.113.0/24")})
    alone = f.check_conversion(None, NOW, NOW + timedelta(hours=40), "clk_1")
    assert alone.reason is Reason.CLICK_FLOODING and not f.is_ivt(alone)
    pixel = browser(ip="203.0.113.5", at=NOW + timedelta(hours=40))
    together = f.check_conversion(pixel, NOW, NOW + timedelta(hours=40), "clk_2")
    assert together.reasons == {Reason.CLICK_FLOODING, Reason.DATACENTER_IP}
    assert together.score == pytest.approx(0.95)


def test_replayed_click_id() -> None:
    f = make()
    results = [f.check_conversion(None, NOW, NOW + timedelta(minutes=5 + i), "clk_9") for i in range(5)]
    assert all(r.signals == () for r in results[:3])
    assert results[3].reason is Reason.CLICK_ID_VELOCITY
    assert results[4].signals[0].telemetry["subject"] == "clk_9"


def test_a_replayed_postback_names_its_click_as_the_api_does() -> None:
    """The fraud log's telemetry is read by people: the click id they sent, not our row number."""
    f = make()
    click = Event(id=1_234_567, type=EventType.CLICK, at=NOW, account_id=1)
    results = [f.check_postback(click, NOW + timedelta(minutes=5 + i)) for i in range(5)]
    assert results[4].signals[0].telemetry["subject"] == idfmt.render("auc", 1_234_567)


def test_scripted_touch_cadence_before_the_conversion() -> None:
    f = make()
    touches = [NOW - timedelta(seconds=30 * i) for i in range(1, 7)]
    v = f.check_conversion(None, NOW, NOW + timedelta(minutes=3), "clk_1", touches)
    assert v.reason is Reason.SCRIPTED_CADENCE and f.is_ivt(v)
    assert v.signals[0].telemetry["intervals"] == 6  # the six touches plus the click


def test_browser_conversion_runs_request_checks_and_conversion_velocity() -> None:
    settings = FraudSettings(
        conversions=ConversionLimits(ip=VelocityLimit(2, timedelta(hours=1)), device=None, click_id=None)
    )
    f = make(settings)
    verdicts = [
        f.check_conversion(browser(at=NOW + timedelta(minutes=i)), NOW, NOW + timedelta(minutes=i + 1), None)
        for i in range(3)
    ]
    assert verdicts[2].reason is Reason.IP_VELOCITY
    bot = f.check_conversion(browser(ua="curl/8.5.0"), NOW, NOW + timedelta(minutes=5), None)
    assert Reason.KNOWN_BOT in bot.reasons


def test_view_through_conversion_has_no_timing_checks() -> None:
    assert make().check_conversion(None, None, NOW, None).signals == ()


def test_velocity_limit_validates() -> None:
    with pytest.raises(ValueError):
        VelocityLimit(0, timedelta(minutes=1))
    with pytest.raises(ValueError):
        VelocityLimit(1, timedelta(0))


def test_a_device_clicking_on_a_timer_is_a_script() -> None:
    f = make()
    every_ten = [f.check_request(browser(at=NOW + timedelta(seconds=10 * i))) for i in range(7)]
    assert [v.reason for v in every_ten[:5]] == [None] * 5  # five intervals are needed to judge
    assert every_ten[6].reason is Reason.SCRIPTED_CADENCE and f.is_ivt(every_ten[6])
    assert every_ten[6].strongest is not None
    assert every_ten[6].strongest.telemetry["mean_interval_seconds"] == 10.0
    person = make()
    jitter = [0, 9, 31, 37, 70, 74, 103]
    assert all(person.check_request(browser(at=NOW + timedelta(seconds=t))).reason is None for t in jitter)
