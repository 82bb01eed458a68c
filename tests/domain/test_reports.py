"""Report arithmetic: rates in percent, finalization in the account's zone, A/B statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from auctera.domain import reports as calc
from auctera.domain.ids import IdGenerator, issued_at_ms


def test_rates_are_percentages_with_two_places() -> None:
    assert calc.rate(85, 10_000) == Decimal("0.85")
    assert calc.rate(21, 1000) == Decimal("2.10")
    assert calc.rate(1, 3) == Decimal("33.33")
    assert calc.rate(5, 0) is None


def test_roas_cpa_and_average_prices() -> None:
    assert calc.roas(15_300_000_000, 4_500_000_000) == Decimal("3.40")
    assert calc.roas(1, 0) is None
    assert calc.cpa(1_240_500_000, 45) == Decimal("27.56")  # cut to the cent, as campaigns show it
    assert calc.cpa(1, 0) is None
    assert calc.average_micros(1_000_001, 2) == Decimal("0.500000")  # half-even to the micro
    assert calc.average_micros(3, 0) is None


def test_a_day_is_final_24_hours_after_it_ends_in_the_accounts_zone() -> None:
    # New York, the day clocks go back: the day ends at 05:00 UTC the next morning.
    assert calc.final_at(date(2026, 11, 1), "America/New_York") == datetime(2026, 11, 3, 5, tzinfo=UTC)
    assert calc.final_at(date(2026, 10, 1), "Asia/Kathmandu") == datetime(2026, 10, 2, 18, 15, tzinfo=UTC)
    now = datetime(2026, 11, 3, 5, tzinfo=UTC)
    assert calc.is_final(date(2026, 11, 1), "America/New_York", now)
    assert not calc.is_final(date(2026, 11, 2), "America/New_York", now)


def test_the_first_id_logged_at_an_instant_bounds_the_ids_issued_from_then() -> None:
    at = datetime(2026, 10, 3, 0, 0, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    before = IdGenerator(255, lambda: ms - 1).next_id()
    after = IdGenerator(0, lambda: ms).next_id()
    assert before < calc.first_id_logged_at(at) <= after
    assert issued_at_ms(calc.first_id_logged_at(at)) == ms


def test_wilson_interval_matches_the_textbook_values() -> None:
    interval = calc.wilson(3, 100)
    assert interval is not None
    assert round(interval.low, 4) == 0.0103 and round(interval.high, 4) == 0.0845
    zero = calc.wilson(0, 10)
    assert zero is not None and zero.low == 0.0 and 0.27 < zero.high < 0.28
    assert calc.wilson(1, 0) is None


def test_win_probabilities_are_seeded_and_name_a_clear_winner() -> None:
    arms = [(200, 10_000), (100, 10_000), (95, 10_000)]
    p = calc.win_probabilities(arms)
    assert p == calc.win_probabilities(arms)  # same counts, same answer
    assert p is not None and abs(sum(p) - 1) < 1e-9
    assert p[0] > 0.999 and calc.winner(p) == 0
    close = calc.win_probabilities([(100, 10_000), (101, 10_000)])
    assert close is not None and 0.3 < close[0] < 0.7
    assert calc.winner(close) is None
    assert calc.win_probabilities([(1, 10)]) is None


def test_estimated_export_time_grows_with_rows() -> None:
    assert calc.estimated_seconds(0) == 1
    assert calc.estimated_seconds(120 * calc.EXPORT_ROWS_PER_SECOND) == 120
