"""Date range presets and their UTC bounds in an account's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from auctera.domain.dates import DatePreset, DateSpan, local_today, preset_span, resolve_span
from auctera.errors import ValidationFailed

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        (DatePreset.TODAY, date(2026, 3, 10), date(2026, 3, 10)),
        (DatePreset.YESTERDAY, date(2026, 3, 9), date(2026, 3, 9)),
        (DatePreset.LAST_7_DAYS, date(2026, 3, 3), date(2026, 3, 9)),
        (DatePreset.LAST_30_DAYS, date(2026, 2, 8), date(2026, 3, 9)),
        (DatePreset.THIS_MONTH, date(2026, 3, 1), date(2026, 3, 10)),
        (DatePreset.LAST_MONTH, date(2026, 2, 1), date(2026, 2, 28)),
    ],
)
def test_presets(preset: DatePreset, start: date, end: date) -> None:
    assert preset_span(preset, TODAY) == DateSpan(start, end)


def test_last_month_across_a_year_boundary() -> None:
    assert preset_span(DatePreset.LAST_MONTH, date(2027, 1, 15)) == DateSpan(
        date(2026, 12, 1), date(2026, 12, 31)
    )


def test_local_today_depends_on_the_time_zone() -> None:
    now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert local_today(now, "UTC") == date(2026, 3, 10)
    assert local_today(now, "America/New_York") == date(2026, 3, 9)


def test_utc_bounds_follow_local_midnights_across_dst() -> None:
    # 2026-03-08: New York springs forward; the local day is 23 hours long.
    start, end = DateSpan(date(2026, 3, 8), date(2026, 3, 8)).utc_bounds("America/New_York")
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_resolve_span() -> None:
    assert resolve_span(None, None, None, TODAY) == DateSpan(TODAY, TODAY)
    assert resolve_span(DatePreset.YESTERDAY, None, None, TODAY) == DateSpan(
        date(2026, 3, 9), date(2026, 3, 9)
    )
    custom = resolve_span(None, date(2026, 1, 1), date(2026, 1, 31), TODAY)
    assert custom == DateSpan(date(2026, 1, 1), date(2026, 1, 31))


@pytest.mark.parametrize(
    ("preset", "start", "end", "field"),
    [
        (DatePreset.TODAY, date(2026, 1, 1), date(2026, 1, 2), "date_range"),
        (None, date(2026, 1, 1), None, "end_date"),
        (None, None, date(2026, 1, 1), "start_date"),
        (None, date(2026, 1, 2), date(2026, 1, 1), "end_date"),
    ],
)
def test_resolve_span_errors_name_the_field(
    preset: DatePreset | None, start: date | None, end: date | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        resolve_span(preset, start, end, TODAY)
    assert raised.value.field == field
