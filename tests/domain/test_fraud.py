"""The pure IVT detectors and how their signals combine into a fraud score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auctera.domain.fraud import (
    CLEAN,
    RangeHit,
    RangeKind,
    Reason,
    RequestFacts,
    Signal,
    Status,
    Verdict,
    cadence_signals,
    device_key,
    fingerprint_signals,
    header_signals,
    range_signal,
    timing_signals,
    ua_platform,
    velocity_signal,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
CH_CHROME_131 = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'


def facts(ua: str = CHROME_WIN, **headers: str) -> RequestFacts:
    base = {"user-agent": ua, "accept-language": "en-US,en;q=0.9", "accept": "text/html"}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return RequestFacts("198.51.100.7", ua, {k: v for k, v in base.items() if v is not None}, NOW)


def reasons(signals: list[Signal]) -> set[Reason]:
    return {s.reason for s in signals}


# --- signals and verdicts ------------------------------------------------------------------------


def test_confidence_must_be_a_probability() -> None:
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError):
            Signal(Reason.KNOWN_BOT, bad)


def test_score_is_noisy_or_of_the_strongest_signal_per_reason() -> None:
    a = Signal(Reason.IP_VELOCITY, 0.5)
    b = Signal(Reason.DEVICE_FINGERPRINT_ANOMALY, 0.5)
    assert Verdict.of([a, b]).score == pytest.approx(0.75)
    # The same reason twice is the same evidence: counted once, at its strongest.
    assert Verdict.of([a, Signal(Reason.IP_VELOCITY, 0.6)]).score == pytest.approx(0.6)
    assert Verdict.of([Signal(Reason.KNOWN_BOT, 0.99)]).score == pytest.approx(0.99)
    assert Verdict.of([Signal(Reason.KNOWN_BOT, 1.0), a]).score == 1.0


def test_verdict_reason_status_and_log() -> None:
    weak = Signal(Reason.CLICK_FLOODING, 0.5, {"click_to_conversion_seconds": 90_000})
    strong = Signal(Reason.DEVICE_FINGERPRINT_ANOMALY, 0.99, {"rules": ["platform_mismatch"]})
    v = Verdict.of([weak, strong])
    assert v.reason is Reason.DEVICE_FINGERPRINT_ANOMALY
    assert v.flagged(0.8) and v.status(0.8) is Status.REJECTED
    log = v.as_log(0.8)
    assert log["status"] == "rejected"
    assert log["reason"] == "device_fingerprint_anomaly"
    assert log["confidence_score"] == pytest.approx(0.995)
    assert log["signals"][1]["telemetry"] == {"rules": ["platform_mismatch"]}  # type: ignore[index]
    only_weak = Verdict.of([weak])
    assert not only_weak.flagged(0.8) and only_weak.status(0.8) is Status.FLAGGED
    assert CLEAN.status(0.8) is Status.CLEAN and not CLEAN.flagged(0.0) and CLEAN.reason is None
    assert Verdict.of([]) is CLEAN
    # Rejected when scored above the threshold, as the tracking issue says: equal to it passes.
    assert not only_weak.flagged(0.5) and only_weak.status(0.5) is Status.FLAGGED
    assert only_weak.flagged(0.49) and only_weak.status(0.49) is Status.REJECTED


def test_reason_codes_and_labels() -> None:
    assert Reason.DEVICE_FINGERPRINT_ANOMALY == "device_fingerprint_anomaly"
    assert Reason.KNOWN_VPN_IP.label == "Known VPN IP"
    assert Reason.SCRIPTED_CADENCE.label == "Scripted Touch Cadence"
    assert Reason.IP_VELOCITY.label.startswith("Velocity Mismatch")
    assert Reason.KNOWN_BOT.general and not Reason.CLICK_INJECTION.general


def test_range_signal() -> None:
    vpn = range_signal("203.0.113.9", RangeHit("nordvpn", RangeKind.VPN, "203.0.113.0/24"), confidence=0.85)
    assert vpn.reason is Reason.KNOWN_VPN_IP
    assert vpn.telemetry == {"ip": "203.0.113.9", "list": "nordvpn", "cidr": "203.0.113.0/24"}
    dc = range_signal("203.0.113.9", RangeHit("aws", RangeKind.DATACENTER, "203.0.113.0/24"), confidence=0.9)
    assert dc.reason is Reason.DATACENTER_IP


def test_request_facts_from_headers_lowercases_names() -> None:
    f = RequestFacts.from_headers("1.2.3.4", [("User-Agent", CHROME_WIN), ("Accept-Language", "fr")], NOW)
    assert f.user_agent == CHROME_WIN and f.headers["accept-language"] == "fr"


def test_device_key_prefers_the_device_id() -> None:
    f = facts()
    assert device_key(f) == device_key(facts())
    assert device_key(f) != device_key(facts(accept_language="de"))
    with_id = RequestFacts(f.ip, f.user_agent, f.headers, NOW, device_id="idfa-1")
    assert device_key(with_id) == "id:idfa-1"


# --- headers ------------------------------------------------------------------------------------


def test_real_browser_headers_are_clean() -> None:
    for ua in (CHROME_WIN, SAFARI_IPHONE, FIREFOX_WIN, EDGE_MAC):
        assert header_signals(facts(ua)) == []
    assert header_signals(facts(accept_language="de-CH, de;q=0.9, en;q=0.8, *;q=0.5")) == []


def test_missing_user_agent_is_strong_missing_language_is_weak() -> None:
    (s,) = header_signals(RequestFacts("1.2.3.4", "", {}, NOW))
    assert s.reason is Reason.MISSING_HEADERS and s.confidence == 0.9
    assert s.telemetry["missing"] == ["user-agent", "accept-language"]
    (weak,) = header_signals(facts(accept_language=""))
    assert weak.confidence == 0.4 and weak.telemetry["missing"] == ["accept-language"]


def test_missing_headers_are_not_judged_for_bid_requests() -> None:
    assert header_signals(RequestFacts("1.2.3.4", CHROME_WIN, {}, NOW), browser=False) == []


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 {user_agent}",
        "${ua}",
        "Mozilla/5.0 (Windows NT 10.0)\x00",
        "Mozilla/5.0 AppleWebKit/537.36",
        "Mozilla/5.0 (X11) " + "A" * 1100,
    ],
)
def test_malformed_user_agents(ua: str) -> None:
    found = [s for s in header_signals(facts(ua)) if s.reason is Reason.MALFORMED_HEADERS]
    assert len(found) == 1 and found[0].confidence >= 0.7


def test_malformed_accept_language() -> None:
    (s,) = header_signals(facts(accept_language="en-US;q=banana"))
    assert s.reason is Reason.MALFORMED_HEADERS and s.confidence == 0.5


# --- fingerprints -------------------------------------------------------------------------------


def test_ua_platform() -> None:
    assert ua_platform(SAFARI_IPHONE) == "iOS"
    assert ua_platform(CHROME_ANDROID) == "Android"
    assert ua_platform(CHROME_WIN) == "Windows"
    assert ua_platform(SAFARI_MAC) == "macOS"
    assert ua_platform(CHROME_LINUX) == "Linux"
    assert ua_platform("curl/8.5.0") is None


@pytest.mark.parametrize(
    ("ua", "headers"),
    [
        (
            CHROME_WIN,
            {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-platform": '"Windows"', "sec-ch-ua-mobile": "?0"},
        ),
        (
            CHROME_ANDROID,
            {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-platform": '"Android"', "sec-ch-ua-mobile": "?1"},
        ),
        # Chrome's "desktop site" mode on Android: Linux UA, Android platform hint.
        (
            CHROME_LINUX,
            {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-platform": '"Android"', "sec-ch-ua-mobile": "?0"},
        ),
        (
            EDGE_MAC,
            {"sec-ch-ua": '"Microsoft Edge";v="131", "Chromium";v="131"', "sec-ch-ua-platform": '"macOS"'},
        ),
        # Chrome without client hints (plain HTTP, webviews, proxies): not enough on its own.
        (CHROME_WIN, {}),
        (SAFARI_IPHONE, {}),
        (FIREFOX_WIN, {}),
        (CHROME_WIN, {"sec-ch-ua-platform": '"Unknown"'}),
    ],
)
def test_consistent_fingerprints_are_clean(ua: str, headers: dict[str, str]) -> None:
    assert fingerprint_signals(facts(ua, **{k.replace("-", "_"): v for k, v in headers.items()})) == []


@pytest.mark.parametrize(
    ("ua", "headers", "rule"),
    [
        (SAFARI_IPHONE, {"sec-ch-ua-platform": '"Windows"'}, "platform_mismatch"),
        (CHROME_WIN, {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-platform": '"Android"'}, "platform_mismatch"),
        (CHROME_WIN, {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-mobile": "?1"}, "mobile_hint_on_desktop_ua"),
        (CHROME_ANDROID, {"sec-ch-ua": CH_CHROME_131, "sec-ch-ua-mobile": "?0"}, "desktop_hint_on_phone_ua"),
        (FIREFOX_WIN, {"sec-ch-ua": CH_CHROME_131}, "client_hints_from_non_chromium"),
        (SAFARI_MAC, {"sec-ch-ua": CH_CHROME_131}, "client_hints_from_non_chromium"),
        (
            CHROME_WIN,
            {"sec-ch-ua": '"Chromium";v="118", "Google Chrome";v="118"'},
            "chromium_version_mismatch",
        ),
        (CHROME_WIN, {"sec-ch-ua": '"HeadlessChrome";v="131", "Chromium";v="131"'}, "headless_brand"),
    ],
)
def test_fingerprint_anomalies(ua: str, headers: dict[str, str], rule: str) -> None:
    (s,) = fingerprint_signals(facts(ua, **{k.replace("-", "_"): v for k, v in headers.items()}))
    assert s.reason is Reason.DEVICE_FINGERPRINT_ANOMALY
    assert rule in s.telemetry["rules"]  # type: ignore[operator]
    assert s.confidence >= 0.85
    assert s.telemetry["user_agent"] == ua
    for name, value in headers.items():
        assert s.telemetry[name] == value


# --- velocity -----------------------------------------------------------------------------------


def test_velocity_within_the_limit_is_clean() -> None:
    assert velocity_signal(Reason.IP_VELOCITY, 10, 10, timedelta(minutes=1)) is None


def test_velocity_confidence_grows_with_the_excess() -> None:
    w = timedelta(minutes=1)
    just = velocity_signal(Reason.IP_VELOCITY, 11, 10, w, subject="1.2.3.4")
    double = velocity_signal(Reason.IP_VELOCITY, 20, 10, w)
    tenfold = velocity_signal(Reason.IP_VELOCITY, 100, 10, w)
    assert just is not None and double is not None and tenfold is not None
    assert 0.5 < just.confidence < 0.6
    assert double.confidence == pytest.approx(0.75)
    assert tenfold.confidence == pytest.approx(0.95)
    assert just.telemetry == {"count": 11, "limit": 10, "window_seconds": 60.0, "subject": "1.2.3.4"}


def test_velocity_kind_must_be_a_velocity_reason() -> None:
    with pytest.raises(ValueError):
        velocity_signal(Reason.KNOWN_BOT, 5, 1, timedelta(seconds=1))


# --- timing -------------------------------------------------------------------------------------


def test_click_injection_when_the_conversion_follows_too_fast() -> None:
    (s,) = timing_signals(NOW, NOW + timedelta(seconds=2))
    assert s.reason is Reason.CLICK_INJECTION
    assert s.confidence == pytest.approx(0.9)
    assert s.telemetry["click_to_conversion_seconds"] == 2.0
    (instant,) = timing_signals(NOW, NOW)
    assert instant.confidence == pytest.approx(0.95)


def test_click_injection_edges() -> None:
    assert timing_signals(NOW, NOW + timedelta(seconds=10)) == []  # exactly the floor: fine
    (almost,) = timing_signals(NOW, NOW + timedelta(seconds=9.9))
    assert almost.confidence == pytest.approx(0.7025)
    (before,) = timing_signals(NOW, NOW - timedelta(seconds=1))
    assert before.confidence == 0.99 and before.telemetry["rule"] == "conversion_before_click"


def test_click_flooding_is_a_long_ctit_with_no_touch_in_between() -> None:
    assert timing_signals(NOW, NOW + timedelta(hours=24)) == []  # not more than 24 h
    (s,) = timing_signals(NOW, NOW + timedelta(hours=30))
    assert s.reason is Reason.CLICK_FLOODING and s.confidence == 0.5  # below the default threshold
    (older,) = timing_signals(NOW, NOW + timedelta(days=8))
    assert older.confidence == 0.6
    touched = [NOW + timedelta(hours=29)]  # the user came back: a long journey, not flooding
    assert timing_signals(NOW, NOW + timedelta(hours=30), touch_times=touched) == []
    earlier = [NOW - timedelta(hours=1)]  # a touch before the click does not count
    assert len(timing_signals(NOW, NOW + timedelta(hours=30), touch_times=earlier)) == 1


# --- cadence ------------------------------------------------------------------------------------


def every(seconds: float, n: int, jitter: list[float] | None = None) -> list[datetime]:
    jitter = jitter or [0.0] * n
    return [NOW + timedelta(seconds=seconds * i + jitter[i]) for i in range(n)]


def test_scripted_cadence_needs_five_regular_intervals() -> None:
    assert cadence_signals(every(30, 5)) == []  # 4 intervals: too few to say
    (s,) = cadence_signals(every(30, 6))
    assert s.reason is Reason.SCRIPTED_CADENCE and s.confidence == pytest.approx(0.95)
    assert s.telemetry["intervals"] == 5 and s.telemetry["mean_interval_seconds"] == 30.0


def test_small_jitter_is_still_a_script_human_spread_is_not() -> None:
    (s,) = cadence_signals(every(60, 8, [0, 0.5, -0.5, 0.7, 0, -0.3, 0.2, 0]))
    assert 0.75 <= s.confidence < 0.95
    human = [NOW + timedelta(seconds=t) for t in (0, 14, 95, 130, 420, 433, 1210)]
    assert cadence_signals(human) == []


def test_cadence_ignores_order_and_uses_the_latest_touches() -> None:
    times = every(45, 7)
    assert len(cadence_signals(reversed(times))) == 1
    human_then_script = [NOW - timedelta(seconds=t) for t in (9000, 7000, 6100, 5000)] + times
    assert cadence_signals(human_then_script, last=7) != []


def test_long_inputs_are_judged_the_same_without_the_memo() -> None:
    long_brands = CH_CHROME_131 + ", " + ", ".join(f'"Brand{i}";v="1"' for i in range(100))
    (s,) = fingerprint_signals(facts(FIREFOX_WIN, sec_ch_ua=long_brands))
    assert s.telemetry["rules"] == ["client_hints_from_non_chromium"]
    assert fingerprint_signals(facts(CHROME_WIN + " x" * 400, sec_ch_ua=long_brands)) == []


def test_signals_recorded_with_an_event_are_read_back_and_unknown_ones_skipped() -> None:
    from auctera.domain.fraud import signals_from_log

    recorded = Signal(Reason.KNOWN_BOT, 0.99, {"pattern": "Googlebot"}).as_dict()
    records = [
        recorded,
        {"reason": "from_a_later_version", "confidence": 0.9},
        {"reason": "known_bot", "confidence": 7},
    ]
    assert signals_from_log(records) == [Signal(Reason.KNOWN_BOT, 0.99, {"pattern": "Googlebot"})]
