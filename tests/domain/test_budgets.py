from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from auctera.domain.budgets import (
    Caps,
    Spend,
    auto_daily_pacing,
    can_charge,
    day_fraction,
    day_key,
    local_day,
    month_key,
    remaining_micros,
)

M = 1_000_000
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def test_periods_are_taken_in_the_account_time_zone() -> None:
    # 15:30 UTC on 31 Jan is already 1 Feb in Tokyo: the monthly pace there has reset.
    at = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)
    assert (day_key(local_day(at, TOKYO)), month_key(local_day(at, TOKYO))) == ("2026-02-01", "2026-02")
    assert (day_key(local_day(at, NEW_YORK)), month_key(local_day(at, NEW_YORK))) == ("2026-01-31", "2026-01")


def test_day_fraction_counts_the_real_length_of_a_dst_day() -> None:
    # 8 March 2026 in New York has 23 hours: at 12:00 local, 11 of them have passed.
    noon = datetime(2026, 3, 8, 12, tzinfo=NEW_YORK)
    assert day_fraction(noon, NEW_YORK) == 11 / 23
    assert day_fraction(datetime(2026, 3, 9, 12, tzinfo=NEW_YORK), NEW_YORK) == 0.5


def test_auto_daily_pacing_from_the_monthly_pace_matches_the_seed_example() -> None:
    # Seed 004: monthlyPacing 3000.00 on 2020-04-06 gives dailyPacing 120.00 (25 days left).
    assert auto_daily_pacing(
        date(2020, 4, 6), end_date=None, budget_micros=None, monthly_micros=3000 * M, spend=Spend()
    ) == (120 * M)


def test_auto_daily_pacing_from_budget_and_end_date_rounds_down_to_the_cent() -> None:
    # 100.00 left over 3 days (the 10th to the 12th): 33.33 a day, never 33.34.
    spend = Spend(lifetime_micros=20 * M + 5 * M, month_micros=5 * M, day_micros=5 * M)
    cap = auto_daily_pacing(
        date(2026, 5, 10), end_date=date(2026, 5, 12), budget_micros=120 * M, monthly_micros=None, spend=spend
    )
    assert cap == 33_330_000  # (120 - 20 spent before today) / 3, today's 5 spent does not move it


def test_auto_daily_pacing_takes_the_smaller_of_both_and_none_without_either() -> None:
    spend = Spend(lifetime_micros=0)
    both = auto_daily_pacing(
        date(2026, 2, 27),
        end_date=date(2026, 3, 31),
        budget_micros=330 * M,
        monthly_micros=10 * M,
        spend=spend,
    )
    assert both == 5 * M  # monthly: 10 over 2 days left in February; budget: 330 over 33 days = 10
    assert (
        auto_daily_pacing(
            date(2026, 2, 27), end_date=None, budget_micros=330 * M, monthly_micros=None, spend=spend
        )
        is None
    )


def test_auto_daily_pacing_is_zero_once_the_month_is_spent() -> None:
    spend = Spend(lifetime_micros=50 * M, month_micros=50 * M, day_micros=0)
    assert (
        auto_daily_pacing(
            date(2026, 6, 20), end_date=None, budget_micros=None, monthly_micros=50 * M, spend=spend
        )
        == 0
    )


def test_remaining_is_the_tightest_cap_and_never_negative() -> None:
    caps = Caps(budget_micros=100 * M, monthly_micros=40 * M, daily_micros=10 * M)
    assert (
        remaining_micros(caps, Spend(lifetime_micros=95 * M, month_micros=20 * M, day_micros=2 * M)) == 5 * M
    )
    assert (
        remaining_micros(caps, Spend(lifetime_micros=10 * M, month_micros=10 * M, day_micros=7 * M)) == 3 * M
    )
    assert remaining_micros(caps, Spend(), balance_micros=1 * M) == 1 * M
    assert remaining_micros(caps, Spend(day_micros=11 * M)) == 0
    assert remaining_micros(Caps(), Spend(lifetime_micros=10**12)) is None


def test_a_charge_lands_only_whole_under_the_cap() -> None:
    assert can_charge(5 * M, 5 * M)
    assert not can_charge(5 * M + 1, 5 * M)
    assert can_charge(10**12, None)
