"""Invalid-traffic (IVT) detection: pure detectors that turn what a request or a conversion shows into
`Signal`s, and the `Verdict` that combines them into one fraud score.

Nothing here does I/O or reads a clock: lookups (crawler list, IP ranges, velocity counters) are done
by `services.fraud.FraudFilter` through ports, which hands their answers to the builders below.

Scoring. Each signal carries a confidence in [0, 1]: how sure that detector is, on its own, that the
traffic is invalid. The verdict's score treats the *reasons* as independent pieces of evidence
(noisy-OR): `score = 1 - prod(1 - confidence)` over the strongest signal of each reason. So one
strong signal dominates, two medium ones add up (0.5 and 0.5 give 0.75), a score never exceeds 1, and
the same evidence reported twice (two signals with one reason) is counted once.

Reasons are snake_case codes (the fraud log's `reason`, e.g. 'device_fingerprint_anomaly'); each has
a human label ('Known VPN IP', 'Velocity Mismatch', 'Scripted Touch Cadence') for the log's text.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final

from auctera.domain.click_delays import FloodingTest
from auctera.domain.dates import utc_text


class Reason(StrEnum):
    """Why traffic was judged invalid. GIVT: the first five; SIVT: the rest (MRC terms)."""

    KNOWN_BOT = "known_bot"
    DATACENTER_IP = "datacenter_ip"
    KNOWN_VPN_IP = "known_vpn_ip"
    MISSING_HEADERS = "missing_headers"
    MALFORMED_HEADERS = "malformed_headers"
    IP_VELOCITY = "ip_velocity"
    DEVICE_VELOCITY = "device_velocity"
    CLICK_ID_VELOCITY = "click_id_velocity"
    CLICK_INJECTION = "click_injection"
    CLICK_FLOODING = "click_flooding"
    SCRIPTED_CADENCE = "scripted_cadence"
    DEVICE_FINGERPRINT_ANOMALY = "device_fingerprint_anomaly"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def general(self) -> bool:
        """General IVT (list-based, MRC 'GIVT') rather than sophisticated IVT."""
        return self in _GENERAL


_LABELS: Final = {
    Reason.KNOWN_BOT: "Known Bot or Crawler",
    Reason.DATACENTER_IP: "Data Centre IP",
    Reason.KNOWN_VPN_IP: "Known VPN IP",
    Reason.MISSING_HEADERS: "Missing Headers",
    Reason.MALFORMED_HEADERS: "Malformed Headers",
    Reason.IP_VELOCITY: "Velocity Mismatch (IP)",
    Reason.DEVICE_VELOCITY: "Velocity Mismatch (Device)",
    Reason.CLICK_ID_VELOCITY: "Velocity Mismatch (Click ID)",
    Reason.CLICK_INJECTION: "Click Injection",
    Reason.CLICK_FLOODING: "Click Flooding",
    Reason.SCRIPTED_CADENCE: "Scripted Touch Cadence",
    Reason.DEVICE_FINGERPRINT_ANOMALY: "Device Fingerprint Anomaly",
}
_GENERAL: Final = frozenset(
    {
        Reason.KNOWN_BOT,
        Reason.DATACENTER_IP,
        Reason.KNOWN_VPN_IP,
        Reason.MISSING_HEADERS,
        Reason.MALFORMED_HEADERS,
    }
)
_VELOCITY: Final = frozenset({Reason.IP_VELOCITY, Reason.DEVICE_VELOCITY, Reason.CLICK_ID_VELOCITY})


@dataclass(frozen=True, slots=True)
class Signal:
    """One detector's finding: a reason, how sure it is, and the exact values that triggered it."""

    reason: Reason
    confidence: float
    telemetry: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:  # also rejects NaN
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence!r}")

    def as_dict(self) -> dict[str, object]:
        return {
            "reason": self.reason.value,
            "label": self.reason.label,
            "confidence": round(self.confidence, 4),
            "telemetry": dict(self.telemetry),
        }


_REASONS = frozenset(r.value for r in Reason)


def signals_from_log(records: Iterable[Mapping[str, object]]) -> list[Signal]:
    """The signals recorded with an event (`Signal.as_dict` records), skipping any this version
    does not know: a conversion inherits what its click was found to be."""
    found = []
    for record in records:
        confidence, telemetry = record.get("confidence"), record.get("telemetry")
        if record.get("reason") in _REASONS and isinstance(confidence, int | float) and 0 <= confidence <= 1:
            details = dict(telemetry) if isinstance(telemetry, Mapping) else {}
            found.append(Signal(Reason(str(record["reason"])), float(confidence), details))
    return found


class Status(StrEnum):
    """What the fraud log says about a verdict, given the operator's threshold."""

    CLEAN = "clean"  # no signal at all
    FLAGGED = "flagged"  # some signals, score below the threshold: billed, visible for review
    REJECTED = "rejected"  # score above the threshold: IVT, logged, not billed


@dataclass(frozen=True, slots=True)
class Verdict:
    """The combined judgement. Build with `Verdict.of(signals)`; `CLEAN` is the empty verdict."""

    signals: tuple[Signal, ...] = ()
    score: float = 0.0

    @classmethod
    def of(cls, signals: Iterable[Signal]) -> Verdict:
        found = tuple(signals)
        if not found:
            return CLEAN
        strongest: dict[Reason, float] = {}
        for s in found:
            if s.confidence > strongest.get(s.reason, -1.0):
                strongest[s.reason] = s.confidence
        clean = 1.0
        for confidence in strongest.values():
            clean *= 1.0 - confidence
        # Rounded so that logs and thresholds do not see 0.8999999999.
        return cls(found, round(min(1.0, max(0.0, 1.0 - clean)), 6))

    @property
    def strongest(self) -> Signal | None:
        """The signal with the highest confidence (the first one given, on a tie)."""
        best: Signal | None = None
        for s in self.signals:
            if best is None or s.confidence > best.confidence:
                best = s
        return best

    @property
    def reason(self) -> Reason | None:
        best = self.strongest
        return None if best is None else best.reason

    @property
    def reasons(self) -> frozenset[Reason]:
        return frozenset(s.reason for s in self.signals)

    def flagged(self, threshold: float) -> bool:
        """Invalid traffic: kept in the log, counted as IVT, not billed. Scored above the
        threshold, as the tracking issue words it: a score equal to it passes."""
        return bool(self.signals) and self.score > threshold

    def status(self, threshold: float) -> Status:
        if not self.signals:
            return Status.CLEAN
        return Status.REJECTED if self.flagged(threshold) else Status.FLAGGED

    def merged(self, other: Verdict) -> Verdict:
        if not other.signals:
            return self
        if not self.signals:
            return other
        return Verdict.of(self.signals + other.signals)

    def as_log(self, threshold: float) -> dict[str, object]:
        """The fraud log's record: status, reason, confidence_score and the telemetry behind them."""
        best = self.strongest
        return {
            "status": self.status(threshold).value,
            "reason": None if best is None else best.reason.value,
            "confidence_score": self.score,
            "signals": [s.as_dict() for s in self.signals],
        }


CLEAN: Final = Verdict()


# --- what a handler knows about a request -------------------------------------------------------


@dataclass(slots=True)  # not frozen: made per request (see Event)
class RequestFacts:
    """What the click redirect, impression pixel, postback or bid request handler knows.

    `headers` has lowercased names (ASGI already lowercases them; `from_headers` does it otherwise).
    `user_agent` is the User-Agent header ('' when absent). `device_id` is an advertising id or a
    first-party cookie id when the caller has one; otherwise `device_key` derives one.
    """

    ip: str
    user_agent: str
    headers: Mapping[str, str]
    at: datetime
    device_id: str | None = None

    @classmethod
    def from_headers(
        cls,
        ip: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        at: datetime,
        device_id: str | None = None,
    ) -> RequestFacts:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lowered = {k.lower(): v for k, v in pairs}
        return cls(ip, lowered.get("user-agent", ""), lowered, at, device_id)


def device_key(facts: RequestFacts) -> str:
    """A stable key for "the same device", for per-device velocity.

    The caller's device id when it has one; otherwise a 64-bit hash of IP + User-Agent +
    Accept-Language. That is coarser than a real device id (two identical phones behind one NAT share
    it) but much finer than the IP alone, which is why the device limit can be far stricter than the
    per-IP limit (carrier-grade NAT puts thousands of people behind one IP).
    """
    if facts.device_id:
        return "id:" + facts.device_id
    raw = "\x1f".join((facts.ip, facts.user_agent, facts.headers.get("accept-language", "")))
    return "fp:" + hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


# --- general IVT: lists and headers ------------------------------------------------------------


class RangeKind(StrEnum):
    DATACENTER = "datacenter"
    VPN = "vpn"


@dataclass(frozen=True, slots=True)
class RangeHit:
    """An IP fell in a range of an operator-imported list."""

    list_name: str
    kind: RangeKind
    cidr: str


def bot_signal(user_agent: str, *, confidence: float = 0.99) -> Signal:
    """The UA matched the maintained crawler list: declared bots, HTTP libraries, headless browsers."""
    return Signal(Reason.KNOWN_BOT, confidence, {"user_agent": user_agent})


def range_signal(ip: str, hit: RangeHit, *, confidence: float) -> Signal:
    reason = Reason.KNOWN_VPN_IP if hit.kind is RangeKind.VPN else Reason.DATACENTER_IP
    return Signal(reason, confidence, {"ip": ip, "list": hit.list_name, "cidr": hit.cidr})


MAX_USER_AGENT: Final = 1024
# Unfilled tracking-link macros: a server-to-server "click" whose template was never rendered.
_MACRO_UA = re.compile(r"\{\{?\s*[\w.]+\s*\}\}?|\$\{[\w.]+\}|%%[\w.]+%%|\[[A-Z_]{2,}\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 9110 Accept-Language: language ranges with optional q-values, comma separated.
_LANG_RANGE = r"(?:\*|[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)(?:\s*;\s*q\s*=\s*[01](?:\.\d{0,3})?)?"
_ACCEPT_LANGUAGE = re.compile(rf"\s*{_LANG_RANGE}(?:\s*,\s*{_LANG_RANGE})*\s*,?\s*")


def header_signals(facts: RequestFacts, *, browser: bool = True) -> list[Signal]:
    """Missing or malformed headers.

    Missing (only when `browser`: the request came straight from the user's browser or app webview, so
    not for a bid request or a server-to-server postback, which carry no such headers):
      - no User-Agent: every browser sends one (0.9);
      - no Accept-Language: every mainstream browser sends it on navigations and image loads, but some
        webviews and privacy setups do not, so it is weak on its own (0.4);
    Malformed (whenever a User-Agent is given):
      - control characters in it (0.9), an unfilled macro such as `{user_agent}` (0.9),
      - longer than 1024 characters (0.8), 'Mozilla/' with no '(platform)' part (0.7),
      - an Accept-Language that is not a list of language ranges (0.5).
    """
    ua = facts.user_agent
    out: list[Signal] = []
    if browser:
        missing = []
        confidence = 0.0
        if not ua.strip():
            missing.append("user-agent")
            confidence = 0.9
        if not facts.headers.get("accept-language", "").strip():
            missing.append("accept-language")
            confidence = max(confidence, 0.4)
        if missing:
            out.append(Signal(Reason.MISSING_HEADERS, confidence, {"missing": missing}))
    found = _ua_problems(ua) if ua else ()
    lang = facts.headers.get("accept-language", "")
    if lang.strip() and not _valid_accept_language(lang):
        found = (*found, ("accept-language is not a list of language ranges", 0.5))
    problems = [p for p, _ in found]
    confidence = max((c for _, c in found), default=0.0)
    if problems:
        telemetry: dict[str, object] = {"problems": problems, "user_agent": ua[:MAX_USER_AGENT]}
        if lang:
            telemetry["accept_language"] = lang[:256]
        out.append(Signal(Reason.MALFORMED_HEADERS, confidence, telemetry))
    return out


# The UA- and hint-only parts of the checks are memoised: real traffic repeats a few thousand UAs, and
# the hot path should not rerun the same regexes. Pure functions of strings; bounded; long inputs are
# not cached (`_memo`).
_MEMO_SIZE: Final = 8192
_MEMO_MAX_LEN: Final = 512


def _ua_problems(ua: str) -> tuple[tuple[str, float], ...]:
    return _ua_problems_cached(ua) if len(ua) <= _MEMO_MAX_LEN else _ua_problems_uncached(ua)


def _ua_problems_uncached(ua: str) -> tuple[tuple[str, float], ...]:
    found: list[tuple[str, float]] = []
    if _CONTROL.search(ua):
        found.append(("user-agent has control characters", 0.9))
    if _MACRO_UA.search(ua):
        found.append(("user-agent is an unfilled macro", 0.9))
    if len(ua) > MAX_USER_AGENT:
        found.append((f"user-agent longer than {MAX_USER_AGENT} characters", 0.8))
    if ua.startswith("Mozilla/") and "(" not in ua:
        found.append(("user-agent claims Mozilla/ without a platform", 0.7))
    return tuple(found)


_ua_problems_cached = lru_cache(maxsize=_MEMO_SIZE)(_ua_problems_uncached)


@lru_cache(maxsize=1024)
def _valid_accept_language_cached(lang: str) -> bool:
    return _ACCEPT_LANGUAGE.fullmatch(lang) is not None


def _valid_accept_language(lang: str) -> bool:
    if len(lang) > 256:
        return _ACCEPT_LANGUAGE.fullmatch(lang) is not None
    return _valid_accept_language_cached(lang)


# --- sophisticated IVT: fingerprint consistency ------------------------------------------------

# Platform as the UA states it, in Sec-CH-UA-Platform's vocabulary. Order matters: Android UAs also
# say "Linux", iPad/iPhone UAs also say "Mac OS X".
_UA_PLATFORMS: Final = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "Chrome OS"),
    (re.compile(r"Windows NT|Windows Phone"), "Windows"),
    (re.compile(r"Macintosh|Mac OS X"), "macOS"),
    (re.compile(r"Linux|X11"), "Linux"),
)
# What each UA platform may legitimately report in Sec-CH-UA-Platform.
_COMPATIBLE_PLATFORMS: Final = {
    "iOS": {"iOS"},
    "Android": {"Android"},
    "Chrome OS": {"Chrome OS", "Chromium OS"},
    "Windows": {"Windows"},
    "macOS": {"macOS"},
    # Chrome on Android in "desktop site" mode sends a Linux UA but still reports Android.
    "Linux": {"Linux", "Android", "Chrome OS", "Chromium OS"},
}
_CH_CHROMIUM = re.compile(r'"Chromium"\s*;\s*v\s*=\s*"(\d+)')
_UA_CHROME = re.compile(r"(?:Chrome|CriOS)/(\d+)")
_UA_CHROMIUM_ENGINE = re.compile(r"Chrome/|Chromium/")
_UA_FIREFOX = re.compile(r"Firefox/\d|FxiOS/")
_UA_SAFARI = re.compile(r"Version/[\d.]+.*Safari/")


def ua_platform(user_agent: str) -> str | None:
    for pattern, platform in _UA_PLATFORMS:
        if pattern.search(user_agent):
            return platform
    return None


def fingerprint_signals(facts: RequestFacts) -> list[Signal]:
    """User agent, client hints and platform that contradict each other (one signal, every rule).

    Rules, chosen so that a real browser cannot trip them:
      - `platform_mismatch` (0.95): Sec-CH-UA-Platform names a different OS than the UA (iPhone UA,
        "Windows" hint). A Linux UA reporting Android is allowed (Chrome's desktop-site mode).
      - `mobile_hint_on_desktop_ua` (0.9): Sec-CH-UA-Mobile ?1 with a Windows, macOS or Chrome OS UA.
      - `desktop_hint_on_phone_ua` (0.85): Sec-CH-UA-Mobile ?0 with an iPhone or "Android ... Mobile" UA
        (desktop-site mode changes the UA too, so a real phone never sends this pair).
      - `client_hints_from_non_chromium` (0.9): Sec-CH-UA sent with a Firefox or Safari UA; only
        Chromium implements UA client hints.
      - `chromium_version_mismatch` (0.9): the "Chromium" brand's major version differs from the UA's
        Chrome/ major version (UA reduction freezes minor versions, never the major).
      - `headless_brand` (0.95): a "HeadlessChrome" brand behind a UA that does not admit it.
    Deliberately NOT a rule: a Chrome UA without Sec-CH-UA. Client hints are only sent to secure
    origins, Android WebViews and enterprise policies omit them, proxies strip them, so their absence
    proves nothing. Nor is a missing Sec-CH-UA-Platform (only sent by default since Chrome 93).
    """
    ua = facts.user_agent
    if not ua:
        return []
    h = facts.headers
    ch_ua = h.get("sec-ch-ua")
    ch_platform = h.get("sec-ch-ua-platform")
    ch_mobile = h.get("sec-ch-ua-mobile")
    if ch_ua is None and ch_platform is None and ch_mobile is None:
        return []  # nothing to compare: the common case for Safari, Firefox, plain HTTP
    key = (ua, ch_ua, ch_platform, ch_mobile)
    if all(x is None or len(x) <= _MEMO_MAX_LEN for x in key):  # junk does not bloat the memo
        rules = _fingerprint_rules_cached(*key)
    else:
        rules = _fingerprint_rules(*key)
    if not rules:
        return []
    telemetry: dict[str, object] = {"rules": [r for r, _ in rules], "user_agent": ua[:MAX_USER_AGENT]}
    for name in ("sec-ch-ua", "sec-ch-ua-platform", "sec-ch-ua-mobile"):
        if name in h:
            telemetry[name] = h[name][:256]
    return [Signal(Reason.DEVICE_FINGERPRINT_ANOMALY, max(c for _, c in rules), telemetry)]


def _fingerprint_rules(
    ua: str, ch_ua: str | None, ch_platform: str | None, ch_mobile: str | None
) -> tuple[tuple[str, float], ...]:
    """(rule, confidence) pairs that fire, sorted by rule name."""
    rules: dict[str, float] = {}
    platform = ua_platform(ua)
    if ch_platform is not None:
        hinted = ch_platform.strip().strip('"')
        known = platform is not None and hinted and hinted != "Unknown"
        if known and platform is not None and hinted not in _COMPATIBLE_PLATFORMS[platform]:
            rules["platform_mismatch"] = 0.95
    if ch_mobile is not None:
        mobile = ch_mobile.strip()
        if mobile == "?1" and platform in ("Windows", "macOS", "Chrome OS"):
            rules["mobile_hint_on_desktop_ua"] = 0.9
        phone_ua = "iPhone" in ua or ("Android" in ua and "Mobile" in ua)
        if mobile == "?0" and phone_ua:
            rules["desktop_hint_on_phone_ua"] = 0.85
    if ch_ua is not None and ch_ua.strip():
        if not _UA_CHROMIUM_ENGINE.search(ua) and (_UA_FIREFOX.search(ua) or _UA_SAFARI.search(ua)):
            rules["client_hints_from_non_chromium"] = 0.9
        brand = _CH_CHROMIUM.search(ch_ua)
        claimed = _UA_CHROME.search(ua)
        if brand and claimed and brand.group(1) != claimed.group(1):
            rules["chromium_version_mismatch"] = 0.9
        if "HeadlessChrome" in ch_ua and "HeadlessChrome" not in ua:
            rules["headless_brand"] = 0.95
    return tuple(sorted(rules.items()))


_fingerprint_rules_cached = lru_cache(maxsize=_MEMO_SIZE)(_fingerprint_rules)


# --- sophisticated IVT: velocity, timing, cadence ----------------------------------------------


def velocity_signal(
    kind: Reason, count: int, limit: int, window: timedelta, *, subject: str | None = None
) -> Signal | None:
    """More than `limit` events for one IP / device / click id within `window`.

    Confidence grows with the excess: `1 - 0.5 * limit / count`, at most 0.99. Just over the limit
    gives about 0.5 (not enough alone at the default threshold), twice the limit 0.75, four times
    0.875, ten times 0.95: an occasional busy NAT is noted, a script hammering away is rejected.
    """
    if kind not in _VELOCITY:
        raise ValueError(f"not a velocity reason: {kind}")
    if limit < 0:
        raise ValueError("limit must be >= 0")
    if count <= limit:
        return None
    confidence = min(0.99, 1.0 - 0.5 * limit / count)
    telemetry: dict[str, object] = {
        "count": count,
        "limit": limit,
        "window_seconds": window.total_seconds(),
    }
    if subject is not None:
        telemetry["subject"] = subject
    return Signal(kind, confidence, telemetry)


def timing_signals(
    click_at: datetime,
    conversion_at: datetime,
    *,
    min_seconds: float = 10.0,
    flooding_after: timedelta = timedelta(hours=24),
    touch_times: Iterable[datetime] = (),
) -> list[Signal]:
    """Click-to-conversion time (CTIT) that a human could not produce.

    Click injection: the click was fired just before a conversion that was going to happen anyway
    (malware on the device sees the install or checkout start and fires a click to claim it).
      - conversion before the click: 0.99;
      - CTIT shorter than `min_seconds` (default 10 s, the industry's usual CTIT floor):
        0.95 at 0 s falling linearly to 0.7 at `min_seconds`.
    Click flooding: masses of clicks are sent hoping one is the last click before an organic
    conversion, so their CTITs are spread flat over hours and days. One conversion can only show
    the symptom, not prove it, so the signal stays below the default threshold on purpose and needs
    company (a data-centre IP, a velocity excess) to reject. Precisely: CTIT > `flooding_after`
    (default 24 h) AND no other touch strictly between the click and the conversion: 0.5, or 0.6 when
    CTIT exceeds 7 x `flooding_after`. A publisher's whole distribution is `flooding_source_signal`'s.
    """
    ctit = (conversion_at - click_at).total_seconds()

    def telemetry(**rule: object) -> dict[str, object]:  # built only when a rule fires
        times = {"click_at": utc_text(click_at), "conversion_at": utc_text(conversion_at)}
        return {**times, "click_to_conversion_seconds": ctit, **rule}

    if ctit < 0:
        return [Signal(Reason.CLICK_INJECTION, 0.99, telemetry(rule="conversion_before_click"))]
    if ctit < min_seconds:
        confidence = 0.95 - 0.25 * ctit / min_seconds
        return [
            Signal(
                Reason.CLICK_INJECTION, confidence, telemetry(rule="ctit_too_short", min_seconds=min_seconds)
            )
        ]
    limit = flooding_after.total_seconds()
    if limit > 0 and ctit > limit:
        between = sum(1 for t in touch_times if click_at < t < conversion_at)
        if between == 0:
            confidence = 0.6 if ctit > 7 * limit else 0.5
            found = telemetry(rule="long_ctit_without_touches", flooding_after_seconds=limit)
            return [Signal(Reason.CLICK_FLOODING, confidence, found)]
    return []


def flooding_source_signal(
    click_at: datetime, conversion_at: datetime, source: FloodingTest, *, confidence: float, window_days: int
) -> Signal:
    """A late conversion from a publisher whose late share over the last `window_days` is
    improbably far above its advertiser's other publishers' (domain/click_delays.py): the
    distribution `timing_signals` cannot see from one conversion, so this one may reject."""
    found = {
        "click_at": utc_text(click_at),
        "conversion_at": utc_text(conversion_at),
        "click_to_conversion_seconds": (conversion_at - click_at).total_seconds(),
        "rule": "late_from_flooding_publisher",
        "publisher_late_share": source.late_share,
        "reference_late_share": source.reference_late_share,
        "p_value": source.p_value,
        "window_days": window_days,
    }
    return Signal(Reason.CLICK_FLOODING, confidence, found)


def cadence_signals(
    touch_times: Iterable[datetime],
    *,
    min_intervals: int = 5,
    max_cv: float = 0.05,
    last: int = 50,
) -> list[Signal]:
    """Touches at machine-regular intervals: a script on a timer, not a person.

    Takes the most recent `last` touches (sorted), their consecutive intervals, and fires when there
    are at least `min_intervals` intervals whose coefficient of variation (population standard
    deviation / mean) is below `max_cv` (default 0.05: intervals within about 5 % of each other).
    People's clicks have a CV well above 0.5. Confidence: 0.95 at CV 0 down to 0.75 at `max_cv`.
    Pass user-initiated touches (clicks): auto-refreshing ad slots load impressions on a timer by design.
    """
    seconds = [t.timestamp() for t in sorted(touch_times)[-last:]]
    return cadence_of_seconds(seconds, min_intervals=min_intervals, max_cv=max_cv)


def cadence_of_seconds(
    times: Sequence[float], *, min_intervals: int = 5, max_cv: float = 0.05
) -> list[Signal]:
    """`cadence_signals` over ascending epoch seconds, as the click path's counters keep them
    (no datetimes built per click)."""
    if len(times) - 1 < min_intervals:
        return []
    intervals = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(intervals) / len(intervals)
    variance = sum((i - mean) ** 2 for i in intervals) / len(intervals)
    cv = 0.0 if mean == 0 else math.sqrt(variance) / mean
    if math.isnan(cv) or cv >= max_cv:
        return []
    confidence = 0.95 - 0.2 * (cv / max_cv if max_cv > 0 else 0.0)
    telemetry: dict[str, object] = {
        "intervals": len(intervals),
        "mean_interval_seconds": round(mean, 3),
        "coefficient_of_variation": round(cv, 5),
        "max_cv": max_cv,
    }
    return [Signal(Reason.SCRIPTED_CADENCE, confidence, telemetry)]


def combine(*groups: Sequence[Signal] | Signal | None) -> Verdict:
    """`Verdict.of` over detector outputs as they come (lists, single signals, or None)."""
    found: list[Signal] = []
    for g in groups:
        if g is None:
            continue
        if isinstance(g, Signal):
            found.append(g)
        else:
            found.extend(g)
    return Verdict.of(found)


__all__ = [
    "CLEAN",
    "RangeHit",
    "RangeKind",
    "Reason",
    "RequestFacts",
    "Signal",
    "Status",
    "Verdict",
    "bot_signal",
    "cadence_signals",
    "combine",
    "device_key",
    "fingerprint_signals",
    "header_signals",
    "range_signal",
    "timing_signals",
    "ua_platform",
    "velocity_signal",
]
