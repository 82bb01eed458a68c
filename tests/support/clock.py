"""A wall clock tests set and move by hand (services take `now` from a callable)."""

from __future__ import annotations

from datetime import UTC, datetime


class FrozenClock:
    def __init__(self, now: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
