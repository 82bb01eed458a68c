"""The pure rules of domain/line_items.py: which status wins, what a status write does."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from auctera.domain.budgets import Spend
from auctera.domain.line_items import (
    Circumstances,
    LineItem,
    LineItemInvalid,
    LineItemSettings,
    LineItemStatus,
    derive_status,
    problems,
    requested_status,
)

S = LineItemStatus
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(user_status: S = S.ACTIVE, **settings: object) -> LineItem:
    fields: dict[str, object] = {"name": "L", "start_date": date(2026, 11, 1), **settings}
    return LineItem(1, 2, 3, 4, LineItemSettings(**fields), user_status, NOW, NOW)  # type: ignore[arg-type]


def status(li: LineItem, today: date = date(2026, 11, 23), **c: object) -> S:
    given: dict[str, object] = {"has_products": True, "spend": Spend(), "balance_micros": None, **c}
    return derive_status(li, Circumstances(today, **given))  # type: ignore[arg-type]


def test_first_match_wins() -> None:
    spent = Spend(lifetime_micros=10_000_000)
    ended_paused_broke = item(S.PAUSED, end_date=date(2026, 11, 1), budget_micros=10_000_000)
    assert status(ended_paused_broke, campaign_archived=True) is S.ARCHIVED
    assert status(ended_paused_broke, has_products=False) is S.DRAFT
    assert status(ended_paused_broke, spend=spent, balance_micros=0) is S.ENDED
    assert status(item(S.PAUSED, start_date=date(2027, 1, 1))) is S.PAUSED
    assert status(item(start_date=date(2027, 1, 1), budget_micros=1)) is S.SCHEDULED
    assert status(item(budget_micros=10_000_000), spend=spent, balance_micros=0) is S.BUDGET_HIT
    assert status(item(target_bid_micros=500_000), balance_micros=499_999) is S.NO_FUNDS
    assert status(item(target_bid_micros=500_000), balance_micros=500_000) is S.ACTIVE


def test_status_writes() -> None:
    assert requested_status(None, current=S.PAUSED, shown=S.DRAFT) is S.PAUSED
    assert requested_status(S.ACTIVE, current=S.PAUSED, shown=S.PAUSED) is S.ACTIVE
    assert requested_status(S.DRAFT, current=S.PAUSED, shown=S.DRAFT) is S.PAUSED  # read back: no change
    for refused in (S.ARCHIVED, S.ENDED, S.BUDGET_HIT):
        with pytest.raises(LineItemInvalid):
            requested_status(refused, current=S.ACTIVE, shown=S.ACTIVE)


def test_every_problem_at_once() -> None:
    bad = LineItemSettings(
        name=" ",
        start_date=date(2026, 11, 2),
        end_date=date(2026, 11, 1),
        max_bid_micros=9_999,
        is_auto_daily_pacing=True,
        daily_pacing_micros=1,
        target_bid_micros=100_000,
    )
    found = problems(bad, min_bid_micros=200_000)
    assert [p.attribute for p in found] == ["name", "endDate", "maxBid", "targetBid", "isAutoDailyPacing"]
