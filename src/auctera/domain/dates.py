"""Report date ranges: presets and custom spans, cut in an account's time zone.

A span is a set of whole local days (inclusive); `utc_bounds` turns it into the half-open
UTC interval the event log is queried with, so DST days are 23 or 25 hours long, as they
are on the advertiser's wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from auctera.errors import ValidationFailed


class DatePreset(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7_DAYS = "last_7_days"  # the 7 whole days before today, as the big ad platforms count
    LAST_30_DAYS = "last_30_days"
    THIS_MONTH = "this_month"  # the 1st up to and including today
    LAST_MONTH = "last_month"


@dataclass(frozen=True, slots=True)
class DateSpan:
    start: date
    end: date  # inclusive

    def utc_bounds(self, tz: str) -> tuple[datetime, datetime]:
        """[local midnight of start, local midnight after end) as aware UTC datetimes."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.start, time(), tzinfo=zone)
        end = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def utc_text(at: datetime) -> str:
    """An instant as every surface writes it: ISO 8601 in UTC, with `Z`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def preset_span(preset: DatePreset, today: date) -> DateSpan:
    if preset is DatePreset.TODAY:
        return DateSpan(today, today)
    if preset is DatePreset.YESTERDAY:
        yesterday = today - timedelta(days=1)
        return DateSpan(yesterday, yesterday)
    if preset is DatePreset.LAST_7_DAYS:
        return DateSpan(today - timedelta(days=7), today - timedelta(days=1))
    if preset is DatePreset.LAST_30_DAYS:
        return DateSpan(today - timedelta(days=30), today - timedelta(days=1))
    first = today.replace(day=1)
    if preset is DatePreset.THIS_MONTH:
        return DateSpan(first, today)
    last_of_previous = first - timedelta(days=1)
    return DateSpan(last_of_previous.replace(day=1), last_of_previous)


def resolve_span(preset: DatePreset | None, start: date | None, end: date | None, today: date) -> DateSpan:
    """A preset, or start_date and end_date together, or today when neither is given."""
    if preset is not None and (start is not None or end is not None):
        raise ValidationFailed("give either date_range or start_date/end_date, not both", field="date_range")
    if (start is None) != (end is None):
        missing = "end_date" if end is None else "start_date"
        raise ValidationFailed("start_date and end_date go together", field=missing)
    if start is not None and end is not None:
        if end < start:
            raise ValidationFailed("end_date is before start_date", field="end_date")
        return DateSpan(start, end)
    return preset_span(preset or DatePreset.TODAY, today)
