"""The fraud filters the hot paths call: `FraudFilter.check_request` for clicks, impressions and bid
requests (pre-bid), `check_conversion` for conversions. Both return a `Verdict` (score + reasons +
telemetry); the caller logs it and, when `verdict.flagged(settings.flag_threshold)`, counts the event
as IVT and does not bill it.

Three collaborators come in as ports (Protocols below, to move to `services/ports.py`): the crawler
list, the operator's IP range lists and a sliding-window velocity counter. On a warm cache a click
check is a memoised dict lookup, two bisects and two counter hits: microseconds (see docs/fraud.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from auctera.domain import ids as idfmt
from auctera.domain.click_delays import FloodingRule, FloodingTest, flooding_tests
from auctera.domain.events import Event
from auctera.domain.fraud import (
    CLEAN,
    RangeKind,
    Reason,
    RequestFacts,
    Signal,
    Verdict,
    bot_signal,
    cadence_of_seconds,
    cadence_signals,
    device_key,
    fingerprint_signals,
    flooding_source_signal,
    header_signals,
    range_signal,
    signals_from_log,
    timing_signals,
    velocity_signal,
)
from auctera.services.clock import Clock
from auctera.services.ports import ClickDelaySource, CrawlerMatcher, IpRangeLookup, VelocityCounter

# --- settings ------------------------------------------------------------------------------------


class Traffic(StrEnum):
    """What kind of request is checked: each has its own velocity limits and counters."""

    CLICK = "click"
    IMPRESSION = "impression"
    BID_REQUEST = "bid_request"  # pre-bid: headers are the bid request's, not the user's


@dataclass(frozen=True, slots=True)
class VelocityLimit:
    """At most `limit` events per `window`; more is a velocity signal."""

    limit: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError("a velocity limit needs limit >= 1 and a positive window")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Per-IP and per-device limits for one kind of traffic; None turns that check off."""

    ip: VelocityLimit | None
    device: VelocityLimit | None


@dataclass(frozen=True, slots=True)
class ConversionLimits:
    ip: VelocityLimit | None
    device: VelocityLimit | None
    click_id: VelocityLimit | None


_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FraudSettings:
    """Thresholds and limits. The defaults are meant for a general performance network; every one is
    explained in docs/fraud.md.

    flag_threshold: scores above it are IVT (matches Settings.default_fraud_threshold, 0.8).
    datacenter_confidence / vpn_confidence: how much an IP in an imported list counts. Both are above
        the threshold: the operator imported those lists to block that traffic.
    clicks: a person does not click 10 ads a minute; 120 per minute per IP allows for carrier NAT.
    impressions / bid_requests: pages load several slots, so 10x the click limits.
    conversions: 10 per hour per IP, 5 per hour per device, 3 per click id per day (the same click
        id converting again and again is a replayed postback; duplicates of one transaction are
        handled by idempotency before this).
    min_click_to_conversion / flooding_after: see `domain.fraud.timing_signals`.
    flooding_source_confidence: a late conversion from a publisher `FloodingWatch` suspects of click
        flooding; above the threshold: the evidence is its whole distribution, not one sale.
    cadence_min_intervals / cadence_max_cv: see `domain.fraud.cadence_signals`.
    """

    flag_threshold: float = 0.8
    bot_confidence: float = 0.99
    datacenter_confidence: float = 0.9
    vpn_confidence: float = 0.85
    clicks: RequestLimits = RequestLimits(ip=VelocityLimit(120, _MINUTE), device=VelocityLimit(10, _MINUTE))
    impressions: RequestLimits = RequestLimits(
        ip=VelocityLimit(1200, _MINUTE), device=VelocityLimit(100, _MINUTE)
    )
    bid_requests: RequestLimits = RequestLimits(
        ip=VelocityLimit(1200, _MINUTE), device=VelocityLimit(100, _MINUTE)
    )
    conversions: ConversionLimits = ConversionLimits(
        ip=VelocityLimit(10, _HOUR),
        device=VelocityLimit(5, _HOUR),
        click_id=VelocityLimit(3, timedelta(days=1)),
    )
    min_click_to_conversion: timedelta = timedelta(seconds=10)
    flooding_after: timedelta = timedelta(hours=24)
    flooding_source_confidence: float = 0.9
    cadence_min_intervals: int = 5
    cadence_max_cv: float = 0.05
    cadence_window: timedelta = timedelta(hours=1)  # clicks of one device looked at for a cadence
    cadence_last: int = 50

    def limits_for(self, traffic: Traffic) -> RequestLimits:
        if traffic is Traffic.CLICK:
            return self.clicks
        if traffic is Traffic.IMPRESSION:
            return self.impressions
        return self.bid_requests


# Velocity counter keys by traffic: (per IP, per device, a device's cadence) prefixes.
_KEYS = {
    traffic: (f"{p}:ip:", f"{p}:dev:", f"{p}:cad:")
    for traffic, p in ((Traffic.CLICK, "c"), (Traffic.IMPRESSION, "i"), (Traffic.BID_REQUEST, "b"))
}


class FloodingWatch:
    """The publishers suspected of click flooding over the last `window` (domain/click_delays.py,
    the test `GET /v2/reports/click-to-conversion` shows), refreshed in the background so that a
    postback's check is a dictionary lookup. Until the first refresh nobody is suspected."""

    def __init__(
        self,
        delays: ClickDelaySource,
        clock: Clock,
        *,
        late_after: timedelta,
        window: timedelta = timedelta(days=30),
        rule: FloodingRule = FloodingRule(),
    ) -> None:
        self._delays, self._clock, self._rule = delays, clock, rule
        self._late_after, self.window = late_after, window
        self._suspected: dict[tuple[int, int], FloodingTest] = {}

    def refresh(self) -> int:
        """Test every advertiser's publishers again; returns how many are suspected."""
        now = self._clock()
        found = self._delays.click_delays(None, None, now - self.window, now, self._late_after)
        tests = flooding_tests(found, self._rule)
        self._suspected = {key: test for key, test in tests.items() if test.suspected}  # swapped whole
        return len(self._suspected)

    def suspected(self, advertiser_id: int, publisher_id: int | None) -> FloodingTest | None:
        return None if publisher_id is None else self._suspected.get((advertiser_id, publisher_id))


@dataclass(slots=True)
class FraudFilter:
    """Composes the pure detectors with the three lookups. Thread-safe if its collaborators are."""

    crawlers: CrawlerMatcher
    ranges: IpRangeLookup
    velocity: VelocityCounter
    settings: FraudSettings = field(default_factory=FraudSettings)
    flooding: FloodingWatch | None = None

    def check_request(self, facts: RequestFacts, traffic: Traffic = Traffic.CLICK) -> Verdict:
        """Judge a click, an impression or (before an auction) a bid request. Counts it for velocity.

        For bid requests the header-presence checks are skipped (the headers are the exchange's);
        put the device's User-Agent and any client hints from the bid request into `facts`.
        """
        signals = self._request_signals(facts, browser=traffic is not Traffic.BID_REQUEST)
        limits = self.settings.limits_for(traffic)
        ip_key, device_prefix, cadence_prefix = _KEYS[traffic]
        if limits.ip is not None:
            self._count(signals, limits.ip, Reason.IP_VELOCITY, ip_key, facts.ip, facts.at)
        device = device_key(facts)
        if limits.device is not None:
            self._count(signals, limits.device, Reason.DEVICE_VELOCITY, device_prefix, device, facts.at)
        if traffic is Traffic.CLICK:  # impressions reload on timers by design; clicks do not
            signals.extend(self._cadence(cadence_prefix + device, facts.at))
        return Verdict.of(signals) if signals else CLEAN

    def _cadence(self, key: str, at: datetime) -> list[Signal]:
        """A device's recent clicks at machine-regular intervals (looked at once there are enough)."""
        s = self.settings
        if self.velocity.hit(key, at, s.cadence_window) <= s.cadence_min_intervals:
            return []
        times = self.velocity.recent(key, s.cadence_last)
        return cadence_of_seconds(times, min_intervals=s.cadence_min_intervals, max_cv=s.cadence_max_cv)

    def check_conversion(
        self,
        facts: RequestFacts | None,
        click_at: datetime | None,
        conversion_at: datetime,
        click_id: str | None,
        prior_touch_times: Iterable[datetime] = (),
    ) -> Verdict:
        """Judge a conversion.

        `facts`: the browser's request for a pixel conversion; None for a server-to-server postback
        (the request then says nothing about the user: only timing, cadence and click-id checks run).
        `click_at`: the attributed click (None for a view-through or unattributed conversion).
        `prior_touch_times`: that user's earlier clicks (and other user-initiated touches).
        """
        s = self.settings
        signals: list[Signal] = []
        limits = s.conversions
        at = conversion_at
        if facts is not None:
            signals.extend(self._request_signals(facts, browser=True))
            at = facts.at
            if limits.ip is not None:
                self._count(signals, limits.ip, Reason.IP_VELOCITY, "v:ip:", facts.ip, at)
            if limits.device is not None:
                self._count(signals, limits.device, Reason.DEVICE_VELOCITY, "v:dev:", device_key(facts), at)
        if click_id and limits.click_id is not None:
            self._count(signals, limits.click_id, Reason.CLICK_ID_VELOCITY, "v:clk:", click_id, at)
        touches = list(prior_touch_times)
        if click_at is not None:
            signals.extend(
                timing_signals(
                    click_at,
                    conversion_at,
                    min_seconds=s.min_click_to_conversion.total_seconds(),
                    flooding_after=s.flooding_after,
                    touch_times=touches,
                )
            )
            if click_at not in touches:
                touches.append(click_at)
        signals.extend(
            cadence_signals(touches, min_intervals=s.cadence_min_intervals, max_cv=s.cadence_max_cv)
        )
        return Verdict.of(signals) if signals else CLEAN

    def check_postback(self, click: Event, conversion_at: datetime) -> Verdict:
        """A postback's conversion: its timing and velocity (the request is the advertiser's server,
        so its headers say nothing), plus whatever its click was found to be: a conversion from a
        bot's click is no better than the click."""
        inherited = Verdict.of(signals_from_log(click.attrs.get("fraud_signals") or ()))
        verdict = self.check_conversion(
            None, click.at, conversion_at, idfmt.render(idfmt.CLICK_PREFIX, click.id)
        )
        watch = self.flooding
        if watch is not None and conversion_at - click.at > self.settings.flooding_after:
            source = watch.suspected(click.account_id, click.publisher_id)
            if source is not None:  # late, from a publisher whose late share is improbably high
                found = flooding_source_signal(
                    click.at,
                    conversion_at,
                    source,
                    confidence=self.settings.flooding_source_confidence,
                    window_days=watch.window.days,
                )
                verdict = Verdict.of((*verdict.signals, found))
        return verdict.merged(inherited)

    def is_ivt(self, verdict: Verdict) -> bool:
        return verdict.flagged(self.settings.flag_threshold)

    # --- internals -------------------------------------------------------------------------------

    def _request_signals(self, facts: RequestFacts, *, browser: bool) -> list[Signal]:
        s = self.settings
        signals: list[Signal] = []
        ua = facts.user_agent
        if ua and self.crawlers.is_crawler(ua):
            signals.append(bot_signal(ua, confidence=s.bot_confidence))
        hit = self.ranges.lookup(facts.ip)
        if hit is not None:
            confidence = s.vpn_confidence if hit.kind is RangeKind.VPN else s.datacenter_confidence
            signals.append(range_signal(facts.ip, hit, confidence=confidence))
        signals.extend(header_signals(facts, browser=browser))
        signals.extend(fingerprint_signals(facts))
        return signals

    def _count(
        self,
        signals: list[Signal],
        limit: VelocityLimit,
        reason: Reason,
        prefix: str,
        subject: str,
        at: datetime,
    ) -> None:
        count = self.velocity.hit(prefix + subject, at, limit.window)
        if count > limit.limit:
            found = velocity_signal(reason, count, limit.limit, limit.window, subject=subject)
            if found is not None:
                signals.append(found)
