"""Time and id sources handed to services (tests pass fixed ones)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ids(Protocol):
    def next_id(self) -> int: ...
