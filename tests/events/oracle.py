"""The counting rules in plain Python, and random logs checked against them.

`RandomLog` makes events and queries that stress pre-aggregation: instants on and next to
15-minute bucket edges and local midnights, DST switches, +05:30/+05:45 offsets, money
sums beyond int64, and query bounds at arbitrary microseconds. `check` asks a store and
compares every answer with what these rules compute from the events themselves.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from auctera.domain.events import DailyTotals, Event, EventType, Totals
from auctera.services.ports import EventStore

ZONES = (
    "UTC",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 with DST
    "Europe/Stockholm",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Beirut",  # clocks go back across midnight
)
# Around the 2024 DST switches of both hemispheres (US Mar 10, EU Mar 31, AU Apr 7).
START = datetime(2024, 3, 8, tzinfo=UTC)
DAYS = 32
TYPES = (*[EventType.IMPRESSION] * 4, EventType.CLICK, EventType.CLICK, EventType.CONVERSION)
RARE_TYPES = (EventType.REVERSAL, EventType.VIEWABLE_IMPRESSION, EventType.AUCTION)
HUGE_AT = START + timedelta(days=3, minutes=7)
HUGE_MICROS = 4_000_000_000_000_000_000


def totals(events: Iterable[Event]) -> Totals:
    """Totals of `events` by the contract's counting rules."""
    counts: defaultdict[str, int] = defaultdict(int)
    for e in events:
        billed = not e.ivt
        counts["impressions"] += e.type == EventType.IMPRESSION and billed
        counts["clicks"] += e.type == EventType.CLICK and billed
        counts["conversions"] += e.type == EventType.CONVERSION and billed
        counts["reversals"] += e.type == EventType.REVERSAL
        counts["ivt_blocked"] += e.ivt and e.type in (EventType.IMPRESSION, EventType.CLICK)
        if billed:
            counts["cost_micros"] += e.cost_micros
            counts["revenue_micros"] += e.revenue_micros
            counts["payout_micros"] += e.payout_micros
    return Totals(**counts)


def campaign_totals(
    events: Sequence[Event],
    account_id: int,
    campaign_ids: Sequence[int] | None,
    start: datetime,
    end: datetime,
) -> dict[int, Totals]:
    by_campaign: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        wanted = campaign_ids is None or e.campaign_id in campaign_ids
        if e.account_id == account_id and e.campaign_id is not None and wanted and start <= e.at < end:
            by_campaign[e.campaign_id].append(e)
    result = {} if campaign_ids is None else {c: Totals() for c in campaign_ids}
    result.update({c: totals(es) for c, es in by_campaign.items()})
    return result


def daily_totals(
    events: Sequence[Event],
    account_id: int | None,
    start: date,
    end: date,
    tz: str,
    *,
    campaign_id: int | None = None,
    publisher_id: int | None = None,
    by_campaign: bool = True,
) -> list[DailyTotals]:
    zone = ZoneInfo(tz)
    groups: dict[tuple[date, int | None], list[Event]] = defaultdict(list)
    for e in events:
        day = e.at.astimezone(zone).date()
        if not start <= day <= end:
            continue
        if any(
            want is not None and have != want
            for have, want in (
                (e.account_id, account_id),
                (e.campaign_id, campaign_id),
                (e.publisher_id, publisher_id),
            )
        ):
            continue
        groups[(day, e.campaign_id if by_campaign else None)].append(e)
    order = sorted(groups, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    return [DailyTotals(day, campaign, totals(groups[(day, campaign)])) for day, campaign in order]


class RandomLog:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.appended: list[Event] = []
        self._next_id = seed * 1_000_000

    # -- events ------------------------------------------------------------------------------

    def instant(self) -> datetime:
        rng = self.rng
        base = START + timedelta(microseconds=rng.randrange(DAYS * 86_400_000_000))
        kind = rng.random()
        if kind < 0.25:  # on or next to a bucket edge
            edge = base - timedelta(
                minutes=base.minute % 15, seconds=base.second, microseconds=base.microsecond
            )
            return edge + timedelta(microseconds=rng.choice((-1, 0, 0, 1)))
        if kind < 0.45:  # on or next to a local midnight somewhere
            local = base.astimezone(ZoneInfo(rng.choice(ZONES)))
            midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=local.tzinfo)
            return midnight.astimezone(UTC) + timedelta(microseconds=rng.choice((-1, 0, 0, 1)))
        return base

    def event(self, at: datetime) -> Event:
        rng = self.rng
        self._next_id += 1
        if rng.random() < 0.015:  # together, these sum past int64 in one bucket of one key
            return Event(self._next_id, EventType.CLICK, HUGE_AT, 1, 10, 100, cost_micros=HUGE_MICROS)
        kind = rng.choice(TYPES) if rng.random() < 0.9 else rng.choice(RARE_TYPES)
        money = rng.randrange(0, 3_000_000)
        return Event(
            id=self._next_id,
            type=kind,
            at=at,
            account_id=rng.choice((1, 1, 1, 2, 3)),
            campaign_id=rng.choice((10, 11, 12, 13, 14, None)),
            publisher_id=rng.choice((100, 101, 102, None)),
            cost_micros=money if kind in (EventType.IMPRESSION, EventType.CLICK) else 0,
            revenue_micros=money
            if kind == EventType.CONVERSION
            else -money
            if kind == EventType.REVERSAL
            else 0,
            payout_micros=money // 10 if kind == EventType.CONVERSION else 0,
            currency=rng.choice(("USD", "USD", "SEK")),
            ivt=rng.random() < 0.08,
        )

    def events(self, count: int) -> list[Event]:
        """`count` new events, in time order (as a log mostly is) with a few late arrivals."""
        made = sorted((self.event(self.instant()) for _ in range(count)), key=lambda e: e.at)
        for _ in range(count // 20):
            made.insert(self.rng.randrange(len(made)), self.event(self.instant()))
        return made

    def append_many(self, store: EventStore, events: list[Event]) -> None:
        store.append_many(events)
        self.appended.extend(events)

    def append_each(self, store: EventStore, events: list[Event]) -> None:
        for e in events:
            store.append(e)
            self.appended.append(e)

    # -- queries -----------------------------------------------------------------------------

    def bound(self) -> datetime:
        rng = self.rng
        at = self.instant()
        if rng.random() < 0.3:  # a whole bucket, as "today" in a quarter-hour zone is
            at -= timedelta(minutes=at.minute % 15, seconds=at.second, microseconds=at.microsecond)
        return at

    def window(self) -> tuple[datetime, datetime]:
        if self.rng.random() < 0.15:
            return START - timedelta(days=400), START + timedelta(days=400)  # everything, "lifetime"
        a, b = sorted((self.bound(), self.bound()))
        return (b, a) if self.rng.random() < 0.05 else (a, b)  # a few backwards ones

    def local_day_window(self) -> tuple[datetime, datetime]:
        """The UTC bounds of some local days, as the campaigns list asks for "today" and "period"."""
        zone = ZoneInfo(self.rng.choice(ZONES))
        first = (START + timedelta(days=self.rng.randrange(DAYS))).date()
        last = first + timedelta(days=self.rng.choice((0, 0, 1, 6)))
        start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def check(self, store: EventStore, rounds: int = 8) -> None:
        rng, events = self.rng, self.appended
        for _ in range(rounds):
            account = rng.choice((1, 2, 3, 4))
            ids = rng.choice((None, [10, 12, 99], [11], [13, 14, 10]))
            windows = {f"w{i}": self.window() for i in range(rng.randrange(1, 4))}
            windows["days"] = self.local_day_window()
            got = store.campaign_totals_windows(account, ids, windows)
            want = {name: campaign_totals(events, account, ids, *w) for name, w in windows.items()}
            assert got == want, (account, ids, windows)
            start, end = windows["w0"]
            assert store.campaign_totals(account, ids, start, end) == want["w0"], (account, ids, start, end)

            tz = rng.choice(ZONES)
            first = (START + timedelta(days=rng.randrange(-2, DAYS))).date()
            last = first + timedelta(days=rng.choice((0, 1, 3, 12, 40)))
            options: dict[str, Any] = rng.choice(
                [{}, {"by_campaign": False}, {"campaign_id": 11}, {"publisher_id": 101}, {"campaign_id": 12}]
            )
            daily_account = rng.choice((None, 1, 2))
            got_days = store.daily_totals(daily_account, first, last, tz, **options)
            want_days = daily_totals(events, daily_account, first, last, tz, **options)
            assert got_days == want_days, (daily_account, first, last, tz, options)
