"""The EventStore contract: behaviour every event-log adapter must show, whatever its engine.

To run it against an adapter, subclass `EventStoreContract` in a `test_*.py` module as
`Test<Engine>Contract` and override the `harness` fixture with a `StoreHarness` that
opens that adapter over one fresh, shared location per test (see test_duckdb_store.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import pytest

from auctera.domain.events import DailyTotals, Event, EventType, Totals
from auctera.services.ports import EventStore

from .oracle import RandomLog

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class StoreHarness(Protocol):
    def open(self, writer: str = "writer-a") -> EventStore:
        """A store over this test's location; several may be open at once (distinct writers)."""
        ...

    def settle(self, store: EventStore) -> None:
        """Run the engine's background maintenance now (compaction, merges): results must not change."""
        ...


_ids = iter(range(1, 10**9))


def event(
    type: EventType = EventType.IMPRESSION,
    at: datetime = T0,
    *,
    account_id: int = 1,
    campaign_id: int | None = 10,
    **fields: Any,
) -> Event:
    return Event(
        id=fields.pop("id", next(_ids)),
        type=type,
        at=at,
        account_id=account_id,
        campaign_id=campaign_id,
        **fields,
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def by_day(rows: list[DailyTotals]) -> dict[tuple[date, int | None], Totals]:
    return {(r.day, r.campaign_id): r.totals for r in rows}


class EventStoreContract:
    """Adapters may answer from pre-aggregated data after `settle`; answers must not change."""

    @pytest.fixture
    def harness(self) -> StoreHarness:
        raise NotImplementedError("override the harness fixture for the adapter under test")

    @pytest.fixture
    def store(self, harness: StoreHarness) -> Iterator[EventStore]:
        store = harness.open("writer-a")
        yield store
        store.close()

    # -- appends and campaign totals ---------------------------------------------------------

    def test_appended_events_are_counted_per_campaign(self, store: EventStore) -> None:
        store.append(event(EventType.IMPRESSION, cost_micros=1_500))
        store.append_many(
            [
                event(EventType.IMPRESSION, cost_micros=1_500),
                event(EventType.CLICK, cost_micros=250_000),
                event(EventType.CONVERSION, revenue_micros=49_990_000, payout_micros=4_500_000),
                event(EventType.IMPRESSION, campaign_id=11, cost_micros=2_000),
            ]
        )
        totals = store.campaign_totals(1, None, *ALL_TIME)
        assert totals == {
            10: Totals(
                impressions=2,
                clicks=1,
                conversions=1,
                cost_micros=253_000,
                revenue_micros=49_990_000,
                payout_micros=4_500_000,
            ),
            11: Totals(impressions=1, cost_micros=2_000),
        }

    def test_an_empty_batch_changes_nothing(self, store: EventStore) -> None:
        store.append_many([])
        assert store.campaign_totals(1, None, *ALL_TIME) == {}
        assert store.daily_totals(None, date(2024, 1, 1), date(2024, 12, 31), "UTC") == []

    def test_campaign_totals_only_cover_the_account_and_requested_campaigns(self, store: EventStore) -> None:
        store.append_many(
            [
                event(campaign_id=10),
                event(campaign_id=11),
                event(campaign_id=12),
                event(account_id=2, campaign_id=10),  # another tenant, same campaign number
                event(campaign_id=None),  # not attributable to a campaign
            ]
        )
        assert store.campaign_totals(1, [10, 12, 99], *ALL_TIME) == {
            10: Totals(impressions=1),
            12: Totals(impressions=1),
            99: Totals(),  # requested but silent: present, all zero
        }
        assert store.campaign_totals(1, [], *ALL_TIME) == {}
        assert set(store.campaign_totals(1, None, *ALL_TIME)) == {10, 11, 12}
        assert store.campaign_totals(3, None, *ALL_TIME) == {}

    def test_campaign_totals_range_includes_start_and_excludes_end(self, store: EventStore) -> None:
        start, end = utc(2024, 3, 1), utc(2024, 3, 2)
        store.append_many(
            [
                event(at=start - timedelta(microseconds=1)),
                event(at=start),
                event(at=end - timedelta(microseconds=1)),
                event(at=end),
            ]
        )
        assert store.campaign_totals(1, None, start, end) == {10: Totals(impressions=2)}
        assert store.campaign_totals(1, [10], end, start) == {10: Totals()}

    def test_naive_datetimes_are_rejected(self, store: EventStore) -> None:
        with pytest.raises(ValueError):
            store.append(event(at=datetime(2024, 3, 1, 12)))
        with pytest.raises(ValueError):
            store.campaign_totals(1, None, datetime(2024, 3, 1), datetime(2024, 3, 2))

    def test_a_batch_with_an_invalid_event_is_rejected_whole(self, store: EventStore) -> None:
        store.append(event())
        bad = event(cost_micros=1.5)  # money is integer micros
        with pytest.raises(ValueError):
            store.append_many([event(), bad, event()])
        with pytest.raises(ValueError):
            store.append(event(payout_micros=2**63))  # beyond int64
        assert store.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=1)}

    # -- money, IVT and reversals ------------------------------------------------------------

    def test_money_sums_are_exact_integers(self, store: EventStore) -> None:
        big = 4_000_000_000_000_000_000  # three of these overflow int64: sums must not
        store.append_many(
            [event(EventType.CLICK, cost_micros=c) for c in (1, 999_999, 1_000_001, 123_456_789)]
            + [event(EventType.CONVERSION, campaign_id=20, revenue_micros=big) for _ in range(3)]
        )
        totals = store.campaign_totals(1, None, *ALL_TIME)
        assert totals[10].cost_micros == 125_456_790
        assert totals[20].revenue_micros == 3 * big
        assert isinstance(totals[20].revenue_micros, int)

    def test_invalid_traffic_is_counted_as_blocked_and_never_billed(self, store: EventStore) -> None:
        store.append_many(
            [
                event(EventType.IMPRESSION, cost_micros=1_000),
                event(EventType.IMPRESSION, ivt=True, cost_micros=1_000),
                event(EventType.CLICK, cost_micros=300_000),
                event(EventType.CLICK, ivt=True, cost_micros=300_000),
                event(EventType.CLICK, ivt=True, cost_micros=300_000),
                event(EventType.CONVERSION, ivt=True, revenue_micros=10_000_000, payout_micros=1_000_000),
            ]
        )
        assert store.campaign_totals(1, None, *ALL_TIME)[10] == Totals(
            impressions=1, clicks=1, ivt_blocked=3, cost_micros=301_000
        )

    def test_reversals_are_counted_and_net_the_money(self, store: EventStore) -> None:
        store.append_many(
            [
                event(EventType.CONVERSION, revenue_micros=80_000_000, payout_micros=45_000_000),
                event(EventType.CONVERSION, revenue_micros=20_000_000, payout_micros=5_000_000),
                # A chargeback takes back the first conversion: negative amounts, by convention.
                event(EventType.REVERSAL, revenue_micros=-80_000_000, payout_micros=-45_000_000),
            ]
        )
        assert store.campaign_totals(1, None, *ALL_TIME)[10] == Totals(
            conversions=2, reversals=1, revenue_micros=20_000_000, payout_micros=5_000_000
        )

    def test_other_event_types_do_not_inflate_the_counters(self, store: EventStore) -> None:
        store.append_many([event(EventType.VIEWABLE_IMPRESSION), event(EventType.AUCTION), event()])
        assert store.campaign_totals(1, None, *ALL_TIME)[10] == Totals(impressions=1)

    # -- daily totals and time zones ---------------------------------------------------------

    def test_days_are_taken_in_the_requested_time_zone(self, store: EventStore) -> None:
        late = utc(2024, 3, 1, 23, 30)  # 00:30 on Mar 2 in Stockholm, 18:30 on Mar 1 in New York
        store.append(event(EventType.CLICK, at=late, cost_micros=7))
        window = (date(2024, 2, 28), date(2024, 3, 5))
        assert by_day(store.daily_totals(1, *window, "Europe/Stockholm")) == {
            (date(2024, 3, 2), 10): Totals(clicks=1, cost_micros=7)
        }
        assert by_day(store.daily_totals(1, *window, "America/New_York")) == {
            (date(2024, 3, 1), 10): Totals(clicks=1, cost_micros=7)
        }
        assert [r.day for r in store.daily_totals(1, *window, "UTC")] == [date(2024, 3, 1)]

    def test_the_date_range_is_inclusive_local_days(self, store: EventStore) -> None:
        # Stockholm is UTC+1 until 2024-03-31 01:00 UTC, then UTC+2 (a 23-hour day).
        store.append_many(
            [
                event(at=utc(2024, 3, 29, 22, 59, 59)),  # Mar 29, 23:59:59 local: before the range
                event(at=utc(2024, 3, 29, 23, 0, 0)),  # Mar 30, 00:00 local
                event(at=utc(2024, 3, 30, 23, 0, 0)),  # Mar 31, 00:00 local
                event(at=utc(2024, 3, 31, 21, 59, 59)),  # Mar 31, 23:59:59 local (summer time)
                event(at=utc(2024, 3, 31, 22, 0, 0)),  # Apr 1, 00:00 local: after the range
            ]
        )
        rows = store.daily_totals(1, date(2024, 3, 30), date(2024, 3, 31), "Europe/Stockholm")
        assert [(r.day, r.totals.impressions) for r in rows] == [
            (date(2024, 3, 30), 1),
            (date(2024, 3, 31), 2),
        ]
        assert store.daily_totals(1, date(2024, 3, 31), date(2024, 3, 30), "Europe/Stockholm") == []

    def test_daily_totals_filter_and_group(self, store: EventStore) -> None:
        day1, day2 = utc(2024, 5, 1, 10), utc(2024, 5, 2, 10)
        store.append_many(
            [
                event(at=day1, campaign_id=10, publisher_id=100, cost_micros=1),
                event(at=day1, campaign_id=11, publisher_id=101, cost_micros=2),
                event(at=day2, campaign_id=10, publisher_id=101, cost_micros=4),
                event(at=day2, account_id=2, campaign_id=30, publisher_id=100, cost_micros=8),
                event(at=day2, campaign_id=None, type=EventType.CLICK, cost_micros=16),
            ]
        )
        window = (date(2024, 5, 1), date(2024, 5, 2))
        d1, d2 = window

        def cost(rows: list[DailyTotals]) -> dict[tuple[date, int | None], int]:
            return {k: t.cost_micros for k, t in by_day(rows).items()}

        assert cost(store.daily_totals(1, *window, "UTC")) == {
            (d1, 10): 1,
            (d1, 11): 2,
            (d2, None): 16,
            (d2, 10): 4,
        }
        assert cost(store.daily_totals(1, *window, "UTC", by_campaign=False)) == {
            (d1, None): 3,
            (d2, None): 20,
        }
        assert cost(store.daily_totals(1, *window, "UTC", campaign_id=10)) == {(d1, 10): 1, (d2, 10): 4}
        assert cost(store.daily_totals(1, *window, "UTC", publisher_id=101)) == {(d1, 11): 2, (d2, 10): 4}
        assert cost(store.daily_totals(None, *window, "UTC", publisher_id=100)) == {(d1, 10): 1, (d2, 30): 8}
        assert cost(store.daily_totals(None, *window, "UTC", by_campaign=False)) == {
            (d1, None): 3,
            (d2, None): 28,
        }

    def test_daily_totals_come_ordered_by_day_then_campaign(self, store: EventStore) -> None:
        store.append_many(
            [event(at=utc(2024, 6, d, 9), campaign_id=c) for d in (3, 1, 2) for c in (12, None, 11)]
        )
        rows = store.daily_totals(1, date(2024, 6, 1), date(2024, 6, 3), "UTC")
        assert [(r.day.day, r.campaign_id) for r in rows] == [
            (d, c) for d in (1, 2, 3) for c in (None, 11, 12)
        ]

    def test_unknown_time_zones_are_rejected(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
            store.daily_totals(1, date(2024, 1, 1), date(2024, 1, 2), "Mars/Olympus_Mons")

    # -- durability, writers, maintenance ----------------------------------------------------

    def test_events_outlive_the_store_that_wrote_them(self, harness: StoreHarness) -> None:
        first = harness.open("writer-a")
        first.append_many([event(), event(EventType.CLICK)])
        first.sync()
        first.close()
        second = harness.open("writer-a")  # the same writer id, as after a restart
        try:
            second.append(event())
            assert second.campaign_totals(1, None, *ALL_TIME) == {10: Totals(impressions=2, clicks=1)}
        finally:
            second.close()

    def test_writers_share_one_log(self, harness: StoreHarness) -> None:
        a, b = harness.open("writer-a"), harness.open("writer-b")
        try:
            a.append(event(campaign_id=10))
            b.append(event(campaign_id=11))
            a.append_many([event(campaign_id=11), event(campaign_id=12)])
            expected = {10: Totals(impressions=1), 11: Totals(impressions=2), 12: Totals(impressions=1)}
            assert a.campaign_totals(1, None, *ALL_TIME) == expected
            assert b.campaign_totals(1, None, *ALL_TIME) == expected
        finally:
            a.close()
            b.close()

    def test_maintenance_never_changes_what_queries_see(
        self, harness: StoreHarness, store: EventStore
    ) -> None:
        def snapshot() -> tuple[object, ...]:
            return (
                store.campaign_totals(1, None, *ALL_TIME),
                store.daily_totals(None, date(2024, 1, 1), date(2024, 12, 31), "Europe/Stockholm"),
            )

        store.append_many([event(at=T0 + timedelta(hours=h), cost_micros=h) for h in range(48)])
        before = snapshot()
        harness.settle(store)
        assert snapshot() == before
        store.append(event(EventType.CLICK, cost_micros=5))
        after_more = snapshot()
        assert after_more[0] == {10: Totals(impressions=48, clicks=1, cost_micros=sum(range(48)) + 5)}
        harness.settle(store)
        harness.settle(store)
        assert snapshot() == after_more

    # -- several windows at once --------------------------------------------------------------

    def test_campaign_totals_windows_equal_one_call_per_window(self, store: EventStore) -> None:
        store.append_many(
            [
                event(at=utc(2024, 3, 1, 9), campaign_id=10, cost_micros=1),
                event(EventType.CLICK, at=utc(2024, 3, 2, 9), campaign_id=10, cost_micros=2),
                event(at=utc(2024, 3, 2, 23, 59), campaign_id=11, cost_micros=4),
                event(EventType.AUCTION, at=utc(2024, 3, 3, 1), campaign_id=12),  # counts in no counter
            ]
        )
        windows = {
            "today": (utc(2024, 3, 2), utc(2024, 3, 3)),
            "empty": (utc(2024, 3, 2), utc(2024, 3, 2)),
            "backwards": (utc(2024, 3, 3), utc(2024, 3, 2)),
            "lifetime": ALL_TIME,
            "unaligned": (utc(2024, 3, 1, 9, 0, 1), utc(2024, 3, 3, 1, 0, 1)),
        }
        for ids in (None, [10, 12, 99], []):
            together = store.campaign_totals_windows(1, ids, windows)
            assert list(together) == list(windows)
            assert together == {name: store.campaign_totals(1, ids, *w) for name, w in windows.items()}
        assert store.campaign_totals_windows(1, None, windows)["lifetime"][12] == Totals()
        assert store.campaign_totals_windows(1, None, {}) == {}
        with pytest.raises(ValueError):
            store.campaign_totals_windows(1, None, {"naive": (datetime(2024, 3, 1), datetime(2024, 3, 2))})

    # -- randomized: whatever the engine precomputes, answers equal the counting rules -----------

    @pytest.mark.parametrize("seed", range(4))
    def test_random_logs_are_answered_exactly_before_and_after_maintenance(
        self, harness: StoreHarness, store: EventStore, seed: int
    ) -> None:
        # Events over several days and accounts, many on 15-minute and local-midnight edges, and
        # queries with unaligned bounds in zones with DST and half- and quarter-hour offsets.
        log = RandomLog(seed)
        log.append_many(store, log.events(400))
        log.check(store)
        harness.settle(store)
        log.check(store)
        # One by one: with small segments, many lie within one bucket or one local day.
        log.append_each(store, log.events(60))
        log.check(store)  # compacted and live events together
        harness.settle(store)
        log.check(store)
