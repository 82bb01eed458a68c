"""Local-day bucketing: the offset arithmetic must agree with DuckDB's ICU to the microsecond."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from auctera.domain.events import DailyTotals, EventType
from auctera.events import DuckDBEventStore, duckdb_store, sql
from auctera.events.codec import to_micros
from auctera.events.timezones import local_day_numbers, local_day_sql, offset_pieces, python_zone

from .contract import event, utc

# DST both ways, half- and three-quarter-hour offsets, a 30-minute DST shift (Lord Howe),
# and Samoa skipping 2011-12-30 entirely.
ZONES = [
    "UTC",
    "Europe/Stockholm",
    "America/New_York",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
]
LO, HI = to_micros(datetime(2011, 1, 1, tzinfo=UTC)), to_micros(datetime(2013, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("tz", ZONES)
def test_local_days_match_icu(tz: str) -> None:
    zone = python_zone(tz)
    assert zone is not None
    ours = local_day_sql(tz, LO, HI, column="t")
    assert ours is not None
    # Every transition to the microsecond, plus a sweep at an odd stride through two years.
    edges = [p + d for p, _ in offset_pieces(zone, LO, HI)[1:] for d in (-1, 0, 1)]
    con = duckdb.connect()
    mismatches = con.execute(
        f"""
        WITH instants AS (
            SELECT unnest($edges::BIGINT[]) AS t UNION ALL SELECT t FROM range($lo, $hi, 433000001) r(t)
        )
        SELECT t FROM instants WHERE {ours} <> CAST(timezone($tz, make_timestamptz(t)) AS DATE)
        """,
        {"edges": edges, "lo": LO, "hi": HI, "tz": tz},
    ).fetchall()
    assert mismatches == []
    if tz != "UTC" and tz not in ("Asia/Kolkata", "Asia/Kathmandu"):
        assert edges, "expected offset changes in this range"


def test_zones_python_lacks_fall_back_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def daily(store: DuckDBEventStore) -> list[DailyTotals]:
        return store.daily_totals(1, date(2024, 3, 30), date(2024, 4, 1), "Europe/Stockholm")

    with DuckDBEventStore(tmp_path / "events", "main", compact_interval=None) as store:
        store.append_many(
            [
                event(EventType.CLICK, at=utc(2024, 3, 30, 22, 59, 59)),
                event(EventType.CLICK, at=utc(2024, 3, 30, 23, 0, 0)),
                event(EventType.CLICK, at=utc(2024, 3, 31, 21, 59, 59)),
                event(EventType.CLICK, at=utc(2024, 3, 31, 22, 0, 0)),
            ]
        )
        with_python = daily(store)
        monkeypatch.setattr(duckdb_store, "python_zone", lambda tz: None)
        monkeypatch.setattr(sql, "local_day_sql", lambda *args: None)
        assert daily(store) == with_python
        assert [(r.day.day, r.totals.clicks) for r in with_python] == [(30, 1), (31, 2), (1, 1)]
        with pytest.raises(ValueError):
            store.daily_totals(1, date(2024, 3, 30), date(2024, 4, 1), "Nowhere/Special")


def test_local_days_of_a_span_follow_the_clock_piece_by_piece() -> None:
    hour = 3_600_000_000
    # A made-up zone at +01:00 that falls back to +00:00 at 23:30 UTC: its clocks read
    # 00:30 on day 1 and then 23:30 on day 0 again. The span from 23:15 to 00:45 UTC starts
    # and ends on day 1 but passes through day 0 in between.
    pieces = [(0, hour), (23 * hour + hour // 2, 0)]
    assert local_day_numbers(pieces, 23 * hour + hour // 4, 24 * hour + 3 * hour // 4) == {0, 1}
    assert local_day_numbers(pieces, 22 * hour, 23 * hour) == {0}


@pytest.mark.parametrize("tz", ZONES)
def test_local_days_of_spans_match_the_zone(tz: str) -> None:
    zone = python_zone(tz)
    assert zone is not None
    pieces = offset_pieces(zone, LO, HI)
    step = 900_000_000  # spans made of whole 15-minute buckets, as rollups have
    for start in range(LO, HI - 200 * step, 7_919 * step):
        for length in (1, 4, 40, 96, 97, 200):
            end = start + length * step
            seen = {
                (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)).astimezone(zone).date()
                for t in [*range(start, end, step), end - 1]
            }
            want = {(d - date(1970, 1, 1)).days for d in seen}
            assert local_day_numbers(pieces, start, end) == want, (start, length)
