"""The event row format shared by journal lines (JSON) and compacted Parquet files.

One flat row per event, columns mirroring `Event`: `at` is int64 microseconds since the
epoch (UTC), `type` the EventType value, `attrs` a JSON object (NULL when empty).
Events are validated here, before anything is written: a value DuckDB could not read
back (a float in a micros column, an int beyond int64) would otherwise be silently
dropped at query time together with an event the caller was told is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn

import orjson

from auctera.domain.events import Event, EventType

# Column name -> DuckDB type, in storage order. Adding a column: append it here with a
# NULL-tolerant meaning; old journal lines simply read it as NULL.
COLUMNS: Final[dict[str, str]] = {
    "id": "BIGINT",
    "type": "VARCHAR",
    "at": "BIGINT",
    "account_id": "BIGINT",
    "campaign_id": "BIGINT",
    "publisher_id": "BIGINT",
    "line_item_id": "BIGINT",
    "creative_id": "BIGINT",
    "click_id": "VARCHAR",
    "country": "VARCHAR",
    "device_type": "VARCHAR",
    "cost_micros": "BIGINT",
    "revenue_micros": "BIGINT",
    "payout_micros": "BIGINT",
    "currency": "VARCHAR",
    "ivt": "BOOLEAN",
    "attrs": "JSON",
}

# Every row we write has these; DuckDB turns an unparsable line (a torn tail) into a row
# of NULLs, so requiring them is how readers skip such lines.
REQUIRED_COLUMNS: Final = ("id", "type", "at", "account_id")

# DuckDB's JSON reader skips records above 16 MiB; we refuse far earlier, before writing.
MAX_LINE_BYTES: Final = 1024 * 1024

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_EVENT_TYPES: Final = frozenset(t.value for t in EventType)


class InvalidEventError(ValueError):
    """The event cannot be stored as given (nothing was written)."""


def to_micros(at: datetime) -> int:
    """Microseconds since the epoch for a timezone-aware datetime (exact, no float)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidEventError(f"Event.at must be timezone-aware, got naive {at.isoformat()}")
    since = at - _EPOCH  # a timedelta's parts, not `// timedelta(microseconds=1)`: half the time
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _int64(name: str, value: object) -> int:
    # `type(...) is int` is the fast path and also rejects bool and float.
    if type(value) is not int or not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidEventError(f"Event.{name} must be an int64 integer, got {value!r}")
    return value


def _optional_int64(name: str, value: object) -> int | None:
    return None if value is None else _int64(name, value)


def _optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidEventError(f"Event.{name} must be a string, got {value!r}")
    return value


def _is_int64(value: object) -> bool:
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def event_row(event: Event) -> dict[str, Any]:
    """The validated storage row for `event`."""
    e = event
    # Every field checked in one expression (events are made on the hot paths); when one is
    # wrong, `_invalid` names it.
    valid = (
        e.type in _EVENT_TYPES
        and type(e.ivt) is bool
        and isinstance(e.currency, str)
        and isinstance(e.attrs, Mapping)
        and _is_int64(e.id)
        and _is_int64(e.account_id)
        and _is_int64(e.cost_micros)
        and _is_int64(e.revenue_micros)
        and _is_int64(e.payout_micros)
        and (e.campaign_id is None or _is_int64(e.campaign_id))
        and (e.publisher_id is None or _is_int64(e.publisher_id))
        and (e.line_item_id is None or _is_int64(e.line_item_id))
        and (e.creative_id is None or _is_int64(e.creative_id))
        and (e.click_id is None or isinstance(e.click_id, str))
        and (e.country is None or isinstance(e.country, str))
        and (e.device_type is None or isinstance(e.device_type, str))
    )
    if not valid:
        _invalid(e)
    attrs = e.attrs
    return {
        "id": e.id,
        "type": str(e.type),
        "at": to_micros(e.at),
        "account_id": e.account_id,
        "campaign_id": e.campaign_id,
        "publisher_id": e.publisher_id,
        "line_item_id": e.line_item_id,
        "creative_id": e.creative_id,
        "click_id": e.click_id,
        "country": e.country,
        "device_type": e.device_type,
        "cost_micros": e.cost_micros,
        "revenue_micros": e.revenue_micros,
        "payout_micros": e.payout_micros,
        "currency": e.currency,
        "ivt": e.ivt,
        # orjson serialises dicts only; an empty mapping is stored as NULL (smaller lines).
        "attrs": (attrs if type(attrs) is dict else dict(attrs)) or None,
    }


def _invalid(event: Event) -> NoReturn:
    """Raise for the first field of `event` that cannot be stored."""
    if event.type not in _EVENT_TYPES:
        raise InvalidEventError(f"Event.type must be one of {sorted(_EVENT_TYPES)}, got {event.type!r}")
    if type(event.ivt) is not bool:
        raise InvalidEventError(f"Event.ivt must be a bool, got {event.ivt!r}")
    if not isinstance(event.currency, str):
        raise InvalidEventError(f"Event.currency must be a string, got {event.currency!r}")
    if not isinstance(event.attrs, Mapping):
        raise InvalidEventError(f"Event.attrs must be a mapping, got {event.attrs!r}")
    for name in ("id", "account_id", "cost_micros", "revenue_micros", "payout_micros"):
        _int64(name, getattr(event, name))
    for name in ("campaign_id", "publisher_id", "line_item_id", "creative_id"):
        _optional_int64(name, getattr(event, name))
    for name in ("click_id", "country", "device_type"):
        _optional_str(name, getattr(event, name))
    raise InvalidEventError(f"Event {event.id!r} cannot be stored")  # not reached: the checks agree


def encode_event(event: Event) -> bytes:
    """One journal line (newline-terminated JSON) for `event`."""
    try:
        line = orjson.dumps(event_row(event), option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:  # e.g. attrs holding a value JSON cannot represent
        raise InvalidEventError(f"Event {event.id!r} cannot be encoded: {exc}") from exc
    if len(line) > MAX_LINE_BYTES:
        raise InvalidEventError(
            f"Event {event.id!r} is {len(line)} bytes encoded; the limit is {MAX_LINE_BYTES}"
        )
    return line


def row_to_event(row: Mapping[str, Any]) -> Event:
    """Rebuild an Event from a storage row (as read back by DuckDB)."""
    attrs = row.get("attrs")
    if isinstance(attrs, str | bytes):
        attrs = orjson.loads(attrs)
    return Event(
        id=row["id"],
        type=EventType(row["type"]),
        at=from_micros(row["at"]),
        account_id=row["account_id"],
        campaign_id=row.get("campaign_id"),
        publisher_id=row.get("publisher_id"),
        line_item_id=row.get("line_item_id"),
        creative_id=row.get("creative_id"),
        click_id=row.get("click_id"),
        country=row.get("country"),
        device_type=row.get("device_type"),
        cost_micros=row.get("cost_micros") or 0,
        revenue_micros=row.get("revenue_micros") or 0,
        payout_micros=row.get("payout_micros") or 0,
        currency=row.get("currency") or "USD",
        ivt=bool(row.get("ivt")),
        attrs=attrs or {},
    )
